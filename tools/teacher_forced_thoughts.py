"""How well a WebShop policy writes the expert's thought and then the label, teacher-forced on fresh demos.

    python tools/teacher_forced_thoughts.py MODEL [--demos 40] [--seed 99]

Plays `--demos` noise-free expert episodes (half with the task's keyword skills in front, as in the
warm-up), keeps the option clicks, whose responses read `<think>THOUGHT</think><action>click[LABEL]</action>`,
and scores each response under MODEL. Prints the mean probability of the whole thought, of the label
given the right thought, and of the label's first token. Trains nothing.
"""

from __future__ import annotations

import argparse
import math

import torch
from rich.console import Console
from rich.table import Table

from agentgym.core.recipe import SFTConfig
from agentgym.models.load import load_policy
from agentgym.models.scoring import response_logprobs
from agentgym.models.sft import generate_demos, render_examples


def spans(tok, response_ids: list[int]) -> tuple[range, range]:
    """Token positions of the thought and of the clicked label in one response."""
    texts = [tok.decode(response_ids[: i + 1]) for i in range(len(response_ids))]
    think_end = next(i for i, t in enumerate(texts) if t.endswith("</think>"))
    click = next(i for i, t in enumerate(texts) if t.endswith("<action>click"))
    label_end = next(i for i, t in enumerate(texts) if i > click and t.endswith("]")) + 1
    return range(1, think_end), range(click + 1, label_end)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a WebShop policy folder")
    ap.add_argument("--demos", type=int, default=40)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = load_policy(args.model, dtype=torch.float32)
    model.eval()
    cfg = SFTConfig(demos=args.demos, noise=0.0, skill_fraction=0.5, seed=args.seed, think=True)
    demos = generate_demos("agentgym/WebShop-v0", cfg)
    examples = render_examples("webshop", demos, tok, cfg.max_prompt_tokens, think=True)
    steps = [s for d in demos for s in d.trajectory.steps]
    thought, label, first = [], [], []
    for step, ex in zip(steps, examples, strict=True):
        if not step.think:
            continue
        with torch.no_grad():
            lp = response_logprobs(model, [ex.prompt_ids], [ex.response_ids], pad_id=tok.pad_token_id)[0][0]
        t, lab = spans(tok, ex.response_ids)
        thought.append(math.exp(float(lp[t.start: t.stop].sum())))
        label.append(math.exp(float(lp[lab.start: lab.stop].sum())))
        first.append(math.exp(float(lp[lab.start])))
    n = len(thought)
    table = Table("option clicks", "P(thought)", "P(label | right thought)", "P(label's first token | right thought)")
    table.add_row(str(n), *(f"{sum(v) / n:.2f}" if n else "-" for v in (thought, label, first)))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()

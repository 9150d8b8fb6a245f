"""How surely a WebShop policy picks a listed product: teacher-forced at each episode's first results page,
the probability it puts right after `<think></think><action>click[` on the ids the page lists. Reads
rollouts (`agentgym rollout --env webshop --out FILE.jsonl`), replays their prompts, trains nothing.

    agentgym rollout --env webshop --model M --split test --episodes 100 --temperature 0.4 --with-skills --out F.jsonl
    python tools/webshop_id_mass.py M F.jsonl [OTHER_MODEL ...]

Every model is scored on the same recorded pages (the first model's rollouts), so two policies can be
compared on identical pages. Per model: the mean listed-id mass, split by whether the recorded first click
there was valid, the mean top-token probability, and the share of pages where the mass is below one half.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from agentgym.core.registry import template
from agentgym.core.trajectory import read_jsonl
from agentgym.envs.webshop.engine import parse_action
from agentgym.models.load import load_policy
from agentgym.rollout.prompts import encode_prompt, trajectory_turns

_PREFIX = "<think></think><action>click["


class Page(NamedTuple):
    """One episode's first results page: the prompt as the policy saw it and what it did there."""

    text: str
    prefix: str | None
    listed: list[str]
    valid: bool


def first_results_pages(path: Path) -> list[Page]:
    """Each episode's first results page: its user text and c+ as the rollout prompted them."""
    atomic = template("webshop").atomic  # the product ids
    pages: list[Page] = []
    for traj in read_jsonl(path):
        prefix = (traj.meta or {}).get("prefix")
        for text, step in trajectory_turns("webshop", traj):
            if "Total results" not in step.observation[:400]:
                continue
            clicks = (parse_action(a) for a in step.admissible_actions or [])
            listed = sorted({arg for name, arg in clicks if name == "click" and re.fullmatch(atomic, arg)})
            pages.append(Page(text, prefix, listed, bool(step.action_valid)))
            break
    return pages


@torch.no_grad()
def id_mass(model, tokenizer, pages: list[Page]) -> tuple[np.ndarray, np.ndarray]:
    """(probability on the listed ids, top-token probability) per page, at the token after `click[`; each
    prompt is encoded with this policy's own tokenizer, as a rollout of it would be."""
    pre = tokenizer(_PREFIX, add_special_tokens=False)["input_ids"]
    mass, top = [], []
    for p in pages:
        probs = torch.softmax(model(torch.tensor([encode_prompt(tokenizer, p.text, privileged=p.prefix) + pre])).logits[0, -1].float(), -1)
        ids = [i for i in tokenizer.convert_tokens_to_ids(p.listed) if i is not None and i != tokenizer.unk_token_id]
        mass.append(float(probs[ids].sum()) if ids else 0.0)
        top.append(float(probs.max()))
    return np.array(mass), np.array(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the policy whose rollouts the file holds")
    ap.add_argument("rollouts", type=Path)
    ap.add_argument("others", nargs="*", help="more policies to score on the same prompts")
    args = ap.parse_args()
    table = Table(title=f"listed-id mass at the first results page ({args.rollouts})")
    for col in ("model", "pages", "mass", "mass | valid click", "mass | invalid click", "top token", "mass < 0.5"):
        table.add_column(col)
    pages = first_results_pages(args.rollouts)
    for name in [args.model, *args.others]:
        model, tok = load_policy(name, dtype=torch.float32)
        model.eval()
        mass, top = id_mass(model, tok, pages)
        valid = np.array([p.valid for p in pages], dtype=bool)
        cond = [f"{mass[m].mean():.3f} ({int(m.sum())})" if m.any() else "-" for m in (valid, ~valid)]
        table.add_row(Path(name).name, str(len(pages)), f"{mass.mean():.3f}", *cond, f"{top.mean():.3f}",
                      f"{np.mean(mass < 0.5):.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()

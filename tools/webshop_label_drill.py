"""An experiment: one WebShop warm-up stage on the experts' thoughts plus a drill of the label step.

    python tools/webshop_label_drill.py --init W2 --out W3 [--drill 1500] [--epochs 3] [--lr 7e-4] [--seed 2]
    python tools/bench_skill_knowledge.py policy --env webshop --model W3 --episodes 300 --strategies keyword random

The Qwen2 pre-tokenizer writes `click[black]` with the token `[black`, while the thought, the page and
the instruction write ` black`: a from-scratch policy must learn, label by label, that the two are the
same (docs/policies.md, "WebShop: why the policy ignores c+"). Besides the stage's demos (the same ones
`agentgym sft --think` trains on), the drill adds short synthetic examples of that one step, for every
option label of the catalog: prompt `<think>THOUGHT</think><action>click`, response `[LABEL]</action>`,
where THOUGHT is one of the experts' forms ("color black", "size extra large is xl", "names no color
wants black"). Saves the policy to `--out`; measure it with the bench above.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agentgym.core.recipe import SFTConfig
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.expert import option_thought
from agentgym.models.build import save_model_dir
from agentgym.models.load import load_policy
from agentgym.models.sft import SFTExample, demo_stats, generate_demos, render_examples, train_sft


def catalog_labels(env: WebShopEnv) -> list[tuple[str, str]]:
    """Every (option name, label) the catalog's products offer."""
    seen: set[tuple[str, str]] = set()
    for product in env.shop.catalog.products:
        for name, labels in product.options.items():
            seen.update((name, label) for label in labels)
    return sorted(seen)


def drill_examples(tok, pairs: list[tuple[str, str]], n: int, rng: np.random.Generator) -> list[SFTExample]:
    words = ["extra", "large", "pair", "onyx", "ash", "travel", "half", "one"]
    out = []
    for i in range(n):
        name, label = pairs[int(rng.integers(len(pairs)))]
        form = i % 3
        if form == 0:
            thought = option_thought(name, label, False, label)
        elif form == 1:
            thought = option_thought(name, label, False, str(rng.choice(words)))
        else:
            thought = option_thought(name, label, True, "")
        prompt = tok(f"<think>{thought}</think><action>click", add_special_tokens=False)["input_ids"]
        response = tok(f"[{label}]</action>", add_special_tokens=False)["input_ids"]
        out.append(SFTExample(list(prompt), list(response)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="the WebShop policy to continue (e.g. the shipped recipe's build)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--drill", type=int, default=1500, help="synthetic label-step examples")
    ap.add_argument("--demos", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cfg = SFTConfig(demos=args.demos, epochs=args.epochs, noise=0.1, skill_fraction=0.5, skill_noise_scale=1.0,
                    lr=args.lr, seed=args.seed, think=True)
    model, tok = load_policy(args.init, dtype=torch.float32)
    demos = generate_demos("agentgym/WebShop-v0", cfg)
    examples = render_examples("webshop", demos, tok, cfg.max_prompt_tokens, think=True)
    pairs = catalog_labels(WebShopEnv(split="train", search="bm25"))
    drill = drill_examples(tok, pairs, args.drill, np.random.default_rng(args.seed))
    print(f"{len(examples)} demo examples, {len(drill)} drill examples over {len(pairs)} labels", flush=True)
    metrics = train_sft(model, examples + drill, cfg, pad_id=tok.pad_token_id)
    meta = {"stage": "experiment: tools/webshop_label_drill.py", "init": str(args.init), "args": vars(args),
            "sft": cfg.to_dict(), "demos": demo_stats(demos, examples), "train": metrics,
            "seconds": time.perf_counter() - t0}
    save_model_dir(model, tok, args.out, meta)
    print(f"saved {args.out}: loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f}, "
          f"{meta['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()

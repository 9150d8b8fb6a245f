"""Where a WebShop policy loses: product or option, on goals that state their options literally or need
a category convention. Reads rollouts (`agentgym rollout --env webshop --out FILE.jsonl`), trains nothing.

    agentgym rollout --env webshop --split test --episodes 100 --temperature 0.4 --out plain.jsonl
    agentgym rollout --env webshop --split test --episodes 100 --temperature 0.4 --with-skills --out skills.jsonl
    python tools/webshop_option_errors.py plain.jsonl skills.jsonl

A goal is "literal" when every goal option value occurs in the instruction as words, else "convention"
(it needs its category's skill, docs/envs/webshop.md). Per file and kind: success, the share of episodes
whose last opened product offers every goal option ("product ok"), and among those the share where the
policy clicked every label the plain expert reads off the instruction ("literal labels") and every goal
option value ("goal labels": what a convention goal needs).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentgym.core.trajectory import read_jsonl
from agentgym.envs.webshop.engine import parse_action
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.expert import choose_options, has_phrase
from agentgym.envs.webshop.reward import goal_option_values

_ASIN = re.compile(r"^click\[(b0[0-9a-z]{8})\]$")


def _canonical(action: str) -> str:
    """`click[ Black ]` -> `click[black]`: the action as the env reads it (policies may space the argument)."""
    name, arg = parse_action(action)
    return f"{name}[{arg}]" if name else action.lower()


def tally(path: Path, env: WebShopEnv) -> dict[str, Counter]:
    out: dict[str, Counter] = {"all": Counter(), "literal": Counter(), "convention": Counter()}
    for traj in read_jsonl(path):
        goal = traj.task.get("data", {})
        instruction = str(goal.get("instruction_text", traj.task.get("instruction", "")))
        values = [v.lower() for v in goal_option_values(goal)]
        actions = [_canonical(s.action) for s in traj.steps]
        opened_at = [i for i, a in enumerate(actions) if _ASIN.match(a)]
        opened = [actions[i][6:-1] for i in opened_at]
        # the labels clicked on the last product opened (clicks on earlier products do not count)
        clicked = {a[6:-1] for a in actions[opened_at[-1] + 1:] if a.startswith("click[")} if opened_at else set()
        product = env.shop.catalog.get(opened[-1].upper()) if opened else None
        offers = product is not None and all(any(v == x for xs in product.options.values() for x in xs) for v in values)
        want = choose_options(instruction, product.options) if product is not None else {}
        for kind in ("all", "literal" if all(has_phrase(instruction, v) for v in values) else "convention"):
            c = out[kind]
            c["episodes"] += 1
            c["won"] += bool(traj.won)
            c["product_ok"] += offers
            c["options_ok"] += offers and all(v in clicked for v in want.values())
            c["goal_ok"] += offers and all(v in clicked for v in values)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rollouts", nargs="+", type=Path, help="rollout JSONL files of agentgym/WebShop-v0")
    args = ap.parse_args()
    env = WebShopEnv(split="test", search="bm25")  # the catalog only; nothing is searched
    table = Table("file", "goals", "episodes", "success", "product ok", "literal labels | product ok",
                  "goal labels | product ok")
    for path in args.rollouts:
        for kind, c in tally(path, env).items():
            n, p = c["episodes"], c["product_ok"]
            if not n:
                continue
            table.add_row(path.name, kind, str(n), f"{c['won'] / n:.2f}", f"{p / n:.2f}",
                          f"{c['options_ok'] / p:.2f} ({c['options_ok']}/{p})" if p else "-",
                          f"{c['goal_ok'] / p:.2f} ({c['goal_ok']}/{p})" if p else "-")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()

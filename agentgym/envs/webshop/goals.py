"""Goals (what to buy) and the frozen train / test panels built from them.

Both goal sources go through one path, `load_goals`:
- human-style goals from an `items_human_ins` file: free-text instruction, attributes, option values;
- synthetic goals from an `items_ins_v2` file: the instruction plus " with color: x, and size: y"
  for a combination of the product's options (WebShop enumerates every combination; here at most
  `max_combos` per product, drawn with a fixed seed, so one product with many sizes does not flood a panel).

Every goal gets WebShop's price cap: two of the first four multiples of $10 above the product's price
are drawn and the larger one is the cap. The draw is seeded by the goal id, so a goal's text never
changes between runs.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from agentgym.core.task import Panel, Task
from agentgym.envs.webshop.catalog import Catalog, task_type_of

PANEL_VERSION = "v2"  # v2: goals follow the per-category conventions (conventions.py)
TEST_SIZE = 500
NO_PRICE_CAP = 1_000_000.0
PRICE_STEPS = [10.0 * i for i in range(1, 100)]


def price_cap(price: float, key: str) -> tuple[float, str]:
    """(cap, instruction suffix); no cap above $980, as in WebShop."""
    above = [p for p in PRICE_STEPS if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_CAP, ""
    rng = random.Random(f"price:{key}")
    cap = max(rng.sample(above, 2))
    return cap, f", and price lower than {cap:.2f} dollars"


def _goal(catalog: Catalog, asin: str, gid: str, text: str, attrs: list[str], options: Any) -> dict[str, Any]:
    p = catalog[asin]
    cap, suffix = price_cap(p.price, gid)
    return {
        "goal_id": gid,
        "asin": asin,
        "category": p.category,
        "query": p.query,
        "name": p.title,
        "product_category": p.product_category,
        "task_type": task_type_of(p.category, p.product_category, p.query),
        "instruction_text": text.strip().rstrip(".") + suffix,
        "attributes": list(attrs),
        "price_upper": cap,
        "goal_options": options,
    }


def human_goals(catalog: Catalog) -> list[dict[str, Any]]:
    goals = []
    for asin, entries in (catalog.human or {}).items():
        if asin not in catalog.by_asin or not isinstance(entries, list):
            continue
        for k, e in enumerate(entries):
            attrs = e.get("instruction_attributes") or []
            if not attrs or not e.get("instruction"):
                continue  # WebShop skips goals without attributes
            opts = [str(o).lower() for o in (e.get("instruction_options") or [])]
            goals.append(_goal(catalog, asin, f"{asin}-h{k}", str(e["instruction"]), attrs, opts))
    return goals


def synthetic_goals(catalog: Catalog, max_combos: int = 4) -> list[dict[str, Any]]:
    goals = []
    for asin, entry in catalog.attributes.items():
        p = catalog.get(asin)
        if p is None or not isinstance(entry, dict) or not entry.get("instruction"):
            continue
        attrs = entry.get("instruction_attributes") or []
        if not attrs:
            continue
        names = sorted(p.options)
        combos = itertools.product(*(p.options[n] for n in names))
        combos = list(itertools.islice(combos, 10_000))
        rng = random.Random(f"combos:{asin}")
        picked = rng.sample(combos, min(max_combos, len(combos))) if combos else [()]
        for k, combo in enumerate(picked):
            opts = dict(zip(names, combo, strict=True))
            opt_text = ", and ".join(f"{n}: {v}" for n, v in opts.items())
            text = str(entry["instruction"]).strip().rstrip(".") + (f" with {opt_text}" if opt_text else "")
            goals.append(_goal(catalog, asin, f"{asin}-s{k}", text, attrs, opts))
    return goals


def load_goals(catalog: Catalog, style: str = "human") -> list[dict[str, Any]]:
    """All goals of a catalog in a fixed shuffled order. `style`: "human" (falls back to synthetic when
    the catalog has no human instructions) or "synthetic"."""
    if style not in ("human", "synthetic"):
        raise ValueError(f"goal style must be 'human' or 'synthetic', got {style!r}")
    goals = human_goals(catalog) if style == "human" and catalog.human else synthetic_goals(catalog)
    goals.sort(key=lambda g: g["goal_id"])
    random.Random(f"shuffle:{PANEL_VERSION}").shuffle(goals)
    return goals


def split_goals(goals: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """test: the first 500 goals (a quarter when there are fewer than 2,000); train: the rest."""
    n_test = min(TEST_SIZE, len(goals) // 4) if len(goals) < 4 * TEST_SIZE else TEST_SIZE
    return {"test": goals[:n_test], "train": goals[n_test:]}


def goal_task(goal: dict[str, Any], index: int) -> Task:
    return Task(
        task_id=goal["goal_id"],
        task_type=goal["task_type"],
        instruction=goal["instruction_text"],
        seed=index,
        data=goal,
    )


def make_panel(env_id: str, split: str, goals: list[dict[str, Any]], *, max_steps: int, source: str, style: str) -> Panel:
    return Panel(
        env_id,
        split,
        PANEL_VERSION,
        (goal_task(g, i) for i, g in enumerate(goals)),
        base_seed=0,
        max_steps=max_steps,
        notes={"catalog": source, "goal style": style},
    )

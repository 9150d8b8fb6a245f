"""The expert: a privileged policy that knows the goal (target ASIN, attributes, options, price cap).

It searches with the goal's own words (the instruction without its price clause), pages through the
results to the highest-ranked product that the reward function scores as well as any other result with
the best options (often the first result: an imitating policy can learn that), picks the goal's options
and buys. Every action it returns is one of the current page's admissible actions.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from agentgym.envs.webshop.catalog import Product
from agentgym.envs.webshop.engine import PRODUCT_WINDOW, Shop, ShopState
from agentgym.envs.webshop.reward import THRESHOLD, goal_option_values, purchase_reward
from agentgym.envs.webshop.textutil import fuzzy_match, normalize_color

_PRICE = re.compile(r",?\s*and price lower than [\d.]+ dollars\s*$")


def goal_query(goal: dict[str, Any]) -> str:
    """The search words the expert uses: the instruction minus the price clause."""
    text = _PRICE.sub("", str(goal.get("instruction_text", ""))).strip()
    return text or str(goal.get("query", "")) or "product"


def best_options(product: Product, goal: dict[str, Any]) -> dict[str, str]:
    """For each goal option value, the product's option value that matches it best (if any does)."""
    chosen: dict[str, str] = {}
    for g in goal_option_values(goal):
        g_norm = normalize_color(g)
        best: tuple[float, str, str] | None = None
        for name, values in product.options.items():
            for v in values:
                s = 101.0 if v == g else fuzzy_match(normalize_color(v), g_norm)
                if s > THRESHOLD and (best is None or s > best[0]):
                    best = (s, name, v)
        if best is not None and best[1] not in chosen:
            chosen[best[1]] = best[2]
    return chosen


_memo: OrderedDict[tuple[str, str], float] = OrderedDict()


def expected_reward(product: Product, goal: dict[str, Any]) -> float:
    """The reward of buying `product` with the options that best fit the goal (memoized per goal id)."""
    key = (str(goal.get("goal_id", "")), product.asin)
    if key[0] and key in _memo:
        return _memo[key]
    r = purchase_reward(product, goal, best_options(product, goal))[0]
    if key[0]:
        _memo[key] = r
        if len(_memo) > 200_000:
            _memo.popitem(last=False)
    return r


def choose_target(shop: Shop, state: ShopState) -> str | None:
    """The ASIN to buy among the current results: the highest-ranked one whose best purchase scores as
    well as any other (a shopper buys the first item that meets every requirement, not necessarily the
    goal's own product)."""
    best: tuple[float, int, str] | None = None
    for rank, asin in enumerate(state.results):
        p = shop.catalog.get(asin)
        if p is None:
            continue
        r = expected_reward(p, state.goal)
        if best is None or r > best[0]:
            best = (r, rank, asin)
            if r >= 1.0:
                break
    return best[2] if best else None


def expert_action(shop: Shop, state: ShopState) -> str:
    goal = state.goal
    clickables = shop.clickables(state)
    if state.page == "search":
        return f"search[{goal_query(goal)}]"
    if state.page == "results":
        target = choose_target(shop, state)
        if target is None:
            return "click[back to search]"
        rank = state.results.index(target)
        page = rank // PRODUCT_WINDOW + 1
        if page == state.page_no:
            return f"click[{target.lower()}]"
        return "click[next >]" if page > state.page_no else "click[< prev]"
    if state.page == "item":
        product = shop.product(state)
        if product is None:
            return "click[< prev]"
        if state.results and state.asin != choose_target(shop, ShopState(goal=goal, results=list(state.results))):
            return "click[< prev]"
        for name, value in best_options(product, goal).items():
            if state.options.get(name) != value and value in clickables:
                return f"click[{value}]"
        return "click[buy now]"
    if state.page == "sub":
        return "click[< prev]"
    return "click[buy now]"

"""The experts: a competent shopper without the category conventions, and the same shopper reading skills.

Both are stateless functions of the shop state. They search with the instruction minus its price clause,
open the highest-ranked result that looks best, click the options they can read off the instruction and
buy. What they may use:

- the instruction, literally: the product kind, its attributes and the price cap all appear in it word for
  word, so the product check (WebShop's type, attribute and price parts of the reward, the parts a shopper
  judges from a title, the features and the price) is allowed; the goal's option values are not;
- the page: a result's options, matched against the instruction as literal phrases (a label such as
  "navy blue" or "8.5" must occur in the instruction's words; at one spot the longest label wins, and for
  one option the phrase nearest the end of the instruction wins, where the option phrases sit);
- `expert_action_with_skills` only: what the given skill texts say, parsed from their words
  (`knowledge_from_skills`): "X is Y" pairs (the instruction's wording X stands for the page label Y) and
  "names no <option> ... wants <label>" defaults. It never looks up which category a task is in or what
  the generator's table holds; with irrelevant, wrong or no skills it plays exactly like the plain expert.

One privilege both experts share: the type part of that check compares a result with the goal product's
own title, category and query (WebShop's `type_reward`), which a shopper can only approximate from the
instruction. It is the same for both experts, so it does not change what the skills are worth, but a
policy cannot imitate that choice exactly.

Without the conventions (conventions.py) the plain expert misses what the instruction says in other words
("extra large" for "xl", where its literal match picks "large"), so its success is well below 1; with the
task's own category skill the with-skills expert solves every test goal.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentgym.core.env import ExpertAction
from agentgym.envs.webshop.catalog import Product
from agentgym.envs.webshop.engine import PRODUCT_WINDOW, Shop, ShopState
from agentgym.envs.webshop.reward import THRESHOLD, attribute_matches, goal_option_values, type_reward
from agentgym.envs.webshop.textutil import fuzzy_match, normalize_color

_PRICE = re.compile(r",?\s*and price lower than [\d.]+ dollars\s*$")
_PRICE_CAP = re.compile(r"price lower than ([\d.]+) dollars")
_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")


def goal_query(goal: dict[str, Any]) -> str:
    """The search words the expert uses: the instruction minus the price clause."""
    text = _PRICE.sub("", str(goal.get("instruction_text", ""))).strip()
    return text or str(goal.get("query", "")) or "product"


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Lowercase words; a dot or apostrophe inside a word stays ("8.5", "3.4", "women's")."""
    return tuple(_WORD.findall(text.lower()))


# ---- what skills say ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knowledge:
    """What the expert read in skill texts (empty: the plain expert)."""

    #: (instruction wording, page label), both as the skill writes them
    wording: tuple[tuple[str, str], ...] = ()
    #: (option name, label): when the instruction names no value of that option, click the label
    defaults: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.wording or self.defaults)


NO_KNOWLEDGE = Knowledge()
MAX_SKILL_CHARS = 2000

_CLAUSE_SPLIT = re.compile(r"[;:()\[\],]|\.(?=\s|$)")
_PAIR = re.compile(r"^(?:and |or |so |also |e\.g\. )?([a-z][a-z0-9' -]*?) (?:is|means) ([a-z0-9][a-z0-9 .|'-]*?)$")
_DEFAULT = re.compile(r"\bnames no ([a-z]+(?: [a-z]+)??)\b[^.;]*?\bwants ([a-z0-9][a-z0-9 .-]*?)(?=[,.;:]|\s+so\b|$)")
_MAX_PHRASE_WORDS = 4


def _skill_text(skill: Any) -> str:
    """The text a teacher would see for one skill; anything unreadable is empty."""
    try:
        if isinstance(skill, str):
            text = skill
        elif isinstance(skill, dict):
            text = f"{skill.get('principle', '')} (when: {skill.get('when', '')})"
        elif callable(getattr(skill, "text", None)):
            text = skill.text()
        else:
            text = f"{getattr(skill, 'principle', '')} {getattr(skill, 'when', '')}"
    except Exception:
        return ""
    return text[:MAX_SKILL_CHARS] if isinstance(text, str) else ""


@lru_cache(maxsize=4096)
def parse_skill_text(text: str) -> Knowledge:
    """The pairs and defaults a skill text states in words (see the module docstring)."""
    t = " ".join(text.lower().replace("\u2019", "'").split())
    wording: list[tuple[str, str]] = []
    for clause in _CLAUSE_SPLIT.split(t):
        m = _PAIR.match(clause.strip())
        if m is None:
            continue
        a, b = m.group(1).strip(), m.group(2).strip()
        if a and b and len(a.split()) <= _MAX_PHRASE_WORDS and len(b.split()) <= _MAX_PHRASE_WORDS:
            wording.append((a, b))
    defaults = [(m.group(1).strip(), m.group(2).strip()) for m in _DEFAULT.finditer(t)]
    return Knowledge(tuple(dict.fromkeys(wording)), tuple(dict.fromkeys(defaults)))


def knowledge_from_skills(skills: Iterable[Any] | None) -> Knowledge:
    """Everything the given skills state, merged (None, empty or unreadable skills: no knowledge)."""
    if skills is None or isinstance(skills, bytes):
        return NO_KNOWLEDGE
    try:
        items = [skills] if isinstance(skills, str) else list(skills)
    except TypeError:
        return NO_KNOWLEDGE
    wording: list[tuple[str, str]] = []
    defaults: list[tuple[str, str]] = []
    for s in items:
        k = parse_skill_text(_skill_text(s))
        wording += k.wording
        defaults += k.defaults
    if not wording and not defaults:
        return NO_KNOWLEDGE
    return Knowledge(tuple(dict.fromkeys(wording)), tuple(dict.fromkeys(defaults)))


# ---- options ----------------------------------------------------------------------------------------
def _ends(seq: tuple[str, ...], phrase: tuple[str, ...]) -> list[int]:
    n = len(phrase)
    if not n or n > len(seq):
        return []
    return [i + n for i in range(len(seq) - n + 1) if seq[i : i + n] == phrase]


def has_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words (the experts' literal match)."""
    return bool(_ends(words(text), words(phrase)))


def instruction_words(instruction: str) -> tuple[str, ...]:
    return words(_PRICE.sub("", instruction))


def _resolve(instruction: str, options: dict[str, list[str]], know: Knowledge) -> dict[str, tuple[str, bool, str]]:
    """option name -> (label, by_default, the instruction's words for it) for every option the expert can
    tell from the instruction (the words are "" for a default)."""
    toks = instruction_words(instruction)
    # spans of the wordings the skills state: a label match inside a longer stated wording is not a match
    # ("large" in "triple extra large" when the page has no "3xl")...
    stated: list[tuple[int, int, tuple[str, str]]] = []
    for pair in know.wording:
        for side in pair:
            ph = words(side)
            stated += [(end - len(ph), end, pair) for end in _ends(toks, ph)]
    # a label inside a longer label of the same page is not a match either ("red" in "red switch")
    for labels in options.values():
        for label in labels:
            ph = words(label)
            stated += [(end - len(ph), end, (label, label)) for end in _ends(toks, ph)]
    out: dict[str, tuple[str, bool, str]] = {}
    for name, labels in options.items():
        best: tuple[int, int, str, tuple[str, ...]] | None = None
        cands: list[tuple[tuple[str, ...], str]] = [(words(label), label) for label in labels]
        for a, b in know.wording:  # either way round: "extra large is xl" or "xl is extra large"
            if b in labels:
                cands.append((words(a), b))
            elif a in labels:
                cands.append((words(b), a))
        for phrase, label in cands:
            for end in _ends(toks, phrase):
                start = end - len(phrase)
                if any(s0 <= start and end <= e0 and e0 - s0 > end - start and label not in pair
                       for s0, e0, pair in stated):
                    continue
                c = (end, len(phrase), label, phrase)
                if best is None or c[:2] > best[:2]:
                    best = c
        if best is not None:
            out[name] = (best[2], False, " ".join(best[3]))
            continue
        for opt, label in know.defaults:
            if opt == name and label in labels:
                out[name] = (label, True, "")
                break
    return out


def choose_options(instruction: str, options: dict[str, list[str]], know: Knowledge = NO_KNOWLEDGE) -> dict[str, str]:
    """For each option of a product page, the label the instruction asks for, if the expert can tell: the
    label (or a wording the skills give for it) that occurs in the instruction, the one ending last (option
    phrases close the instruction) and then the longest; else a default the skills state."""
    return {name: label for name, (label, _, _) in _resolve(instruction, options, know).items()}


def option_thought(name: str, label: str, by_default: bool, wording: str) -> str:
    """What the expert thinks before clicking `label` for option `name`: "color black" (the instruction
    writes the label), "size extra large is xl" (a wording a skill names, always written wording first),
    "names no color wants black" (a skill's default). Each part is meant to be a copy of the instruction,
    the page or the skills, so that a small policy could write it token by token and then copy the label."""
    if by_default:
        return f"names no {name} wants {label}"
    if wording and wording != " ".join(words(label)):
        return f"{name} {wording} is {label}"
    return f"{name} {label}"


def best_options(product: Product, goal: dict[str, Any]) -> dict[str, str]:
    """For each goal option value, the product's option value that matches it best (if any does). An
    oracle that reads the goal's hidden option values: for tests and tools, never used by the experts."""
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


# ---- which product -----------------------------------------------------------------------------------
def price_cap_of(instruction: str) -> float | None:
    m = _PRICE_CAP.search(instruction)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


_memo: OrderedDict[tuple[str, str, Knowledge], tuple[float, int, int]] = OrderedDict()


def product_score(product: Product, goal: dict[str, Any], know: Knowledge = NO_KNOWLEDGE) -> tuple[float, int, int]:
    """(the instruction-literal part of the reward: type x (attributes + price) share, options the
    instruction names that this product offers, options filled by a stated default). Memoized per goal."""
    key = (str(goal.get("goal_id", "")), product.asin, know)
    if key[0] and key in _memo:
        return _memo[key]
    instruction = str(goal.get("instruction_text", ""))
    attrs = [str(a) for a in goal.get("attributes") or []]
    cap = price_cap_of(instruction)
    price_ok = cap is None or product.price <= cap
    base = type_reward(product, goal)["r_type"] * (attribute_matches(product, attrs) + int(price_ok)) / (len(attrs) + 1)
    resolved = _resolve(instruction, product.options, know).values()
    out = (round(base, 9), sum(not d for _, d, _ in resolved), sum(d for _, d, _ in resolved))
    if key[0]:
        _memo[key] = out
        if len(_memo) > 200_000:
            _memo.popitem(last=False)
    return out


def choose_target(shop: Shop, state: ShopState, know: Knowledge = NO_KNOWLEDGE) -> str | None:
    """The ASIN to buy among the current results: the highest-ranked one that looks as good as any (a
    shopper buys the first item that meets every requirement, not necessarily the goal's own product)."""
    best: tuple[tuple[float, int, int], int, str] | None = None
    for rank, asin in enumerate(state.results):
        p = shop.catalog.get(asin)
        if p is None:
            continue
        s = product_score(p, state.goal, know)
        if best is None or s > best[0]:
            best = (s, rank, asin)
    return best[2] if best else None


def expert_action(shop: Shop, state: ShopState, know: Knowledge = NO_KNOWLEDGE) -> str:
    """The next action; every action returned is admissible on the current page. An option click is an
    `ExpertAction` whose `think` names the option and why this label (`option_thought`)."""
    goal = state.goal
    if state.page == "search":
        return f"search[{goal_query(goal)}]"
    if state.page == "results":
        target = choose_target(shop, state, know)
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
        if state.results and state.asin != choose_target(shop, ShopState(goal=goal, results=list(state.results)), know):
            return "click[< prev]"
        clickables = shop.clickables(state)
        for name, (value, by_default, wording) in _resolve(state.instruction, product.options, know).items():
            if state.options.get(name) != value and value in clickables:
                return ExpertAction(f"click[{value}]", option_thought(name, value, by_default, wording))
        return "click[buy now]"
    if state.page == "sub":
        return "click[< prev]"
    return "click[buy now]"

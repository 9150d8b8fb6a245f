"""Read query rules out of skill texts: what the with-skills expert knows, and nothing else.

A Search-QA knowledge skill states how passages word facts, as clauses such as

    person born or father "native of"; work "credited to"; city "lies on"

A clause is a kind word (person, work, organization, city, country), optional attribute words (born,
father, occupation, ...; none means every attribute of the kind) and the passage words in double quotes.
Clauses are separated by ";" or sentence ends; any other text (the lead "Search the name plus:", plans,
advice) is ignored. `parse_rules` never raises: text it cannot read gives no rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentgym.envs.searchqa.world import KINDS

#: Attribute words a clause may name (the `attr` of a hop). Other words in a clause are ignored.
ATTRS = frozenset(
    ["born", "father", "occupation", "university", "spouse", "creator", "year", "genre", "publisher", "founder",
     "founded", "location", "river", "country", "population", "landmark", "capital", "currency", "language"]
)  # fmt: skip
_CLAUSE_END = re.compile(r";|\.(?:\s|$)|\(when:|\)")
_QUOTED = re.compile(r"[\"“]([^\"”]{1,60})[\"”]")
_WORD = re.compile(r"[a-z]+")
_MAX_TEXT = 4000


@dataclass(frozen=True)
class Rule:
    """Facts of a `kind` entity (only `attrs`, or all when empty) are worded with `words`."""

    kind: str
    attrs: frozenset[str]
    words: str

    def applies(self, kind: str, attr: str) -> bool:
        return self.kind == kind and (not self.attrs or attr in self.attrs)


def skill_text(skill: Any) -> str:
    """The text the teacher sees for one skill (`Skill.text()`), or a plain string; "" for anything else."""
    if isinstance(skill, str):
        return skill
    text = getattr(skill, "text", None)
    try:
        out = text() if callable(text) else ""
    except Exception:
        return ""
    return out if isinstance(out, str) else ""


def parse_rules(skills: Iterable[Any] | None) -> list[Rule]:
    """Every (kind, attributes) -> passage words clause stated in the skills, in order of appearance."""
    rules: list[Rule] = []
    try:
        items = list(skills or [])
    except TypeError:
        return rules
    for skill in items:
        text = skill_text(skill)[:_MAX_TEXT]
        for clause in _CLAUSE_END.split(text):
            m = _QUOTED.search(clause)
            if not m:
                continue
            words = " ".join(m.group(1).split())
            head = _WORD.findall(clause[: m.start()].lower())
            kinds = [i for i, w in enumerate(head) if w in KINDS]
            if not words or not kinds:
                continue
            i = kinds[-1]  # the kind word nearest the quote; what follows it are attribute words
            attrs = frozenset(w for w in head[i + 1 :] if w in ATTRS)
            rules.append(Rule(head[i], attrs, words))
    return rules


def words_for(rules: Iterable[Rule], kind: str, attr: str) -> str | None:
    """The passage words the rules give for (kind, attr): a rule naming the attribute beats one for the
    whole kind; earlier rules win ties. None when no rule applies."""
    best: Rule | None = None
    for r in rules:
        if r.applies(kind, attr) and (best is None or (r.attrs and not best.attrs)):
            best = r
    return best.words if best else None

"""Turn a model's response text into the env action, and say whether the format was right.

Format (per family, see prompts.py): an optional `<think>...</think>` block, then exactly one answer
block (`<action>...</action>`; Search-QA: `<search>...</search>` or `<answer>...</answer>`), and nothing
else but whitespace. The action is extracted whenever one complete, non-empty answer block exists,
even if the rest of the format is off (then `valid_format=False`, which the trainer penalises); with no
answer block the (cut) raw text goes to the env, which answers with its own feedback and marks the
action invalid. Parsing never raises.

Think text may be long and free (an instruct model's real reasoning, inside the response budget): it is
never parsed as the answer, even where it mentions answer tags; only nested `<think>` tags in it make
the format invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from agentgym.core.registry import template

MAX_RAW_ACTION_CHARS = 200
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True)
class ParsedAction:
    """`action`: the text handed to the env; `valid_format`: the response followed the format;
    `tag`: which answer tag was used ("" when none); `think`: the think text ("" when none)."""

    action: str
    valid_format: bool
    tag: str = ""
    think: str = ""


@lru_cache(maxsize=32)
def _answer_re(tags: tuple[str, ...]) -> re.Pattern[str]:
    alt = "|".join(re.escape(t) for t in tags)
    return re.compile(rf"<({alt})>(.*?)</\1>", re.DOTALL)


def parse_response(family: str, text: str) -> ParsedAction:
    """The action and format verdict of one response. Think text is free text: answer tags a model
    writes while thinking ("I could reply <action>look</action>...") are not its answer, so answer
    blocks are looked for outside the think blocks first; an answer found only inside a think block is
    still handed to the env, with the format marked invalid."""
    t = template(family)
    text = text if isinstance(text, str) else ""
    thinks = list(_THINK.finditer(text))
    think = thinks[0].group(1).strip() if thinks else ""
    # think blocks blanked out (same length, so positions stay those of `text`)
    masked = _THINK.sub(lambda m: " " * len(m.group(0)), text) if thinks else text
    blocks = list(_answer_re(t.tags).finditer(masked))
    inside_think = not blocks
    if inside_think:
        blocks = list(_answer_re(t.tags).finditer(text))
    if not blocks:
        raw = " ".join(text.split())[:MAX_RAW_ACTION_CHARS]
        return ParsedAction(raw, False, "", think)
    first = blocks[0]
    tag, body = first.group(1), first.group(2).strip()
    # the env gets the bare action (ALFWorld, WebShop) or the tagged block (Search-QA parses its tags)
    action = " ".join(body.split()) if len(t.tags) == 1 else f"<{tag}> {' '.join(body.split())} </{tag}>"
    valid = bool(body) and not inside_think and len(blocks) == 1 and len(thinks) <= 1
    if valid:
        outside = masked[: first.start()] + masked[first.end():]
        valid = outside.strip() == ""
        if valid and thinks:
            valid = thinks[0].end() <= first.start()  # think comes before the answer
        if valid:  # no stray (unbalanced) tags in the answer, no nested think tags in the think text
            stray = ("<think>", "</think>") + tuple(x for tg in t.tags for x in (f"<{tg}>", f"</{tg}>"))
            valid = not any(s in body for s in stray) and not any(s in think for s in ("<think>", "</think>"))
    return ParsedAction(action, valid, tag, think)

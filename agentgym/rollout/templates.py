"""The per-env prompt templates and `family_of`, the one env family that every per-env setting is keyed by.

Both `prompts.py` (user texts, chat rendering, token ids) and `parser.py` (the answer tags) read the
templates, so they live here, below both; `agentgym.rollout.prompts` re-exports every public name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentgym.core.registry import entry_point_of, env_ids, load_class
from agentgym.envs import BUILTIN

#: Bump when a template's wording changes: cached default models are keyed by it.
TEMPLATE_VERSION = "v2"


@dataclass(frozen=True)
class Template:
    """How one env family is prompted and how its answers look."""

    family: str
    history: int  # H: how many past observation/action pairs the prompt shows
    tags: tuple[str, ...]  # answer tags the env accepts: ("action",) or ("search", "answer")
    format_line: str
    show_admissible: bool = True
    max_obs_chars: int = 1500  # the current observation is cut beyond this (keeps the beginning)
    max_hist_chars: int = 300  # observations in the history are cut harder
    max_admissible: int = 60
    #: drops what the prompt already says elsewhere (the instruction, protocol boilerplate); (obs, instruction)
    clean: Callable[[str, str], str] | None = None
    #: a regex for ids the policy must copy verbatim (WebShop product ids): the default model's tokenizer
    #: makes every such string of its training text one token, so copying it is a one-token pointer
    atomic: str | None = None
    max_instruction_chars: int = 1000  # the Task line (real instructions: under 200 characters)
    max_action_chars: int = 200  # each listed admissible action and each past action in the history
    max_actions_chars: int = 4000  # the whole "Actions:" line; later actions are dropped, "..." shown

    @property
    def stop(self) -> list[str]:
        """Closing tags that end a response (the engine stops generating on them)."""
        return [f"</{t}>" for t in self.tags]


def _clean_webshop(obs: str, instruction: str) -> str:
    """WebShop pages repeat "WebShop [SEP] Instruction: [SEP] <instruction> [SEP]": the Task line has it."""
    obs = re.sub(r"^\s*WebShop\s*\[SEP\]\s*", "", obs)
    if instruction:
        obs = obs.replace(f"Instruction: [SEP] {instruction} [SEP] ", "").replace(f"Instruction: [SEP] {instruction}", "")
    # product ids are shown upper case but clicked lower case: show them as they are clicked
    return _ASIN.sub(lambda m: m.group(0).lower(), obs).strip()


_ASIN = re.compile(r"\bB0[0-9A-Z]{8}\b")


def _clean_searchqa(obs: str, instruction: str) -> str:
    """The first observation is Search-R1's protocol paragraph + the question: keep the question only
    (the format line says how to search and answer)."""
    i = obs.rfind("Question:")
    if i > 0 and "<search>" in obs[:i]:
        return obs[i:].strip()
    return obs


TEMPLATES: dict[str, Template] = {
    # H = 4 (the paper: 2): a search through a dozen receptacles needs to see where it has been, and a
    # small memoryless policy loops between two places with H = 2 (docs/policies.md)
    "alfworld": Template(
        "alfworld", 4, ("action",),
        "Reply <think>...</think><action>one action from the list</action>",
    ),
    "webshop": Template(
        "webshop", 2, ("action",),
        "Reply <think>...</think><action>search[query] or click[item]</action>",
        max_obs_chars=1500, max_hist_chars=120, clean=_clean_webshop, atomic=r"\bb0[0-9a-z]{8}\b",
    ),
    "searchqa": Template(
        "searchqa", 4, ("search", "answer"),
        "Reply <think>...</think> then <search>query</search> or <answer>answer</answer>",
        show_admissible=False, max_obs_chars=1200, max_hist_chars=400, clean=_clean_searchqa,
    ),
    "generic": Template(
        "generic", 2, ("action",),
        "Reply <think>...</think><action>your action</action>",
    ),
}

_ID_HINTS = (("alfworld", "alfworld"), ("webshop", "webshop"), ("searchqa", "searchqa"), ("search-qa", "searchqa"))


def register_template(template: Template) -> None:
    """Add or replace a family's template (third-party envs name it with a `prompt_family` attribute)."""
    TEMPLATES[template.family] = template


def family_of(env: Any) -> str:
    """The family of an env, env id, `module:Class` spec or family name: the one answer that every
    per-env setting is keyed by (prompt template, reward and KL defaults, packaged skill library,
    default-model recipe), so that a third-party env gets the same family everywhere.

    An env class may declare `prompt_family = "..."` (a family with a registered template), and that
    wins, for the env and for its id alike; otherwise the id decides (ALFWorld, WebShop, Search-QA),
    and anything else is `generic`.
    """
    if isinstance(env, str):
        if env in TEMPLATES:
            return env
        fam = _declared_family(env)
        if fam is not None:
            return fam
        low = env.lower()
        for hint, fam in _ID_HINTS:
            if hint in low:
                return fam
        return "generic"
    inner = getattr(env, "unwrapped", env)
    fam = getattr(inner, "prompt_family", None)
    if fam in TEMPLATES:
        return fam
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return family_of(spec.id)
    return family_of(type(inner).__name__)


def _declared_family(env: str) -> str | None:
    """The `prompt_family` of the class behind a registered id or a `module:Class` spec, if it names a
    template. The built-in ids are skipped: they declare none, and importing them costs."""
    if env in BUILTIN:
        return None
    if env in env_ids():
        spec = entry_point_of(env)
    elif ":" in env:
        spec = env
    else:
        return None
    try:
        cls = load_class(spec)
    except Exception:  # a spec that does not import: no declared family (making the env reports it)
        return None
    fam = getattr(cls, "prompt_family", None)
    return fam if fam in TEMPLATES else None


def template(family: str) -> Template:
    try:
        return TEMPLATES[family]
    except KeyError:
        raise KeyError(f"no prompt template for family {family!r}; known: {', '.join(TEMPLATES)}") from None

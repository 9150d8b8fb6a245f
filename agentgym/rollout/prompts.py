"""Per-turn prompts: every env's turns rendered here, from its profile's template, and encoded by one function.

A turn's user text is, in this order (and kept short: training cost is linear in prompt length):

    Task: <instruction>
    Recent:                       (the last H observation/action pairs, if any)
    Obs: <observation k-H>
    Act: <action k-H>
    ...
    Now: <current observation>
    Actions: a | b | c            (where the env lists admissible actions)
    <one line on the response format>

The model answers `<think>...</think><action>...</action>` (Search-QA: `<think>...</think>` then
`<search>query</search>` or `<answer>text</answer>`). The default policy is trained with an empty
`<think></think>`: a tiny model gains nothing from template thoughts, and every token costs.

`encode_prompt(tok, user_text, privileged=c_plus)` applies the tokenizer's chat template to
`c_plus + user_text`: the student prompt and the teacher prompt differ *only* by that prefix, so a
teacher can score exactly the response ids the student sampled.

Prompts are bounded twice, because an env may list a hundred 2 KB actions to a 2,048-token model:
every part of the user text is cut to a character limit of its template (instruction, observations,
each action, the whole action list; a cut ends in "..."), and `fit_prompt` cuts the encoded ids to
the model's context minus the response cap (`context_length`), keeping the head and the tail.

For instruct models (TrainConfig `prompt_style`, `system_prompt`): the "conversation" style prompts an
episode as one chat, system, user (turn 0's text above), assistant (response 1), user (`build_turn_text`:
the new observation, actions, format line), ..., so turn k's prompt is the chat template of the messages
so far. Such a turn's user text is a `ChatPrompt` (the latest user message, carrying the chat), and
`encode_chat` renders it, with c+ at the start of the first user message and the oldest turns left out
when it is longer than the model's context allows. The defaults ("step", no system prompt) are the
prompts above, unchanged: the default policies were trained on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentgym.core.errors import moved_names
from agentgym.core.profile import TEMPLATE_VERSION, Template  # noqa: F401  (re-exported for custom templates)
from agentgym.core.registry import family_of, register_template, template  # noqa: F401  (re-exported)
from agentgym.rollout.parser import parse_response

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def build_user_text(
    family: str,
    instruction: str,
    history: Sequence[tuple[str, str]],
    observation: str,
    admissible_actions: Sequence[str] | None = None,
    *,
    turns: int | None = None,
) -> str:
    """The user text of one turn. `history` holds the (observation, action) pairs of earlier turns,
    oldest first; only the last `turns` of them are shown (None: the template's H). This is the one
    place the history is cut, so a caller's explicit H (TrainConfig `history`) is what the prompt shows."""
    t = template(family)
    instruction = instruction.strip()
    clean = t.clean or (lambda o, _i: o)
    lines = [f"Task: {_cut(instruction, t.max_instruction_chars)}"]
    h = t.history if turns is None else int(turns)
    recent = list(history)[-h:] if h > 0 else []
    if recent:
        lines.append("Recent:")
        for obs, act in recent:
            lines.append(f"Obs: {_cut(clean(obs, instruction), t.max_hist_chars)}")
            lines.append(f"Act: {_cut(' '.join(act.split()), t.max_action_chars)}")
    lines.append(f"Now: {_cut(clean(observation, instruction), t.max_obs_chars)}")
    if t.show_admissible and admissible_actions:
        lines.append("Actions: " + _actions_line(admissible_actions, t))
    lines.append(t.format_line)
    return "\n".join(lines)


def _actions_line(actions: Sequence[str], t: Template) -> str:
    """At most `max_admissible` actions, each cut to `max_action_chars`, the line to `max_actions_chars`
    (whole actions only: a listed action is always one the policy can copy, or visibly cut)."""
    out: list[str] = []
    size = 0
    for a in list(actions)[: t.max_admissible]:
        a = _cut(a, t.max_action_chars)
        if out and size + 3 + len(a) > t.max_actions_chars:
            out.append("...")
            break
        out.append(a)
        size += len(a) + (3 if len(out) > 1 else 0)
    return " | ".join(out)


def format_response(family: str, action: str, think: str = "") -> str:
    """The response text for an action (what SFT teaches and what a perfect policy would write).

    For tag-answer families (Search-QA) an action that already carries its tag is kept as is; a bare
    string becomes the first tag's block.
    """
    t = template(family)
    action = action.strip()
    if len(t.tags) == 1:
        return f"<think>{think}</think><{t.tags[0]}>{action}</{t.tags[0]}>"
    # tag-answer families: the env parses the tags from the text; normalise to one clean block
    if any(f"<{tag}>" in action for tag in t.tags) or "<think>" in action:
        parsed = parse_response(family, action)
        if parsed.tag:
            return f"<think>{think}</think>{parsed.action}"
        return f"<think>{think}</think>{_THINK_RE.sub('', action).strip()}"  # malformed, kept malformed
    return f"<think>{think}</think><{t.tags[-1]}>{action}</{t.tags[-1]}>"


def encode_prompt(tokenizer: Any, user_text: str, privileged: str | None = None, system: str | None = None) -> list[int]:
    """Prompt token ids through the tokenizer's chat template, ending with the assistant header.

    `privileged` (the c+ skill block) is placed at the very start of the user text and nowhere else,
    so that the student prompt (`privileged=None`) and the teacher prompt differ only by it. A
    `ChatPrompt` renders its whole chat instead (`encode_chat`, c+ in the first user message).
    """
    if isinstance(user_text, ChatPrompt):
        return encode_chat(tokenizer, user_text.messages, privileged, user_text.max_tokens)[0]
    content = (privileged or "") + user_text
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


#: How a turn is prompted (TrainConfig.prompt_style): "step" builds each turn's one user message afresh
#: (task, last H turns, now); "conversation" prompts the whole episode as one chat (docs/training.md).
PROMPT_STYLES = ("step", "conversation")


def has_chat_template(tokenizer: Any) -> bool:
    """Whether `tokenizer` can render messages (every agentgym prompt goes through its chat template)."""
    return bool(getattr(tokenizer, "chat_template", None))


def build_turn_text(family: str, instruction: str, observation: str,
                    admissible_actions: Sequence[str] | None = None) -> str:
    """A later user message of a conversation-style episode: the new observation, the action list and
    the format line, cut like the step template's; the task and the earlier turns are already above it."""
    t = template(family)
    clean = t.clean or (lambda o, _i: o)
    lines = [f"Now: {_cut(clean(observation, instruction.strip()), t.max_obs_chars)}"]
    if t.show_admissible and admissible_actions:
        lines.append("Actions: " + _actions_line(admissible_actions, t))
    lines.append(t.format_line)
    return "\n".join(lines)


def chat_user_message(family: str, instruction: str, turn: int, observation: str,
                      admissible_actions: Sequence[str] | None = None) -> str:
    """The user message of turn `turn` in a conversation: turn 0 is the step template's first prompt
    (task, observation, actions, format line), later turns `build_turn_text`. The collector and the
    reload of recorded rollouts both build the chat with this, so the two never drift apart."""
    if turn == 0:
        return build_user_text(family, instruction, [], observation, admissible_actions)
    return build_turn_text(family, instruction, observation, admissible_actions)


class ChatPrompt(str):
    """The user text of a turn prompted as a chat (prompt style "conversation", or a system prompt).

    As a str it is the turn's latest user message. It also carries the messages so far, as (role,
    content) pairs, and the prompt budget, because the trainer re-encodes the teacher prompt from
    `TurnSample.user_text` alone: `encode_prompt(tok, text, privileged=c_plus)` then renders this same
    chat with c+ at the start of the first user message (where the step template has it), fitted to
    the same budget, so the teacher scores the student's response in the student's conversation.
    """

    messages: tuple[tuple[str, str], ...]
    max_tokens: int | None

    def __new__(cls, messages: Sequence[tuple[str, str]], max_tokens: int | None = None) -> ChatPrompt:
        msgs = tuple((str(role), str(content)) for role, content in messages)
        if not msgs or msgs[-1][0] != "user":
            raise ValueError("a chat prompt ends with a user message")
        self = super().__new__(cls, msgs[-1][1])
        self.messages = msgs
        self.max_tokens = max_tokens
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles keep the chat, not only the str
        return (ChatPrompt, (self.messages, self.max_tokens))


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_chat(tokenizer: Any, messages: Sequence[tuple[str, str]], privileged: str | None = None,
                max_tokens: int | None = None) -> tuple[list[int], int]:
    """Prompt ids of a chat through the tokenizer's template (generation prompt added), and how many
    past turns were left out to fit `max_tokens`.

    `privileged` goes at the start of the first user message. When the chat is longer than
    `max_tokens`, the oldest (assistant, user) turn pairs go first; the system message, the first user
    message (the task) and the latest turn always stay, so the policy still sees what it is asked and
    what it acts on now. A chat still too long after that is returned as is (the caller's `fit_prompt`
    cuts it)."""
    msgs = [{"role": r, "content": c} for r, c in messages]
    first = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
    if first is None:
        raise ValueError("a chat prompt needs a user message")
    if privileged:
        msgs[first] = {"role": "user", "content": privileged + msgs[first]["content"]}
    head = first + 1
    droppable = max(0, (len(msgs) - head) // 2 - 1)  # every (assistant, user) pair but the latest
    cache: dict[int, list[int]] = {}

    def ids(drop: int) -> list[int]:
        if drop not in cache:
            cache[drop] = _render(tokenizer, msgs[:head] + msgs[head + 2 * drop:])
        return cache[drop]

    if max_tokens is None or droppable == 0 or len(ids(0)) <= max_tokens:
        return ids(0), 0
    if len(ids(droppable)) > max_tokens:
        return ids(droppable), droppable
    lo, hi = 1, droppable  # the fewest dropped pairs that fit (lengths fall as pairs go)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(ids(mid)) <= max_tokens:
            hi = mid
        else:
            lo = mid + 1
    return ids(lo), lo


def drops_past_think(tokenizer: Any) -> bool:
    """Whether the chat template leaves the `<think>` text of earlier assistant turns out of the prompt
    (Qwen3's does): then a conversation prompt shows earlier responses other than the tokens sampled."""
    probe = "agentgym probe thought"
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": f"<think>{probe}</think><action>a</action>"},
            {"role": "user", "content": "r"}]
    try:
        text = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    except Exception:
        return False
    return probe not in text


def fit_prompt(ids: list[int], max_tokens: int | None, tokenizer: Any = None) -> list[int]:
    """`ids` cut to at most `max_tokens` (None: no limit): the first quarter and the rest from the end,
    joined by the tokens of "\\n...\\n" when a tokenizer is given.

    Why head and tail: the head holds the chat header, the c+ block when there is one, and the Task
    line; the tail holds the current observation, the action list, the format line and the assistant
    header, which is what the policy acts on and must end the prompt. What goes is the middle, the
    oldest history. (Keeping only the last tokens would drop the role header and the task itself.)
    A cut prompt is still the prompt the response was sampled from, so training on it is consistent.
    """
    if max_tokens is None or len(ids) <= max_tokens:
        return ids
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    marker = list(tokenizer("\n...\n", add_special_tokens=False)["input_ids"]) if tokenizer is not None else []
    if len(marker) > max_tokens // 8:
        marker = []
    head = max_tokens // 4
    tail = max_tokens - head - len(marker)
    return list(ids[:head]) + marker + list(ids[len(ids) - tail:])


def context_length(engine: Any) -> int | None:
    """The model's context window in tokens where the engine tells it: the in-process model's
    `max_position_embeddings`, a served model folder's config.json, else the tokenizer's
    `model_max_length` when it is a real limit (transformers puts 1e30 there when unknown)."""
    n = getattr(getattr(getattr(engine, "model", None), "config", None), "max_position_embeddings", None)
    path = getattr(engine, "model_path", None)
    if n is None and path:
        try:
            n = json.loads((Path(path) / "config.json").read_text()).get("max_position_embeddings")
        except (OSError, ValueError, AttributeError):
            n = None
    if n is None:
        n = getattr(getattr(engine, "tokenizer", None), "model_max_length", None)
        n = n if isinstance(n, int) and n < 10**7 else None
    return int(n) if isinstance(n, int) and n > 0 else None


class EpisodePrompts:
    """The prompts of one episode, turn by turn: the one rule for how a trajectory becomes prompts.

    The collector keeps one per live episode; `trajectory_turns` replays a record through one (the sample
    reload, SFT, the tokenizer corpus), so a recorded episode is prompted exactly as it was played.
    `history`: H, the past turns a step prompt shows (None: the family template's; an explicit value
    wins, and nothing else cuts the history). `prompt_style` "conversation" prompts the episode as one
    chat; a `system_prompt` makes each step prompt a (system, user) chat. `max_tokens` is the chat's
    prompt budget (`ChatPrompt`)."""

    def __init__(self, family: str, instruction: str, *, history: int | None = None, prompt_style: str = "step",
                 system_prompt: str | None = None, max_tokens: int | None = None):
        self.family, self.instruction = family, instruction
        self.history = template(family).history if history is None else int(history)
        self.chat = prompt_style == "conversation"
        self.system, self.max_tokens = system_prompt, max_tokens
        self.pairs: list[tuple[str, str]] = []  # (observation, action) of every turn acted
        self.messages: list[tuple[str, str]] = [("system", system_prompt)] if (self.chat and system_prompt) else []

    def prompt(self, observation: str, admissible_actions: Sequence[str] | None = None) -> str:
        """The user text of the next turn (a `ChatPrompt` for chats)."""
        if self.chat:
            self.messages.append(("user", chat_user_message(self.family, self.instruction, len(self.pairs), observation,
                                                            admissible_actions)))
            return ChatPrompt(self.messages, self.max_tokens)
        text = build_user_text(self.family, self.instruction, self.pairs, observation, admissible_actions,
                               turns=self.history)
        return ChatPrompt([("system", self.system), ("user", text)], self.max_tokens) if self.system else text

    def acted(self, observation: str, action: str, response: str = "") -> None:
        """The turn prompted with `observation` answered `response` and played `action`."""
        self.pairs.append((observation, action))
        if self.chat:
            self.messages.append(("assistant", response))


def trajectory_turns(family: str, trajectory: Any, **options: Any) -> Iterator[tuple[str, Any]]:
    """Each step of a recorded `agentgym.core.trajectory.Trajectory` with the user text it was (or would
    have been) prompted with; `options` are `EpisodePrompts`' (H, prompt style, system prompt, budget)."""
    prompts = EpisodePrompts(family, trajectory.task.get("instruction", ""), **options)
    for s in trajectory.steps:
        yield prompts.prompt(s.observation, s.admissible_actions), s
        prompts.acted(s.observation, s.action, s.response or "")


__getattr__ = moved_names(__name__, {
    "TEMPLATES": "agentgym.core.registry.families() (each family's profile holds its template)",
    "trajectory_user_texts": "trajectory_turns(family, trajectory), which yields (user text, step)",
})

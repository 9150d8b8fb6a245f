"""The engine interface: prompt token ids in, response token ids and their log-probabilities out.

Engines know nothing of envs or rewards. The rollout collector and the trainer talk to every engine
through this class:

    engine.generate(prompt_ids: list[list[int]], sampling) -> list[Generation]
    engine.update_weights(model | state_dict | path)
    engine.close()

Log-probabilities (`Generation.logprobs`) are those of the *raw* model at temperature 1,
`log_softmax(logits)[sampled token]`, whatever temperature/top-p was used to sample. This is what a
trainer's forward pass over the same tokens computes, so PPO ratios start at exactly 1 (up to float
error) for on-policy samples.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EngineError(RuntimeError):
    """An engine could not serve a request (server dead after restarts, timeouts, bad replies)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. `temperature == 0` is greedy. `stop` strings end a response *including* the
    matched string (the closing tag stays in the response ids and text); so does the tokenizer's EOS.
    An empty `stop` given to the rollout collector means "the env family's closing tags"
    (`</action>`; Search-QA `</search>`, `</answer>`); engines themselves then stop on EOS or length.
    `seed` makes sampling reproducible where the engine supports it (hf: yes; sglang: see its docs).
    `min_new_tokens` keeps EOS and the stops from ending a response before that many tokens (as in
    transformers and SGLang): fixed-length responses for benchmarks; the log-probs stay the model's."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    stop: tuple[str, ...] = ()
    seed: int | None = None
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"min_new_tokens must be in [0, max_new_tokens={self.max_new_tokens}], got {self.min_new_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Generation:
    """One response: its token ids, the raw-model log-probability of each (same length), its text, and
    why it ended: "stop" (a stop string), "eos" (the tokenizer's end token) or "length"."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.logprobs):
            raise ValueError(f"{len(self.token_ids)} token ids but {len(self.logprobs)} logprobs")


class Engine(abc.ABC):
    """A text-generation engine over token ids. Subclasses: `HFEngine` (in-process), `SGLangEngine`."""

    name: str = "base"
    #: the tokenizer (a transformers tokenizer) that prompts are encoded with
    tokenizer: Any = None

    @abc.abstractmethod
    def generate(self, prompt_ids: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        """One `Generation` per prompt, in order. Prompts are plain id lists (no padding)."""

    @abc.abstractmethod
    def update_weights(self, weights: Any) -> None:
        """Load new policy weights: an `nn.Module`, a state dict, or a Hugging Face model directory."""

    def close(self) -> None:  # noqa: B027  (optional hook: most engines hold nothing)
        """Release what the engine holds (servers, threads). Idempotent."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: Engine name -> "module:Class". The module is imported when the engine is made: this interface
#: module imports no engine (hf pulls in torch and transformers; the CLI imports this at start-up).
ENGINES: dict[str, str] = {
    "hf": "agentgym.engines.hf:HFEngine",
    "sglang": "agentgym.engines.sglang:SGLangEngine",
}


def distinct_prompts(prompts: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[int]]:
    """The distinct prompts in first-seen order, and for each prompt the index of its distinct one: the G
    rollouts of a task share their first prompt, which the engine prefills and the trainer scores once."""
    index: dict[tuple[int, ...], int] = {}
    uniq: list[list[int]] = []
    which: list[int] = []
    for p in prompts:
        key = tuple(p)
        if key not in index:
            index[key] = len(uniq)
            uniq.append(list(p))
        which.append(index[key])
    return uniq, which


def make_engine(name: str, model: Any, **kwargs: Any) -> Engine:
    """Build an engine by name: `"hf"` (in-process; `model` is a path or a loaded model) or `"sglang"`
    (`model` is a model directory to launch a server with, or pass `url=` for a running server)."""
    name = name.lower()
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
    module, _, cls_name = ENGINES[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    if name == "sglang":
        return cls(model if isinstance(model, (str, Path)) else None, **kwargs)
    return cls(model, **kwargs)

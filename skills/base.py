"""The retriever interface that every strategy implements (`agentgym.skills.retrievers` has the strategies).

It lives below the strategy modules so that `retrievers.py` (the name -> class table) can import every
strategy, `embedding.py` included, without an import cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills.library import Skill, SkillLibrary


class Retriever(ABC):
    """Chooses up to `k` skills of `library` for a task."""

    name: ClassVar[str] = "base"

    def __init__(self, library: SkillLibrary, k: int = 2, seed: int = 0):
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise AgentGymError(f"k must be a non-negative integer, got {k!r}")
        self.library = library
        self.k = k
        self.seed = int(seed)

    @abstractmethod
    def retrieve(self, task: Task) -> list[Skill]:
        """At most `k` distinct skills, best first."""

    def update(self, task: Task, skills: Sequence[Skill], reward: float) -> None:  # noqa: B027 (default: no-op)
        """Learn from an episode outcome; only learning strategies override this."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (default: nothing to restore)
        """Restore `state_dict()` output."""

    def explain(self, task: Task) -> dict[str, Any]:
        """Scores behind a retrieval, for inspection (CLI); strategies add what they know."""
        return {}

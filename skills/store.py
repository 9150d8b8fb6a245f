"""`SkillStore`: one library + one retrieval strategy + the metrics and state the trainer needs.

Typical use in a trainer::

    store = SkillStore.create("agentgym/ALFWorld-v0", strategy="ucb", k=2, c=1.0)
    skills = store.retrieve(task)                      # once per task (shared by its G rollouts)
    teacher_prompt = render_context(skills) + student_prompt
    ...
    store.update(task, skills, reward=float(won))      # after each episode
    ckpt["skills"] = store.state_dict()                # JSON-serializable
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills.library import Skill, SkillLibrary, word_count
from agentgym.skills.render import render_context
from agentgym.skills.retrievers import Retriever, make_retriever

STATE_VERSION = 1


@dataclass
class RetrievalStats:
    """Running counts behind `SkillStore.metrics()`; reset with `SkillStore.reset_metrics()`."""

    retrievals: int = 0
    labeled: int = 0  # retrievals whose task has a known group
    hits: int = 0
    skills: int = 0
    context_words: int = 0
    by_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [hits, labeled]
    shown: dict[str, int] = field(default_factory=dict)  # skill name -> times retrieved

    def record(self, group: str | None, skills: Sequence[Skill]) -> bool | None:
        self.retrievals += 1
        self.skills += len(skills)
        self.context_words += word_count(render_context(skills))
        for s in skills:
            self.shown[s.name] = self.shown.get(s.name, 0) + 1
        if group is None:
            return None
        hit = any(s.group == group for s in skills)
        self.labeled += 1
        self.hits += int(hit)
        row = self.by_group.setdefault(group, [0, 0])
        row[0] += int(hit)
        row[1] += 1
        return hit

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrievals": self.retrievals, "labeled": self.labeled, "hits": self.hits, "skills": self.skills,
            "context_words": self.context_words, "by_group": {k: list(v) for k, v in self.by_group.items()},
            "shown": dict(self.shown),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RetrievalStats:
        return cls(
            retrievals=int(d.get("retrievals", 0)), labeled=int(d.get("labeled", 0)), hits=int(d.get("hits", 0)),
            skills=int(d.get("skills", 0)), context_words=int(d.get("context_words", 0)),
            by_group={k: [int(v[0]), int(v[1])] for k, v in d.get("by_group", {}).items()},
            shown={k: int(v) for k, v in d.get("shown", {}).items()},
        )


class SkillStore:
    """A library, a retriever over it, and retrieval metrics. Build with `SkillStore.create`."""

    def __init__(self, library: SkillLibrary, retriever: Retriever, strategy: str):
        self.library = library
        self.retriever = retriever
        self.strategy = strategy
        self.stats = RetrievalStats()

    @classmethod
    def create(cls, env: str, strategy: str = "keyword", k: int = 2, seed: int = 0,
               library_dir: str | None = None, **strategy_kwargs: Any) -> SkillStore:
        """`env` is an env name or id (`alfworld`, `agentgym/ALFWorld-v0`); options go to the strategy."""
        library = SkillLibrary.load(env, library_dir)
        return cls.from_library(library, strategy, k=k, seed=seed, **strategy_kwargs)

    @classmethod
    def from_library(cls, library: SkillLibrary, strategy: str = "keyword", k: int = 2, seed: int = 0,
                     **strategy_kwargs: Any) -> SkillStore:
        """A store over a library already loaded (a user's file, or the one an env was registered with)."""
        return cls(library, make_retriever(strategy, library, k=k, seed=seed, **strategy_kwargs), strategy)

    @property
    def k(self) -> int:
        return self.retriever.k

    # ---- retrieval ----------------------------------------------------------------------------------
    def retrieve(self, task: Task) -> list[Skill]:
        """The skills for `task` (recorded in the metrics)."""
        skills = self.retriever.retrieve(task)
        self.stats.record(self.library.group_of(task), skills)
        return skills

    def context(self, task: Task) -> str:
        """c+ for `task`: the rendered privileged block (empty when no skills)."""
        return render_context(self.retrieve(task))

    def update(self, task: Task, skills: Sequence[Skill], reward: float) -> None:
        """Feed an episode outcome back (reward in [0, 1], e.g. won); only UCB learns from it."""
        self.retriever.update(task, skills, reward)

    def warm(self, tasks: Iterable[Task]) -> None:
        """Precompute what a strategy can (embedding: batch-encode the instructions)."""
        warm = getattr(self.retriever, "warm", None)
        if warm is not None:
            warm(list(tasks))

    # ---- metrics ------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Hit rate (overall and per group), skills and c+ words per task, and UCB's value table."""
        s = self.stats
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "retrievals": s.retrievals,
            "hit_rate": s.hits / s.labeled if s.labeled else float("nan"),
            "skills_per_task": s.skills / s.retrievals if s.retrievals else float("nan"),
            "context_words": s.context_words / s.retrievals if s.retrievals else float("nan"),
            "hit_rate_by_group": {g: h / n for g, (h, n) in sorted(s.by_group.items()) if n},
        }
        table = getattr(self.retriever, "value_table", None)
        if table is not None:
            out["value_table"] = table()
        return out

    def scalar_metrics(self, prefix: str = "skills/") -> dict[str, float]:
        """Flat float metrics for a logger (JSONL / TensorBoard)."""
        m = self.metrics()
        out = {f"{prefix}{k}": float(m[k]) for k in ("retrievals", "hit_rate", "skills_per_task", "context_words")}
        out.update({f"{prefix}hit_rate/{g}": float(v) for g, v in m["hit_rate_by_group"].items()})
        return out

    def reset_metrics(self) -> None:
        self.stats = RetrievalStats()

    # ---- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state: the retriever's learned state (UCB counts and values, RNG) and metrics."""
        return {
            "version": STATE_VERSION,
            "env": self.library.env,
            "strategy": self.strategy,
            "k": self.k,
            "library_hash": self.library.content_hash,
            "retriever": self.retriever.state_dict(),
            "stats": self.stats.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("strategy") != self.strategy:
            raise AgentGymError(f"skill state is for strategy {state.get('strategy')!r}, not {self.strategy!r}")
        if state.get("env") != self.library.env:
            raise AgentGymError(f"skill state is for env {state.get('env')!r}, not {self.library.env!r}")
        if state.get("library_hash") != self.library.content_hash:
            warnings.warn("skill library changed since this state was saved; unknown skills are dropped",
                          stacklevel=2)
        self.retriever.load_state_dict(state.get("retriever", {}))
        self.stats = RetrievalStats.from_dict(state.get("stats", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.state_dict(), indent=1), encoding="utf-8")

    def load(self, path: str | Path) -> None:
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise AgentGymError(f"cannot read skill state {str(path)!r}: {e}") from e
        self.load_state_dict(state)

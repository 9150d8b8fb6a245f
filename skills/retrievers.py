"""Retrieval strategies: which skills of a library form c+ for a task.

All strategies share one interface (`Retriever`): `retrieve(task) -> list[Skill]` (at most `k`, best
first), `update(task, skills, reward)` with the episode outcome (a no-op except for UCB), and
`state_dict()` / `load_state_dict()` (JSON-serializable) so that training state survives checkpoints.

- `random`: k skills drawn uniformly from the whole library with a seeded generator.
- `keyword`: group keyword rules over the instruction pick the task's group (falling back to the
  library's `default_group`); skills of that group come first, ordered by skill-keyword hits plus
  IDF-weighted word overlap with the instruction, then general skills, then the rest.
- `ucb`: UCB1 over skills (or over skill groups), one bandit per task context (the task type by
  default), updated with episode rewards in [0, 1]; exploration constant `c`.
- `embedding`: cosine similarity of MiniLM sentence embeddings (see `agentgym.skills.embedding`).
"""

from __future__ import annotations

import inspect
import math
import random
import warnings
from collections.abc import Sequence
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills.base import Retriever
from agentgym.skills.embedding import EmbeddingRetriever
from agentgym.skills.library import GENERAL, Skill, SkillLibrary
from agentgym.skills.matching import RuleSet, TermIndex


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _set_rng_state(rng: random.Random, state: Sequence[Any]) -> None:
    version, internal, gauss = state
    rng.setstate((int(version), tuple(int(x) for x in internal), gauss))


# ---- random -------------------------------------------------------------------------------------------
class RandomRetriever(Retriever):
    """k skills uniformly at random from the whole library; the same seed gives the same sequence."""

    name = "random"

    def __init__(self, library: SkillLibrary, k: int = 2, seed: int = 0):
        super().__init__(library, k, seed)
        self.rng = random.Random(self.seed)

    def retrieve(self, task: Task) -> list[Skill]:
        return self.rng.sample(list(self.library.skills), min(self.k, len(self.library)))

    def state_dict(self) -> dict[str, Any]:
        return {"rng": _rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "rng" in state:
            _set_rng_state(self.rng, state["rng"])


# ---- keyword ------------------------------------------------------------------------------------------
class KeywordRetriever(Retriever):
    """Rules (group keywords) find the task's group; term matching orders the skills inside it.

    `term_weight` scales the IDF word overlap against skill-keyword hits when ordering skills.
    """

    name = "keyword"

    def __init__(self, library: SkillLibrary, k: int = 2, seed: int = 0, term_weight: float = 0.25):
        super().__init__(library, k, seed)
        self.term_weight = float(term_weight)
        self.group_rules = {g.name: RuleSet(g.keywords) for g in library.groups.values() if g.name != GENERAL}
        self.skill_rules = [RuleSet(s.keywords) for s in library.skills]
        self.terms = TermIndex([f"{s.name} {s.principle} {s.when} {' '.join(s.keywords)}" for s in library.skills])

    def group_scores(self, text: str) -> dict[str, float]:
        return {g: rules.score(text) for g, rules in self.group_rules.items()}

    def detect_groups(self, text: str) -> list[str]:
        """The best-scoring groups (ties kept), or the default group when no rule fires."""
        scores = self.group_scores(text)
        best = max(scores.values(), default=0.0)
        if best > 0:
            return [g for g, s in scores.items() if s == best]
        return [self.library.default_group] if self.library.default_group else []

    def skill_scores(self, text: str) -> list[float]:
        terms = self.terms.scores(text)
        return [rules.score(text) + self.term_weight * t for rules, t in zip(self.skill_rules, terms, strict=True)]

    def retrieve(self, task: Task) -> list[Skill]:
        text = task.instruction
        groups = set(self.detect_groups(text))
        scores = self.skill_scores(text)

        def tier(s: Skill) -> int:
            return 0 if s.group in groups else 1 if s.group == GENERAL else 2

        order = sorted(range(len(self.library)), key=lambda i: (tier(self.library.skills[i]), -scores[i], i))
        return [self.library.skills[i] for i in order[: self.k]]

    def explain(self, task: Task) -> dict[str, Any]:
        return {
            "group_scores": self.group_scores(task.instruction),
            "detected_groups": self.detect_groups(task.instruction),
        }


# ---- UCB ----------------------------------------------------------------------------------------------
UCB_ARMS = ("skill", "group")
UCB_CONTEXTS = ("task_type", "group", "global")


class UCBRetriever(Retriever):
    """UCB1 bandit per task context over skills (`arms="skill"`, the paper's form) or skill groups.

    score(arm) = mean reward + c * sqrt(ln N / n), N = pulls in the context, n = pulls of the arm;
    untried arms come first. Ties are broken by the seeded generator, so that tasks of one batch
    retrieved before any update still spread over the untried arms. With `arms="group"` the best
    group's skills are shown (filled up with general skills) and the reward credits that group.
    Rewards are clipped to [0, 1] (pass a success indicator or a normalised score).
    """

    name = "ucb"

    def __init__(self, library: SkillLibrary, k: int = 2, seed: int = 0, c: float = 1.0,
                 arms: str = "skill", context: str = "task_type"):
        super().__init__(library, k, seed)
        if arms not in UCB_ARMS:
            raise AgentGymError(f"unknown UCB arms {arms!r}; valid: {', '.join(UCB_ARMS)}")
        if context not in UCB_CONTEXTS:
            raise AgentGymError(f"unknown UCB context {context!r}; valid: {', '.join(UCB_CONTEXTS)}")
        c = float(c)
        if not math.isfinite(c) or c < 0:
            raise AgentGymError(f"UCB exploration constant c must be finite and >= 0, got {c}")
        self.c = c
        self.arms = arms
        self.context = context
        self.rng = random.Random(self.seed)
        self.counts: dict[str, dict[str, int]] = {}
        self.values: dict[str, dict[str, float]] = {}

    def arm_names(self) -> list[str]:
        return self.library.names if self.arms == "skill" else list(self.library.groups)

    def context_of(self, task: Task) -> str:
        if self.context == "global":
            return "*"
        if self.context == "group":
            return self.library.group_of(task) or task.task_type
        return task.task_type

    def scores(self, ctx: str) -> dict[str, float]:
        counts = self.counts.get(ctx, {})
        values = self.values.get(ctx, {})
        total = sum(counts.values())
        out = {}
        for a in self.arm_names():
            n = counts.get(a, 0)
            out[a] = math.inf if n == 0 else values.get(a, 0.0) + self.c * math.sqrt(math.log(max(total, 1)) / n)
        return out

    def _order(self, ctx: str) -> list[str]:
        scores = self.scores(ctx)
        tie = {a: self.rng.random() for a in scores}
        return sorted(scores, key=lambda a: (-scores[a], tie[a]))

    def retrieve(self, task: Task) -> list[Skill]:
        if self.k == 0:
            return []
        order = self._order(self.context_of(task))
        if self.arms == "skill":
            return [self.library.get(a) for a in order[: self.k]]
        chosen: list[Skill] = []
        for group in [order[0], GENERAL, *order[1:]]:
            for s in self.library.by_group(group):
                if len(chosen) < self.k and s not in chosen:
                    chosen.append(s)
        return chosen

    def update(self, task: Task, skills: Sequence[Skill], reward: float) -> None:
        r = float(reward)
        if not math.isfinite(r):
            raise AgentGymError(f"UCB reward must be finite, got {reward!r}")
        r = min(1.0, max(0.0, r))
        if not skills:
            return
        arms = [s.name for s in skills] if self.arms == "skill" else [skills[0].group]
        ctx = self.context_of(task)
        counts = self.counts.setdefault(ctx, {})
        values = self.values.setdefault(ctx, {})
        valid = set(self.arm_names())
        for a in dict.fromkeys(arms):
            if a not in valid:
                continue
            counts[a] = counts.get(a, 0) + 1
            values[a] = values.get(a, 0.0) + (r - values.get(a, 0.0)) / counts[a]

    def value_table(self) -> list[dict[str, Any]]:
        """One row per (context, tried arm): pulls, mean reward, current UCB score; best first."""
        rows = []
        for ctx in sorted(self.counts):
            scores = self.scores(ctx)
            for arm, n in self.counts[ctx].items():
                rows.append({"context": ctx, "arm": arm, "n": n, "value": self.values[ctx][arm], "ucb": scores[arm]})
        rows.sort(key=lambda r: (r["context"], -r["value"], -r["n"], r["arm"]))
        return rows

    def state_dict(self) -> dict[str, Any]:
        return {
            "c": self.c,
            "arms": self.arms,
            "context": self.context,
            "counts": {ctx: dict(v) for ctx, v in self.counts.items()},
            "values": {ctx: dict(v) for ctx, v in self.values.items()},
            "rng": _rng_state(self.rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        arms = state.get("arms", self.arms)
        if arms != self.arms:
            raise AgentGymError(f"UCB state has arms={arms!r} but this retriever uses arms={self.arms!r}")
        valid = set(self.arm_names())
        dropped = set()
        self.counts, self.values = {}, {}
        for ctx, counts in state.get("counts", {}).items():
            values = state.get("values", {}).get(ctx, {})
            for arm, n in counts.items():
                if arm not in valid:
                    dropped.add(arm)
                    continue
                self.counts.setdefault(ctx, {})[arm] = int(n)
                self.values.setdefault(ctx, {})[arm] = float(values.get(arm, 0.0))
        if dropped:
            warnings.warn(f"UCB state: arms not in the library were dropped: {', '.join(sorted(dropped))}",
                          stacklevel=2)
        if "rng" in state:
            _set_rng_state(self.rng, state["rng"])

    def explain(self, task: Task) -> dict[str, Any]:
        ctx = self.context_of(task)
        return {"context": ctx, "ucb_scores": self.scores(ctx)}


# ---- registry -----------------------------------------------------------------------------------------
STRATEGIES = ("random", "keyword", "ucb", "embedding")


def retriever_class(strategy: str) -> type[Retriever]:
    if strategy == "random":
        return RandomRetriever
    if strategy == "keyword":
        return KeywordRetriever
    if strategy == "ucb":
        return UCBRetriever
    if strategy == "embedding":
        return EmbeddingRetriever
    raise AgentGymError(f"unknown skill retrieval strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")


def make_retriever(strategy: str, library: SkillLibrary, k: int = 2, seed: int = 0, **kwargs: Any) -> Retriever:
    """Build a retriever by name; strategy options (e.g. `c=2.0` for UCB) go in `kwargs`."""
    cls = retriever_class(strategy)
    try:
        return cls(library, k=k, seed=seed, **kwargs)
    except TypeError as e:
        params = [p for p in inspect.signature(cls.__init__).parameters if p not in {"self", "library", "k", "seed"}]
        raise AgentGymError(f"bad options for strategy {strategy!r} ({e}); valid options: {', '.join(params) or '(none)'}") from e

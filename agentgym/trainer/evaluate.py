"""Evaluation on a fixed panel: N tasks of a split, one episode each, no skills by default.

The N tasks are spread evenly over the panel (every len/N-th task), so that a panel stored in
blocks (Search-QA's test panel holds its data sources one after the other) is sampled across all of
them; with N >= len every task is played, cycling with new sampling seeds.

The same (env, split, N, seed) gives the same tasks and the same sampling seeds, so two backends (or a
model before and after training) are compared on an identical task panel.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import agentgym
from agentgym.engines.base import SamplingParams
from agentgym.rollout.collector import STEP_TIMEOUT_S, collect
from agentgym.skills import render_context


@dataclass
class EvalResult:
    env_id: str
    split: str
    episodes: int
    temperature: float
    with_skills: bool
    success: float
    score: float
    mean_length: float
    valid_action_ratio: float
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    panel_fingerprint: str = ""
    env_failures: int = 0  # episodes lost to an env fault (counted as failures in `success`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        """As JSON (a run's eval_before.json / eval_after.json)."""
        path.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> EvalResult | None:
        """The result saved at `path`, or None when it is missing or not one (a torn write, another
        format): callers then evaluate again or report the run unfinished, and never crash on it."""
        try:
            data = json.loads(path.read_text())
            return cls(**data) if isinstance(data, dict) else None
        except (OSError, ValueError, TypeError):
            return None


@dataclass
class Change:
    """After minus before, with its 95% interval (two independent rates: the same tasks and sampling
    seeds, but sampled episodes are not paired outcome by outcome, so this is the conservative form)."""

    before: float
    after: float
    diff: float
    se: float
    lo: float
    hi: float

    @property
    def significant(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def line(self) -> str:
        verdict = ("significant" if self.significant else "not significant") + " at the 5% level"
        return f"{self.diff:+.3f} (95% interval {self.lo:+.3f} to {self.hi:+.3f}; {verdict})"

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "diff": self.diff, "se": self.se, "lo": self.lo,
                "hi": self.hi, "significant": self.significant}


def change(before: EvalResult, after: EvalResult, z: float = 1.959964) -> Change:
    """`after.success - before.success` and its 95% interval (normal approximation)."""
    def var(r: EvalResult) -> float:
        return r.success * (1 - r.success) / max(1, r.episodes)

    d = after.success - before.success
    se = (var(before) + var(after)) ** 0.5
    return Change(before.success, after.success, d, se, d - z * se, d + z * se)


def eval_indices(episodes: int, panel_size: int) -> list[int]:
    """Which panel tasks an evaluation of `episodes` plays: spread evenly, or all of them cycled."""
    if episodes >= panel_size:
        return [i % panel_size for i in range(episodes)]
    return [i * panel_size // episodes for i in range(episodes)]


def evaluate(engine, env_id: str, *, env_kwargs: dict[str, Any] | None = None, split: str | None = None,
             episodes: int = 64, temperature: float = 0.4, max_new_tokens: int = 48, history: int | None = None,
             with_skills: bool = False, skill_store=None, seed: int = 12345, max_workers: int = 1,
             step_timeout_s: float | None = STEP_TIMEOUT_S, max_prompt_tokens: int | None = None,
             log: Callable[[str], None] | None = None, prompt_style: str = "step", system_prompt: str | None = None,
             max_episode_tokens: int | None = None) -> EvalResult:
    """Success, score and per-task-type table of `engine`'s policy on `episodes` tasks spread over the panel.

    `history` None: the env family's own prompt history (what its policies are trained with). An
    episode that the env faults on (raises, returns garbage, runs past `step_timeout_s`) counts as a
    failure and in `env_failures`; the evaluation itself goes on (see `agentgym.rollout.collector`).
    The prompt options are the collector's: evaluate a policy the way it was trained."""
    env_kwargs = dict(env_kwargs or {})
    probe = agentgym.make(env_id, **env_kwargs).unwrapped
    split = split or probe.splits[-1]
    panel = probe.panel(split)
    probe.close()
    tasks = [panel[i] for i in eval_indices(episodes, len(panel))]
    skill_block_fn = None
    if with_skills:
        if skill_store is None:
            raise ValueError("with_skills=True needs a skill store")

        skill_block_fn = lambda task: render_context(skill_store.retrieve(task))  # noqa: E731
    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, stop=(), seed=seed)
    batch = collect(engine, env_id, tasks, 1, sampling, env_kwargs={**env_kwargs, "split": split},
                    skill_block_fn=skill_block_fn, history=history, max_workers=max_workers,
                    step_timeout_s=step_timeout_s, max_prompt_tokens=max_prompt_tokens, log=log,
                    prompt_style=prompt_style, system_prompt=system_prompt, max_episode_tokens=max_episode_tokens)
    trajs = batch.trajectories
    per: dict[str, list] = defaultdict(list)
    for t in trajs:
        per[t.task["task_type"]].append(t)
    n = max(1, len(trajs))
    valid = [s.action_valid for t in trajs for s in t.steps]
    return EvalResult(
        env_id=env_id, split=split, episodes=len(trajs), temperature=temperature, with_skills=with_skills,
        success=sum(t.won for t in trajs) / n,
        score=sum(t.score for t in trajs) / n,
        mean_length=sum(len(t.steps) for t in trajs) / n,
        valid_action_ratio=sum(valid) / max(1, len(valid)),
        per_type={k: {"episodes": len(v), "success": sum(t.won for t in v) / len(v),
                      "score": sum(t.score for t in v) / len(v)} for k, v in sorted(per.items())},
        panel_fingerprint=panel.fingerprint,
        env_failures=len(batch.failures),
    )

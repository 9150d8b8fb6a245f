"""Retrieval hit rates on task sets: the packaged fixtures (no env needed) or an env's real panel.

Hit = the retrieved skills include one of the task's own group (`SkillLibrary.group_of`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from agentgym.core.errors import AgentGymError
from agentgym.core.registry import env_ids, make
from agentgym.core.task import Task
from agentgym.skills.library import env_name_from_id
from agentgym.skills.store import SkillStore


def fixture_tasks(env: str) -> list[Task]:
    """Hand-written tasks in the env's phrasing, every task type covered (skills/fixtures/<env>.jsonl)."""
    name = env_name_from_id(env)
    res = resources.files("agentgym.skills.fixtures").joinpath(f"{name}.jsonl")
    if not res.is_file():
        raise AgentGymError(f"no fixture tasks for env {name!r}")
    return [Task.from_dict(json.loads(line)) for line in res.read_text(encoding="utf-8").splitlines() if line.strip()]


def env_id_for(env: str) -> str | None:
    """The registered env id whose name is `env` (`alfworld` -> `agentgym/ALFWorld-v0`), or None."""
    if "/" in env:
        return env if env in env_ids() else None
    name = env_name_from_id(env)
    return next((i for i in env_ids() if env_name_from_id(i) == name), None)


def panel_tasks(env: str, split: str | None = None) -> list[Task]:
    """The tasks of an env's real panel (raises `AgentGymError` when the env is not registered)."""
    env_id = env_id_for(env)
    if env_id is None:
        raise AgentGymError(f"env {env!r} is not registered (see `agentgym envs list`); use the fixture tasks")
    e = make(env_id)
    try:
        return list(e.unwrapped.panel(split))
    except ValueError as err:
        raise AgentGymError(str(err)) from err
    finally:
        e.close()


@dataclass
class HitRate:
    """Hit rate of one store on one task set, overall and per group."""

    strategy: str
    tasks: int = 0
    labeled: int = 0
    hits: int = 0
    skills: int = 0
    by_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [hits, tasks]

    @property
    def rate(self) -> float:
        return self.hits / self.labeled if self.labeled else float("nan")

    @property
    def skills_per_task(self) -> float:
        return self.skills / self.tasks if self.tasks else float("nan")

    def group_rate(self, group: str) -> float:
        h, n = self.by_group.get(group, (0, 0))
        return h / n if n else float("nan")


def hit_rate(store: SkillStore, tasks: Sequence[Task]) -> HitRate:
    """Retrieve for every task once (this advances random/UCB tie-break generators) and count hits."""
    store.warm(tasks)
    out = HitRate(store.strategy)
    for task in tasks:
        skills = store.retrieve(task)
        out.tasks += 1
        out.skills += len(skills)
        group = store.library.group_of(task)
        if group is None:
            continue
        hit = any(s.group == group for s in skills)
        out.labeled += 1
        out.hits += int(hit)
        row = out.by_group.setdefault(group, [0, 0])
        row[0] += int(hit)
        row[1] += 1
    return out

"""Expert success under each kind of c+, shared by the envs' skill tests (not a fake: the real experts)."""

from __future__ import annotations

from agentgym.core.demos import expert_episode
from agentgym.core.task import Task
from agentgym.skills import SkillStore
from agentgym.skills.library import Skill, SkillLibrary


def own_group(lib: SkillLibrary, task: Task) -> list[Skill]:
    """The library's skills of the task's own group (its category or style), in library order."""
    return lib.by_group(lib.group_of(task) or "")


def expert_success(env, tasks: list[Task], condition: str, family: str, seed: int = 0) -> float:
    """Success of the env's expert over `tasks`: `plain` (no skills), `own` (the task's own group) or a
    retrieval strategy's k = 2 skills (`keyword`, `random`, ...), retrieved once per task."""
    lib = SkillLibrary.load(family)
    store = None if condition in ("plain", "own") else SkillStore.create(family, strategy=condition, k=2, seed=seed)
    won = 0
    for task in tasks:
        skills = None if condition == "plain" else own_group(lib, task) if store is None else store.retrieve(task)
        won += expert_episode(env, task, skills=skills).won
    return won / len(tasks)

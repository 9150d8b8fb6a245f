"""Expert demonstrations: run an env's expert (optionally with action noise) and record trajectories.

An expert may return an `ExpertAction` (a str with `.think`): its thought is recorded in `Step.think`.
Envs may have two experts: `expert_action()`, a competent player that does not know the world's hidden
regularities, and `expert_action_with_skills(skills)`, which acts on what the given skills say (the
privileged context c+). `skills` are passed through untouched: this layer knows nothing of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from agentgym.core.env import ADMISSIBLE, TextEnv
from agentgym.core.task import Task
from agentgym.core.trajectory import Step, Trajectory


def expert_episode(env: TextEnv, task: Task, *, noise: float = 0.0, rng: np.random.Generator | None = None,
                   env_id: str = "", seed: int | None = None, skills: Sequence[Any] | None = None) -> Trajectory:
    """One episode of the env's expert on `task`; with probability `noise` a step takes a noisy action.

    With `skills` (and an env that has `expert_action_with_skills`), the skill-reading expert plays."""
    rng = rng or np.random.default_rng(0)
    hook = getattr(env, "expert_action_with_skills", None) if skills is not None else None
    expert = (lambda: hook(skills)) if hook is not None else env.expert_action
    obs, info = env.reset(seed=seed, options={"task": task})
    traj = Trajectory(env_id=env_id, split=env.split, policy=f"expert(noise={noise})", task=task.to_dict(), seed=seed)
    done = False
    while not done:
        action = None
        if noise > 0 and rng.random() < noise:
            action = env.noisy_action(rng)
        if action is None:
            action = expert()
        think = getattr(action, "think", None) or None  # an ExpertAction's thought, kept as data
        next_obs, reward, term, trunc, next_info = env.step(str(action))
        traj.steps.append(Step(obs, str(action), float(reward), bool(next_info["action_valid"]), info.get(ADMISSIBLE),
                               think=think))
        obs, info, done = next_obs, next_info, term or trunc
        traj.terminated, traj.truncated = bool(term), bool(trunc)
    traj.final_observation = obs
    traj.won, traj.score = bool(info["won"]), float(info["score"])
    return traj


def expert_demos(env: TextEnv, n: int, *, noise: float = 0.0, seed: int = 0, env_id: str = "") -> Iterator[Trajectory]:
    """`n` episodes over the env's current panel, cycling through its tasks in a seeded order."""
    rng = np.random.default_rng(seed)
    panel = env.panel()
    order = rng.permutation(len(panel))
    for i in range(n):
        task = panel[int(order[i % len(panel)])]
        yield expert_episode(env, task, noise=noise, rng=rng, env_id=env_id, seed=seed + i)

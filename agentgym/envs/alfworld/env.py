"""`agentgym/ALFWorld-v0`: ALFWorld's household tasks on our own offline engine.

    env = agentgym.make("agentgym/ALFWorld-v0", split="eval_out_of_distribution", difficulty="small")
    obs, info = env.reset(seed=0)          # "You are in the middle of a room. ... Your task is to: ..."
    obs, r, terminated, truncated, info = env.step(info["admissible_actions"][0])

Reward is 1 on success (trainers scale it), `terminated` on success, `truncated` at the step cap
(50 by default, ALFWorld's; 12 at the small difficulty, whose rooms are a third the size). `info["admissible_actions"]` lists every command valid in the current state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentgym.core.env import ResetError, TextEnv, Transition
from agentgym.core.task import Panel, Task
from agentgym.envs.alfworld.catalog import TASK_TYPES
from agentgym.envs.alfworld.expert import expert_action, places_from_skills
from agentgym.envs.alfworld.generate import DEFAULT_MAX_STEPS, DIFFICULTIES, build_world, goal_of
from agentgym.envs.alfworld.goals import satisfied
from agentgym.envs.alfworld.panels import ENV_ID, SPLITS, build_panel
from agentgym.envs.alfworld.profile import PROFILE
from agentgym.envs.alfworld.world import World

#: What every task of this engine carries in `task.data` (plus "recep", or "lamp" for the light tasks).
REQUIRED_DATA = ("room", "layout", "difficulty", "obj", "world_seed")


class ALFWorldEnv(TextEnv):
    profile = PROFILE  # how agentgym prompts, rewards and warm-starts it (also for an env made directly)
    splits = SPLITS
    default_max_steps = 50
    default_difficulty = "full"
    env_id = ENV_ID

    def __init__(self, split: str | None = None, max_steps: int | None = None, render_mode: str | None = None,
                 difficulty: str | None = None):
        difficulty = difficulty or self.default_difficulty
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"unknown difficulty {difficulty!r}; valid: {', '.join(DIFFICULTIES)}")
        if max_steps is None:
            max_steps = DEFAULT_MAX_STEPS[difficulty]
        super().__init__(split=split, max_steps=max_steps, render_mode=render_mode)
        self.difficulty = difficulty
        self.world: World | None = None
        self.goal = None
        #: steps the expert needs from the start of the current task
        self.expert_length = 0

    def load_panel(self, split: str) -> Panel:
        return build_panel(split, self.difficulty, self.max_steps, env_id=self.env_id)

    def validate_task(self, task: Task) -> None:
        """Build the task's world (cached, so `begin` reuses it) before `reset` changes anything: a task dict
        with a missing or wrong field is refused while the env keeps its current room."""
        if task.task_type not in TASK_TYPES:
            raise ResetError(f"task {task.task_id!r}: unknown ALFWorld task type {task.task_type!r}; "
                             f"valid: {', '.join(TASK_TYPES)}")
        missing = [k for k in REQUIRED_DATA if k not in task.data]
        if task.task_type == "look_at_obj_in_light" and "lamp" not in task.data:
            missing.append("lamp")
        elif task.task_type != "look_at_obj_in_light" and "recep" not in task.data:
            missing.append("recep")
        if missing:
            raise ResetError(f"task {task.task_id!r} is not an ALFWorld task of this engine: data lacks "
                             f"{', '.join(map(repr, missing))}")
        try:
            build_world(task.task_type, task.data)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            raise ResetError(f"task {task.task_id!r} is not an ALFWorld task of this engine: {type(e).__name__}: {e}") from None

    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        world, expert_length = build_world(task.task_type, task.data)  # validated: served from the cache
        goal = goal_of(task.task_type, task.data)
        self.world, self.goal, self.expert_length = world, goal, expert_length
        return self.world.intro(task.instruction), {"admissible_actions": self.world.admissible()}

    def act(self, action: str) -> Transition:
        assert self.world is not None and self.goal is not None
        text, valid = self.world.step(action)
        won = valid and satisfied(self.world, self.goal)
        return Transition(text, reward=1.0 if won else 0.0, done=won, won=won, score=1.0 if won else 0.0,
                          valid=valid, info={"admissible_actions": self.world.admissible()})

    def expert_action(self) -> str:
        """The plain expert: competent, but it does not know where things usually are."""
        if self.task is None or self.world is None or self.goal is None:
            raise RuntimeError("call reset() before expert_action()")
        return expert_action(self.world, self.goal)

    def expert_action_with_skills(self, skills: Sequence[Any]) -> str:
        """The expert that acts on what the given skills say (their principles), and only on that."""
        if self.task is None or self.world is None or self.goal is None:
            raise RuntimeError("call reset() before expert_action_with_skills()")
        texts = [s if isinstance(s, str) else getattr(s, "principle", "") for s in skills or ()]
        return expert_action(self.world, self.goal, places_from_skills(texts))


class ALFWorldSmallEnv(ALFWorldEnv):
    """The same env at the "small" difficulty, registered under its own id so the CLI can name it."""

    default_difficulty = "small"
    env_id = "agentgym/ALFWorld-Small-v0"

"""The text-env contract: Gymnasium's Env with text observations and actions.

Subclasses implement three hooks and get the rest (task selection from panels, the step cap, the info
keys every env provides, behaviour after the episode ended) from `TextEnv`:

- `load_panel(split) -> Panel`: the deterministic task list for a split.
- `begin(task) -> (observation, extra_info)`: set the world up for a task.
- `act(action) -> Transition`: apply one action. Bad actions must not raise; they return
  `Transition(..., valid=False)` with the env's own feedback text.
- `validate_task(task)` (optional): raise `ResetError` for a task this env cannot play.

`reset` is atomic: it checks `seed`, `options` and the task (`resolve_task`, then `validate_task`) before
it changes anything, and a refused reset raises `ResetError` (an `AgentGymError`, also a `ValueError`
and a `KeyError` so older `except` clauses keep working) with the env still in its previous episode.
Should `begin` itself fail after that, the env is left needing a reset: `step` raises
`gymnasium.error.ResetNeeded` naming the failure, never acting on a half-built episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.core.errors import AgentGymError
from agentgym.core.spaces import AnyText
from agentgym.core.task import Panel, Task

#: Keys that every env's `info` carries, after `reset` and after every `step`.
INFO_KEYS = ("task_id", "task_type", "instruction", "won", "score", "action_valid")
#: Optional key: the list of actions valid in the current state, where the env can enumerate them.
ADMISSIBLE = "admissible_actions"

EPISODE_OVER = "The episode is over. Reset the environment to start a new task."
#: The keys `reset(options=...)` understands; any other key is refused (a typo must not pick a random task).
RESET_OPTIONS = ("task",)


class ExpertAction(str):
    """An expert's action (a plain str to every caller) with the thought that explains it.

    `think` is what an agent would write in its `<think>` block before this action ("size extra large is
    xl"): a demo records it, and a warm-start recipe with `SFTConfig.think` trains on it. The intent: a
    small policy reaches the action in short copy steps instead of one long lookup (on WebShop's shipped
    policy it did not: docs/policies.md)."""

    think: str

    def __new__(cls, action: str, think: str = "") -> ExpertAction:
        self = super().__new__(cls, action)
        self.think = str(think)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.think))


class ResetError(AgentGymError, ValueError, KeyError):
    """`reset` refused its arguments (bad seed or options, unknown task id, a task this env cannot play).

    The env is unchanged: it is still in the episode it was in before the call. Subclassing ValueError and
    KeyError keeps callers that caught those (an unknown task id used to be a KeyError) working.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class Transition:
    """What one action did. `done` means the task ended for good (won or failed)."""

    observation: str
    reward: float = 0.0
    done: bool = False
    won: bool = False
    score: float = 0.0
    valid: bool = True
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(gym.Env[str, str]):
    """Base class for multi-turn text environments. See the module docstring for the hooks."""

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"]}
    #: Default step cap; constructors accept `max_steps` to override it.
    default_max_steps: int = 50
    #: Splits this env has panels for; the first one is the default.
    splits: tuple[str, ...] = ("train",)
    max_observation_length: int = 1 << 20
    max_action_length: int = 1 << 16

    def __init__(self, split: str | None = None, max_steps: int | None = None, render_mode: str | None = None):
        split = split or self.splits[0]
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(self.splits)}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}")
        self.split = split
        self.max_steps = int(max_steps or self.default_max_steps)
        self.render_mode = render_mode
        self.observation_space = AnyText(self.max_observation_length)
        self.action_space = AnyText(self.max_action_length)
        self._panels: dict[str, Panel] = {}
        self.task: Task | None = None
        self.steps = 0
        self.done = False
        self._last_obs = ""
        self._last_info: dict[str, Any] = {}
        #: why the last reset failed inside `begin` ("" when it did not): step() says so
        self._reset_error = ""

    # ---- hooks -------------------------------------------------------------------------------------
    def load_panel(self, split: str) -> Panel:
        raise NotImplementedError

    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def act(self, action: str) -> Transition:
        raise NotImplementedError

    def expert_action(self) -> str:
        """The expert's next action in the current state (for demonstrations). Optional."""
        raise NotImplementedError(f"{type(self).__name__} has no expert")

    def noisy_action(self, rng) -> str | None:
        """A plausible but unhelpful action, for noisy demonstrations; default: a random admissible one."""
        adm = self._last_info.get(ADMISSIBLE) or []
        return adm[int(rng.integers(len(adm)))] if adm else None

    # ---- panels ------------------------------------------------------------------------------------
    def panel(self, split: str | None = None) -> Panel:
        split = split or self.split
        if split not in self._panels:
            if split not in self.splits:
                raise ValueError(f"unknown split {split!r}; valid: {', '.join(self.splits)}")
            self._panels[split] = self.load_panel(split)
        return self._panels[split]

    def resolve_task(self, spec: Any) -> Task:
        """A task from `options["task"]`: a Task, a task dict, a task id in any split, or an index into the
        current split's panel. Anything else is a `ResetError` that says what was expected."""
        if isinstance(spec, Task):
            return spec
        if isinstance(spec, Mapping):
            try:
                return Task.from_dict(spec)
            except ValueError as e:
                raise ResetError(f"options['task']: {e}") from None
        panel = self.panel()
        if isinstance(spec, int) and not isinstance(spec, bool):
            if not len(panel):
                raise ResetError(f"options['task']={spec}: panel {panel.env_id}/{panel.split} is empty")
            return panel[spec % len(panel)]
        if isinstance(spec, str):
            if spec in panel:
                return panel.get(spec)
            for split in self.splits:  # task ids are unique across splits: look in the others too
                if split != self.split and spec in self.panel(split):
                    return self.panel(split).get(spec)
            raise ResetError(f"task {spec!r} is not in panel {panel.env_id}/{panel.split} (nor in the other splits)")
        raise ResetError(f"options['task'] must be a Task, a task dict, a task id or an index, not {type(spec).__name__}")

    def validate_task(self, task: Task) -> None:
        """Raise `ResetError` if this env cannot play `task` (a missing or mistyped field in `task.data`).

        Called by `reset` before any state changes, so a bad task dict is refused while the env keeps its
        episode; the default accepts every task."""

    # ---- gymnasium API -----------------------------------------------------------------------------
    def _requested_task(self, seed: Any, options: Any) -> Task | None:
        """The task `options` asks for (None: draw one), after checking `seed` and `options`; changes nothing."""
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ResetError(f"seed must be None or an integer >= 0, not {seed!r}"[:200])
        if options is None:
            return None
        if not isinstance(options, Mapping):
            raise ResetError(f"options must be a dict such as {{'task': <id, index, dict or Task>}}, not {type(options).__name__}")
        unknown = [str(k) for k in options if k not in RESET_OPTIONS]
        if unknown:
            raise ResetError(f"unknown reset option(s) {', '.join(unknown)[:200]}; valid: {', '.join(RESET_OPTIONS)}")
        spec = options.get("task")
        return None if spec is None else self.resolve_task(spec)

    def _checked(self, task: Task) -> Task:
        try:
            self.validate_task(task)
        except ResetError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as e:  # a hook that raised a plain error
            raise ResetError(f"task {task.task_id!r} cannot be played by {type(self).__name__}: {e}") from e
        return task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        task = self._requested_task(seed, options)
        if task is not None:
            self._checked(task)
        # everything the caller passed is good: from here on the env changes
        super().reset(seed=seed)
        if task is None:
            panel = self.panel()
            task = self._checked(panel[int(self.np_random.integers(len(panel)))])
        self.task, self.steps, self.done = task, 0, False
        self._last_obs, self._last_info = "", {}
        self._reset_error = ""
        try:
            obs, extra = self.begin(task)  # may refine self.task (e.g. the instruction the game printed)
        except Exception as e:
            self.task = None  # never step a half-built episode
            self._reset_error = f"{type(e).__name__}: {e}"[:300]
            raise
        info = self._info(won=False, score=0.0, valid=True, extra=extra)
        self._last_obs, self._last_info = obs, info
        return obs, info

    def step(self, action: str):
        if self.task is None:
            if self._reset_error:
                raise gym.error.ResetNeeded(f"the last reset() failed ({self._reset_error}); call reset() again before step()")
            raise gym.error.ResetNeeded("call reset() before step()")
        if self.done:
            info = dict(self._last_info, action_valid=False)
            return EPISODE_OVER, 0.0, True, False, info
        t = self.act(action if isinstance(action, str) else "")
        self.steps += 1
        terminated = bool(t.done)
        truncated = not terminated and self.steps >= self.max_steps
        self.done = terminated or truncated
        info = self._info(won=t.won, score=t.score, valid=t.valid, extra=t.info)
        self._last_obs, self._last_info = t.observation, info
        return t.observation, float(t.reward), terminated, truncated, info

    def render(self):
        if self.render_mode == "ansi":
            return self._last_obs
        if self.render_mode == "human":
            print(self._last_obs)
        return None

    def _info(self, *, won: bool, score: float, valid: bool, extra: dict[str, Any]) -> dict[str, Any]:
        assert self.task is not None
        info: dict[str, Any] = {
            "task_id": self.task.task_id,
            "task_type": self.task.task_type,
            "instruction": self.task.instruction,
            "won": bool(won),
            "score": float(score),
            "action_valid": bool(valid),
            "step": self.steps,
        }
        info.update(extra)
        return info

"""Envs that break, for the fault-isolation and prompt-bound tests.

`FaultyToyEnv` is the toy fetch env with one fault injected on chosen tasks: `step` raises, returns a
non-string observation or hangs, or `reset` raises. `faults` caps how many times the fault fires in the
process (per `key`), so a test can break exactly one episode of a batch. `VerboseToyEnv` lists a hundred
2 KB admissible actions under a 3 KB instruction: the unbounded prompt of issue 16.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter

from agentgym import Panel, Task, Transition
from fakes.toy_env import ToyFetchEnv

FAULTY_ID = "test/FaultyToy-v0"
VERBOSE_ID = "test/VerboseToy-v0"
MODES = ("raise", "nonstr", "hang", "reset")

_fired: Counter[str] = Counter()
_lock = threading.Lock()


class FaultyToyEnv(ToyFetchEnv):
    def __init__(self, mode: str = "raise", fault_tasks: str = "*", at_step: int = 1, faults: int = -1,
                 key: str = "", hang_s: float = 3.0, **kw):
        super().__init__(**kw)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode, self.at_step, self.faults, self.key, self.hang_s = mode, int(at_step), int(faults), key, hang_s
        self.fault_tasks = None if fault_tasks == "*" else set(fault_tasks.split(","))

    def _fires(self, task: Task) -> bool:
        """True when this call is one that breaks (and counts it)."""
        if self.fault_tasks is not None and task.task_id not in self.fault_tasks:
            return False
        with _lock:
            if 0 <= self.faults <= _fired[self.key]:
                return False
            _fired[self.key] += 1
            return True

    def begin(self, task: Task):
        if self.mode == "reset" and self._fires(task):
            raise RuntimeError(f"cannot set up {task.task_id}")
        return super().begin(task)

    def act(self, action: str) -> Transition:
        assert self.task is not None
        if self.mode in ("raise", "hang") and self.steps + 1 == self.at_step and self._fires(self.task):
            if self.mode == "hang":
                time.sleep(self.hang_s)
            else:
                raise RuntimeError("env exploded")
        return super().act(action)

    def step(self, action: str):
        obs, r, term, trunc, info = super().step(action)
        if self.mode == "nonstr" and self.steps == self.at_step and self._fires(self.task):
            return {"not": "a string"}, r, term, trunc, info
        return obs, r, term, trunc, info


class VerboseToyEnv(ToyFetchEnv):
    """The toy env with a 3 KB instruction and a hundred 2 KB admissible actions on every turn."""

    def begin(self, task: Task):
        obs, info = super().begin(task)
        return obs, {**info, "admissible_actions": self._verbose()}

    def _verbose(self) -> list[str]:
        return [f"open drawer {i} " + "and look very carefully " * 85 for i in range(100)]

    def act(self, action: str) -> Transition:
        t = super().act(action)
        t.info = {**t.info, "admissible_actions": self._verbose()}
        return t

    def load_panel(self, split: str):
        p = super().load_panel(split)
        tasks = [dataclasses.replace(t, instruction=t.instruction + " " + "please " * 430) for t in p]
        return Panel(VERBOSE_ID, split, p.version, tasks, base_seed=p.base_seed, max_steps=p.max_steps)


def register_faulty() -> tuple[str, str]:
    """Register both envs (once per process); returns their ids."""
    import agentgym

    ids = agentgym.env_ids()
    if FAULTY_ID not in ids:
        agentgym.register(FAULTY_ID, FaultyToyEnv)
    if VERBOSE_ID not in ids:
        agentgym.register(VERBOSE_ID, VerboseToyEnv)
    return FAULTY_ID, VERBOSE_ID


def reset_counts() -> None:
    _fired.clear()

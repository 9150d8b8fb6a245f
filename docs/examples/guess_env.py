"""Guess a hidden number: a complete agentgym environment in one file."""

import re

import agentgym
from agentgym import Panel, Task, TextEnv, Transition

GUESS = re.compile(r"^\s*guess\s+(\d{1,3})\s*$")


class GuessNumberEnv(TextEnv):
    """Find the hidden number between 1 and `high`; each wrong guess says higher or lower."""

    splits = ("train", "test")
    default_max_steps = 10

    def __init__(self, high: int = 20, **kw):
        super().__init__(**kw)
        self.high = high

    def load_panel(self, split: str) -> Panel:
        base = {"train": 1000, "test": 2000}[split]
        n = {"train": 50, "test": 20}[split]
        tasks = [
            Task(
                task_id=f"guess/{split}/{i}",
                task_type="small" if (base + i) % self.high < self.high // 2 else "large",
                instruction=f"Find the hidden number between 1 and {self.high}.",
                seed=base + i,
                data={"secret": 1 + (base + i) * 7919 % self.high},
            )
            for i in range(n)
        ]
        return Panel("example/GuessNumber-v0", split, "v1", tasks, base_seed=base,
                     max_steps=self.max_steps, notes={"range": f"1..{self.high}"})

    def begin(self, task: Task):
        self.secret = task.data["secret"]
        self.low_bound, self.high_bound = 1, self.high
        return f"{task.instruction} Say 'guess N'.", {"admissible_actions": self._admissible()}

    def _admissible(self) -> list[str]:
        return [f"guess {n}" for n in range(self.low_bound, self.high_bound + 1)]

    def act(self, action: str) -> Transition:
        m = GUESS.match(action)
        if not m:
            return Transition("Say 'guess N' with a number.", valid=False,
                              info={"admissible_actions": self._admissible()})
        n = int(m.group(1))
        if n == self.secret:
            return Transition(f"{n} is right!", reward=1.0, done=True, won=True, score=1.0,
                              info={"admissible_actions": []})
        if n < self.secret:
            self.low_bound = max(self.low_bound, n + 1)
            text = f"{n} is too low."
        else:
            self.high_bound = min(self.high_bound, n - 1)
            text = f"{n} is too high."
        return Transition(text, info={"admissible_actions": self._admissible()})

    def expert_action(self) -> str:
        return f"guess {(self.low_bound + self.high_bound) // 2}"


def register_envs() -> None:
    """Register the env (the `agentgym.envs` entry point calls this; importing the module does too)."""
    agentgym.register("example/GuessNumber-v0", "guess_env:GuessNumberEnv", high=20)


register_envs()

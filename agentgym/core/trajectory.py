"""One JSONL schema for whole episodes: expert demonstrations, model rollouts and replays.

A record is a dict:
    {"env_id", "split", "policy", "task": Task.to_dict(), "seed",
     "steps": [{"observation", "action", "response", "reward", "action_valid", "admissible_actions"?}],
     "final_observation", "won", "score", "return", "length", "terminated", "truncated"}
`observation` is what the agent saw before acting; `response` is the raw model text (absent for experts).
Model rollouts add, per step, `format_valid`, `response_ids` and `logprobs` (the sampled token ids and
their log-probabilities), and a trajectory-level `meta` dict (group/episode ids, prompt family, history
length, the skill block the student saw), so that turn-samples can be rebuilt from the JSONL alone.
Expert demos add `think` to a step where the expert explained its action (`ExpertAction`).
Every added key is optional: older records load unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Step:
    observation: str
    action: str
    reward: float
    action_valid: bool
    admissible_actions: list[str] | None = None
    response: str | None = None
    format_valid: bool | None = None
    response_ids: list[int] | None = None
    logprobs: list[float] | None = None
    #: an expert's thought for this action (`ExpertAction.think`), where it gave one
    think: str | None = None


@dataclass
class Trajectory:
    env_id: str
    split: str
    policy: str
    task: dict[str, Any]
    seed: int | None
    steps: list[Step] = field(default_factory=list)
    final_observation: str = ""
    won: bool = False
    score: float = 0.0
    terminated: bool = False
    truncated: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def total_return(self) -> float:
        return float(sum(s.reward for s in self.steps))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["return"] = self.total_return
        d["length"] = len(self.steps)
        if not d["meta"]:
            del d["meta"]
        for s in d["steps"]:
            for k in ("admissible_actions", "response", "format_valid", "response_ids", "logprobs", "think"):
                if s[k] is None:
                    del s[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        steps = [Step(**{k: v for k, v in s.items() if k in Step.__dataclass_fields__}) for s in d.get("steps", [])]
        keep = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "steps"}
        return cls(steps=steps, **keep)


def write_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> int:
    n = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for t in trajectories:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> Iterator[Trajectory]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Trajectory.from_dict(json.loads(line))

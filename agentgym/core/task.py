"""Tasks and versioned task panels.

A panel is the unit of reproducibility: the same (env, split, version) yields the same tasks, in the same
order, with the same ids on every machine. Its fingerprint (a hash of the tasks' JSON) is printed on the
protocol card so that two results can be checked to come from the same panel.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Task:
    """One task: what the agent must do. `data` holds the env-specific payload (JSON-serializable)."""

    task_id: str
    task_type: str
    instruction: str
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        """A task from its JSON form; a malformed dict is a `ValueError` naming the field (not a KeyError
        or TypeError from deep inside), so a bad task file or `options["task"]` is one clear line."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a task must be a JSON object (dict), not {type(d).__name__}")
        tid = d.get("task_id")
        if not isinstance(tid, (str, int)) or isinstance(tid, bool) or str(tid) == "":
            raise ValueError("a task dict needs a non-empty 'task_id' (a string)")
        for key in ("task_type", "instruction"):
            if key in d and not isinstance(d[key], str):
                raise ValueError(f"task {tid!r}: {key!r} must be a string, not {type(d[key]).__name__}")
        seed = d.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"task {tid!r}: 'seed' must be an integer, not {type(seed).__name__}")
        data = d.get("data", {})
        if not isinstance(data, Mapping):
            raise ValueError(f"task {tid!r}: 'data' must be a JSON object (dict), not {type(data).__name__}")
        return cls(
            task_id=str(tid),
            task_type=str(d.get("task_type", "default")),
            instruction=str(d.get("instruction", "")),
            seed=seed,
            data=dict(data),
        )


@dataclass(frozen=True)
class ProtocolCard:
    """What a panel is, in the words a paper's evaluation section would use."""

    env_id: str
    split: str
    version: str
    num_tasks: int
    base_seed: int
    max_steps: int
    fingerprint: str
    task_types: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("env", self.env_id),
            ("split", self.split),
            ("version", self.version),
            ("tasks", str(self.num_tasks)),
            ("base seed", str(self.base_seed)),
            ("step cap", str(self.max_steps)),
            ("fingerprint", self.fingerprint),
            ("task types", ", ".join(f"{k} {v}" for k, v in sorted(self.task_types.items()))),
        ]
        rows += [(k, v) for k, v in self.notes.items()]
        return rows

    def render(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows())


class Panel:
    """A deterministic, versioned, ordered list of tasks for one split of one env."""

    def __init__(
        self,
        env_id: str,
        split: str,
        version: str,
        tasks: Iterable[Task],
        *,
        base_seed: int = 0,
        max_steps: int = 0,
        notes: dict[str, str] | None = None,
    ):
        self.env_id = env_id
        self.split = split
        self.version = version
        self.tasks: tuple[Task, ...] = tuple(tasks)
        self.base_seed = base_seed
        self.max_steps = max_steps
        self.notes = dict(notes or {})
        self._by_id = {t.task_id: i for i, t in enumerate(self.tasks)}
        if len(self._by_id) != len(self.tasks):
            raise ValueError(f"panel {env_id}/{split} has duplicate task ids")

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, i: int) -> Task:
        return self.tasks[i]

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    def get(self, task_id: str) -> Task:
        try:
            return self.tasks[self._by_id[task_id]]
        except KeyError:
            raise KeyError(f"task {task_id!r} is not in panel {self.env_id}/{self.split}") from None

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in self.tasks:
            h.update(json.dumps(t.to_dict(), sort_keys=True, ensure_ascii=True).encode())
            h.update(b"\n")
        return h.hexdigest()[:12]

    def card(self) -> ProtocolCard:
        return ProtocolCard(
            env_id=self.env_id,
            split=self.split,
            version=self.version,
            num_tasks=len(self.tasks),
            base_seed=self.base_seed,
            max_steps=self.max_steps,
            fingerprint=self.fingerprint,
            task_types=dict(Counter(t.task_type for t in self.tasks)),
            notes=self.notes,
        )

    def to_jsonl(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for t in self.tasks:
                f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | Path, env_id: str, split: str, version: str = "file", **kw: Any) -> Panel:
        with open(path, encoding="utf-8") as f:
            tasks = [Task.from_dict(json.loads(line)) for line in f if line.strip()]
        return cls(env_id, split, version, tasks, **kw)

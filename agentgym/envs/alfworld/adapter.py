"""`agentgym/ALFWorld-Real-v0`: the real ALFWorld (TextWorld + its game files) behind our env contract.

Needs `pip install alfworld` and its data (`alfworld-download`, found at `$ALFWORLD_DATA`, default
`~/.cache/alfworld`); neither can be fetched on machines without access to GitHub releases, so the
constructor raises a one-line `AgentGymError` when either is missing. It exposes the same info keys as
`agentgym/ALFWorld-v0` (`admissible_actions`, `won`, `score`, `action_valid`), the same splits (ALFWorld's
train, valid_seen, valid_unseen) and the same task-type names. Unlike ALFWorld's own loader, whose game
order follows `os.walk` (and so the file system), panels here list game files in sorted order, so a task
id names the same game on every machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.core.env import ResetError, TextEnv, Transition
from agentgym.core.errors import AgentGymError
from agentgym.core.task import Panel, Task
from agentgym.envs.alfworld.catalog import ALFWORLD_TASK_TYPES, GOAL_TEMPLATES
from agentgym.envs.alfworld.panels import SPLITS
from agentgym.envs.alfworld.profile import PROFILE
from agentgym.envs.alfworld.world import NOTHING

ENV_ID = "agentgym/ALFWorld-Real-v0"
SPLIT_DIRS = {"train": "json_2.1.1/train", "eval_in_distribution": "json_2.1.1/valid_seen",
              "eval_out_of_distribution": "json_2.1.1/valid_unseen"}
GAME_FILE = "game.tw-pddl"
_WELCOME = re.compile(r"^-= Welcome to TextWorld, ALFRED! =-\s*")
_TASK = re.compile(r"Your task is to: (.*)")
_PUT = re.compile(r"^put (.+?) (?:in/on|in|on) (.+)$")
_MOVE = re.compile(r"^move (.+?) to (.+)$")

#: A started game: `reset() -> state`, `step(cmd) -> (state, score, done)`, `close()`; a state has
#: `.feedback` and the keys "admissible_commands" and "won" (TextWorld's GameState).
GameStarter = Callable[[str], Any]


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    return Path(data_dir or os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld").expanduser()


def _textworld_starter() -> GameStarter:
    """Start games with TextWorld and ALFWorld's name demangler, as ALFWorld's own TextWorld env does."""
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    except ImportError as e:
        raise AgentGymError(
            f"the real ALFWorld is not installed (module {e.name or e!s} is missing); install it with `pip install alfworld` and "
            "fetch its game files with `alfworld-download` (or use agentgym/ALFWorld-v0, which needs neither)"
        ) from e
    try:
        infos = textworld.EnvInfos(won=True, admissible_commands=True, expert_plan=True, expert_type="handcoded",
                                   extras=["gamefile"])
    except TypeError:  # a TextWorld without ALFWorld's expert fields
        infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])

    def start(path: str):
        return textworld.start(path, request_infos=infos, wrappers=[AlfredDemangler(shuffle=False), AlfredInfos])

    return start


def _solvable(path: Path) -> bool:
    """ALFWorld marks unsolvable games in the file's last key; read only the tail, not the whole JSON."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 200))
        tail = f.read().decode("utf-8", "replace").replace(" ", "")
    return '"solvable":false' not in tail


def _guess_instruction(task_type: str, obj: str, recep: str, lamp: str) -> str:
    """The templated goal from the directory name; the game's own sentence replaces it at reset."""
    template = GOAL_TEMPLATES[task_type][0]
    return template.format(obj=obj.lower(), recep=recep.lower(), lamp=lamp.lower())


class RealALFWorldEnv(TextEnv):
    profile = PROFILE  # how agentgym prompts, rewards and warm-starts it (also for an env made directly)
    splits = SPLITS
    default_max_steps = 50

    def __init__(self, split: str | None = None, max_steps: int | None = None, render_mode: str | None = None,
                 data_dir: str | None = None, start_game: GameStarter | None = None):
        super().__init__(split=split, max_steps=max_steps, render_mode=render_mode)
        self.root = data_root(data_dir)
        self._start = start_game or _textworld_starter()
        missing = [d for d in SPLIT_DIRS.values() if not (self.root / d).is_dir()]
        if missing:
            raise AgentGymError(f"ALFWorld data not found under {self.root} (missing {', '.join(missing)}); "
                                "run `alfworld-download` or set ALFWORLD_DATA")
        self._game: Any = None
        self._admissible: list[str] = []
        self._expert_plan: list[str] = []

    def load_panel(self, split: str) -> Panel:
        base = self.root / SPLIT_DIRS[split]
        tasks: list[Task] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()  # os.walk order depends on the file system; sorting makes the panel reproducible
            if GAME_FILE not in filenames:
                continue
            game = Path(dirpath) / GAME_FILE
            rel = game.parent.relative_to(base).as_posix()
            if "movable" in rel or "Sliced" in rel:  # ALFWorld's TextWorld env skips these too
                continue
            parts = game.parent.parent.name.split("-")  # e.g. pick_heat_then_place_in_recep-Egg-None-DiningTable-26
            task_type = ALFWORLD_TASK_TYPES.get(parts[0])
            if task_type is None or len(parts) < 4 or not _solvable(game):
                continue
            obj, parent, toggle = parts[1], parts[3], parts[3]
            instruction = _guess_instruction(task_type, obj, parent, toggle)
            tasks.append(Task(f"alfworld-real/{split}/{rel}", task_type, instruction, seed=0,
                              data={"gamefile": game.relative_to(self.root).as_posix()}))
        tasks.sort(key=lambda t: t.task_id)
        if not tasks:
            raise AgentGymError(f"no solvable ALFWorld games under {base}")
        notes = {"engine": "real ALFWorld (TextWorld), game files from alfworld-download",
                 "data": str(self.root), "order": "game files in sorted path order"}
        return Panel(ENV_ID, split, "alfworld-json_2.1.1", tasks, base_seed=0, max_steps=self.max_steps, notes=notes)

    def _observe(self, state: Any) -> dict[str, Any]:
        self._admissible = [str(a) for a in (state["admissible_commands"] or [])]
        try:
            self._expert_plan = list(state["expert_plan"] or [])
        except (KeyError, TypeError):
            self._expert_plan = []
        return {"admissible_actions": list(self._admissible)}

    def validate_task(self, task: Task) -> None:
        """A task must name a game file under the data root (checked before the running game is closed)."""
        gamefile = task.data.get("gamefile")
        if not isinstance(gamefile, str) or not gamefile:
            raise ResetError(f"task {task.task_id!r}: data needs 'gamefile', a game file path under {self.root}")
        if not (self.root / gamefile).is_file():
            raise ResetError(f"task {task.task_id!r}: game file not found: {self.root / gamefile}")

    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        self.close()
        self._game = self._start(str(self.root / task.data["gamefile"]))
        state = self._game.reset()
        obs = _WELCOME.sub("", str(state.feedback)).strip()
        m = _TASK.search(obs)
        if m and self.task is not None:
            self.task = dataclasses.replace(self.task, instruction=m.group(1).strip())
        return obs, self._observe(state)

    def _canonical(self, action: str) -> str | None:
        a = " ".join(action.lower().split()).rstrip(".") if action.isascii() and len(action) <= 200 else ""
        if a in self._admissible:
            return a
        m = _PUT.match(a) or _MOVE.match(a)
        if m:  # ALFWorld before 0.3.3 spells it "put X in/on Y", later versions "move X to Y"
            for alt in (f"move {m.group(1)} to {m.group(2)}", f"put {m.group(1)} in/on {m.group(2)}"):
                if alt in self._admissible:
                    return alt
        return None

    def act(self, action: str) -> Transition:
        a = self._canonical(action)
        if a is None:
            return Transition(NOTHING, valid=False, info={"admissible_actions": list(self._admissible)})
        state, _score, _done = self._game.step(a)
        won = bool(state["won"])
        info = self._observe(state)
        return Transition(str(state.feedback).strip(), reward=1.0 if won else 0.0, done=won,
                          won=won, score=1.0 if won else 0.0, valid=True, info=info)

    def expert_action(self) -> str:
        if not self._expert_plan:
            raise NotImplementedError("this TextWorld/ALFWorld install provides no expert plan")
        return self._expert_plan[0]

    def close(self) -> None:
        if self._game is not None:
            try:
                self._game.close()
            finally:
                self._game = None

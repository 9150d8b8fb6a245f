"""A refused or failed `reset` never leaves an env half-reset (issue 16, item 6).

Bad seeds, options and task dicts are refused with one `ResetError` (an AgentGymError) before anything
changes, so the env goes on with the episode it was in; a `begin` that fails after that leaves the env
needing a reset, and `step` says so instead of acting on a half-built episode.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

from agentgym.core.env import ResetError, TextEnv, Transition
from agentgym.core.errors import AgentGymError
from agentgym.core.task import Panel, Task
from agentgym.envs.alfworld.env import ALFWorldEnv
from agentgym.envs.searchqa.env import SearchQAEnv
from agentgym.envs.webshop.env import WebShopEnv

BAD_OPTIONS = [
    "task",  # a string: `"task" in options` is a substring test
    ["task"],
    {"task": 3.5},
    {"task": b"id"},
    {"task": {"no_task_id": 1}},
    {"task": {"task_id": "x", "data": "not a dict"}},
    {"task": {"task_id": "x", "seed": "seven"}},
    {"task": "no/such/task"},
    {"tsk": 0},  # a typo must not silently draw a random task
]


def _refused(env: TextEnv, **kwargs) -> ResetError:
    with pytest.raises(ResetError) as e:
        env.reset(**kwargs)
    assert isinstance(e.value, AgentGymError) and isinstance(e.value, ValueError)
    assert str(e.value) and "\n" not in str(e.value)
    return e.value


def _keeps_its_episode(env: TextEnv, bad: list[dict], action: str) -> None:
    """After each refused reset, `step` continues the episode the env was in, as an untouched twin does."""
    twin = type(env)(**_ctor_kwargs(env))
    obs, info = env.reset(seed=5)
    twin.reset(seed=5)
    for kwargs in bad:
        _refused(env, **kwargs)
        assert env._last_obs == obs and env._last_info["task_id"] == info["task_id"]
    got = env.step(action)
    want = twin.step(action)
    assert got[0] == want[0] and got[4]["task_id"] == info["task_id"] == want[4]["task_id"]
    assert got[4]["step"] == 1


def _ctor_kwargs(env: TextEnv) -> dict:
    if isinstance(env, ALFWorldEnv):
        return {"difficulty": env.difficulty}
    if isinstance(env, WebShopEnv):
        return {"search": "bm25", "split": env.split}
    return {}


# ---- ALFWorld ----------------------------------------------------------------------------------------------
def test_alfworld_refused_reset_keeps_the_old_room():
    env = ALFWorldEnv(difficulty="small")
    bad = [{"options": o} for o in BAD_OPTIONS] + [
        {"options": {"task": {"task_id": "zzz"}}},  # the example: it used to report task zzz
        {"options": {"task": {"task_id": "y", "task_type": "heat", "data": {"room": "kitchen"}}}},
        {"options": {"task": {"task_id": "w", "task_type": "heat",
                              "data": {"room": "kitchen", "layout": 0, "difficulty": "huge", "obj": "mug",
                                       "world_seed": 1, "recep": "fridge"}}}},  # fmt: skip
        {"seed": -1},
        {"seed": "0"},
    ]
    _keeps_its_episode(env, bad, "look")


def test_alfworld_unknown_task_id_is_still_a_keyerror_for_old_callers():
    env = ALFWorldEnv(difficulty="small")
    with pytest.raises(KeyError, match="not in panel"):
        env.reset(options={"task": "zzz"})
    e = _refused(env, options="task")
    assert "options must be a dict" in str(e)


def test_alfworld_task_dict_round_trips():
    env = ALFWorldEnv(difficulty="small")
    task = env.panel()[3]
    obs, info = env.reset(options={"task": task.to_dict()})
    assert info["task_id"] == task.task_id and obs == env.reset(options={"task": task})[0]


# ---- Search-QA ---------------------------------------------------------------------------------------------
def test_searchqa_task_without_golden_answers_is_refused_at_reset():
    env = SearchQAEnv()
    task = env.panel()[0]
    no_gold = {"task_id": "q1", "instruction": "who wrote it?", "data": {}}
    bad = [{"options": o} for o in BAD_OPTIONS] + [
        {"options": {"task": no_gold}},  # it used to be accepted, and the answer raised KeyError
        {"options": {"task": {**no_gold, "data": {"golden_answers": "Mara Orr"}}}},  # a string, not a list
        {"options": {"task": {**no_gold, "data": {"golden_answers": []}}}},
        {"options": {"task": {**no_gold, "data": {"golden_answers": ["x"], "hops": [{"subject": "x"}]}}}},
        {"options": {"task": {"task_id": "q2", "data": {"golden_answers": ["x"]}}}},  # no question
    ]
    e = _refused(SearchQAEnv(), options={"task": no_gold})
    assert "golden_answers" in str(e)
    _keeps_its_episode(env, bad, "not a tagged action")
    ok = {"task_id": "q3", "instruction": "who?", "data": {"golden_answers": ["Mara Orr"]}}
    env.reset(options={"task": ok})
    obs, r, term, trunc, info = env.step("<answer> Mara Orr </answer>")
    assert term and r == 1.0 and info["won"]
    assert env.reset(options={"task": task})[1]["task_id"] == task.task_id


# ---- WebShop -----------------------------------------------------------------------------------------------
def test_webshop_goal_missing_fields_is_refused_at_reset():
    env = WebShopEnv(split="test", search="bm25")
    goal = dict(env.panel()[2].data)
    bad = [{"options": o} for o in BAD_OPTIONS] + [
        {"options": {"task": {"task_id": "g1"}}},
        {"options": {"task": {"task_id": "g2", "data": {k: v for k, v in goal.items() if k != "attributes"}}}},
        {"options": {"task": {"task_id": "g3", "data": {**goal, "price_upper": "cheap"}}}},
        {"options": {"task": {"task_id": "g4", "data": {**goal, "goal_options": "red"}}}},
        {"options": {"task": {"task_id": "g5", "data": {**goal, "instruction_text": "  "}}}},
    ]
    e = _refused(env, options={"task": {"task_id": "g1"}})
    assert "instruction_text" in str(e)
    _keeps_its_episode(env, bad, "search[shoes]")
    obs, info = env.reset(options={"task": {"task_id": "g6", "data": goal}})
    assert info["task_id"] == "g6" and goal["instruction_text"] in obs


# ---- the base class: a begin that fails after validation ---------------------------------------------------
class FlakyEnv(TextEnv):
    """One task that can be played; `begin` fails for tasks flagged `explode` (past validation)."""

    splits = ("train",)

    def load_panel(self, split: str) -> Panel:
        return Panel("test/Flaky-v0", split, "v1", [Task("t0", "x", "Say hi.", data={})])

    def begin(self, task: Task):
        self.world = "half-built"
        if task.data.get("explode"):
            raise RuntimeError("the world generator crashed")
        self.world = task.task_id
        return f"Room {task.task_id}.", {}

    def act(self, action: str) -> Transition:
        return Transition(f"In {self.world}.", valid=False)


def test_a_begin_that_fails_leaves_the_env_needing_a_reset():
    env = FlakyEnv()
    env.reset(seed=0)
    with pytest.raises(RuntimeError):
        env.reset(options={"task": Task("boom", "x", "Explode.", data={"explode": True})})
    with pytest.raises(gym.error.ResetNeeded, match="last reset.. failed .RuntimeError: the world generator"):
        env.step("hi")
    assert env.reset(seed=0)[0] == "Room t0."
    assert env.step("hi")[0] == "In t0."


def test_validate_task_hook_errors_become_reset_errors():
    class Strict(FlakyEnv):
        def validate_task(self, task: Task) -> None:
            _ = task.data["needed"]  # a plain KeyError from a hook

    env = Strict()
    e = _refused(env, options={"task": {"task_id": "t1"}})
    assert "t1" in str(e) and "needed" in str(e)
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):  # nothing was ever reset
        env.step("hi")


def test_task_from_dict_names_the_bad_field():
    with pytest.raises(ValueError, match="task_id"):
        Task.from_dict({"instruction": "x"})
    with pytest.raises(ValueError, match="'data' must be"):
        Task.from_dict({"task_id": "a", "data": [1]})
    with pytest.raises(ValueError, match="'seed' must be"):
        Task.from_dict({"task_id": "a", "seed": 1.5})
    with pytest.raises(ValueError, match="JSON object"):
        Task.from_dict("a")  # type: ignore[arg-type]
    t = Task.from_dict({"task_id": 7, "data": {"k": 1}})
    assert t.task_id == "7" and t.data == {"k": 1} and t.task_type == "default"

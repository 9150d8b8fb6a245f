"""Random, keyword and UCB retrieval behaviour (embedding: tests/test_skills_embedding.py)."""

from __future__ import annotations

import json
import math
import random

import pytest

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills import SkillLibrary, SkillStore
from agentgym.skills.evaluate import env_id_for, fixture_tasks, hit_rate, panel_tasks
from agentgym.skills.library import GENERAL


def names(skills):
    return [s.name for s in skills]


# ---- random ------------------------------------------------------------------------------------------
def test_random_is_seeded_and_distinct():
    tasks = fixture_tasks("alfworld")
    first = [names(s) for s in _replay("random", 3, tasks)]
    assert first == [names(s) for s in _replay("random", 3, tasks)], "same seed, same sequence"
    assert first != [names(s) for s in _replay("random", 4, tasks)], "another seed, another sequence"
    assert len(set(map(tuple, first))) > 10, "draws vary across tasks"
    assert all(len(x) == 2 and len(set(x)) == 2 for x in first)


def _replay(strategy, seed, tasks):
    store = SkillStore.create("alfworld", strategy, seed=seed)
    return [store.retrieve(t) for t in tasks]


def test_random_state_round_trips_mid_sequence():
    tasks = fixture_tasks("webshop")
    store = SkillStore.create("webshop", "random", seed=11)
    for t in tasks[:5]:
        store.retrieve(t)
    state = json.loads(json.dumps(store.state_dict()))  # must survive JSON (checkpoints)
    expected = [names(store.retrieve(t)) for t in tasks[5:]]
    fresh = SkillStore.create("webshop", "random", seed=999)
    fresh.load_state_dict(state)
    assert [names(fresh.retrieve(t)) for t in tasks[5:]] == expected


def test_random_hit_rate_is_near_chance():
    lib = SkillLibrary.load("alfworld")
    tasks = fixture_tasks("alfworld") * 20
    rate = hit_rate(SkillStore.create("alfworld", "random", seed=0), tasks).rate
    # P(at least one of 2 draws from 28 skills is the task's one group skill) = 1 - C(27,2)/C(28,2)
    chance = 1 - (27 * 26) / (28 * 27)
    assert len(lib) == 28 and abs(rate - chance) < 0.04, rate


# ---- keyword -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("instruction", [
    "heat some egg and put it in countertop.",
    "put a hot apple in fridge.",
    "heat some mug and put it in coffeemachine.",
])
def test_keyword_picks_heat_skills_for_heating_tasks(instruction):
    skills = SkillStore.create("alfworld", "keyword").retrieve(Task("t", "heat", instruction))
    assert [s.group for s in skills] == ["heat", "general"]  # the procedure, then where the object usually is
    assert names(skills)[0] == "heat-in-microwave" and names(skills)[1] in ("where-food", "where-drinkware")


@pytest.mark.parametrize(("instruction", "group", "must"), [
    ("put a cool tomato in microwave.", "cool", "cool-in-fridge"),      # the microwave is only the target
    ("clean some lettuce and put it in fridge.", "clean", "clean-at-sink"),
    ("look at cd under the desklamp.", "look_at_obj_in_light", "hold-then-use-lamp"),
    ("put two cellphone in bed.", "pick_two", "place-one-then-second"),
    ("put some keychain on sofa.", "pick_and_place", "take-then-place"),  # no rule fires: default group
])
def test_keyword_groups_for_each_alfworld_type(instruction, group, must):
    skills = SkillStore.create("alfworld", "keyword").retrieve(Task("t", group, instruction))
    assert skills[0].group == group and must in names(skills)


@pytest.mark.parametrize(("env", "instruction", "group"), [
    ("webshop", "i need men's trail running shoes, size: 9, and price lower than 60.00 dollars", "footwear"),
    ("webshop", "i want a usb c hub for my laptop, and price lower than 30.00 dollars", "electronics"),
    ("webshop", "i am looking for a linen duvet cover for the bedroom, color: sage", "home_decor"),
    ("searchqa", "Who was born first, Ada Lovelace or Charles Babbage?", "comparison"),
    ("searchqa", "What is Grace Hopper's occupation?", "entity_attribute"),
    ("searchqa", "Where was the director of the film Alien born?", "multi_hop"),
])
def test_keyword_groups_in_other_envs(env, instruction, group):
    skills = SkillStore.create(env, "keyword").retrieve(Task("t", "x", instruction))
    assert skills[0].group == group


def test_keyword_without_rules_or_default_falls_back_to_general(tmp_path):
    (tmp_path / "webshop.yaml").write_text(
        "env: webshop\ngroups:\n  general: {}\n  shoes: {keywords: [shoe]}\nskills:\n"
        "  - {name: g1, group: general, principle: Read the page., when: always}\n"
        "  - {name: s1, group: shoes, principle: Pick the size., when: shoes}\n")
    store = SkillStore.create("webshop", "keyword", k=1, library_dir=str(tmp_path))
    assert names(store.retrieve(Task("t", "x", "a teapot"))) == ["g1"]
    assert names(store.retrieve(Task("t", "x", "red shoes"))) == ["s1"]


@pytest.mark.parametrize("env", ["alfworld", "webshop", "searchqa"])
def test_keyword_hit_rate_on_fixtures(env):
    # The fixtures were written alongside the rules (in-sample); real panels are checked below.
    assert hit_rate(SkillStore.create(env, "keyword"), fixture_tasks(env)).rate >= 0.9


@pytest.mark.skipif(env_id_for("alfworld") is None, reason="ALFWorld env not registered")
def test_keyword_hit_rate_on_the_real_alfworld_panel():
    tasks = panel_tasks("alfworld", "eval_out_of_distribution")
    result = hit_rate(SkillStore.create("alfworld", "keyword"), tasks)
    assert result.labeled == len(tasks) > 50 and result.rate >= 0.95


def test_k_is_respected():
    task = Task("t", "heat", "heat some egg and put it in countertop.")
    for strategy in ["random", "keyword", "ucb"]:
        for k in [0, 1, 3, 5]:
            skills = SkillStore.create("alfworld", strategy, k=k).retrieve(task)
            assert len(skills) == k and len(set(names(skills))) == k
    assert len(SkillStore.create("alfworld", "keyword", k=100).retrieve(task)) == 28


# ---- UCB ---------------------------------------------------------------------------------------------
def _simulate(store, tasks, episodes, good_group, p=(1.0, 0.0), seed=0):
    """Outcome model: the episode succeeds with probability p[0] when a skill of `good_group(task)` was
    shown, else p[1]."""
    rng = random.Random(seed)
    hits = []
    for i in range(episodes):
        task = tasks[i % len(tasks)]
        skills = store.retrieve(task)
        good = any(s.group == good_group(task) for s in skills)
        store.update(task, skills, float(rng.random() < (p[0] if good else p[1])))
        hits.append(good)
    return hits


def test_ucb_tries_every_arm_before_exploiting():
    store = SkillStore.create("alfworld", "ucb", k=2, c=1.0)
    task = Task("t", "heat", "heat some egg and put it in countertop.")
    seen = []
    for _ in range(14):  # 28 skills, 2 per retrieval: all tried after 14 episodes
        skills = store.retrieve(task)
        seen += names(skills)
        store.update(task, skills, 0.0)
    assert set(seen) == set(store.library.names)


def test_ucb_shifts_toward_skills_whose_tasks_succeed():
    lib = SkillLibrary.load("alfworld")
    tasks = fixture_tasks("alfworld")
    store = SkillStore.create("alfworld", "ucb", k=2, c=0.5, seed=1)
    hits = _simulate(store, tasks, 1500, lib.group_of, p=(0.7, 0.3))  # noisy outcomes
    early, late = sum(hits[:48]) / 48, sum(hits[-300:]) / 300  # 48 = 6 types x 8: still exploring
    assert early < 0.6 and late > 0.85, (early, late)
    # Per context, one of the two most pulled arms is a skill of the task type. (One such skill in c+
    # is enough to succeed in this outcome model, so the arm shown beside it shares its credit.)
    table = store.metrics()["value_table"]
    for ctx in lib.task_group_names:
        top2 = sorted((r for r in table if r["context"] == ctx), key=lambda r: -r["n"])[:2]
        assert ctx in {lib.get(r["arm"]).group for r in top2}, (ctx, top2)


def test_ucb_exploration_constant_controls_exploration():
    lib = SkillLibrary.load("alfworld")
    tasks = [t for t in fixture_tasks("alfworld") if t.task_type == "heat"]
    good = []
    for c in [0.0, 0.3, 3.0]:
        store = SkillStore.create("alfworld", "ucb", k=2, c=c, seed=2)
        hits = _simulate(store, tasks, 400, lib.group_of)
        good.append(sum(hits[100:]) / 300)
    assert good[0] >= good[1] > good[2], good  # more exploration, fewer hits once the good arms are known


def test_ucb_group_arms():
    lib = SkillLibrary.load("webshop")
    tasks = fixture_tasks("webshop")
    store = SkillStore.create("webshop", "ucb", k=2, arms="group", c=0.3, seed=0)
    first = store.retrieve(tasks[0])
    assert len({s.group for s in first} - {GENERAL}) <= 1  # one group per retrieval (+ general filler)
    hits = _simulate(store, tasks, 1200, lib.group_of)
    assert sum(hits[-300:]) / 300 > 0.85
    assert {r["arm"] for r in store.metrics()["value_table"]} <= set(lib.groups)


def test_ucb_state_round_trips_through_json():
    lib = SkillLibrary.load("searchqa")
    tasks = fixture_tasks("searchqa")
    store = SkillStore.create("searchqa", "ucb", c=0.7, seed=5)
    _simulate(store, tasks, 300, lib.group_of)
    state = json.loads(json.dumps(store.state_dict()))
    restored = SkillStore.create("searchqa", "ucb", c=0.7, seed=123)
    restored.load_state_dict(state)
    assert restored.metrics()["value_table"] == store.metrics()["value_table"]
    assert restored.metrics()["hit_rate"] == store.metrics()["hit_rate"]
    assert [names(restored.retrieve(t)) for t in tasks] == [names(store.retrieve(t)) for t in tasks]
    # Keeps learning identically after the restore.
    _simulate(store, tasks, 50, lib.group_of)
    _simulate(restored, tasks, 50, lib.group_of)
    assert restored.state_dict()["retriever"] == store.state_dict()["retriever"]


def test_ucb_rewards_are_clipped_and_must_be_finite():
    store = SkillStore.create("alfworld", "ucb")
    task = Task("t", "heat", "heat some egg and put it in countertop.")
    skills = store.retrieve(task)
    store.update(task, skills, 10.0)  # ALFWorld's 10 * won counts as a success
    store.update(task, skills, -3.0)
    values = store.retriever.values["heat"]
    assert all(math.isclose(values[s.name], 0.5) for s in skills)
    with pytest.raises(AgentGymError, match="finite"):
        store.update(task, skills, float("nan"))
    store.update(task, [], 1.0)  # nothing shown, nothing learned
    assert store.retriever.counts["heat"][skills[0].name] == 2


def test_ucb_rejects_state_of_other_arm_kind():
    skill_arms = SkillStore.create("alfworld", "ucb")
    group_arms = SkillStore.create("alfworld", "ucb", arms="group")
    with pytest.raises(AgentGymError, match="arms"):
        group_arms.load_state_dict(skill_arms.state_dict())
    with pytest.raises(AgentGymError, match="strategy"):
        SkillStore.create("alfworld", "keyword").load_state_dict(skill_arms.state_dict())

"""ALFWorld's regularities: the generator follows them, the skills state them, only the skill-reading expert uses them."""

from __future__ import annotations

from collections import Counter

import pytest

from agentgym.envs.alfworld.catalog import HOMES, LAMP, LAMP_HOMES, USUAL, USUAL_P, USUAL_PLACES
from agentgym.envs.alfworld.env import ALFWorldEnv
from agentgym.envs.alfworld.expert import places_from_skills, search_order
from agentgym.envs.alfworld.generate import build_world
from agentgym.envs.alfworld.panels import build_panel
from agentgym.skills import SkillStore
from agentgym.skills.library import Skill

KEYWORD = SkillStore.create("alfworld", strategy="keyword", k=2)


def test_usual_places_are_possible_homes_and_cover_every_object():
    assert set(USUAL) == set(HOMES) | {LAMP}
    for o, places in USUAL.items():
        homes = LAMP_HOMES if o == LAMP else HOMES[o]
        assert places and set(places) <= set(homes), o
    assert sum(len(objs) for objs, _ in USUAL_PLACES.values()) == len(USUAL), "each object in exactly one kind"


@pytest.mark.parametrize("difficulty,n", [("small", 800), ("full", 150)])
def test_generator_follows_the_regularity(difficulty, n):
    """Objects sit in their kind's usual places about USUAL_P of the time (where the room has one), far
    more often than their share of the receptacle types that could hold them."""
    hits = total = 0
    chance = 0.0
    for task in list(build_panel("train", difficulty))[:n]:
        world, _ = build_world(task.task_type, task.data)
        present = {r.rtype for r in world.receps}
        for o in world.objs:
            usual = [u for u in USUAL[o.otype] if u in present]
            homes = [h for h in (LAMP_HOMES if o.otype == LAMP else HOMES[o.otype]) if h in present]
            if not usual or len(usual) == len(homes):
                continue
            total += 1
            hits += o.loc.rtype in usual
            chance += len(usual) / len(homes)
    frac = hits / total
    assert total > 300
    assert USUAL_P - 0.08 <= frac <= 1.0, frac
    assert frac > chance / total + 0.3, (frac, chance / total)


def test_the_library_states_exactly_the_generator_table():
    said = places_from_skills([s.principle for s in KEYWORD.library.skills])
    assert said == dict(USUAL)


def test_places_from_skills_reads_words_in_order_and_ignores_what_says_nothing():
    got = places_from_skills(["Knives and forks are usually in the sinkbasin or in drawers.",
                              "Shelves hold nothing about objects here.", "Mugs are great.",
                              "A mug may also sit on the shelf."])
    assert got == {"knife": ("sinkbasin", "drawer"), "fork": ("sinkbasin", "drawer"), "mug": ("shelf",)}
    assert places_from_skills(["toiletpaper is on the toiletpaperhanger"]) == {"toiletpaper": ("toiletpaperhanger",)}
    assert places_from_skills([]) == {} and places_from_skills(["", "???", "x" * 5000]) == {}


def test_keyword_retrieval_brings_the_objects_places_for_every_eval_task():
    for split in ("eval_in_distribution", "eval_out_of_distribution"):
        for task in build_panel(split, "small"):
            said = places_from_skills([s.principle for s in KEYWORD.retrieve(task)])
            assert said.get(task.data["obj"]) == USUAL[task.data["obj"]], task.task_id
            if task.task_type == "look_at_obj_in_light":
                assert said.get(LAMP) == USUAL[LAMP], task.task_id


def _play(env, task, skills):
    _, info = env.reset(options={"task": task})
    while True:
        a = env.expert_action() if skills is None else env.expert_action_with_skills(skills)
        _, _, term, trunc, info = env.step(a)
        assert info["action_valid"], a
        if term or trunc:
            return info["won"]


def test_skills_help_the_expert_only_when_they_say_the_right_thing():
    env = ALFWorldEnv(split="eval_in_distribution", difficulty="small")
    tasks = list(env.panel())[:80]
    plain = sum(_play(env, t, None) for t in tasks) / len(tasks)
    right = sum(_play(env, t, KEYWORD.retrieve(t)) for t in tasks) / len(tasks)
    rnd = SkillStore.create("alfworld", strategy="random", k=2, seed=3)
    wrong = sum(_play(env, t, rnd.retrieve(t)) for t in tasks) / len(tasks)
    assert right == 1.0
    assert right - plain >= 0.25, (plain, right)
    assert wrong < right - 0.2, (wrong, right)
    # a skill that names the wrong places for the object misleads, but the expert still finishes the search
    lie = [Skill("lie", "general", f"Every {o} is usually on the toilet.", "always") for o in USUAL]
    liar = sum(_play(env, t, lie) for t in tasks) / len(tasks)
    assert liar <= plain + 0.05


def test_bad_skills_never_crash_the_expert():
    env = ALFWorldEnv(split="train", difficulty="small")
    env.reset(seed=4)
    for skills in ([], None, ["mug in the fridge"], [object()], [Skill("x", "general", "", "")],
                   [Skill("y", "general", "apple " * 500 + "fridge", "")]):
        a = env.expert_action_with_skills(skills)
        assert a in env.world.admissible()


def test_plain_search_is_the_room_listing_and_skills_reorder_it():
    task = build_panel("train", "small")[0]
    world, _ = build_world(task.task_type, task.data)
    plain = search_order(world, task.data["obj"])
    assert [r.name for r in plain] == [r.name for r in world.intro_order]
    first = USUAL[task.data["obj"]]
    told = search_order(world, task.data["obj"], {task.data["obj"]: first})
    k = sum(r.rtype in first for r in world.receps)
    assert all(r.rtype in first for r in told[:k]) and Counter(r.name for r in told) == Counter(r.name for r in plain)

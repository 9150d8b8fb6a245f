"""agentgym/ALFWorld-v0: world generation, grammar and feedback text, goal checkers, the expert, panels."""

from __future__ import annotations

import random

import numpy as np
import pytest

from agentgym.core.checker import check_text_env, garbage_actions
from agentgym.core.demos import expert_demos
from agentgym.core.env import INFO_KEYS
from agentgym.core.registry import make
from agentgym.envs.alfworld.catalog import (
    HOMES,
    LAMP_HOMES,
    OPENABLE,
    ROOM_OBJECTS,
    TASK_TYPES,
    can_contain,
)
from agentgym.envs.alfworld.env import ALFWorldEnv
from agentgym.envs.alfworld.generate import OOD_LAYOUTS, TRAIN_LAYOUTS, build_world, room_layouts
from agentgym.envs.alfworld.goals import Goal, satisfied
from agentgym.envs.alfworld.panels import SPLIT_SIZES, build_panel, held_out
from agentgym.envs.alfworld.report import evaluate, expert_policy, random_policy
from agentgym.envs.alfworld.world import NOTHING, World, WorldSpec
from agentgym.skills import SkillStore

SPLITS = ("train", "eval_in_distribution", "eval_out_of_distribution")


# ---- a hand-built kitchen + bedroom corner for exact text and goal checks -----------------------------
RECEPS = (("coffeemachine", 1), ("countertop", 2), ("desk", 1), ("fridge", 1), ("microwave", 1), ("sinkbasin", 1))
IDX = {"coffeemachine 1": 0, "countertop 1": 1, "countertop 2": 2, "desk 1": 3, "fridge 1": 4, "microwave 1": 5,
       "sinkbasin 1": 6}


def kitchen() -> World:
    objs = (("egg", IDX["fridge 1"]), ("tomato", IDX["countertop 1"]), ("tomato", IDX["fridge 1"]),
            ("mug", IDX["countertop 2"]), ("mug", IDX["countertop 1"]), ("desklamp", IDX["desk 1"]),
            ("knife", IDX["countertop 2"]))
    return World(WorldSpec(RECEPS, objs))


def run(world: World, *commands: str) -> list[str]:
    out = []
    for c in commands:
        text, valid = world.step(c)
        assert valid, f"{c!r} should be valid here; got {text!r}; admissible: {world.admissible()}"
        out.append(text)
    return out


def snapshot(world: World) -> tuple:
    return (world.at and world.at.name, world.held and world.held.name,
            tuple((r.name, r.is_open, tuple(o.name for o in r.contents)) for r in world.receps),
            tuple((o.name, o.hot, o.cool, o.clean, o.sliced, o.on, o.toggled) for o in world.objs))


def test_feedback_text_is_alfworlds():
    w = kitchen()
    assert w.intro("put a clean mug in coffeemachine.") == (
        "You are in the middle of a room. Looking quickly around you, you see a coffeemachine 1, a countertop 2, "
        "a countertop 1, a desk 1, a fridge 1, a microwave 1, and a sinkbasin 1.\n\n"
        "Your task is to: put a clean mug in coffeemachine.")
    assert run(w, "go to fridge 1", "open fridge 1") == [
        "You arrive at fridge 1. The fridge 1 is closed.",
        "You open the fridge 1. The fridge 1 is open. In it, you see a egg 1, and a tomato 2."]
    assert run(w, "take egg 1 from fridge 1", "inventory", "close fridge 1") == [
        "You pick up the egg 1 from the fridge 1.", "You are carrying: a egg 1.", "You close the fridge 1."]
    assert run(w, "go to microwave 1", "heat egg 1 with microwave 1", "examine egg 1") == [
        "You arrive at microwave 1. The microwave 1 is closed.", "You heat the egg 1 using the microwave 1.",
        "This is a hot egg 1."]
    assert run(w, "go to countertop 1") == [
        "You arrive at countertop 1. On the countertop 1, you see a tomato 1, and a mug 2."]
    assert run(w, "move egg 1 to countertop 1", "look") == [
        "You move the egg 1 to the countertop 1.", "You are facing the countertop 1. Next to it, you see nothing."]
    assert run(w, "examine mug 2", "examine countertop 1") == [
        "There's nothing special about mug 2.", "On the countertop 1, you see a tomato 1, a mug 2, and a egg 1."]
    assert run(w, "go to desk 1", "use desklamp 1", "examine desklamp 1", "use desklamp 1") == [
        "You arrive at desk 1. On the desk 1, you see a desklamp 1.", "You turn on the desklamp 1.",
        "This desklamp 1 is on.", "You turn off the desklamp 1."]
    assert run(w, "go to countertop 2", "take knife 1 from countertop 2", "go to countertop 1",
               "slice tomato 1 with knife 1")[-1] == "You sliced the tomato 1 with the knife 1."
    assert w.step("go to countertop 1") == (NOTHING, False)  # already there
    assert run(w, "help")[0].startswith("Available commands:")


def test_preconditions_and_invalid_commands_change_nothing():
    w = kitchen()
    before = snapshot(w)
    for bad in ("open fridge 1", "take egg 1 from fridge 1", "heat mug 1 with microwave 1", "use desklamp 1",
                "go to fridge 2", "go to", "take", "examine fridge 1", "move mug 1 to coffeemachine 1", ""):
        assert w.step(bad) == (NOTHING, False), bad
    assert snapshot(w) == before
    run(w, "go to fridge 1")
    assert w.step("take egg 1 from fridge 1") == (NOTHING, False)  # closed
    assert w.step("examine egg 1") == (NOTHING, False)  # not in view
    run(w, "go to countertop 2", "take mug 1 from countertop 2")
    assert w.step("take knife 1 from countertop 2") == (NOTHING, False)  # hands full
    assert w.step("heat mug 1 with microwave 1") == (NOTHING, False)  # not at the microwave
    run(w, "go to microwave 1")
    assert w.step("cool mug 1 with microwave 1") == (NOTHING, False)
    assert w.step("move mug 1 to microwave 1") == (NOTHING, False)  # closed
    run(w, "heat mug 1 with microwave 1")  # heating works with the door shut, as in ALFWorld's PDDL
    assert w.step("take mug 1 from countertop 2") == (NOTHING, False)


def test_grammar_variants_put_in_on_and_spelling():
    for spelling in ("put mug 1 in/on coffeemachine 1", "put mug 1 in coffeemachine 1", "put mug 1 on coffeemachine 1",
                     "  MOVE  mug 1 to Coffeemachine 1. ", "move mug 1 to coffeemachine 1"):
        w = kitchen()
        run(w, "go to countertop 2", "take mug 1 from countertop 2", "go to coffeemachine 1")
        assert w.step(spelling) == ("You move the mug 1 to the coffeemachine 1.", True), spelling
    w = kitchen()
    run(w, "go to countertop 2", "take mug 1 from countertop 2", "go to coffeemachine 1")
    for near_miss in ("put mug 1 in/on coffeemachine", "put mug 2 in coffeemachine 1", "move mug 1 coffeemachine 1",
                      "put mug 1 under coffeemachine 1", "mug 1 to coffeemachine 1", "take mug 1",
                      "go to coffeemachine 1", "g0 to fridge 1", "go to fridge 1 now", "gο to fridge 1"):
        assert w.step(near_miss) == (NOTHING, False), near_miss
    assert "move mug 1 to coffeemachine 1" in w.admissible()
    assert not any(a.startswith("put ") for a in w.admissible()), "admissible actions use the canonical spelling"


def test_admissible_actions_are_exactly_the_valid_ones():
    """Every admissible action is valid from its state, and a random walk never leaves a valid action out."""
    env = ALFWorldEnv(split="eval_in_distribution", difficulty="small")
    rng = np.random.default_rng(0)
    for task in list(env.panel())[:6]:
        _, info = env.reset(options={"task": task})
        prefix: list[str] = []
        for _ in range(6):
            for a in info["admissible_actions"]:
                env.reset(options={"task": task})
                for p in prefix:
                    env.step(p)
                _, _, _, _, i2 = env.step(a)
                assert i2["action_valid"], (task.task_id, prefix, a)
            a = info["admissible_actions"][int(rng.integers(len(info["admissible_actions"])))]
            env.reset(options={"task": task})
            for p in prefix:
                env.step(p)
            _, _, term, _, info = env.step(a)
            prefix.append(a)
            if term:
                break
    # Commands built from every name in the world: valid exactly when admissible.
    first = env.panel()[0]
    w = build_world(first.task_type, first.data)[0]
    names = [r.name for r in w.receps] + [o.name for o in w.objs]
    verbs = ["go to {}", "open {}", "close {}", "examine {}", "use {}", "take {} from {}", "move {} to {}",
             "heat {} with {}", "cool {} with {}", "clean {} with {}", "slice {} with {}"]
    for step in range(8):
        adm = set(w.admissible())
        for v in verbs:
            for x in names:
                for y in names if v.count("{}") == 2 else [None]:
                    cmd = v.format(x, y) if y else v.format(x)
                    assert (w.resolve(cmd) is not None) == (cmd in adm), cmd
        w.step(sorted(adm)[step % len(adm)])


def test_world_generation_is_deterministic_and_plausible():
    env = ALFWorldEnv(split="train")
    o1, i1 = env.reset(seed=11)
    trace1 = [env.step(env.expert_action())[0] for _ in range(5)]
    o2, i2 = ALFWorldEnv(split="train").reset(seed=11)
    assert (o1, i1["task_id"], i1["admissible_actions"]) == (o2, i2["task_id"], i2["admissible_actions"])
    env.reset(seed=11)
    assert [env.step(env.expert_action())[0] for _ in range(5)] == trace1
    seen_obs = {ALFWorldEnv(split="train").reset(seed=s)[0] for s in range(10)}
    assert len(seen_obs) > 5
    for task in list(build_panel("train", "full"))[:200]:
        w, n = build_world(task.task_type, task.data)
        assert all(not r.is_open for r in w.receps), "openable receptacles start closed"
        for o in w.objs:
            homes = LAMP_HOMES if o.otype == "desklamp" else HOMES[o.otype]
            assert o.loc.rtype in homes, f"{o.name} placed in {o.loc.name}"
        assert not satisfied(w, Goal(task.task_type, task.data["obj"], task.data.get("recep"), task.data.get("lamp")))
        room_types = {r.rtype for r in w.receps}
        assert room_types in [{rt for rt, _ in lay} for lay in room_layouts(task.data["room"], "full")]


def test_goal_checkers_decide_like_alfworld():
    def goal(t, obj, recep=None, lamp=None):
        return Goal(t, obj, recep, lamp)

    w = kitchen()
    run(w, "go to countertop 2", "take mug 1 from countertop 2", "go to coffeemachine 1", "move mug 1 to coffeemachine 1")
    assert satisfied(w, goal("pick_and_place", "mug", "coffeemachine"))
    assert not satisfied(w, goal("clean", "mug", "coffeemachine")), "an uncleaned mug does not win a clean task"
    assert satisfied(w, goal("pick_and_place", "mug", "countertop"))  # mug 2 is still on countertop 1
    assert not satisfied(w, goal("pick_and_place", "egg", "coffeemachine"))
    assert not satisfied(w, goal("pick_two", "mug", "coffeemachine"))
    run(w, "take mug 1 from coffeemachine 1", "go to sinkbasin 1", "clean mug 1 with sinkbasin 1")
    assert not satisfied(w, goal("clean", "mug", "coffeemachine")), "clean but not in place"
    run(w, "go to coffeemachine 1", "move mug 1 to coffeemachine 1")
    assert satisfied(w, goal("clean", "mug", "coffeemachine"))
    assert not satisfied(w, goal("heat", "mug", "coffeemachine"))

    w = kitchen()
    run(w, "go to countertop 2", "take mug 1 from countertop 2", "go to microwave 1", "heat mug 1 with microwave 1",
        "go to fridge 1", "cool mug 1 with fridge 1", "go to coffeemachine 1", "move mug 1 to coffeemachine 1")
    assert satisfied(w, goal("cool", "mug", "coffeemachine"))
    assert not satisfied(w, goal("heat", "mug", "coffeemachine")), "cooling clears hot"

    w = kitchen()  # two mugs: the same receptacle wins pick_two, two different receptacles do not
    run(w, "go to countertop 2", "take mug 1 from countertop 2", "go to coffeemachine 1",
        "move mug 1 to coffeemachine 1", "go to countertop 1", "take mug 2 from countertop 1", "go to desk 1",
        "move mug 2 to desk 1")
    assert not satisfied(w, goal("pick_two", "mug", "coffeemachine"))
    assert not satisfied(w, goal("pick_two", "mug", "desk"))
    run(w, "take mug 2 from desk 1", "go to coffeemachine 1", "move mug 2 to coffeemachine 1")
    assert satisfied(w, goal("pick_two", "mug", "coffeemachine"))

    w = kitchen()  # look_at_obj_in_light: hold the object where a used lamp stands
    look = goal("look_at_obj_in_light", "mug", lamp="desklamp")
    run(w, "go to desk 1", "use desklamp 1")
    assert not satisfied(w, look), "lamp on but hands empty"
    run(w, "go to countertop 2", "take mug 1 from countertop 2")
    assert not satisfied(w, look), "holding the mug away from the lamp"
    run(w, "go to desk 1")
    assert satisfied(w, look)
    run(w, "use desklamp 1")  # switched off again: ALFWorld's isToggled stays true
    assert satisfied(w, look)
    assert not satisfied(w, goal("look_at_obj_in_light", "tomato", lamp="desklamp"))


def test_env_episode_contract_reward_and_caps():
    env = make("agentgym/ALFWorld-v0", split="eval_in_distribution")
    obs, info = env.reset(options={"task": 0})
    assert set(INFO_KEYS) <= set(info) and info["admissible_actions"]
    assert "Your task is to: " + info["instruction"] in obs
    total, steps = 0.0, 0
    # expert_length counts the expert that knows where things usually are: the one given the right skills
    skills = SkillStore.create("alfworld", strategy="keyword").retrieve(env.unwrapped.task)
    while True:
        obs, r, term, trunc, info = env.step(env.unwrapped.expert_action_with_skills(skills))
        total += r
        steps += 1
        assert set(INFO_KEYS) <= set(info) and isinstance(info["admissible_actions"], list)
        if term or trunc:
            break
    assert term and not trunc and info["won"] and info["score"] == 1.0 and r == 1.0 and total == 1.0
    assert steps == env.unwrapped.expert_length
    env = make("agentgym/ALFWorld-v0", max_steps=7)
    env.reset(seed=0)
    for i in range(7):
        obs, r, term, trunc, info = env.step("look" if i % 2 else "jump around")
    assert trunc and not term and not info["won"] and r == 0.0


def test_checker_passes_on_both_difficulties():
    for env_id in ("agentgym/ALFWorld-v0", "agentgym/ALFWorld-Small-v0"):
        results = check_text_env(make(env_id), n_garbage=150)
        assert all(r.passed for r in results), [(r.name, r.detail) for r in results if not r.passed]


def _near_misses(admissible: list[str], rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        a = rng.choice(admissible)
        k = rng.randrange(7)
        if k == 0:
            a = a[:-1]
        elif k == 1:
            a = a + " 1"
        elif k == 2:
            i = rng.randrange(len(a))
            a = a[:i] + rng.choice("xz9 é\u200b") + a[i + 1:]
        elif k == 3:
            a = a.replace(" ", "  ", 1).replace("1", "2")
        elif k == 4:
            a = a.replace("go to", "goto").replace("take", "get")
        elif k == 5:
            a = "put " + " ".join(a.split()[1:3]) + " in/on " + " ".join(rng.choice(admissible).split()[-2:])
        else:
            a = a.upper() + "!"
        out.append(a)
    return out


def fuzz(env: ALFWorldEnv, seed: int, n: int) -> int:
    """Throw adversarial strings at the env; valid exactly when they spell an admissible action."""
    rng = random.Random(seed)
    _, info = env.reset(seed=seed)
    garbage = garbage_actions(n // 2, seed=seed)
    valid = 0
    for i in range(n):
        adm = info["admissible_actions"]
        a = garbage[i // 2] if i % 2 == 0 else _near_misses(adm, rng, 1)[0]
        world = env.world
        before = snapshot(world)
        canonical = world.resolve(a)
        obs, _, term, trunc, info = env.step(a)
        if info["action_valid"]:
            valid += 1
            assert canonical in adm, (a, canonical)
        else:
            assert obs == NOTHING and canonical is None and snapshot(world) == before, a
        if term or trunc:
            _, info = env.reset(seed=seed + i)
        elif i % 25 == 0:  # move on to other states with a real action
            _, _, term, trunc, info = env.step(adm[rng.randrange(len(adm))])
            if term or trunc:
                _, info = env.reset(seed=seed + i)
    return valid


def test_fuzz_adversarial_actions_fast():
    env = ALFWorldEnv()
    for seed in (0, 1):
        fuzz(env, seed, 300)


_KEYWORD = SkillStore.create("alfworld", strategy="keyword")


def skilled_expert(env, info, rng):
    """The expert given the skills keyword retrieval picks for the task (it knows where things usually are)."""
    return env.expert_action_with_skills(_KEYWORD.retrieve(env.task))


def test_expert_solves_a_sample_of_every_panel_and_type():
    for difficulty in ("full", "small"):
        for split in SPLITS:
            env = ALFWorldEnv(split=split, difficulty=difficulty)
            panel = env.panel()
            for t in TASK_TYPES:
                sample = [task for task in panel if task.task_type == t][:4]
                assert sample, (split, t)
                report = evaluate(env, skilled_expert, sample)
                assert report.success() == 1.0, (difficulty, split, t)
            if difficulty == "small":
                assert 4 <= report.mean_steps() <= 12


def test_panels_sizes_ids_determinism_and_ood_disjointness():
    for split in SPLITS:
        panel = build_panel(split, "full")
        assert len(panel) == sum(SPLIT_SIZES[split].values())
        counts = {t: sum(1 for task in panel if task.task_type == t) for t in TASK_TYPES}
        assert counts == SPLIT_SIZES[split]
        assert panel.fingerprint == build_panel.__wrapped__(split, "full").fingerprint  # rebuilt, not cached
        assert panel[5].task_id == f"alfworld/{split}/{panel[5].task_type}/5"
    assert len(build_panel("train", "full")) == 3553
    assert len(build_panel("eval_in_distribution", "full")) == 140
    assert len(build_panel("eval_out_of_distribution", "full")) == 134
    small = build_panel("eval_in_distribution", "small")
    assert small[0].task_id.startswith("alfworld-small/") and small.fingerprint != build_panel(
        "eval_in_distribution", "full").fingerprint
    assert "small" in small.card().render()

    def combos(panel):
        return {(t.data["obj"], t.data.get("recep") or t.data.get("lamp")) for t in panel}

    for difficulty in ("full", "small"):
        train = build_panel("train", difficulty)
        ind = build_panel("eval_in_distribution", difficulty)
        ood = build_panel("eval_out_of_distribution", difficulty)
        assert not combos(train) & combos(ood), "OOD (object, receptacle) pairs never appear in train"
        assert all(not held_out(*c) for c in combos(train) | combos(ind))
        assert all(held_out(*c) for c in combos(ood))
        assert {t.data["layout"] for t in train} <= set(TRAIN_LAYOUTS)
        assert {t.data["layout"] for t in ood} <= set(OOD_LAYOUTS)
        for room in ROOM_OBJECTS:
            lays = room_layouts(room, difficulty)
            train_sets = {lays[i] for i in TRAIN_LAYOUTS}
            assert all(lays[i] not in train_sets for i in OOD_LAYOUTS), (room, difficulty)
        assert {t.task_type for t in ood} == set(TASK_TYPES)
        assert not {t.task_id for t in train} & {t.task_id for t in ind}


def test_small_difficulty_is_smaller():
    full = [build_world(t.task_type, t.data) for t in list(build_panel("eval_in_distribution", "full"))[:60]]
    small = [build_world(t.task_type, t.data) for t in list(build_panel("eval_in_distribution", "small"))[:60]]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert mean([len(w.receps) for w, _ in small]) < 0.5 * mean([len(w.receps) for w, _ in full])
    assert mean([len(w.objs) for w, _ in small]) < 0.5 * mean([len(w.objs) for w, _ in full])
    assert max(n for _, n in small) <= 14


def test_noisy_expert_demonstrations_and_random_baseline():
    env = ALFWorldEnv(difficulty="small", max_steps=50)  # room to recover from noise: the plain expert wins
    trajs = list(expert_demos(env, 30, noise=0.1, seed=0, env_id="agentgym/ALFWorld-Small-v0"))
    assert sum(t.won for t in trajs) >= 27
    assert all(s.admissible_actions for t in trajs for s in t.steps)
    noisy = [s for t in trajs for s in t.steps]
    assert all(s.action_valid for s in noisy)
    tasks = list(env.panel(split="eval_in_distribution"))[:30]
    env_id = ALFWorldEnv(split="eval_in_distribution", difficulty="small")
    rnd = evaluate(env_id, random_policy, tasks, seed=0)
    assert rnd.success() < evaluate(env_id, expert_policy, tasks).success() < 1.0  # plain: under the cap of 12
    assert evaluate(env_id, skilled_expert, tasks).success() == 1.0


def test_catalog_is_consistent():
    for objs in ROOM_OBJECTS.values():
        for o in objs:
            assert o in HOMES and all(can_contain(h, o) for h in HOMES[o]), o
    assert {"cabinet", "drawer", "fridge", "microwave", "safe"} == OPENABLE


@pytest.mark.slow
def test_expert_solves_every_task_of_every_panel():
    for difficulty in ("full", "small"):
        for split in SPLITS:
            env = ALFWorldEnv(split=split, difficulty=difficulty)
            report = evaluate(env, skilled_expert)
            assert report.success() == 1.0, (difficulty, split, report.rows())


@pytest.mark.slow
def test_fuzz_ten_thousand_strings_per_seed():
    for difficulty in ("full", "small"):
        env = ALFWorldEnv(difficulty=difficulty)
        for seed in (0, 1, 2):
            fuzz(env, seed, 10_000)

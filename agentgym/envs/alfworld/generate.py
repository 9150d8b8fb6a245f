"""Deterministic world generation: room layouts, object placement, and the expert-length check.

A *layout* is a room template (which receptacle types, how many of each), like one of ALFRED's scenes:
30 per room kind and difficulty, drawn once from fixed seeds. Layouts 0-23 are used by the train and
in-distribution panels; 24-29 only by the out-of-distribution panel, and each of those is redrawn until
its receptacle set differs from every train layout of its room kind.

A *world* is a layout filled with objects from a task's seed: the task's target objects, a lamp in rooms
that have lamps, and distractors. Each is placed by the world's regularity (`catalog.USUAL_PLACES`): with
probability `USUAL_P` in one of its kind's usual receptacle types that the room has, else in any other
type that can hold it (uniform over types, then over their instances).
Target objects never start in a receptacle of the goal type, so no task is solved before it starts. Like
ALFWorld, which drops generated games whose planner solution is too long, a world is accepted only when
the expert that knows the regularity solves it within a length budget; otherwise the placement is redrawn
(next attempt seed). The plain expert, which does not know where things usually are, may need longer.
"""

from __future__ import annotations

import hashlib
import random
from functools import cache, lru_cache

from agentgym.envs.alfworld.catalog import (
    FULL_LAYOUTS,
    HOMES,
    LAMP,
    LAMP_HOMES,
    ROOM_OBJECTS,
    SMALL_OPTIONAL,
    SMALL_REQUIRED,
    USUAL,
    USUAL_P,
    Slot,
)
from agentgym.envs.alfworld.expert import run_expert
from agentgym.envs.alfworld.goals import Goal
from agentgym.envs.alfworld.world import World, WorldSpec

#: Bump when generation changes what a task id means; it is part of every panel's version.
GEN_VERSION = "2"
BASE_SEED = 20_200_601
DIFFICULTIES = ("full", "small")
N_LAYOUTS = 30
TRAIN_LAYOUTS = range(0, 24)
OOD_LAYOUTS = range(24, 30)
#: The expert that knows the regularity must solve every world within this many steps.
EXPERT_BUDGET = {"full": 40, "small": 12}
BUDGET_SLACK = 3
#: The step cap per difficulty: ALFWorld's 50 for its rooms; the small rooms' cap is their expert budget,
#: so that an agent that does not know where things usually are runs out of steps on some tasks.
DEFAULT_MAX_STEPS = {"full": 50, "small": 12}
MAX_ATTEMPTS = 50

Layout = tuple[tuple[str, int], ...]


def stable_hash(*parts: object) -> int:
    """A 63-bit hash that is the same on every machine and Python version (unlike `hash`)."""
    h = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") >> 1


def _draw_layout(rng: random.Random, room: str, difficulty: str) -> Layout:
    counts: dict[str, int] = {}

    def add(slot: Slot) -> None:
        counts[slot.rtype] = counts.get(slot.rtype, 0) + rng.randint(slot.lo, slot.hi)

    if difficulty == "full":
        for slot in FULL_LAYOUTS[room]:
            if slot.p >= 1.0 or rng.random() < slot.p:
                add(slot)
    else:
        for slot in SMALL_REQUIRED[room]:
            add(slot)
        for slot in rng.sample(SMALL_OPTIONAL[room], rng.randint(4, 6)):
            add(slot)
    return tuple(sorted(counts.items()))


@cache
def room_layouts(room: str, difficulty: str) -> tuple[Layout, ...]:
    """The 30 layouts of a room kind; OOD ones (24-29) never repeat a train layout's receptacle set."""
    out: list[Layout] = []
    for lid in range(N_LAYOUTS):
        attempt = 0
        while True:
            rng = random.Random(stable_hash("layout", GEN_VERSION, BASE_SEED, difficulty, room, lid, attempt))
            layout = _draw_layout(rng, room, difficulty)
            if lid in TRAIN_LAYOUTS or layout not in out[: len(TRAIN_LAYOUTS)]:
                break
            attempt += 1
        out.append(layout)
    return tuple(out)


def _place(rng: random.Random, otype: str, homes: list[str], by_type: dict[str, list[int]]) -> int:
    """A receptacle index: one of the usual types with probability USUAL_P (if the room has one), else one
    of the other types that can hold the object; then uniform among that type's instances."""
    usual = [h for h in USUAL.get(otype, ()) if h in homes]
    rest = [h for h in homes if h not in usual]
    rtype = rng.choice(usual if usual and (not rest or rng.random() < USUAL_P) else rest)
    return rng.choice(by_type[rtype])


def _spec_for(task_type: str, data: dict, attempt: int) -> WorldSpec:
    room, difficulty = data["room"], data["difficulty"]
    layout = room_layouts(room, difficulty)[data["layout"]]
    by_type: dict[str, list[int]] = {}
    idx = 0
    for rtype, count in layout:
        by_type[rtype] = list(range(idx, idx + count))
        idx += count
    present = set(by_type)
    obj, recep = data["obj"], data.get("recep")
    small = difficulty == "small"

    # What is in the room is fixed by the world seed; only placement is redrawn between attempts.
    rng = random.Random(stable_hash("objects", data["world_seed"]))
    if task_type == "pick_two":
        n_target = 2 if small else rng.choice((2, 2, 3, 3, 4))
    else:
        n_target = 1 if small else rng.choice((1, 1, 2, 3))
    others = [t for t in ROOM_OBJECTS[room] if t != obj and any(h in present for h in HOMES[t])]
    k = min(len(others), rng.randint(2, 3) if small else rng.randint(8, 14))
    distractors = rng.sample(others, k)
    items: list[tuple[str, bool]] = [(obj, True)] * n_target
    for t in distractors:
        items += [(t, False)] * (1 if small else rng.choice((1, 1, 1, 2, 2, 3)))
    if any(h in present for h in LAMP_HOMES) and room in ("bedroom", "livingroom"):
        items.append((LAMP, False))

    rng = random.Random(stable_hash("placement", data["world_seed"], attempt))
    rng.shuffle(items)
    placed: list[tuple[str, int]] = []
    for otype, is_target in items:
        homes = [h for h in (LAMP_HOMES if otype == LAMP else HOMES[otype]) if h in present]
        if is_target and recep is not None:
            homes = [h for h in homes if h != recep]
        if not homes:
            raise ValueError(f"no place for {otype} in layout {data['layout']} of {room}")
        placed.append((otype, _place(rng, otype, homes, by_type)))
    # Objects are numbered in the order they are listed (mug 1, mug 2, ...), so sort by type stably.
    placed.sort(key=lambda p: p[0])
    return WorldSpec(receptacles=layout, objects=tuple(placed))


def goal_of(task_type: str, data: dict) -> Goal:
    return Goal(task_type, data["obj"], data.get("recep"), data.get("lamp"))


@lru_cache(maxsize=16384)
def _build(task_type: str, key: tuple) -> tuple[WorldSpec, int]:
    data = dict(key)
    goal = goal_of(task_type, data)
    budget = EXPERT_BUDGET[data["difficulty"]]
    # A few (object, receptacle, layout) combinations leave no usual place for the object; those get a
    # little more room rather than an error (at most BUDGET_SLACK steps); the panel filter (panels.py)
    # leaves none on the small panels, which the slow test of every task under the cap of 12 checks.
    for limit in range(budget, budget + BUDGET_SLACK + 1):
        for attempt in range(MAX_ATTEMPTS):
            spec = _spec_for(task_type, data, attempt)
            n = run_expert(World(spec), goal, limit, USUAL)
            if n is not None:
                return spec, n
    raise RuntimeError(f"no world within the expert budget for {task_type} {data}")


def build_world(task_type: str, data: dict) -> tuple[World, int]:
    """A fresh world for a task, and the number of steps the expert that knows the regularity needs."""
    key = tuple(sorted((k, v) for k, v in data.items() if not isinstance(v, (list, dict))))
    spec, n = _build(task_type, key)
    return World(spec), n

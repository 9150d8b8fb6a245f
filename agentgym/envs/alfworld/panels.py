"""The three versioned task panels, generated (not stored) from a fixed base seed.

Sizes and task-type mix follow ALFWorld's splits (train 3553, valid_seen 140, valid_unseen 134).
Out-of-distribution tasks use layouts never used in train and (object, goal receptacle) pairs never used
in train: about a quarter of all pairs are held out by a stable hash, and train and the in-distribution
panel draw only from the rest. Each task stores what rebuilds its world (room, layout, objects, seed);
panels are cheap to build because worlds are only generated when an episode starts.
"""

from __future__ import annotations

import random
from functools import cache, lru_cache

from agentgym.core.task import Panel, Task
from agentgym.envs.alfworld.catalog import (
    GOAL_TEMPLATES,
    HOMES,
    LAMP,
    LAMP_HOMES,
    ROOM_OBJECTS,
    TASK_ROOMS,
    TASK_TYPES,
    TOOL,
    USUAL,
    can_contain,
    has_affordance,
)
from agentgym.envs.alfworld.generate import (
    BASE_SEED,
    DIFFICULTIES,
    EXPERT_BUDGET,
    GEN_VERSION,
    OOD_LAYOUTS,
    TRAIN_LAYOUTS,
    room_layouts,
    stable_hash,
)

ENV_ID = "agentgym/ALFWorld-v0"
SPLITS = ("train", "eval_in_distribution", "eval_out_of_distribution")
#: Tasks per type in each split, as in ALFWorld (train / valid_seen / valid_unseen).
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "train": {"pick_and_place": 790, "look_at_obj_in_light": 308, "clean": 650, "heat": 459, "cool": 533,
              "pick_two": 813},
    "eval_in_distribution": {"pick_and_place": 35, "look_at_obj_in_light": 13, "clean": 27, "heat": 16, "cool": 25,
                             "pick_two": 24},
    "eval_out_of_distribution": {"pick_and_place": 24, "look_at_obj_in_light": 18, "clean": 31, "heat": 23,
                                 "cool": 21, "pick_two": 17},
}
HELD_OUT_PERCENT = 25


def held_out(obj: str, target: str) -> bool:
    """Is this (object, goal receptacle or lamp) pair reserved for the out-of-distribution panel?"""
    return stable_hash("combo", obj, target) % 100 < HELD_OUT_PERCENT


@cache
def candidates(task_type: str, room: str, difficulty: str, layout_id: int, ood: bool) -> tuple[tuple[str, str], ...]:
    """(object, target) pairs a task of this type can use in this layout, from one side of the held-out split."""
    present = {rt for rt, _ in room_layouts(room, difficulty)[layout_id]}
    out: list[tuple[str, str]] = []
    for obj in ROOM_OBJECTS[room]:
        if not has_affordance(task_type, obj):
            continue
        starts = [h for h in HOMES[obj] if h in present]
        usual = [h for h in USUAL[obj] if h in present]
        if not starts:
            continue
        if task_type == "look_at_obj_in_light":
            targets = [LAMP] if any(h in present for h in LAMP_HOMES) else []
        else:
            targets = [rt for rt in sorted(present)
                       if can_contain(rt, obj) and rt != TOOL.get(task_type) and any(s != rt for s in starts)]
        # the object's kind must have a usual place in this room other than the target (the regularity holds)
        targets = [t for t in targets if any(u != t for u in usual)]
        out += [(obj, t) for t in targets if held_out(obj, t) == ood]
    return tuple(out)


def _task(split: str, difficulty: str, index: int, task_type: str) -> Task:
    rng = random.Random(stable_hash("task", GEN_VERSION, BASE_SEED, difficulty, split, index))
    ood = split == "eval_out_of_distribution"
    layouts = OOD_LAYOUTS if ood else TRAIN_LAYOUTS
    while True:
        room = rng.choice(TASK_ROOMS[task_type])
        layout = rng.choice(layouts)
        pairs = candidates(task_type, room, difficulty, layout, ood)
        if pairs:
            break
    objs = sorted({o for o, _ in pairs})
    obj = rng.choice(objs)
    target = rng.choice([t for o, t in pairs if o == obj])
    templates = GOAL_TEMPLATES[task_type]
    template = rng.randrange(len(templates))
    data: dict = {"room": room, "layout": layout, "difficulty": difficulty, "obj": obj,
                  "world_seed": rng.getrandbits(48), "template": template}
    if task_type == "look_at_obj_in_light":
        data["lamp"] = target
        instruction = templates[template].format(obj=obj, lamp=target)
    else:
        data["recep"] = target
        instruction = templates[template].format(obj=obj, recep=target)
    prefix = "alfworld" if difficulty == "full" else f"alfworld-{difficulty}"
    return Task(f"{prefix}/{split}/{task_type}/{index}", task_type, instruction, seed=data["world_seed"], data=data)


@lru_cache(maxsize=32)  # many env copies in one process share one panel object
def build_panel(split: str, difficulty: str = "full", max_steps: int = 50, env_id: str = ENV_ID) -> Panel:
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; valid: {', '.join(DIFFICULTIES)}")
    order = [t for t in TASK_TYPES for _ in range(SPLIT_SIZES[split][t])]
    random.Random(stable_hash("order", GEN_VERSION, BASE_SEED, split)).shuffle(order)
    tasks = [_task(split, difficulty, i, t) for i, t in enumerate(order)]
    layouts = "24 per room kind (0-23)" if split != "eval_out_of_distribution" else \
        "6 per room kind (24-29), none equal to a train layout"
    pairs = "held-out (object, target) pairs only" if split == "eval_out_of_distribution" else \
        f"pairs outside the {HELD_OUT_PERCENT}% held out for OOD"
    notes = {
        "difficulty": difficulty + (" (fewer receptacles and distractors, for small CPU models)"
                                    if difficulty == "small" else " (ALFWorld-sized rooms)"),
        "engine": f"agentgym ALFWorld engine, generator v{GEN_VERSION} (offline; ALFWorld semantics and text)",
        "layouts": layouts,
        "combinations": pairs,
        "expert": f"every world solvable by the expert in <= {EXPERT_BUDGET[difficulty]} steps",
        "reward": "1 on success, else 0; terminated on success, truncated at the step cap",
    }
    return Panel(env_id, split, f"v{GEN_VERSION}-{difficulty}", tasks, base_seed=BASE_SEED, max_steps=max_steps,
                 notes=notes)

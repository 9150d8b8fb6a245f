"""Two experts: the next sensible action in the current state, using only what the agent could know.

Both read the world only through what the agent has observed: an object's position counts as known once
the agent has seen the inside of its receptacle (nothing else moves things, so what was seen stays true
apart from the agent's own moves). They differ in what they know of where things usually are:

- the plain expert (`places=None`) knows nothing of it: it searches receptacles in the order the room
  lists them (the goal's receptacle type last, since the object never starts there);
- the skill-reading expert is given `places` (object type -> receptacle types to try first), which
  `places_from_skills` reads from the words of the skills it is shown, and only from those: the right
  skill ("food is usually in the fridge or on the diningtable") sends it there first, a wrong or missing
  one leaves it searching like the plain expert. World generation checks worlds with the true table
  (`catalog.USUAL`), so every task is solvable within the budget by an expert that knows it.

Both are stateless (a function of the state), so they pick up again after noisy actions.

Plans: find and take the object -> treat it at the microwave / fridge / sinkbasin if the task says so ->
go to a receptacle of the goal type (one already open or without a door first), open it if needed, move
the object there. pick_two does this twice into the same receptacle; look_at_obj_in_light takes the
object, then finds the lamp and uses it. Anything wrong in hand is put down first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache

from agentgym.envs.alfworld.catalog import HOMES, LAMP, RECEPTACLE_TYPES, TOOL, can_contain
from agentgym.envs.alfworld.goals import Goal, satisfied
from agentgym.envs.alfworld.world import Obj, Recep, World

#: object type -> receptacle types to search first (what the skill-reading expert has read)
Places = Mapping[str, Sequence[str]]


@cache
def _word(name: str) -> re.Pattern[str]:
    """A type name as a whole word, singular or plural (mug/mugs, box/boxes, shelf/shelves, knife/knives)."""
    forms = [re.escape(name) + "(?:s|es)?"]
    if name.endswith("fe"):
        forms.append(re.escape(name[:-2]) + "ves")
    elif name.endswith("f"):
        forms.append(re.escape(name[:-1]) + "ves")
    return re.compile(r"(?<![a-z])(?:" + "|".join(forms) + r")(?![a-z])")


def _mentions(text: str, names: Iterable[str]) -> list[str]:
    """The names a text mentions, in the order of their first mention."""
    found = [(m.start(), n) for n in names if (m := _word(n).search(text))]
    return [n for _, n in sorted(found)]


def places_from_skills(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """What a set of skill texts says about where objects are: every object type a text names, mapped to
    the receptacle types the same text names, in their order. Texts naming no object or no receptacle
    say nothing; several texts about one object are joined in order."""
    out: dict[str, list[str]] = {}
    for text in texts:
        objs, receps = _text_mentions(str(text).lower())
        for o in objs if receps else ():
            out.setdefault(o, [])
            out[o] += [r for r in receps if r not in out[o]]
    return {o: tuple(r) for o, r in out.items()}


@lru_cache(maxsize=4096)
def _text_mentions(low: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(object types, receptacle types) one lower-cased text names; cached, since the skill-reading expert
    reads the same few skill texts at every step of an episode."""
    return tuple(_mentions(low, [*HOMES, LAMP])), tuple(_mentions(low, RECEPTACLE_TYPES))


def _treated(o: Obj, task_type: str) -> bool:
    return (task_type == "clean" and o.clean) or (task_type == "heat" and o.hot) or (task_type == "cool" and o.cool)


def _known(world: World, otype: str, exclude: Recep | None = None) -> list[Obj]:
    """Objects of a type whose place the agent has seen, not counting those in `exclude`."""
    return [o for o in world.of_type(otype) if o.loc is not None and o.loc.seen and o.loc is not exclude]


def search_order(world: World, otype: str, places: Places | None = None, last: str | None = None) -> list[Recep]:
    """Where to look for `otype`: the receptacles of the types `places` names for it first (in that order,
    then by number), then every other one in the order the room lists them; receptacles of type `last`
    (the goal receptacle, which cannot hold the object at the start or the task would be solved) last."""
    first = list((places or {}).get(otype, ()))
    rank = {rt: i for i, rt in enumerate(first)}
    preferred = sorted((r for r in world.receps if r.rtype in rank), key=lambda r: (rank[r.rtype], r.num))
    order = preferred + [r for r in world.intro_order if r.rtype not in rank]
    if last is not None:
        order = [r for r in order if r.rtype != last] + [r for r in order if r.rtype == last]
    return order


def _search(world: World, otype: str, places: Places | None, last: str | None = None) -> str:
    """Go to (or open) the next receptacle not yet seen, in search order."""
    at = world.at
    if at is not None and not at.seen and not at.accessible:
        return f"open {at.name}"
    for r in search_order(world, otype, places, last):
        if not r.seen:
            return r.goto if r is not at else f"examine {r.name}"
    return "look"


def _fetch(world: World, otype: str, places: Places | None, exclude: Recep | None = None,
           last: str | None = None) -> str:
    """Get a hand on an object of `otype` (hands are empty)."""
    known = _known(world, otype, exclude)
    if not known:
        return _search(world, otype, places, last)
    at = world.at
    for o in known:
        if o.loc is at:
            assert at is not None
            return f"take {o.name} from {at.name}" if at.accessible else f"open {at.name}"
    best = min(known, key=lambda o: (not o.loc.accessible, world.receps.index(o.loc)))
    return best.loc.goto


def _place(world: World, r: Recep, held: Obj) -> str:
    if world.at is not r:
        return r.goto
    if not r.accessible:
        return f"open {r.name}"
    return f"move {held.name} to {r.name}"


def _dispose(world: World, held: Obj) -> str:
    """Put down something the task does not need: here if possible, else on the nearest fitting surface."""
    at = world.at
    if at is not None and can_contain(at.rtype, held.otype):
        return _place(world, at, held)
    fits = [r for r in world.receps if can_contain(r.rtype, held.otype)]
    fits.sort(key=lambda r: not r.accessible)
    return _place(world, fits[0], held)


def _destination(world: World, goal: Goal) -> Recep:
    cands = world.receps_of(goal.recep or "")
    if goal.task_type == "pick_two":
        started = [r for r in cands if any(o.otype == goal.obj for o in r.contents)]
        if started:
            return max(started, key=lambda r: sum(o.otype == goal.obj for o in r.contents))
    if world.at in cands:
        return world.at
    return min(cands, key=lambda r: (not r.accessible, r.num))


def expert_action(world: World, goal: Goal, places: Places | None = None) -> str:
    """The expert's next command (always valid in the current state); `places` is what it knows of where
    objects usually are (None: nothing, the plain expert)."""
    held = world.held
    t = goal.task_type
    if t == "look_at_obj_in_light":
        if held is None:
            return _fetch(world, goal.obj, places)
        if held.otype != goal.obj:
            return _dispose(world, held)
        lamps = _known(world, goal.lamp or "")
        if not lamps:
            return _search(world, goal.lamp or "", places)
        here = [lp for lp in lamps if lp.loc is world.at]
        if here:
            return f"use {here[0].name}"
        return lamps[0].loc.goto
    if held is not None and held.otype == goal.obj:
        if t in TOOL and not _treated(held, t):
            tool = world.receps_of(TOOL[t])[0]
            if world.at is not tool:
                return tool.goto
            return f"{t} {held.name} with {tool.name}"  # the verbs are the task type names
        return _place(world, _destination(world, goal), held)
    if held is not None:
        return _dispose(world, held)
    exclude = _destination(world, goal) if t == "pick_two" else None
    if exclude is not None and not any(o.otype == goal.obj for o in exclude.contents):
        exclude = None
    return _fetch(world, goal.obj, places, exclude, last=goal.recep)


def run_expert(world: World, goal: Goal, limit: int, places: Places | None = None) -> int | None:
    """Play the expert from the current state; the number of steps to success, or None past `limit`."""
    for n in range(1, limit + 1):
        _, valid = world.step(expert_action(world, goal, places))
        if not valid:
            raise AssertionError("the expert chose an invalid action")
        if satisfied(world, goal):
            return n
    return None

"""The household engine: state, ALFWorld's action grammar, its preconditions and its feedback text.

Semantics follow ALFWorld's PDDL domain (`alfred.pddl`) and TextWorld grammar (`alfred.twl2`):
receptacles are locations the agent goes to; openable ones must be open to take from or put into;
the agent holds at most one object; heat/cool/clean need the object in hand while at a microwave /
fridge / sinkbasin; a lamp is switched with `use` where it stands. Every command that is not valid in
the current state answers "Nothing happens." and changes nothing.

Validity is defined by one table: `actions()` maps every valid command (canonical spelling) to what it
does, so `admissible_actions` is exact by construction and parsing is a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agentgym.envs.alfworld.catalog import (
    CLEANABLE,
    COOLABLE,
    HEATABLE,
    KNIVES,
    LAMP,
    OPENABLE,
    SLICEABLE,
    can_contain,
)

NOTHING = "Nothing happens."
#: No valid command is longer than this; longer input is rejected before any parsing work.
MAX_COMMAND_CHARS = 120

HELP_TEXT = (
    "Available commands:\n"
    "  look: describe where you are\n"
    "  inventory: list what you are carrying\n"
    "  go to (receptacle): walk to a receptacle\n"
    "  open (receptacle): open a receptacle\n"
    "  close (receptacle): close a receptacle\n"
    "  take (object) from (receptacle): pick an object up from a receptacle\n"
    "  move (object) to (receptacle): put the object you carry in or on a receptacle\n"
    "  examine (something): look closely at a receptacle or at what you carry\n"
    "  use (object): switch an object such as a desklamp on or off\n"
    "  heat (object) with (receptacle): heat what you carry with a microwave\n"
    "  clean (object) with (receptacle): clean what you carry in a sinkbasin\n"
    "  cool (object) with (receptacle): cool what you carry with a fridge\n"
    "  slice (object) with (object): slice an object with the knife you carry"
)

#: The older ALFWorld spelling of `move X to Y`.
_PUT_ALIAS = re.compile(r"^put ([a-z]+ \d+) (?:in/on|in|on|into|onto) ([a-z]+ \d+)$")


def normalize(command: str) -> str:
    """Lower case, single spaces, no trailing period. Non-ASCII input is never a command."""
    if not command.isascii():
        return ""
    return " ".join(command.lower().split()).rstrip(".").rstrip()


def listing(names: list[str]) -> str:
    """TextWorld's list style: 'nothing', 'a x 1', 'a x 1, and a y 2', 'a x 1, a y 2, and a z 3'."""
    if not names:
        return "nothing"
    if len(names) == 1:
        return f"a {names[0]}"
    return ", ".join(f"a {n}" for n in names[:-1]) + f", and a {names[-1]}"


class Recep:
    """A receptacle; also the location the agent stands at when it goes to it."""

    __slots__ = ("rtype", "num", "name", "openable", "is_open", "contents", "seen", "goto")

    def __init__(self, rtype: str, num: int):
        self.rtype = rtype
        self.num = num
        self.name = f"{rtype} {num}"
        self.openable = rtype in OPENABLE
        self.is_open = False
        self.contents: list[Obj] = []
        #: whether the agent has seen what is inside (the expert may use only what the agent has seen)
        self.seen = False
        self.goto = f"go to {self.name}"

    @property
    def accessible(self) -> bool:
        return self.is_open or not self.openable


class Obj:
    """A portable object (or a lamp, which is not portable)."""

    __slots__ = ("otype", "num", "name", "loc", "hot", "cool", "clean", "sliced", "on", "toggled", "portable",
                 "toggleable")

    def __init__(self, otype: str, num: int):
        self.otype = otype
        self.num = num
        self.name = f"{otype} {num}"
        self.loc: Recep | None = None
        self.hot = self.cool = self.clean = self.sliced = False
        self.on = False
        #: ALFWorld's isToggled: set by the first `use` and never cleared (its look-at goal tests this)
        self.toggled = False
        self.toggleable = otype == LAMP
        self.portable = not self.toggleable


@dataclass(frozen=True)
class WorldSpec:
    """Everything needed to build a world: receptacles (type, count) and objects (type, receptacle index)."""

    receptacles: tuple[tuple[str, int], ...]
    objects: tuple[tuple[str, int], ...]


class World:
    """One household and the agent in it. `step` is the only way the state changes."""

    def __init__(self, spec: WorldSpec):
        self.receps: list[Recep] = [Recep(rt, n) for rt, count in spec.receptacles for n in range(1, count + 1)]
        self.rmap = {r.name: r for r in self.receps}
        counts: dict[str, int] = {}
        self.objs: list[Obj] = []
        for otype, ridx in spec.objects:
            counts[otype] = counts.get(otype, 0) + 1
            o = Obj(otype, counts[otype])
            o.loc = self.receps[ridx]
            o.loc.contents.append(o)
            self.objs.append(o)
        self.by_type: dict[str, list[Obj]] = {}
        for o in self.objs:
            self.by_type.setdefault(o.otype, []).append(o)
        #: ALFWorld lists receptacles by type, highest number first ("a cabinet 3, a cabinet 2, a cabinet 1").
        self.intro_order = sorted(self.receps, key=lambda r: (r.rtype, -r.num))
        self.at: Recep | None = None
        self.held: Obj | None = None
        self._actions: dict[str, tuple[Callable[..., str], tuple]] | None = None

    # ---- text --------------------------------------------------------------------------------------
    def room_text(self) -> str:
        return "You are in the middle of a room. Looking quickly around you, you see " + \
            listing([r.name for r in self.intro_order]) + "."

    def intro(self, instruction: str) -> str:
        return f"{self.room_text()}\n\nYour task is to: {instruction}"

    def _view(self, r: Recep) -> str:
        names = [o.name for o in r.contents]
        if r.openable:
            if r.is_open:
                return f"The {r.name} is open. In it, you see {listing(names)}."
            return f"The {r.name} is closed."
        return f"On the {r.name}, you see {listing(names)}."

    # ---- the action table --------------------------------------------------------------------------
    def actions(self) -> dict[str, tuple[Callable[..., str], tuple]]:
        """Every valid command in the current state -> (handler, args). Cached until the state changes."""
        if self._actions is not None:
            return self._actions
        acts: dict[str, tuple[Callable[..., str], tuple]] = {}
        at, held = self.at, self.held
        for r in self.intro_order:
            if r is not at:
                acts[r.goto] = (self._go, (r,))
        if at is not None:
            if at.openable:
                if at.is_open:
                    acts[f"close {at.name}"] = (self._close, (at,))
                else:
                    acts[f"open {at.name}"] = (self._open, (at,))
            if at.accessible:
                if held is None:
                    for o in at.contents:
                        if o.portable:
                            acts[f"take {o.name} from {at.name}"] = (self._take, (o, at))
                elif can_contain(at.rtype, held.otype):
                    acts[f"move {held.name} to {at.name}"] = (self._move, (held, at))
            for o in at.contents:
                if o.toggleable:
                    acts[f"use {o.name}"] = (self._use, (o,))
            if held is not None:
                t = held.otype
                if at.rtype == "microwave" and t in HEATABLE:
                    acts[f"heat {held.name} with {at.name}"] = (self._heat, (held, at))
                elif at.rtype == "fridge" and t in COOLABLE:
                    acts[f"cool {held.name} with {at.name}"] = (self._cool, (held, at))
                elif at.rtype == "sinkbasin" and t in CLEANABLE:
                    acts[f"clean {held.name} with {at.name}"] = (self._clean, (held, at))
                if t in KNIVES and at.accessible:
                    for o in at.contents:
                        if o.otype in SLICEABLE and not o.sliced:
                            acts[f"slice {o.name} with {held.name}"] = (self._slice, (o, held))
        acts["inventory"] = (self._inventory, ())
        acts["look"] = (self._look, ())
        if at is not None:
            acts[f"examine {at.name}"] = (self._examine_recep, (at,))
            if at.accessible:  # ALFWorld's examineObject: an object in view here, or in hand
                for o in at.contents:
                    acts[f"examine {o.name}"] = (self._examine_obj, (o,))
        if held is not None:
            acts[f"examine {held.name}"] = (self._examine_obj, (held,))
        acts["help"] = (self._help, ())
        self._actions = acts
        return acts

    def admissible(self) -> list[str]:
        return list(self.actions())

    def resolve(self, command: object) -> str | None:
        """The canonical valid command that `command` spells, or None."""
        if not isinstance(command, str) or len(command) > MAX_COMMAND_CHARS:
            return None
        a = normalize(command)
        acts = self.actions()
        if a in acts:
            return a
        m = _PUT_ALIAS.match(a)
        if m:
            moved = f"move {m.group(1)} to {m.group(2)}"
            if moved in acts:
                return moved
        return None

    def step(self, command: object) -> tuple[str, bool]:
        """Apply one command: (feedback, valid). Invalid commands change nothing."""
        a = self.resolve(command)
        if a is None:
            return NOTHING, False
        fn, args = self.actions()[a]
        return fn(*args), True

    # ---- handlers (each changes state, then drops the cached action table) ---------------------------
    def _changed(self) -> None:
        self._actions = None

    def _go(self, r: Recep) -> str:
        self.at = r
        if r.accessible:
            r.seen = True
        self._changed()
        return f"You arrive at {r.name}. {self._view(r)}"

    def _open(self, r: Recep) -> str:
        r.is_open = True
        r.seen = True
        self._changed()
        return f"You open the {r.name}. {self._view(r)}"

    def _close(self, r: Recep) -> str:
        r.is_open = False
        self._changed()
        return f"You close the {r.name}."

    def _take(self, o: Obj, r: Recep) -> str:
        r.contents.remove(o)
        o.loc = None
        self.held = o
        self._changed()
        return f"You pick up the {o.name} from the {r.name}."

    def _move(self, o: Obj, r: Recep) -> str:
        r.contents.append(o)
        o.loc = r
        self.held = None
        self._changed()
        return f"You move the {o.name} to the {r.name}."

    def _use(self, o: Obj) -> str:
        o.on = not o.on
        o.toggled = True
        self._changed()
        return f"You turn {'on' if o.on else 'off'} the {o.name}."

    def _heat(self, o: Obj, r: Recep) -> str:
        o.hot, o.cool = True, False
        self._changed()
        return f"You heat the {o.name} using the {r.name}."

    def _cool(self, o: Obj, r: Recep) -> str:
        o.cool, o.hot = True, False
        self._changed()
        return f"You cool the {o.name} using the {r.name}."

    def _clean(self, o: Obj, r: Recep) -> str:
        o.clean = True
        self._changed()
        return f"You clean the {o.name} using the {r.name}."

    def _slice(self, o: Obj, knife: Obj) -> str:
        o.sliced = True
        self._changed()
        return f"You sliced the {o.name} with the {knife.name}."

    def _inventory(self) -> str:
        if self.held is None:
            return "You are not carrying anything."
        return f"You are carrying: a {self.held.name}."

    def _look(self) -> str:
        if self.at is None:
            return self.room_text()
        return f"You are facing the {self.at.name}. Next to it, you see nothing."

    def _examine_recep(self, r: Recep) -> str:
        if r.accessible:
            r.seen = True
        return self._view(r)

    def _examine_obj(self, o: Obj) -> str:
        n = o.name
        states = []
        if o.hot:
            states.append("hot")
        elif o.cool:
            states.append("cool")
        if o.clean:
            states.append("clean")
        if o.sliced:
            head = " and ".join(states)
            return f"This is a {head + ' ' if head else ''}sliced {n}."
        if states == ["cool"]:
            return f"This is a cold {n}."
        if states:
            return f"This is a {' and '.join(states)} {n}."
        if o.toggleable:
            return f"This {n} is {'on' if o.on else 'off'}."
        return f"There's nothing special about {n}."

    def _help(self) -> str:
        return HELP_TEXT

    # ---- queries used by goals and the expert ----------------------------------------------------------
    def of_type(self, otype: str) -> list[Obj]:
        return self.by_type.get(otype, [])

    def receps_of(self, rtype: str) -> list[Recep]:
        return [r for r in self.receps if r.rtype == rtype]

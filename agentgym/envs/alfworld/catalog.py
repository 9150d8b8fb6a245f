"""What a household holds: room kinds, receptacle and object types, affordances, where things belong.

Names are ALFWorld's (lower case, no spaces: `sinkbasin`, `remotecontrol`), so that prompts and policies
written for ALFWorld read the same here. The tables are our own common-sense model of a home, not a copy
of ALFRED's scene data: `HOMES[obj]` lists every receptacle type an object can be found in.

The world's regularities are `USUAL_PLACES`: per kind of object (food, cutlery, valuables, ...) the two
or three receptacle types where it usually is, as in the AI2-THOR scenes ALFWorld comes from. World
generation follows them with probability `USUAL_P` (else the object is anywhere else it fits), the
ALFWorld skill library states each kind's places in words, and only the skill-reading expert uses them:
the plain expert searches in the order the room lists its receptacles.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_TYPES: tuple[str, ...] = ("pick_and_place", "look_at_obj_in_light", "clean", "heat", "cool", "pick_two")

#: ALFWorld's own names for the task types (traj_data.json `task_type`), for the real-ALFWorld adapter.
ALFWORLD_TASK_TYPES: dict[str, str] = {
    "pick_and_place_simple": "pick_and_place",
    "look_at_obj_in_light": "look_at_obj_in_light",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "pick_two",
}

ROOMS: tuple[str, ...] = ("kitchen", "livingroom", "bedroom", "bathroom")

#: Receptacles with a door or lid; they start closed and must be opened before taking or putting.
OPENABLE: frozenset[str] = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})

#: The receptacle that performs each treatment (ALFWorld's PDDL: SinkBasinType, MicrowaveType, FridgeType).
TOOL: dict[str, str] = {"clean": "sinkbasin", "heat": "microwave", "cool": "fridge"}

#: Flat surfaces accept any portable object (ALFWorld's table tops accept nearly everything).
SURFACES: frozenset[str] = frozenset({"countertop", "diningtable", "coffeetable", "sidetable", "desk", "dresser", "shelf"})

#: Where a desk lamp stands. Lamps are objects (as in ALFWorld), switched with `use`, never picked up.
LAMP = "desklamp"
LAMP_HOMES: tuple[str, ...] = ("desk", "sidetable", "dresser")
KNIVES: frozenset[str] = frozenset({"knife", "butterknife"})

HOMES: dict[str, tuple[str, ...]] = {
    # kitchen
    "apple": ("fridge", "countertop", "diningtable", "garbagecan", "sinkbasin", "microwave"),
    "bread": ("countertop", "diningtable", "fridge", "garbagecan"),
    "butterknife": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "cup": ("cabinet", "coffeemachine", "countertop", "diningtable", "fridge", "sinkbasin", "shelf", "microwave"),
    "dishsponge": ("sinkbasin", "countertop", "cabinet", "drawer", "bathtubbasin", "shelf", "toilet"),
    "egg": ("fridge", "countertop", "diningtable", "sinkbasin", "garbagecan", "microwave"),
    "fork": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "kettle": ("stoveburner", "countertop", "cabinet", "shelf", "diningtable"),
    "knife": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "ladle": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "lettuce": ("fridge", "countertop", "diningtable", "sinkbasin", "garbagecan"),
    "mug": ("countertop", "coffeemachine", "cabinet", "shelf", "desk", "sidetable", "diningtable", "sinkbasin",
            "dresser", "microwave", "fridge"),
    "pan": ("stoveburner", "cabinet", "countertop", "diningtable", "sinkbasin", "fridge"),
    "peppershaker": ("countertop", "cabinet", "shelf", "diningtable", "drawer"),
    "plate": ("cabinet", "countertop", "diningtable", "coffeetable", "shelf", "sinkbasin", "sidetable", "fridge",
              "microwave"),
    "pot": ("stoveburner", "cabinet", "countertop", "diningtable", "sinkbasin", "shelf", "fridge"),
    "potato": ("fridge", "countertop", "diningtable", "sinkbasin", "garbagecan", "microwave"),
    "saltshaker": ("countertop", "cabinet", "shelf", "diningtable", "drawer"),
    "soapbottle": ("countertop", "sinkbasin", "bathtubbasin", "toilet", "cabinet", "shelf", "drawer", "garbagecan"),
    "spatula": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "spoon": ("drawer", "countertop", "diningtable", "sinkbasin"),
    "tomato": ("fridge", "countertop", "diningtable", "sinkbasin", "garbagecan", "microwave"),
    "winebottle": ("fridge", "countertop", "cabinet", "diningtable", "shelf", "garbagecan"),
    "bowl": ("cabinet", "countertop", "diningtable", "shelf", "desk", "coffeetable", "sidetable", "fridge",
             "dresser", "sinkbasin", "microwave"),
    "glassbottle": ("countertop", "cabinet", "fridge", "diningtable", "shelf", "sinkbasin", "garbagecan"),
    # living room
    "book": ("coffeetable", "ottoman", "sidetable", "desk", "shelf", "bed", "sofa", "armchair", "drawer", "dresser",
             "diningtable", "cabinet"),
    "box": ("coffeetable", "sofa", "sidetable", "armchair", "shelf", "dresser", "ottoman", "diningtable"),
    "cellphone": ("sofa", "coffeetable", "bed", "desk", "sidetable", "armchair", "drawer", "dresser", "shelf",
                  "ottoman"),
    "creditcard": ("coffeetable", "sidetable", "desk", "sofa", "armchair", "drawer", "shelf", "dresser",
                   "diningtable", "safe"),
    "keychain": ("coffeetable", "sidetable", "desk", "drawer", "sofa", "armchair", "shelf", "dresser", "safe"),
    "laptop": ("sofa", "bed", "desk", "coffeetable", "armchair", "ottoman", "diningtable", "sidetable", "dresser"),
    "newspaper": ("coffeetable", "sofa", "bed", "sidetable", "armchair", "ottoman", "diningtable", "garbagecan"),
    "pillow": ("sofa", "bed", "armchair", "ottoman"),
    "remotecontrol": ("coffeetable", "sofa", "bed", "armchair", "sidetable", "tvstand", "ottoman", "drawer", "dresser"),
    "statue": ("shelf", "coffeetable", "sidetable", "dresser", "diningtable", "cabinet", "safe"),
    "vase": ("shelf", "coffeetable", "sidetable", "diningtable", "dresser", "cabinet", "safe"),
    "watch": ("coffeetable", "sidetable", "shelf", "drawer", "dresser", "safe"),
    "tissuebox": ("coffeetable", "sidetable", "toilet", "countertop", "shelf", "dresser", "tvstand", "cabinet"),
    "wateringcan": ("shelf", "dresser", "sidetable", "cabinet", "diningtable"),
    # bedroom
    "alarmclock": ("desk", "sidetable", "dresser", "shelf"),
    "baseballbat": ("bed", "desk", "dresser"),
    "basketball": ("bed", "desk", "dresser", "armchair", "sidetable"),
    "cd": ("desk", "drawer", "shelf", "sidetable", "dresser", "safe", "garbagecan"),
    "pen": ("desk", "drawer", "shelf", "sidetable", "dresser", "garbagecan"),
    "pencil": ("desk", "drawer", "shelf", "sidetable", "dresser", "garbagecan"),
    "tennisracket": ("bed", "desk", "dresser", "sidetable"),
    "cloth": ("laundryhamper", "countertop", "cabinet", "drawer", "bathtubbasin", "sinkbasin", "toilet", "shelf",
              "dresser"),
    # bathroom
    "candle": ("countertop", "toilet", "shelf", "cabinet", "drawer", "dresser"),
    "handtowel": ("handtowelholder", "towelholder", "countertop", "cabinet", "shelf", "drawer"),
    "soapbar": ("sinkbasin", "countertop", "bathtubbasin", "toilet", "cabinet", "shelf"),
    "spraybottle": ("toilet", "countertop", "cabinet", "shelf", "drawer", "garbagecan"),
    "toiletpaper": ("toiletpaperhanger", "toilet", "countertop", "cabinet", "shelf", "drawer", "garbagecan"),
    "towel": ("towelholder", "handtowelholder", "countertop", "cabinet", "shelf"),
}

#: The world's location regularities: kind -> (its object types, the receptacle types where they usually
#: are, in the order a skill names them). Every place is one of each member's HOMES (tested); the
#: skills in agentgym/envs/alfworld/skills.yaml state exactly these (tested). The lamp has its own entry.
USUAL_PLACES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "food": (("apple", "bread", "egg", "lettuce", "potato", "tomato"), ("fridge", "diningtable")),
    "cutlery": (("butterknife", "fork", "knife", "ladle", "spatula", "spoon"), ("drawer", "sinkbasin")),
    "drinkware": (("cup", "mug"), ("coffeemachine", "sinkbasin")),
    "dishes": (("bowl", "plate"), ("cabinet", "shelf")),
    "cookware": (("kettle", "pan", "pot"), ("stoveburner", "cabinet")),
    "bottles": (("glassbottle", "winebottle"), ("fridge", "shelf")),
    "shakers": (("peppershaker", "saltshaker"), ("shelf", "drawer")),
    "soap": (("dishsponge", "soapbar", "soapbottle"), ("sinkbasin", "bathtubbasin")),
    "gadgets": (("cellphone", "laptop", "remotecontrol"), ("sofa", "bed", "armchair")),
    "valuables": (("creditcard", "keychain", "watch"), ("drawer", "sidetable", "safe")),
    "reading": (("book", "newspaper"), ("ottoman", "sofa", "bed")),
    "decor": (("box", "statue", "vase", "wateringcan"), ("shelf", "dresser")),
    "pillows": (("pillow",), ("sofa", "bed")),
    "desk-items": (("alarmclock", "cd", "pen", "pencil"), ("desk", "shelf")),
    "sports": (("baseballbat", "basketball", "tennisracket"), ("bed", "desk")),
    "cloth": (("cloth",), ("laundryhamper", "bathtubbasin")),
    "towels": (("handtowel", "towel"), ("towelholder", "handtowelholder")),
    "toiletries": (("candle", "spraybottle", "tissuebox"), ("toilet", "shelf")),
    "toiletpaper": (("toiletpaper",), ("toiletpaperhanger", "toilet")),
    "lamp": (("desklamp",), ("sidetable", "dresser")),
}
#: How often generation puts an object in one of its kind's usual places (when the room has one).
USUAL_P = 0.85

#: object type -> the receptacle types where it usually is (from USUAL_PLACES)
USUAL: dict[str, tuple[str, ...]] = {o: places for objs, places in USUAL_PLACES.values() for o in objs}

HEATABLE: frozenset[str] = frozenset({"apple", "bread", "cup", "egg", "mug", "plate", "potato", "tomato"})
COOLABLE: frozenset[str] = frozenset({"apple", "bowl", "bread", "cup", "egg", "lettuce", "mug", "pan", "plate", "pot",
                                      "potato", "tomato", "winebottle"})
CLEANABLE: frozenset[str] = frozenset({"apple", "bowl", "butterknife", "cloth", "cup", "dishsponge", "egg", "fork",
                                       "kettle", "knife", "ladle", "lettuce", "mug", "pan", "plate", "pot", "potato",
                                       "soapbar", "spatula", "spoon", "tomato"})
SLICEABLE: frozenset[str] = frozenset({"apple", "bread", "egg", "lettuce", "potato", "tomato"})

ROOM_OBJECTS: dict[str, tuple[str, ...]] = {
    "kitchen": ("apple", "bread", "butterknife", "cup", "dishsponge", "egg", "fork", "kettle", "knife", "ladle",
                "lettuce", "mug", "pan", "peppershaker", "plate", "pot", "potato", "saltshaker", "soapbottle",
                "spatula", "spoon", "tomato", "winebottle", "bowl", "glassbottle"),
    "livingroom": ("book", "box", "cellphone", "creditcard", "keychain", "laptop", "newspaper", "pillow",
                   "remotecontrol", "statue", "vase", "watch", "tissuebox", "wateringcan", "plate", "bowl"),
    "bedroom": ("alarmclock", "baseballbat", "basketball", "book", "bowl", "cd", "cellphone", "creditcard",
                "keychain", "laptop", "mug", "pen", "pencil", "pillow", "tennisracket", "cloth"),
    "bathroom": ("candle", "cloth", "dishsponge", "handtowel", "soapbar", "soapbottle", "spraybottle", "tissuebox",
                 "toiletpaper", "towel"),
}

#: Rooms where each task type can happen (ALFRED: heating and cooling only in kitchens, lamps not in
#: kitchens or bathrooms, cleaning where there is a sink).
TASK_ROOMS: dict[str, tuple[str, ...]] = {
    "pick_and_place": ROOMS,
    "pick_two": ROOMS,
    "look_at_obj_in_light": ("livingroom", "bedroom"),
    "clean": ("kitchen", "bathroom"),
    "heat": ("kitchen",),
    "cool": ("kitchen",),
}


@dataclass(frozen=True)
class Slot:
    """A receptacle type in a room layout: how many (lo..hi) and how likely it is present at all."""

    rtype: str
    lo: int
    hi: int
    p: float = 1.0


#: ALFWorld-sized rooms ("full" difficulty). Required slots have p=1 and lo>=1.
FULL_LAYOUTS: dict[str, tuple[Slot, ...]] = {
    "kitchen": (Slot("cabinet", 4, 13), Slot("countertop", 1, 3), Slot("drawer", 1, 9), Slot("fridge", 1, 1),
                Slot("microwave", 1, 1), Slot("sinkbasin", 1, 1), Slot("stoveburner", 2, 4),
                Slot("coffeemachine", 1, 1), Slot("toaster", 1, 1, 0.8), Slot("garbagecan", 1, 1),
                Slot("diningtable", 1, 1, 0.6), Slot("shelf", 1, 3, 0.4)),
    "livingroom": (Slot("sofa", 1, 1), Slot("coffeetable", 1, 2), Slot("sidetable", 1, 3), Slot("armchair", 1, 2, 0.7),
                   Slot("diningtable", 1, 1, 0.4), Slot("drawer", 1, 6, 0.6), Slot("cabinet", 1, 4, 0.5),
                   Slot("shelf", 1, 8, 0.6), Slot("tvstand", 1, 1, 0.5), Slot("dresser", 1, 1, 0.4),
                   Slot("garbagecan", 1, 1), Slot("ottoman", 1, 1, 0.3), Slot("safe", 1, 1, 0.2)),
    "bedroom": (Slot("bed", 1, 1), Slot("desk", 1, 2), Slot("sidetable", 1, 2, 0.6), Slot("dresser", 1, 1, 0.6),
                Slot("drawer", 2, 10), Slot("shelf", 1, 9, 0.6), Slot("garbagecan", 1, 1),
                Slot("laundryhamper", 1, 1, 0.4), Slot("armchair", 1, 1, 0.3), Slot("safe", 1, 1, 0.3)),
    "bathroom": (Slot("toilet", 1, 1), Slot("sinkbasin", 1, 2), Slot("bathtubbasin", 1, 1, 0.5),
                 Slot("cabinet", 1, 4), Slot("countertop", 1, 1), Slot("drawer", 1, 4, 0.6), Slot("garbagecan", 1, 1),
                 Slot("handtowelholder", 1, 2, 0.7), Slot("towelholder", 1, 1), Slot("toiletpaperhanger", 1, 1),
                 Slot("shelf", 1, 3, 0.4), Slot("dresser", 1, 1, 0.2)),
}

#: Rooms for a small CPU-trained policy ("small" difficulty): the required slots plus a few optional ones.
SMALL_REQUIRED: dict[str, tuple[Slot, ...]] = {
    "kitchen": (Slot("fridge", 1, 1), Slot("microwave", 1, 1), Slot("sinkbasin", 1, 1), Slot("countertop", 1, 1)),
    "livingroom": (Slot("sofa", 1, 1), Slot("coffeetable", 1, 1), Slot("sidetable", 1, 1)),
    "bedroom": (Slot("bed", 1, 1), Slot("desk", 1, 1), Slot("drawer", 1, 2)),
    "bathroom": (Slot("toilet", 1, 1), Slot("sinkbasin", 1, 1), Slot("countertop", 1, 1)),
}
SMALL_OPTIONAL: dict[str, tuple[Slot, ...]] = {
    "kitchen": (Slot("cabinet", 1, 3), Slot("drawer", 1, 2), Slot("stoveburner", 1, 2), Slot("coffeemachine", 1, 1),
                Slot("diningtable", 1, 1), Slot("garbagecan", 1, 1), Slot("shelf", 1, 1), Slot("countertop", 1, 1)),
    "livingroom": (Slot("armchair", 1, 1), Slot("drawer", 1, 2), Slot("cabinet", 1, 2), Slot("shelf", 1, 2),
                   Slot("tvstand", 1, 1), Slot("dresser", 1, 1), Slot("garbagecan", 1, 1), Slot("ottoman", 1, 1)),
    "bedroom": (Slot("shelf", 1, 2), Slot("dresser", 1, 1), Slot("garbagecan", 1, 1), Slot("sidetable", 1, 1),
                Slot("laundryhamper", 1, 1), Slot("safe", 1, 1), Slot("armchair", 1, 1)),
    "bathroom": (Slot("cabinet", 1, 2), Slot("drawer", 1, 1), Slot("garbagecan", 1, 1), Slot("towelholder", 1, 1),
                 Slot("handtowelholder", 1, 1), Slot("toiletpaperhanger", 1, 1), Slot("shelf", 1, 1),
                 Slot("bathtubbasin", 1, 1)),
}


#: Every receptacle type a room can have.
RECEPTACLE_TYPES: tuple[str, ...] = tuple(sorted({s.rtype for table in (FULL_LAYOUTS, SMALL_REQUIRED, SMALL_OPTIONAL)
                                                  for slots in table.values() for s in slots}))


def can_contain(rtype: str, otype: str) -> bool:
    """ALFWorld's `canContain`: may an object of `otype` be put in or on a receptacle of `rtype`?"""
    if rtype in SURFACES or rtype in HOMES.get(otype, ()):
        return True
    if rtype == "microwave":
        return otype in HEATABLE
    if rtype == "fridge":
        return otype in COOLABLE
    if rtype == "sinkbasin":
        return otype in CLEANABLE
    return False


def has_affordance(task_type: str, otype: str) -> bool:
    """Can an object of this type be the target of a task of this type?"""
    if task_type == "heat":
        return otype in HEATABLE
    if task_type == "cool":
        return otype in COOLABLE
    if task_type == "clean":
        return otype in CLEANABLE
    return otype in HOMES


#: Goal sentences in ALFWorld's wording; each task's seed picks one of its type's phrasings.
GOAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_and_place": ("put a {obj} in {recep}.", "put some {obj} on {recep}.", "find some {obj} and put it in {recep}."),
    "look_at_obj_in_light": ("look at {obj} under the {lamp}.", "examine the {obj} with the {lamp}."),
    "clean": ("put a clean {obj} in {recep}.", "clean some {obj} and put it in {recep}."),
    "heat": ("put a hot {obj} in {recep}.", "heat some {obj} and put it in {recep}."),
    "cool": ("put a cool {obj} in {recep}.", "cool some {obj} and put it in {recep}."),
    "pick_two": ("put two {obj} in {recep}.", "find two {obj} and put them in {recep}."),
}

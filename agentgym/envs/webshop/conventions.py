"""The shop's conventions: one per product category, followed by the goal generator and stated by one skill.

A shopper's instruction does not always use the page's option labels. Per category the generated world
follows one fixed convention that the page never spells out:

- apparel: size labels are short ("xl"); instructions write the long form ("extra large");
- footwear: instructions name some shoe colors by a nickname ("ash" for the label "grey");
- home_decor: instructions name some colors after a material ("stone" for "grey");
- electronics: lengths, packs and two colors are written in words ("extra long" = "15 ft", "pair" = "2 pack",
  "graphite" = "space grey");
- beauty_health: bottle sizes are written as words ("travel size" = "2 fl oz", "salon size" = "33.8 fl oz");
- other (groceries): weights and counts are written in pounds and dozens ("half pound" = "8 ounce");
- accessories: the color black is never written; an accessory goal always wants a color, and an instruction
  that names none wants "black".

`CONVENTIONS` is the single table: the generator writes instructions from it, the skill library
(agentgym/envs/webshop/skills.yaml) states it in words, and the tests check that the two agree. Labels that a
table does not list are written literally, as before. Synthetic-style goals (`goal_style="synthetic"`,
"with color: x") always use the literal labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Convention:
    """What a category's instructions write instead of the page's labels."""

    task_type: str
    skill: str  # the library skill that states this convention
    #: option name -> {page label: instruction wording}
    wording: dict[str, dict[str, str]] = field(default_factory=dict)
    #: option name -> phrase templates ("{w}" = the wording) used when the label has a wording
    templates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: (option name, label): the goal always has this option; the label is never written (an instruction
    #: naming no value of that option wants it)
    implicit: tuple[str, str] | None = None
    #: how often a goal takes the implicit label when the product offers it
    implicit_rate: float = 0.0

    def phrase_for(self, option: str, label: str) -> str | None:
        return self.wording.get(option, {}).get(label)

    def pairs(self) -> list[tuple[str, str]]:
        """(instruction wording, page label) pairs, in table order."""
        return [(w, label) for table in self.wording.values() for label, w in table.items()]


_SIZE_WORDS = ("in size {w}", "size {w}", "in {w} size")
_COLOR_WORDS = ("in {w}", "in {w} color", "with color {w}")

CONVENTIONS: dict[str, Convention] = {
    "apparel": Convention(
        "apparel", "apparel-size-labels",
        wording={"size": {"xs": "extra small", "xl": "extra large", "xxl": "double extra large",
                          "3xl": "triple extra large"}},
        templates={"size": _SIZE_WORDS},
    ),
    "footwear": Convention(
        "footwear", "footwear-color-nicknames",
        wording={"color": {"black": "onyx", "grey": "ash", "navy": "ink", "brown": "cocoa", "red": "cherry",
                           "beige": "sand", "olive": "moss", "tan": "camel"}},
        templates={"color": _COLOR_WORDS},
    ),
    "home_decor": Convention(
        "home_decor", "decor-material-colors",
        wording={"color": {"grey": "stone", "charcoal": "slate", "beige": "oat", "white": "snow",
                           "terracotta": "clay", "navy blue": "ocean"}},
        templates={"color": _COLOR_WORDS},
    ),
    "electronics": Convention(
        "electronics", "electronics-length-pack-words",
        wording={
            "size": {"3 ft": "short", "10 ft": "long", "15 ft": "extra long"},
            "item package quantity": {"2 pack": "pair", "3 pack": "trio"},
            "color": {"space grey": "graphite", "white": "pearl"},
        },
        templates={"size": ("{w}", "{w} in length"), "item package quantity": ("as a {w}", "in a {w}"),
                   "color": _COLOR_WORDS},
    ),
    "beauty_health": Convention(
        "beauty_health", "beauty-bottle-size-words",
        wording={"size": {"2 fl oz": "travel size", "8 fl oz": "regular size", "16.9 fl oz": "family size",
                          "33.8 fl oz": "salon size"}},
        templates={"size": ("in {w}", "{w}")},
    ),
    "other": Convention(
        "other", "grocery-pound-dozen-words",
        wording={"size": {"4 ounce": "quarter pound", "8 ounce": "half pound", "16 ounce": "one pound",
                          "32 ounce": "two pound", "12 count": "dozen", "24 count": "two dozen"}},
        templates={"size": ("in a {w} pack", "{w}")},
    ),
    "accessories": Convention(
        "accessories", "accessory-black-unwritten",
        implicit=("color", "black"),
        implicit_rate=0.8,
    ),
}


def convention_for(task_type: str) -> Convention | None:
    return CONVENTIONS.get(task_type)

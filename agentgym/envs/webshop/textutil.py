"""Text helpers for the reward: color normalization, fuzzy matching, and offline noun extraction.

Color normalization and fuzzy matching reproduce what princeton-nlp/WebShop's reward computes:

- `normalize_color` scans WebShop's own color list (`COLOR_SET`, 102 words in alphabetical order) and
  returns the first word that occurs *as a substring* of the option value. Order matters: "navy blue"
  and "royal blue" both become "blue" (b < n, r), "dark green" becomes "dark" while "olive green"
  becomes "green".
- `fuzzy_match` is thefuzz 0.19.0's `token_set_ratio` (the version WebShop pins, without the optional
  python-Levenshtein speedup, so on `difflib.SequenceMatcher`): Latin-1 characters 128-255 are deleted
  first (so "café" reads "caf": 86 against "cafe"), then non-word characters become spaces, the text is
  lowercased, and each pairwise ratio is rounded to an integer (Python's round) before the `> 85` test.
  SequenceMatcher's greedy longest-block matching (and its "autojunk" heuristic on strings of 200
  characters or more) scores long, different texts lower than an edit-distance ratio, as it did there.

WebShop's type reward compares the nouns of the bought product's title with the nouns of the goal
product's title, using spaCy's tagger. A tagger model cannot be downloaded here, and a statistical
tagger would tie scores to a model version, so nouns are picked by a deterministic rule instead: a
title word counts as a noun unless it is a stopword, a number or measure, a color, a size word, or a
known adjective / adjective-shaped word. On product titles ("Zarvo Men's Lightweight Knit Running
Shoes, Arch Support") this keeps the head nouns and brand names, which is what the type reward uses.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache


def _words(text: str) -> list[str]:
    return text.split()


#: WebShop's reward color list (its `normalize.COLOR_SET`), same words, same alphabetical order: the
#: first one contained in an option value stands for it (`normalize_color`).
COLOR_SET: tuple[str, ...] = tuple(
    _words("""alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown burgundy
    camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee cognac copper coral
    cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold granite grape graphite grass
    gray green grey heather indigo ivory ivy khaki lavender lemon leopard light lilac lime magenta maroon
    mauve merlot midnight mint mocha multicolor mushroom mustard natural navy nude olive orange peach pewter
    pink plum purple rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone
    stonewash sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow""")
)

#: Color words that are not nouns of a title (for `title_nouns`; not the reward's color list).
COLOR_WORDS = (
    "black", "white", "grey", "gray", "navy", "blue", "red", "green", "yellow", "orange", "purple", "pink",
    "brown", "beige", "tan", "khaki", "olive", "burgundy", "maroon", "teal", "turquoise", "ivory", "cream",
    "gold", "silver", "bronze", "copper", "charcoal", "lavender", "coral", "mint", "mauve", "plum", "rose",
    "ruby", "berry", "nude", "cognac", "terracotta", "mustard", "sage", "blush", "auburn", "blonde",
    "clear", "multicolor", "camel", "denim", "wine", "lilac", "peach", "aqua", "indigo", "violet",
)  # fmt: skip

_STOP = frozenset(
    _words("""a an and are as at be by for from has have in into is it its of on or over set that the their this to
    with without up down off out your our you we they he she his her him them men's women's girls' boys'
    kids' mens womens men women girls boys kids unisex adult adults pcs pc piece pack count inch ft ounce oz
    fl lb mm cm ml size""")
)
_ADJECTIVES = frozenset(
    _words("""new large small big little extra soft warm cool hot light dark deep high low long short thin thick
    slim wide narrow heavy durable comfortable casual classic modern vintage retro rustic cute stylish premium
    natural organic raw pure fresh sweet spicy mini compact portable wireless waterproof breathable adjustable
    lightweight stretchy quick dry non free full half double single multi dual smart easy fast silent
    fuzzy plush chunky oversized dainty flowy matte glossy shiny clear square round open padded fleece
    polarized ergonomic rechargeable foldable handmade washable absorbent resistant proof protective
    sensitive gentle strong best great good nice real genuine faux human hi fi rgb""")
)
_ADJ_SUFFIXES = ("able", "ible", "ful", "ous", "ive", "less", "ish", "ed", "ing", "proof", "free")
_NUMBERISH = re.compile(r"^\d+(\.\d+)?([a-z]{0,3})?$|^\d+[a-z]*\d*$|^[xX]+-?(small|large)$")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (letters/digits, with an inner apostrophe kept: "men's")."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """The noun-like words of a product title, in order, deduplicated (see the module docstring)."""
    out: list[str] = []
    for w in tokens(title):
        if len(w) < 2 or w in _STOP or w in _ADJECTIVES or w in COLOR_WORDS or _NUMBERISH.match(w):
            continue
        if w.endswith(_ADJ_SUFFIXES) and len(w) > 5:
            continue
        if w not in out:
            out.append(w)
    return tuple(out)


def normalize_color(value: str) -> str:
    """The first word of `COLOR_SET` (alphabetical) that occurs in `value`, else `value` itself."""
    for c in COLOR_SET:
        if c in value:
            return c
    return value


#: thefuzz's "ascii dammit": code points 128-255 are deleted (not replaced), others are kept.
_LATIN1_HIGH = dict.fromkeys(range(128, 256))
_NON_WORD = re.compile(r"\W", re.UNICODE)


def fuzzy_process(text: str) -> str:
    """thefuzz's `full_process(force_ascii=True)`: drop code points 128-255, non-word characters to
    spaces (`_` is a word character), lowercase, strip."""
    return _NON_WORD.sub(" ", text.translate(_LATIN1_HIGH)).lower().strip()


def _ratio(a: str, b: str) -> int:
    """thefuzz 0.19.0's `ratio` on difflib: equal strings 100, an empty one 0, else the rounded ratio."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * SequenceMatcher(None, a, b).ratio()))


@lru_cache(maxsize=1 << 16)
def fuzzy_match(a: str, b: str) -> int:
    """WebShop's fuzzy score, thefuzz 0.19.0 `token_set_ratio(a, b)`: an int 0..100 (see the module
    docstring). Argument order matters a little (SequenceMatcher is not symmetric): WebShop passes
    the product's value first and the goal's second."""
    p1, p2 = fuzzy_process(str(a)), fuzzy_process(str(b))
    if not p1 or not p2:
        return 0
    t1, t2 = set(p1.split()), set(p2.split())
    sect = " ".join(sorted(t1 & t2))
    one = (sect + " " + " ".join(sorted(t1 - t2))).strip()
    two = (sect + " " + " ".join(sorted(t2 - t1))).strip()
    return max(_ratio(sect, one), _ratio(sect, two), _ratio(one, two))

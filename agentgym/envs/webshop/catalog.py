"""The product catalog: a deterministic generator that writes WebShop's own file formats, and one loader
that reads those files (generated or the original `items_shuffle*.json` / `items_ins_v2*.json` /
`items_human_ins.json`) into `Product`s.

File formats (as in WebShop):
- items file: a JSON list of products with `asin`, `name`, `full_description`, `small_description`
  (bullet points), `pricing` ("$12.99" or "$12.99 - $19.99"), `product_category` ("A › B › C"),
  `query`, `category`, `customization_options` ({"Color": [{"value": "Black", "image": null}]}),
  `images`, `average_rating`; ours add `reviews`.
- attributes file (`items_ins_v2`): {asin: {"attributes": [...], "instruction": "...",
  "instruction_attributes": [...]}}; the instruction keys only for products that have a goal.
- human instructions file (`items_human_ins`): {asin: [{"asin", "instruction", "instruction_attributes",
  "instruction_options": [values]}]}.

Product `i` of the generator depends only on (seed, i), so the first 1,000 products of a 100k catalog
are the 1k catalog, and goals (drawn from the first 1,000) are the same for every catalog size. Prices
never come from a random draw at load time: a price range resolves to a point fixed by the ASIN.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.envs.webshop import vocab
from agentgym.envs.webshop.conventions import convention_for
from agentgym.envs.webshop.vocab import Kind

#: Bump when generated products change, so cached indexes and panels are rebuilt.
GENERATOR_VERSION = "ws-gen-v2"  # v2: per-category instruction conventions (conventions.py)
#: Goals are drawn from the first this-many products (so panels do not depend on catalog size).
GOAL_PRODUCTS = 1000
GOALS_PER_PRODUCT = 4

ITEMS_NAMES = ("items_shuffle.json", "items_shuffle_1000.json")
ATTRS_NAMES = ("items_ins_v2.json", "items_ins_v2_1000.json")
HUMAN_NAMES = ("items_human_ins.json",)


@dataclass(slots=True)
class Product:
    """One product as the site shows it (WebShop's loaded form: Title, Description, BulletPoints ...)."""

    asin: str
    title: str
    description: str
    bullets: list[str]
    category: str
    query: str
    product_category: str
    options: dict[str, list[str]]
    pricing: list[float]
    price_tag: str
    price: float
    attributes: list[str]
    rating: str = "N.A."
    reviews: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None

    def search_text(self) -> str:
        """The indexed document text, as WebShop builds it: title, description, first bullet, options."""
        opts = ", and ".join(f"{k}: {', '.join(v)}" for k, v in self.options.items())
        first = self.bullets[0] if self.bullets else ""
        return " ".join([self.title, self.description, first, opts]).lower()

    def option_name_of(self, value: str) -> str | None:
        for name, values in self.options.items():
            if value in values:
                return name
        return None


# ---- deterministic pricing -----------------------------------------------------------------------------
def parse_pricing(pricing: Any) -> list[float]:
    """WebShop's `pricing` string ("$12.99", "$12.99 - $19.99") to a list of floats (at most two)."""
    if isinstance(pricing, list | tuple):
        vals = [float(p) for p in pricing if isinstance(p, int | float)]
        return vals[:2]
    if not pricing or not isinstance(pricing, str):
        return []
    out: list[float] = []
    for part in pricing.split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        try:
            out.append(float(Decimal(digits)))
        except (InvalidOperation, ValueError):
            continue
    return out[:2]


def price_tag(pricing: list[float]) -> str:
    if not pricing:
        return "$100.0"
    if len(pricing) == 1:
        return f"${pricing[0]}"
    return f"${pricing[0]} to ${pricing[1]}"


def resolve_price(asin: str, pricing: list[float]) -> float:
    """The price a purchase pays. WebShop draws a range uniformly at random on every load; here the
    point in the range is fixed by a hash of the ASIN, so the same task scores the same everywhere."""
    if not pricing:
        return 100.0
    if len(pricing) == 1:
        return float(pricing[0])
    lo, hi = sorted(pricing[:2])
    u = int(hashlib.sha256(asin.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(lo + (hi - lo) * u, 2)


# ---- the generator -------------------------------------------------------------------------------------
_ASIN_SPACE = 36**8
_ASIN_MUL = 1_000_003  # coprime with 36: index -> ASIN is a bijection, so ASINs never collide
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def asin_of(index: int, seed: int = 0) -> str:
    v = (index * _ASIN_MUL + 7_919 * (seed + 1)) % _ASIN_SPACE
    chars = []
    for _ in range(8):
        v, r = divmod(v, 36)
        chars.append(_B36[r])
    return "B0" + "".join(reversed(chars))


@cache
def _brands(kind_key: str) -> tuple[str, ...]:
    rng = random.Random(f"{GENERATOR_VERSION}:brands:{kind_key}")
    names = [h + t for h in vocab.BRAND_HEADS for t in vocab.BRAND_TAILS]
    return tuple(rng.sample(names, 12))


@lru_cache(maxsize=65536)
def _cap(words: str) -> str:
    return " ".join(w if any(ch.isdigit() for ch in w[:1]) else w[:1].upper() + w[1:] for w in words.split())


def _audience_words(aud: str | None) -> tuple[str, str]:
    """(title word, query/instruction word) for an audience: ("Men's", "men's")."""
    if not aud:
        return "", ""
    poss = {"men": "men's", "women": "women's", "girls": "girls'", "boys": "boys'"}[aud]
    return _cap(poss), poss


def _pick_options(rng: random.Random, kind: Kind, aud: str | None) -> dict[str, list[str]]:
    opts: dict[str, list[str]] = {}
    for spec in kind.options:
        pool = vocab.POOLS[spec.pool.format(g=aud or "men")]
        n = rng.randint(min(spec.lo, len(pool)), min(spec.hi, len(pool)))
        if spec.contiguous:
            start = rng.randrange(len(pool) - n + 1)
            vals = list(pool[start : start + n])
        else:
            idx = sorted(rng.sample(range(len(pool)), n))
            vals = [pool[j] for j in idx]
        opts[spec.name] = vals
    return opts


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def generate_item(index: int, seed: int = 0) -> tuple[dict[str, Any], list[str], Kind, str | None]:
    """Product `index` in WebShop's items-file form, with its attribute list, kind and audience."""
    rng = random.Random(f"{GENERATOR_VERSION}:{seed}:{index}")
    task_type = vocab.TASK_TYPES[rng.randrange(len(vocab.TASK_TYPES))]
    kind = rng.choice(vocab.KINDS_BY_TYPE[task_type])
    aud = rng.choice(kind.audiences) if kind.audiences else None
    aud_title, aud_word = _audience_words(aud)
    brand = rng.choice(_brands(kind.key))
    attrs = rng.sample(kind.attrs, rng.randint(min(4, len(kind.attrs)), min(6, len(kind.attrs))))
    material = rng.choice(kind.materials) if kind.materials else ""
    options = _pick_options(rng, kind, aud)

    lo, hi = kind.price
    p = max(lo, round(rng.uniform(lo, hi))) - 0.01
    if options and rng.random() < 0.15:
        p2 = round(p * rng.uniform(1.15, 1.6)) - 0.01
        pricing = f"${p:.2f} - ${p2:.2f}"
    else:
        pricing = f"${p:.2f}"

    words = [brand, aud_title, _cap(attrs[0])]
    if material and rng.random() < 0.5 and material not in attrs[0]:
        words.append(_cap(material))
    words.append(_cap(kind.noun))
    title = " ".join(w for w in words if w) + ", " + _cap(attrs[1])
    verb = "are" if kind.plural else "is"
    made = f" Made of {material}." if material else ""
    description = (
        f"{brand} {aud_word + ' ' if aud_word else ''}{kind.noun} for {kind.use}.{made} "
        f"Features: {_join(attrs[:4])}. The {kind.noun} {verb} covered by a 30 day return policy."
    )
    tails = vocab.BULLET_TAILS[task_type]
    bullets = [f"{_cap(a)} - {tails[(index + j) % len(tails)]}" for j, a in enumerate(attrs)]
    reviews = []
    for _ in range(rng.randint(1, 3)):
        score = rng.choice((5, 5, 4, 4, 3, 2))
        reviews.append({
            "title": rng.choice(vocab.REVIEW_TITLES[score]),
            "score": score,
            "body": rng.choice(vocab.REVIEW_BODIES[score]),
        })  # fmt: skip
    rating = round(sum(r["score"] for r in reviews) / len(reviews), 1)
    asin = asin_of(index, seed)
    item = {
        "asin": asin,
        "name": title,
        "full_description": description,
        "small_description": bullets,
        "pricing": pricing,
        "product_category": kind.path.replace("{G}", _cap(aud) if aud else "Unisex"),
        "query": f"{aud_word} {kind.noun}".strip(),
        "category": kind.category,
        "customization_options": {
            _cap(name): [{"value": _cap(v) if not v[:1].isdigit() else v, "image": None} for v in vals]
            for name, vals in options.items()
        },
        "images": [],
        "average_rating": rating,
        "reviews": reviews,
    }
    return item, attrs, kind, aud


# ---- goal text for generated products ------------------------------------------------------------------
_OPTION_PHRASES = {
    "color": ("in {v}", "in {v} color", "with color {v}"),
    "size": ("in size {v}", "size {v}", "in {v} size"),
    "flavor name": ("in {v} flavor", "{v} flavored"),
    "scent": ("with {v} scent", "in {v} scent"),
    "style": ("in {v} style", "{v} style"),
    "item package quantity": ("in a {v}", "{v}"),
}
_HUMAN_TEMPLATES = (
    "i'm looking for {art}{noun} that {verb} {attrs}{opts}",
    "i need {art}{noun} with {attrs}{opts}",
    "find me {art}{noun} which {verb} {attrs}{opts}",
    "i want to buy {art}{noun} that {verb} {attrs}{opts}",
    "looking for {attrs} {noun}{opts}",
)


def _article(noun: str, plural: bool) -> str:
    if plural:
        return ""
    return "an " if noun[:1] in "aeiou" else "a "


def option_phrase(rng: random.Random, task_type: str, option: str, value: str) -> str:
    """How an instruction asks for one option value: the category's wording where its convention has one
    (conventions.py), else the page label itself."""
    conv = convention_for(task_type)
    wording = conv.phrase_for(option, value) if conv else None
    if conv is not None and wording is not None:
        return rng.choice(conv.templates[option]).format(w=wording)
    return rng.choice(_OPTION_PHRASES.get(option, ("with {k} {v}",))).format(v=value, k=option)


def human_instruction(rng: random.Random, kind: Kind, query: str, attrs: list[str], opts: dict[str, str]) -> str:
    conv = convention_for(kind.task_type)
    hidden = conv.implicit if conv else None
    phrases = [option_phrase(rng, kind.task_type, k, v) for k, v in opts.items() if (k, v) != hidden]
    opt_text = (", " + " and ".join(phrases)) if phrases else ""
    tpl = rng.choice(_HUMAN_TEMPLATES)
    return tpl.format(
        art=_article(query, kind.plural), noun=query, verb="are" if kind.plural else "is",
        attrs=_join(attrs), opts=opt_text,
    )  # fmt: skip


def synthetic_instruction(kind: Kind, query: str, attrs: list[str]) -> str:
    verb = "are" if kind.plural else "is"
    return f"i need {_article(query, kind.plural)}{query} that {verb} {_join(attrs)}"


def _goal_draws(rng: random.Random, attrs: list[str], options: dict[str, list[str]], n: int, task_type: str = ""):
    conv = convention_for(task_type)
    implicit = conv.implicit if conv else None
    seen: set[tuple] = set()
    out = []
    for _ in range(n * 6):
        if len(out) == n:
            break
        k = min(len(attrs), rng.choice((1, 2, 2, 2, 3)))
        g_attrs = sorted(rng.sample(attrs, k), key=attrs.index)
        g_opts = {}
        for name, vals in options.items():
            if implicit is not None and name == implicit[0]:  # this option is always part of the goal
                rate = conv.implicit_rate if implicit[1] in vals else 0.0  # type: ignore[union-attr]
                others = [v for v in vals if v != implicit[1]] or vals
                g_opts[name] = implicit[1] if rng.random() < rate else rng.choice(others)
            elif rng.random() < 0.85:
                g_opts[name] = rng.choice(vals)
        key = (tuple(g_attrs), tuple(sorted(g_opts.items())))
        if key in seen:
            continue
        seen.add(key)
        out.append((g_attrs, g_opts))
    return out


@dataclass
class GeneratedFiles:
    items: list[dict[str, Any]]
    attributes: dict[str, dict[str, Any]]
    human: dict[str, list[dict[str, Any]]]


def generate(num_products: int, seed: int = 0) -> GeneratedFiles:
    """Products 0..num_products-1 and, for the first GOAL_PRODUCTS, their goal instructions."""
    if num_products < 1:
        raise AgentGymError(f"num_products must be >= 1, got {num_products}")
    items: list[dict[str, Any]] = []
    attributes: dict[str, dict[str, Any]] = {}
    human: dict[str, list[dict[str, Any]]] = {}
    for i in range(num_products):
        item, attrs, kind, aud = generate_item(i, seed)
        asin = item["asin"]
        items.append(item)
        entry: dict[str, Any] = {"attributes": attrs}
        if i < GOAL_PRODUCTS:
            rng = random.Random(f"{GENERATOR_VERSION}:goal:{seed}:{i}")
            options = {name.lower(): [o["value"].lower() for o in vals] for name, vals in item["customization_options"].items()}
            draws = _goal_draws(rng, attrs, options, GOALS_PER_PRODUCT, kind.task_type)
            entry["instruction"] = synthetic_instruction(kind, item["query"], draws[0][0])
            entry["instruction_attributes"] = draws[0][0]
            human[asin] = [
                {
                    "asin": asin,
                    "instruction": human_instruction(rng, kind, item["query"], g_attrs, g_opts),
                    "instruction_attributes": g_attrs,
                    "instruction_options": list(g_opts.values()),
                }
                for g_attrs, g_opts in draws
            ]
        attributes[asin] = entry
    return GeneratedFiles(items, attributes, human)


def write_files(files: GeneratedFiles, out_dir: str | Path) -> list[Path]:
    """Write the three files under WebShop's names; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, obj in ((ITEMS_NAMES[0], files.items), (ATTRS_NAMES[0], files.attributes), (HUMAN_NAMES[0], files.human)):
        p = out / name
        with open(p, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False)
        paths.append(p)
    return paths


# ---- the loader ----------------------------------------------------------------------------------------
def product_from_item(p: dict[str, Any], attributes: dict[str, dict[str, Any]]) -> Product | None:
    """One items-file record as a Product (WebShop's cleaning rules); None for a record WebShop skips."""
    asin = str(p.get("asin", ""))
    if not asin or asin == "nan" or len(asin) > 10:
        return None
    pricing = parse_pricing(p.get("pricing"))
    if not pricing:
        pricing = [100.0]
    options: dict[str, list[str]] = {}
    for name, contents in (p.get("customization_options") or {}).items():
        if not contents:
            continue
        vals = []
        for c in contents:
            v = str(c.get("value", "") if isinstance(c, dict) else c).strip().replace("/", " | ").lower()
            if v and v not in vals:
                vals.append(v)
        if vals:
            options[str(name).lower()] = vals
    bullets = p.get("small_description")
    bullets = [str(b) for b in bullets] if isinstance(bullets, list) else [str(bullets or "")]
    attrs = attributes.get(asin, {}).get("attributes") or ["DUMMY_ATTR"]
    rating = p.get("average_rating")
    images = p.get("images") or []
    return Product(
        asin=asin,
        title=str(p.get("name") or ""),
        description=str(p.get("full_description") or ""),
        bullets=bullets or [""],
        category=str(p.get("category") or ""),
        query=str(p.get("query") or "").lower().strip(),
        product_category=str(p.get("product_category") or ""),
        options=options,
        pricing=pricing[:2],
        price_tag=price_tag(pricing[:2]),
        price=resolve_price(asin, pricing[:2]),
        attributes=[str(a) for a in attrs],
        rating=str(rating) if rating not in (None, "") else "N.A.",
        reviews=[r for r in (p.get("reviews") or []) if isinstance(r, dict)],
        image=images[0] if images else None,
    )


class Catalog:
    """Products by ASIN, in file order, plus the goal sources (attributes file, human instructions)."""

    def __init__(
        self,
        products: Iterable[Product],
        attributes: dict[str, dict[str, Any]],
        human: dict[str, list[dict[str, Any]]] | None,
        *,
        source: str,
    ):
        self.products: list[Product] = []
        self.by_asin: dict[str, Product] = {}
        for p in products:
            if p.asin in self.by_asin:
                continue
            self.by_asin[p.asin] = p
            self.products.append(p)
        self.attributes = attributes
        self.human = human
        self.source = source

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, asin: str) -> Product:
        return self.by_asin[asin]

    def get(self, asin: str) -> Product | None:
        return self.by_asin.get(asin)

    def documents(self) -> Iterator[dict[str, str]]:
        """Search documents in WebShop's form: {"id": asin, "contents": lowercased text}."""
        for p in self.products:
            yield {"id": p.asin, "contents": p.search_text()}

    @classmethod
    def from_records(
        cls,
        items: list[dict[str, Any]],
        attributes: dict[str, dict[str, Any]],
        human: dict[str, list[dict[str, Any]]] | None,
        *,
        source: str,
        num_products: int | None = None,
    ) -> Catalog:
        if num_products is not None:
            items = items[:num_products]
        products = (product_from_item(p, attributes) for p in items if isinstance(p, dict))
        return cls((p for p in products if p is not None), attributes, human, source=source)

    @classmethod
    def synthetic(cls, num_products: int = 1000, seed: int = 0) -> Catalog:
        files = generate(num_products, seed)
        return cls.from_records(
            files.items, files.attributes, files.human, source=f"{GENERATOR_VERSION}:seed{seed}:n{num_products}"
        )

    @classmethod
    def from_dir(cls, data_dir: str | Path, num_products: int | None = None) -> Catalog:
        """Load WebShop's files (original or generated) from a folder."""
        d = Path(data_dir).expanduser()
        if not d.is_dir():
            raise AgentGymError(f"WebShop data folder not found: {d}")

        def find(names: tuple[str, ...], required: bool) -> Path | None:
            for n in names:
                if (d / n).is_file():
                    return d / n
            if required:
                raise AgentGymError(f"{d} has none of {', '.join(names)}")
            return None

        items_path = find(ITEMS_NAMES, True)
        attrs_path = find(ATTRS_NAMES, True)
        human_path = find(HUMAN_NAMES, False)
        assert items_path is not None and attrs_path is not None
        try:
            items = json.loads(items_path.read_text(encoding="utf-8"))
            attributes = json.loads(attrs_path.read_text(encoding="utf-8"))
            human = json.loads(human_path.read_text(encoding="utf-8")) if human_path else None
        except (OSError, ValueError) as e:
            raise AgentGymError(f"cannot read WebShop data in {d}: {e}") from e
        if not isinstance(items, list) or not isinstance(attributes, dict):
            raise AgentGymError(f"{items_path.name} must be a JSON list and {attrs_path.name} a JSON object")
        h = hashlib.sha256()
        for p in (items_path, attrs_path, human_path):
            if p is not None:
                st = p.stat()
                h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
        src = f"files:{h.hexdigest()[:12]}:n{num_products or len(items)}"
        return cls.from_records(items, attributes, human, source=src, num_products=num_products)


# ---- task types ----------------------------------------------------------------------------------------
_FOOTWEAR = ("shoe", "boot", "sandal", "sneaker", "slipper", "loafer", "pump", "heel", "flats", "clog", "moccasin", "oxford")
_ACCESSORY = (
    "jewelry", "necklace", "bracelet", "earring", "ring", "watch", "handbag", "wallet", "bag", "backpack",
    "luggage", "sunglass", "eyewear", "hat", "cap", "belt", "scarf", "scarves", "glove", "tie", "accessor",
)  # fmt: skip
_HOME = ("home décor", "home decor", "furniture", "bedding", "bath", "kitchen", "lighting", "rug", "curtain")
_BEAUTY = ("beauty", "personal care", "health", "makeup", "skin care", "hair care", "vitamin", "oral care")
_ELECTRONICS = ("electronics", "cell phones", "computer", "camera", "headphone", "audio", "smart home")
_APPAREL = ("clothing", "apparel", "shirt", "dress", "pants", "jacket", "hoodie", "sweater", "legging", "sleep")


def task_type_of(category: str, product_category: str, query: str = "") -> str:
    """One of the seven task types for a product, from WebShop's category fields."""
    cat = (category or "").lower()
    path = (product_category or "").lower()
    q = (query or "").lower()
    leaf = " ".join(path.split("›")[1:]) + " " + q
    if cat == "beauty":
        return "beauty_health"
    if cat == "electronics":
        return "electronics"
    if cat == "furniture":
        return "home_decor"
    if cat == "food":
        return "other"
    if any(w in leaf for w in _FOOTWEAR) and "shoe care" not in leaf:
        return "footwear"
    if cat == "fashion" or "clothing, shoes & jewelry" in path:
        if any(w in leaf for w in _ACCESSORY):
            return "accessories"
        return "apparel"
    text = path + " " + q
    for words, t in ((_ELECTRONICS, "electronics"), (_BEAUTY, "beauty_health"), (_HOME, "home_decor"),
                     (_APPAREL, "apparel"), (_ACCESSORY, "accessories")):  # fmt: skip
        if any(w in text for w in words):
            return t
    return "other"

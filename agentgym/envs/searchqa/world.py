"""A deterministic, invented knowledge world written up as an encyclopedia in wiki-18's format.

Every name is made up (so no fact can be guessed from pretraining or from the question). Each asked fact
is stated on exactly one *fact page* of its subject: a person's origins page (birth years, birth city,
father) and career page (occupation, university, spouse), a work's page, an organization's page, a
city's page, a country's page. Fact pages word facts in their own way, never with the words questions
use (`PASSAGE_WORDS`: "X is a native of Y" where a question says "born", "credited to" for "wrote" /
"directed", "established by" for "founded", "lies on" for "river", "seat of government" for "capital").
`DOCUMENTED_FRACTION` of the asked-about entities are "well documented": they also have
`NOTES_PER_ENTITY` open-questions pages that repeat the questions' vocabulary and the entity's name and
state no fact. So a search with the question's words (or the bare name) returns those pages, while the
name plus the passage words returns the fact page first. Other distractors share names and words with
the real pages: near-namesake people with their own pages ("Quillan Orrey" beside "Quillan Orr"),
surname index pages, event reports that name people and works without any of their facts, river pages,
and works that share a title with a work of another kind ("The Glass Orchard (novel)" and "... (film)").

The world is a pure function of `WORLD_VERSION` and the seed; `build_world()` takes well under a second.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from agentgym.retrieval.corpus import make_contents

WORLD_VERSION = "searchqa-world-v2"
DEFAULT_SEED = 20250501


@dataclass
class Country:
    key: str
    name: str
    capital: str = ""  # city key
    currency: str = ""
    language: str = ""


@dataclass
class City:
    key: str
    name: str
    country: str  # country key
    river: str
    founded: int
    population: int
    landmark: str


@dataclass
class Person:
    key: str
    name: str
    gender: str  # "m" | "f"
    born: int
    died: int | None
    city: str  # birth city key
    occupation: str
    university: str | None = None  # org key
    father: str | None = None  # person key
    spouse: str | None = None  # person key
    main: bool = True  # False: a near-namesake distractor never asked about

    @property
    def first(self) -> str:
        return self.name.split()[0]

    @property
    def last(self) -> str:
        return self.name.split()[-1]


@dataclass
class Org:
    key: str
    name: str
    kind: str  # company | university | publisher | studio | label
    industry: str
    founded: int
    founder: str  # person key
    city: str  # city key


@dataclass
class Work:
    key: str
    title: str
    kind: str  # novel | play | poetry collection | film | symphony | album | painting
    year: int
    genre: str
    creator: str  # person key
    publisher: str | None  # org key

    @property
    def page(self) -> str:
        return f"{self.title} ({self.kind})"


@dataclass
class Doc:
    key: str  # internal, stable key, e.g. "person:p12:bio"
    title: str
    text: str
    id: str = ""  # wiki-18 style numeric id, assigned after shuffling

    @property
    def contents(self) -> str:
        return make_contents(self.title, self.text)


@dataclass
class World:
    seed: int
    countries: dict[str, Country] = field(default_factory=dict)
    cities: dict[str, City] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    orgs: dict[str, Org] = field(default_factory=dict)
    works: dict[str, Work] = field(default_factory=dict)
    docs: list[Doc] = field(default_factory=list)
    doc_by_key: dict[str, Doc] = field(default_factory=dict)
    events: list[tuple[int, str]] = field(default_factory=list)  # (year, city key) of each event report

    def corpus(self) -> list[dict[str, str]]:
        """The corpus in wiki-18's JSONL record layout."""
        return [{"id": d.id, "contents": d.contents} for d in self.docs]

    def doc_id(self, key: str) -> str:
        return self.doc_by_key[key].id

    @property
    def main_people(self) -> list[Person]:
        return [p for p in self.people.values() if p.main]

    def is_documented(self, key: str) -> bool:
        """Whether the entity behind a page key ("person:p3", "city:t7", ...) has open-questions pages."""
        h = _stable_hash(f"{WORLD_VERSION}:{self.seed}:documented:{key}")
        return (h % 1000) < DOCUMENTED_FRACTION * 1000


# ---- vocabularies ---------------------------------------------------------------------------------
_FIRST_A = ["Al", "Bel", "Cor", "Dar", "El", "Fen", "Gar", "Hal", "Is", "Jor", "Kel", "Lor", "Mar", "Nel", "Or", "Per", "Quil", "Ros", "Sel", "Tor", "Ul", "Ven", "Wil", "Yor", "Zan", "Bren", "Cal", "Dov", "Ed", "Fil", "Gwen", "Hen", "Iv", "Jas", "Kai", "Lev", "Mir", "Nor", "Os", "Pav"]
_FIRST_B = ["a", "an", "en", "in", "on", "ra", "ric", "ley", "ta", "wyn", "dor", "mund", "sa", "lie", "ette", "o", "ius", "ard", "is", "eth"]
_LAST_A = ["Ash", "Brack", "Cran", "Dun", "Ever", "Fair", "Gall", "Hollo", "Ing", "Jess", "Kerr", "Lind", "Mack", "Norr", "Ost", "Penn", "Quar", "Rath", "Stam", "Thorn", "Umb", "Vell", "Wex", "Yarr", "Zell", "Bram", "Cob", "Drey", "Ferr", "Grim", "Orr", "Hask", "Mell", "Tav"]
_LAST_B = ["", "by", "ford", "wick", "er", "son", "more", "ley", "ton", "ell", "ard", "holt", "wood", "en", "ing", "ow"]
_PLACE_A = ["Marrow", "Osk", "Tessel", "Brin", "Cald", "Dun", "Elm", "Fen", "Gal", "Hart", "Ivel", "Kes", "Lun", "Mel", "Nor", "Ost", "Pell", "Quen", "Rav", "Sol", "Tarn", "Ul", "Vard", "Wen", "Yel", "Zor", "Ash", "Bram", "Cor", "Drel"]
_PLACE_B = ["vale", "by", "mouth", "ford", "holm", "stead", "wick", "haven", "mere", "gate", "port", "ton", "field", "burg", "crest"]
_COUNTRY_A = ["Vel", "Tess", "Ard", "Cor", "Esk", "Mor", "Sal", "Vin", "Ost", "Bel", "Ker", "Lys", "Dra", "Hel", "Pra", "Zan", "Quor", "Ul", "Fal", "Gor"]
_COUNTRY_B = ["oria", "aly", "ania", "avia", "esh", "mark", "and", "ovia", "enia", "ara"]
_RIVER_A = ["Am", "Bra", "Cor", "Dwe", "Es", "Fal", "Gre", "Hes", "Is", "Jut", "Kel", "Lus", "Mor", "Ni", "Or", "Pel", "Qua", "Ri", "Sor", "Ta"]
_RIVER_B = ["sel", "e", "row", "n", "k", "low", "nt", "sel", "ka", "ter", "l", "k", "row", "th", "rin", "l", "rry", "ll", "row", "y"]
CURRENCIES = ["dravo", "ornal", "skell", "mirra", "tolen", "vask", "quint", "brell", "dusket", "fenna", "garo", "hallet", "istra", "jorin", "kessa", "lume", "nabbe", "pallan", "rusk", "sorrel"]
LANGUAGES = ["Kessic", "Orvan", "Tallish", "Muric", "Aldan", "Brevic", "Dunnish", "Estral", "Fennic", "Gothal", "Hessan", "Iskari", "Jorvic", "Lurian", "Marrish", "Nollic", "Pavic", "Quessan", "Rhunic", "Sallic"]
LANDMARKS = ["clock tower", "stone bridge", "salt market", "glass dome", "old lighthouse", "bell foundry", "water gate", "copper observatory", "weavers' hall", "lantern arcade", "granary", "botanical garden"]
OCCUPATIONS = {
    "novelist": "novel",
    "poet": "poetry collection",
    "playwright": "play",
    "film director": "film",
    "composer": "symphony",
    "violinist": "album",
    "painter": "painting",
}
OTHER_OCCUPATIONS = ["cartographer", "architect", "physicist", "botanist", "sculptor", "engineer", "chemist", "historian", "diplomat", "photographer", "astronomer", "economist", "glassblower"]
GENRES = {
    "novel": ["mystery", "historical", "adventure", "satirical", "gothic", "pastoral"],
    "poetry collection": ["elegiac", "pastoral", "lyric", "satirical"],
    "play": ["comic", "tragic", "historical", "satirical"],
    "film": ["drama", "comedy", "western", "documentary", "thriller", "musical"],
    "symphony": ["choral", "pastoral", "heroic", "chamber"],
    "album": ["folk", "jazz", "chamber", "orchestral"],
    "painting": ["landscape", "portrait", "seascape", "allegorical"],
}
CREATOR_ROLE = {  # the noun a question uses for a work's creator
    "novel": "author",
    "poetry collection": "author",
    "play": "author",
    "film": "director",
    "symphony": "composer",
    "album": "performer",
    "painting": "painter",
}
PUBLISHER_KIND = {
    "novel": "publisher",
    "poetry collection": "publisher",
    "play": "publisher",
    "film": "studio",
    "symphony": "label",
    "album": "label",
}
_ADJ = ["Silent", "Glass", "Crimson", "Hollow", "Distant", "Winter", "Iron", "Paper", "Golden", "Salt", "Amber", "Quiet", "Broken", "Northern", "Velvet", "Copper", "Ashen", "Bitter", "Emerald", "Pale"]
_NOUN = ["Harbor", "Orchard", "Lantern", "Bridge", "Tide", "Garden", "Mirror", "Season", "Crown", "River", "Bell", "Archive", "Meadow", "Compass", "Shore", "Tower", "Voyage", "Feather", "Clock", "Lighthouse"]
INDUSTRIES = ["shipbuilding", "glassworks", "railway", "textiles", "optics", "brewing", "printing", "clockmaking", "ironworks"]
_COMPANY_SUFFIX = {
    "shipbuilding": "Shipyards",
    "glassworks": "Glassworks",
    "railway": "Railway Company",
    "textiles": "Mills",
    "optics": "Optical Works",
    "brewing": "Brewery",
    "printing": "Printing House",
    "clockmaking": "Clockworks",
    "ironworks": "Ironworks",
}
_EVENT_KINDS = ["Exhibition", "Festival", "Congress", "Fair", "Salon", "Symposium"]


# How passages word each kind of fact. A fact page states its facts with these words and never with the
# words a question uses ("born", "occupation", "founded", "river", "capital", ...), so the query that finds
# it is the subject's name plus these words. Keys: (kind, attribute); "*" is every attribute of the kind.
PASSAGE_WORDS = {
    ("person", "born"): "native of",  # origins page: birth year, birth city, father
    ("person", "father"): "native of",
    ("person", "occupation"): "worked as",  # career page: occupation, university, spouse
    ("person", "university"): "worked as",
    ("person", "spouse"): "worked as",
    ("work", "*"): "credited to",  # creator, year, genre, publisher
    ("organization", "*"): "established by",  # founder, year, city
    ("city", "*"): "lies on",  # country, river, population, landmark, seat of government
    ("country", "*"): "seat of government",  # capital, currency, language
}
KINDS = ("person", "work", "organization", "city", "country")
#: Share of the asked-about entities that are "well documented": each has NOTES_PER_ENTITY open-questions
#: pages that repeat the questions' own words (born, founded, river, ...) but state no fact.
DOCUMENTED_FRACTION = 0.4
NOTES_PER_ENTITY = 3


def passage_words(kind: str, attr: str) -> str:
    """The words a fact page uses for `attr` of a `kind` entity (KeyError for an unknown pair)."""
    return PASSAGE_WORDS.get((kind, attr)) or PASSAGE_WORDS[(kind, "*")]


# Sentences that state no fact and use no question word: they make passages wiki-length.
FILLER = {
    "person": [
        "{He} kept detailed notebooks that are now held in private collections.",
        "Contemporaries described {him} as patient and exacting.",
        "{He} travelled widely and gave public lectures.",
        "{His} letters to friends survive in part.",
    ],
    "city": [
        "The old town is laid out around a market square.",
        "Local trades include milling and boat building.",
        "A stone causeway links the outer districts.",
        "A yearly music festival fills the market square.",
    ],
    "org": [
        "It employed several hundred people at its peak.",
        "Its archives are kept in a public library.",
        "It opened branches abroad in later decades.",
    ],
    "work": [
        "Critics praised its structure and restraint.",
        "It was revised once after its debut.",
        "Later editions added a short preface.",
        "It remains widely read and often revived.",
    ],
}
# Open-questions pages of well-documented entities: the questions' own vocabulary, no facts, only the
# entity's own name. They are what a search with the question's words finds.
NOTES = {
    "person": [
        "Open questions about {name}: in what city and in what year was {name} born, where is {his} birthplace, "
        "who was the father of {name}, and what was {his} occupation? Sources disagree.",
        "Readers ask at which university {name} did study, where {he} studied, who {name} married and who was "
        "{his} spouse, and when and where {name} was born. No record settles it.",
        "Disputed details about {name}: the father, the birthplace, the city and year {name} was born, the "
        "occupation, the university attended, the spouse {name} married, and who was born first.",
    ],
    "work": [
        "Open questions about {name}: who wrote, directed, composed, painted or recorded {name}, in what year "
        "was it released or completed, and what genre is it? Sources disagree.",
        "Readers ask which author, director, composer, painter or performer made {name}, when it came out "
        "first, and which publisher, studio or label issued {name}. No record settles it.",
        "Disputed details about {name}: the genre of the work, the year {name} was released or came out, "
        "who wrote or directed it, and the publisher that issued it.",
    ],
    "organization": [
        "Open questions about {name}: who founded {name}, in what year was it founded, and in which city is "
        "it headquartered or located? Sources disagree.",
        "Readers ask who the founder of {name} was, when {name} was founded, where its headquarters are, "
        "and whether it was founded earlier than its rivals. No record settles it.",
        "Disputed details about {name}: the founder, the year {name} was founded, the city where it is "
        "headquartered, and the country of its headquarters.",
    ],
    "city": [
        "Open questions about {name}: which river flows through {name}, what is the population of the "
        "city, and in what country is it located? Sources disagree.",
        "Readers ask about the best-known landmark of {name}, whether the city has the larger population, "
        "which river flows through it, and whether {name} is a capital. No record settles it.",
        "Disputed details about {name}: the river, the population of the city, the country where {name} "
        "is located, its best-known landmark, and the capital it belongs with.",
    ],
    "country": [
        "Open questions about {name}: what is the capital of {name}, what currency is used in the country, "
        "and what is its official language? Sources disagree.",
        "Readers ask which city is the capital of {name}, what currency is used in {name}, and which "
        "official language the country has. No record settles it.",
        "Disputed details about {name}: the capital, the currency used in the country, and the official "
        "language of {name}.",
    ],
}


def article(word: str) -> str:
    if word.lower().startswith(("uni", "use", "eu")):
        return "a"  # "a university"
    return "an" if word[:1].lower() in "aeiou" else "a"


def _stable_hash(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big")


class _Builder:
    def __init__(self, seed: int):
        self.rng = random.Random(f"{WORLD_VERSION}:{seed}")
        self.w = World(seed=seed)
        self.used_names: set[str] = set()

    # ---- names ---------------------------------------------------------------------------------
    def _unique(self, make) -> str:
        for _ in range(10_000):
            name = make()
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise RuntimeError("name space exhausted")

    def _combo(self, a: list[str], b: list[str]) -> str:
        return self.rng.choice(a) + self.rng.choice(b)

    # ---- entities ------------------------------------------------------------------------------
    def build(self) -> World:
        r = self.rng
        first_names = sorted({self._combo(_FIRST_A, _FIRST_B) for _ in range(400)})
        r.shuffle(first_names)
        first_names = first_names[:110]
        last_names = sorted({(a + b) for a in _LAST_A for b in _LAST_B})
        r.shuffle(last_names)
        last_names = last_names[:90]

        # countries, cities, rivers
        for i in range(20):
            name = self._unique(lambda: self._combo(_COUNTRY_A, _COUNTRY_B))
            self.w.countries[f"c{i}"] = Country(f"c{i}", name, currency=CURRENCIES[i], language=LANGUAGES[i])
        rivers = []
        while len(rivers) < 40:
            rivers.append(self._unique(lambda: self._combo(_RIVER_A, _RIVER_B).capitalize()))
        country_keys = list(self.w.countries)
        for i in range(110):
            name = self._unique(lambda: self._combo(_PLACE_A, _PLACE_B))
            self.w.cities[f"t{i}"] = City(
                f"t{i}",
                name,
                country=country_keys[i % len(country_keys)] if i < 40 else r.choice(country_keys),
                river=r.choice(rivers),
                founded=r.randint(900, 1750),
                population=r.randrange(8_000, 900_000, 100),
                landmark=r.choice(LANDMARKS),
            )
        for i, c in enumerate(self.w.countries.values()):  # the first 20 cities are the capitals
            c.capital = f"t{i}"

        # people: main ones, then near-namesakes that share a first or last name
        occupations = list(OCCUPATIONS) * 3 + OTHER_OCCUPATIONS
        city_keys = list(self.w.cities)
        for i in range(360):
            name = self._unique(lambda: f"{r.choice(first_names)} {r.choice(last_names)}")
            born = r.randint(1780, 1960)
            self.w.people[f"p{i}"] = Person(
                f"p{i}",
                name,
                gender=r.choice("mf"),
                born=born,
                died=born + r.randint(35, 90) if born < 1930 or r.random() < 0.5 else None,
                city=r.choice(city_keys),
                occupation=r.choice(occupations),
            )
        main = list(self.w.people.values())
        for i in range(160):
            twin = r.choice(main)
            if r.random() < 0.5:
                make = lambda twin=twin: f"{twin.first} {r.choice(last_names)}"  # noqa: E731
            else:
                make = lambda twin=twin: f"{r.choice(first_names)} {twin.last}"  # noqa: E731
            name = self._unique(make)
            born = twin.born + r.randint(-30, 30)
            self.w.people[f"n{i}"] = Person(
                f"n{i}",
                name,
                gender=r.choice("mf"),
                born=born,
                died=born + r.randint(35, 90),
                city=r.choice(city_keys),
                occupation=twin.occupation if r.random() < 0.5 else r.choice(occupations),
                main=False,
            )
        # fathers (older main person, same surname when one exists) and spouses
        by_last: dict[str, list[Person]] = {}
        for p in main:
            by_last.setdefault(p.last, []).append(p)
        for p in main:
            older = [q for q in by_last[p.last] if 18 <= p.born - q.born <= 50 and q.gender == "m"]
            if older and r.random() < 0.8:
                p.father = r.choice(older).key
        singles = [p for p in main if p.spouse is None]
        r.shuffle(singles)
        for a, b in zip(singles[0:120:2], singles[1:120:2], strict=True):
            if abs(a.born - b.born) <= 15:
                a.spouse, b.spouse = b.key, a.key

        # organizations: universities, companies, publishers, studios, labels
        founders = [p for p in main]
        k = 0

        def add_org(name: str, kind: str, industry: str, city: str | None = None) -> str:
            nonlocal k
            founder = r.choice(founders)
            key = f"o{k}"
            k += 1
            year = max(founder.born + r.randint(25, 45), 1800)
            self.w.orgs[key] = Org(key, name, kind, industry, year, founder.key, city or founder.city)
            return key

        universities = []
        for city in r.sample(city_keys, 24):
            universities.append(add_org(self._unique(lambda city=city: f"University of {self.w.cities[city].name}"), "university", "education", city))
        for _ in range(6):
            universities.append(add_org(self._unique(lambda: f"{r.choice(last_names)} College"), "university", "education"))
        for _ in range(50):
            ind = r.choice(INDUSTRIES)
            city = r.choice(city_keys)
            name = self._unique(lambda ind=ind, city=city: f"{self.w.cities[city].name} {_COMPANY_SUFFIX[ind]}" if r.random() < 0.5 else f"{r.choice(last_names)} {_COMPANY_SUFFIX[ind]}")
            add_org(name, "company", ind, city)
        publishers = {"publisher": [], "studio": [], "label": []}
        for kind, suffix, n in (("publisher", ("Press", "House", "Books"), 24), ("studio", ("Pictures", "Films"), 14), ("label", ("Records", "Music"), 12)):
            for _ in range(n):
                name = self._unique(lambda suffix=suffix: f"{r.choice(last_names + _ADJ)} {r.choice(suffix)}")
                publishers[kind].append(add_org(name, kind, {"publisher": "publishing", "studio": "film", "label": "music"}[kind]))
        for p in main:
            if r.random() < 0.85:
                p.university = r.choice(universities)

        # works: creators are main people whose occupation produces works; some titles recur across kinds
        creators = [p for p in main if p.occupation in OCCUPATIONS]
        titles: list[str] = []
        for i in range(330):
            creator = creators[i % len(creators)] if i < len(creators) else r.choice(creators)
            kind = OCCUPATIONS[creator.occupation]
            if titles and r.random() < 0.18:
                title = r.choice(titles)  # a shared title; the page name adds the kind
            else:
                pattern = r.randrange(5)
                adj, noun = r.choice(_ADJ), r.choice(_NOUN)
                city = self.w.cities[r.choice(city_keys)].name
                title = [
                    f"The {adj} {noun}",
                    f"{noun} of {city}",
                    f"{adj} {noun}s",
                    f"A {noun} for {r.choice(first_names)}",
                    f"The {noun} at {city}",
                ][pattern]
            page = f"{title} ({kind})"
            if page in self.used_names:
                continue
            self.used_names.add(page)
            titles.append(title)
            lo = creator.born + 20
            hi = (creator.died or 2000) - 1
            year = r.randint(lo, max(lo, min(hi, 2015)))
            pub_kind = PUBLISHER_KIND.get(kind)
            pub = r.choice(publishers[pub_kind]) if pub_kind else None
            key = f"w{i}"
            self.w.works[key] = Work(key, title, kind, year, r.choice(GENRES[kind]), creator.key, pub)
        self._write_docs()
        return self.w

    # ---- passages ------------------------------------------------------------------------------
    def _add(self, key: str, title: str, text: str) -> None:
        d = Doc(key, title, text)
        self.w.docs.append(d)
        self.w.doc_by_key[key] = d

    def _filler(self, kind: str, n: int = 2, **names: str) -> str:
        out = self.rng.sample(FILLER[kind], n)
        text = " ".join(out).format(**{k.capitalize(): v.capitalize() for k, v in names.items()}, **names)
        return text

    def _notes(self, kind: str, key: str, name: str, title: str, he: str = "it", his: str = "its") -> None:
        """The open-questions pages of a well-documented entity (none for the others)."""
        if not self.w.is_documented(key):
            return
        for i, template in enumerate(NOTES[kind]):
            self._add(f"{key}:notes{i}", title, f"{name} " + template.format(name=name, he=he, his=his))

    def _write_docs(self) -> None:
        w = self.w
        r = self.rng
        P, C, ORG, T = w.people, w.cities, w.orgs, w.countries
        capital_of = {c.capital: c for c in T.values()}

        for c in T.values():
            self._add(
                f"country:{c.key}",
                c.name,
                f"{c.name} {c.name} is a nation whose seat of government is {C[c.capital].name}. Its people pay in "
                f"the {c.currency} and speak {c.language}. Its roads follow the old trade routes.",
            )
            self._notes("country", f"country:{c.key}", c.name, c.name)
        for t in C.values():
            seat = f" It is the seat of government of {capital_of[t.key].name}." if t.key in capital_of else ""
            self._add(
                f"city:{t.key}",
                t.name,
                f"{t.name} {t.name} is a settlement in {T[t.country].name} that lies on the {t.river}. It was "
                f"settled in {t.founded}, is home to {t.population:,} people and is famous for its "
                f"{t.landmark}.{seat} " + self._filler("city"),
            )
            self._notes("city", f"city:{t.key}", t.name, t.name)
        for river in sorted({t.river for t in C.values()}):
            self._add(
                f"river:{river}",
                f"{river} River",
                f"{river} River The {river} is a river known for its mills and ferries. Its valley is wide and green.",
            )
        for p in P.values():
            he, him, his = ("he", "him", "his") if p.gender == "m" else ("she", "her", "her")
            life = f"{p.born}–{p.died}" if p.died else f"{p.born}–"
            origins = f"{p.name} {p.name} ({life}) is a native of {C[p.city].name}."
            if p.father:
                origins += f" {he.capitalize()} is a child of {P[p.father].name}."
            self._add(f"person:{p.key}:origins", p.name, origins + " " + self._filler("person", 1, him=him, he=he, his=his))
            career = f"{p.name} {p.name} worked as {article(p.occupation)} {p.occupation}."
            if p.university:
                career += f" {he.capitalize()} trained at {ORG[p.university].name}."
            if p.spouse:
                career += f" {he.capitalize()} wedded {P[p.spouse].name}."
            self._add(f"person:{p.key}:career", p.name, career + " " + self._filler("person", 1, him=him, he=he, his=his))
            if p.main:
                self._notes("person", f"person:{p.key}", p.name, p.name, he, his)
        for o in ORG.values():
            where = C[o.city].name
            what = f"{article(o.industry)} {o.industry} company" if o.kind == "company" else f"{article(o.kind)} {o.kind}"
            self._add(
                f"org:{o.key}",
                o.name,
                f"{o.name} {o.name} is {what} based in {where}, established by {P[o.founder].name} in {o.founded}. "
                + self._filler("org"),
            )
            self._notes("organization", f"org:{o.key}", o.name, o.name)
        for wk in w.works.values():
            text = (
                f"{wk.page} {wk.title} is {article(wk.genre)} {wk.genre} {wk.kind} credited to {P[wk.creator].name} "
                f"and dated {wk.year}."
            )
            if wk.publisher:
                text += f" It was distributed by {ORG[wk.publisher].name}."
            self._add(f"work:{wk.key}", wk.page, text + " " + self._filler("work"))
            self._notes("work", f"work:{wk.key}", wk.page, wk.page)
        # surname index pages: names only
        by_last: dict[str, list[Person]] = {}
        for p in P.values():
            by_last.setdefault(p.last, []).append(p)
        for last, ps in sorted(by_last.items()):
            if len(ps) < 2:
                continue
            self._add(
                f"surname:{last}",
                f"{last} (surname)",
                f"{last} is a surname. Notable people with the surname include " + "; ".join(p.name for p in ps) + ".",
            )
        # event reports: people and works mentioned without any of their facts
        main = w.main_people
        works = list(w.works.values())
        for i in range(230):
            city = r.choice(list(C.values()))
            year = r.randint(1830, 2010)
            kind = r.choice(_EVENT_KINDS)
            guests = r.sample(main, 3)
            shown = r.choice(works)
            text = (
                f"The {year} {city.name} {kind} was held in {city.name}. Guests included "
                + ", ".join(g.name for g in guests)
                + f". The programme featured {shown.title}."
            )
            self._add(f"event:{i}", f"{year} {city.name} {kind}", text)
            w.events.append((year, city.key))
        # wiki-18 style ids: a deterministic shuffle, then 0..N-1
        order = sorted(w.docs, key=lambda d: _stable_hash(f"{WORLD_VERSION}:{w.seed}:{d.key}"))
        for i, d in enumerate(order):
            d.id = str(i)
        w.docs = order


_CACHE: dict[int, World] = {}


def build_world(seed: int = DEFAULT_SEED) -> World:
    """The world for `seed` (memoized per process: panels and retrievers share one instance)."""
    if seed not in _CACHE:
        _CACHE[seed] = _Builder(seed).build()
    return _CACHE[seed]

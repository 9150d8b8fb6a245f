"""Questions over the invented world, in the seven styles Search-R1 evaluates on.

| data_source      | style            | shape                                                   |
|------------------|------------------|---------------------------------------------------------|
| nq               | direct           | one lookup, lower-case NQ phrasing ("who founded x")    |
| triviaqa         | direct           | one lookup, trivia phrasing, often a reverse lookup     |
| popqa            | entity_attribute | PopQA's subject-relation templates ("What is X's occupation?") |
| hotpotqa         | multi_hop        | two-hop bridge ("the founder of X was born in which city?") |
| 2wikimultihopqa  | comparison       | two lookups and a comparison or yes/no                  |
| musique          | multi_hop        | two- and three-hop compositions                         |
| bamboogle        | multi_hop        | small, test-only, two-hop over relations the train split never asks |

Every question carries its hop plan: for each hop the supporting fact page's doc id, its `subject`
(written with the question's words, or for a bridge with the previous page's), the subject's `kind`
and the asked `attr`, the question's own word for it (`ask`), and the right `query`: subject plus the
world's passage words for (kind, attr). The experts never read `query`: the plain one searches the
question and subject + `ask`, the with-skills one takes the passage words from skill texts. Splits are
disjoint by anchor entity (the entity the question starts from), so test questions ask about entities
no train question starts from.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agentgym.envs.searchqa.metrics import normalize_answer
from agentgym.envs.searchqa.world import CREATOR_ROLE, PUBLISHER_KIND, World, _stable_hash, passage_words

QUESTIONS_VERSION = "searchqa-questions-v2"

DATA_SOURCES = ("nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle")
STYLE = {
    "nq": "direct",
    "triviaqa": "direct",
    "popqa": "entity_attribute",
    "hotpotqa": "multi_hop",
    "musique": "multi_hop",
    "bamboogle": "multi_hop",
    "2wikimultihopqa": "comparison",
}
#: Panel sizes per split and data source (Bamboogle is test-only, as in the paper: 125 questions).
SIZES = {
    "train": {"nq": 700, "triviaqa": 400, "popqa": 400, "hotpotqa": 700, "2wikimultihopqa": 400, "musique": 400},
    "test": {
        "nq": 150,
        "triviaqa": 150,
        "popqa": 150,
        "hotpotqa": 150,
        "2wikimultihopqa": 150,
        "musique": 150,
        "bamboogle": 125,
    },
}
TEST_ANCHOR_FRACTION = 0.25


@dataclass
class Hop:
    """One lookup: the fact page (`doc`) about `subject`, a `kind` entity, that states its `attr`.

    `subject` is written with words of the question (first hop, comparisons) or of the previous hop's
    page (bridge entities); `ask` is the question's own word for the attribute. The right query, `query`,
    is the subject plus the passage words of (kind, attr) (`world.PASSAGE_WORDS`).
    """

    subject: str
    kind: str
    attr: str
    ask: str
    doc: str  # doc key (mapped to the doc id on output)

    @property
    def query(self) -> str:
        return f"{self.subject} {passage_words(self.kind, self.attr)}"

    def to_json(self, world: World) -> dict[str, str]:
        return {"query": self.query, "alt": self.query, "doc_id": world.doc_id(self.doc), "subject": self.subject,
                "kind": self.kind, "attr": self.attr, "ask": self.ask}


@dataclass
class Question:
    data_source: str
    template: str
    question: str
    golden_answers: list[str]
    hops: list[Hop]
    anchor: str
    anchors: tuple[str, ...] = field(default=())

    def record(self, world: World, qid: str) -> dict:
        """A QA row in the originals' layout plus the metadata the expert needs."""
        return {
            "id": qid,
            "question": self.question,
            "golden_answers": list(self.golden_answers),
            "data_source": self.data_source,
            "metadata": {
                "style": STYLE[self.data_source],
                "template": self.template,
                "hops": [h.to_json(world) for h in self.hops],
            },
        }


def _year(y: int) -> list[str]:
    return [str(y)]


class _Gen:
    def __init__(self, w: World):
        self.w = w
        P, C, ORG, T, W = w.people, w.cities, w.orgs, w.countries, w.works
        self.P, self.C, self.ORG, self.T, self.W = P, C, ORG, T, W
        self.title_count: dict[str, int] = {}
        for wk in W.values():
            self.title_count[wk.title] = self.title_count.get(wk.title, 0) + 1

    # ---- hops ----------------------------------------------------------------------------------
    def person(self, pk: str, attr: str, ask: str) -> Hop:
        page = "origins" if attr in ("born", "father") else "career"
        return Hop(self.P[pk].name, "person", attr, ask, f"person:{pk}:{page}")

    def work(self, wk: str, attr: str, ask: str, subject: str | None = None) -> Hop:
        x = self.W[wk]
        return Hop(subject or f"{x.kind} {x.title}", "work", attr, ask, f"work:{wk}")

    def org(self, ok: str, attr: str, ask: str, subject: str | None = None) -> Hop:
        return Hop(subject or self.ORG[ok].name, "organization", attr, ask, f"org:{ok}")

    def city(self, ck: str, attr: str, ask: str, subject: str | None = None) -> Hop:
        return Hop(subject or self.C[ck].name, "city", attr, ask, f"city:{ck}")

    def country(self, tk: str, attr: str, ask: str, subject: str | None = None) -> Hop:
        return Hop(subject or self.T[tk].name, "country", attr, ask, f"country:{tk}")

    def work_ref(self, wk: str) -> str:
        """How a question names a work: kind + title (titles recur across kinds)."""
        x = self.W[wk]
        return f"the {x.kind} {x.title}"

    # ---- answers -------------------------------------------------------------------------------
    def river(self, ck: str) -> list[str]:
        r = self.C[ck].river
        return [r, f"{r} River"]

    def people_main(self):
        return self.w.main_people

    # ---- nq ------------------------------------------------------------------------------------
    def nq(self) -> Iterator[Question]:
        P, W, ORG, C, T = self.P, self.W, self.ORG, self.C, self.T
        verb = {
            "novel": "who wrote the novel",
            "poetry collection": "who wrote the poetry collection",
            "play": "who wrote the play",
            "film": "who directed the film",
            "symphony": "who composed the symphony",
            "album": "who recorded the album",
            "painting": "who painted the painting",
        }
        for wk, x in W.items():
            low = f"{x.kind} {x.title}".lower()
            q = f"{verb[x.kind]} {x.title}".lower()
            yield Question("nq", "work_creator", q, [P[x.creator].name], [self.work(wk, "creator", verb[x.kind].split()[1], low)], wk)
            yield Question("nq", "work_year", f"when was the {x.kind} {x.title} released".lower(), _year(x.year),
                           [self.work(wk, "year", "released", low)], wk)  # fmt: skip
        for ok, o in ORG.items():
            low = o.name.lower()
            yield Question("nq", "org_founder", f"who founded {low}", [P[o.founder].name], [self.org(ok, "founder", "founded", low)], ok)
            yield Question("nq", "org_year", f"when was {low} founded", _year(o.founded), [self.org(ok, "founded", "founded", low)], ok)
        for ck, c in C.items():
            low = c.name.lower()
            yield Question("nq", "city_river", f"what river flows through {low}", self.river(ck), [self.city(ck, "river", "river", low)], ck)
            yield Question("nq", "city_population", f"what is the population of {low}", [f"{c.population:,}"],
                           [self.city(ck, "population", "population", low)], ck)  # fmt: skip
        for tk, t in T.items():
            low = t.name.lower()
            yield Question("nq", "country_capital", f"what is the capital of {low}", [C[t.capital].name],
                           [self.country(tk, "capital", "capital", low)], tk)  # fmt: skip

    # ---- triviaqa ------------------------------------------------------------------------------
    def triviaqa(self) -> Iterator[Question]:
        P, W, ORG, C = self.P, self.W, self.ORG, self.C
        # reverse lookups need a unique (year, city): a year of birth or death shared by another native is ambiguous
        # (an event report of that year and city, or a surname spelled like the city, competes too)
        years: dict[tuple, int] = {}
        for p in P.values():
            for y in {p.born, p.died}:
                if y:
                    years[(y, p.city)] = years.get((y, p.city), 0) + 1
        for y, ck in self.w.events:
            years[(y, ck)] = years.get((y, ck), 0) + 1
        name_words = {w for p in P.values() for w in p.name.split()}
        for p in self.people_main():
            if years[(p.born, p.city)] == 1 and C[p.city].name not in name_words:
                city = C[p.city].name
                q = f"Who, born in {p.born}, came from the city of {city}?"
                yield Question("triviaqa", "reverse_person", q, [p.name], [Hop(f"{city} {p.born}", "person", "born", "born", f"person:{p.key}:origins")], p.key)
        for wk, x in W.items():
            c = P[x.creator]
            q = f"In which year did the {c.occupation} {c.name} complete the {x.kind} '{x.title}'?"
            yield Question("triviaqa", "completion_year", q, _year(x.year), [self.work(wk, "year", "complete")], wk)
            q = f"The {x.genre} {x.kind} '{x.title}' is the work of which {CREATOR_ROLE[x.kind]}?"
            yield Question("triviaqa", "work_by_genre", q, [c.name], [self.work(wk, "creator", CREATOR_ROLE[x.kind])], wk)
        osig: dict[tuple, int] = {}
        for o in ORG.values():
            osig[(o.industry, o.founded, o.city)] = osig.get((o.industry, o.founded, o.city), 0) + 1
        for ok, o in ORG.items():
            if o.kind == "company" and osig[(o.industry, o.founded, o.city)] == 1:
                q = f"Which {o.industry} company, founded in {o.founded}, has its headquarters in {C[o.city].name}?"
                hop = self.org(ok, "founded", "founded", f"{o.industry} {o.founded} {C[o.city].name}")
                yield Question("triviaqa", "reverse_company", q, [o.name], [hop], ok)
        lsig: dict[tuple, int] = {}
        for c in C.values():
            lsig[(c.landmark, c.river)] = lsig.get((c.landmark, c.river), 0) + 1
        for ck, c in C.items():
            if lsig[(c.landmark, c.river)] == 1:
                q = f"Which city on the {c.river} River is best known for its {c.landmark}?"
                yield Question("triviaqa", "reverse_city", q, [c.name], [self.city(ck, "landmark", "known", f"{c.river} {c.landmark}")], ck)

    # ---- popqa ---------------------------------------------------------------------------------
    def popqa(self) -> Iterator[Question]:
        P, W, C, T = self.P, self.W, self.C, self.T
        for p in self.people_main():
            yield Question("popqa", "occupation", f"What is {p.name}'s occupation?", [p.occupation], [self.person(p.key, "occupation", "occupation")], p.key)
            yield Question("popqa", "place_of_birth", f"In what city was {p.name} born?", [C[p.city].name], [self.person(p.key, "born", "born")], p.key)
            if p.father:
                yield Question("popqa", "father", f"Who was the father of {p.name}?", [P[p.father].name], [self.person(p.key, "father", "father")], p.key)
        role_q = {"author": "Who is the author of", "director": "Who was the director of", "composer": "Who was the composer of",
                  "painter": "Who was the painter of", "performer": "Who was the performer of"}  # fmt: skip
        for wk, x in W.items():
            name = x.title if self.title_count[x.title] == 1 else f"{x.title} ({x.kind})"
            yield Question("popqa", "genre", f"What genre is {name}?", [x.genre], [self.work(wk, "genre", "genre", name)], wk)
            q = role_q[CREATOR_ROLE[x.kind]]
            ask = q.split()[-2]  # "author", "director", ...
            yield Question("popqa", "creator", f"{q} {name}?", [P[x.creator].name], [self.work(wk, "creator", ask, name)], wk)
        for ck, c in C.items():
            yield Question("popqa", "country", f"In what country is {c.name}?", [T[c.country].name], [self.city(ck, "country", "country")], ck)
        for tk, t in T.items():
            yield Question("popqa", "capital", f"What is the capital of {t.name}?", [C[t.capital].name], [self.country(tk, "capital", "capital")], tk)

    # ---- hotpotqa ------------------------------------------------------------------------------
    def hotpotqa(self) -> Iterator[Question]:
        P, W, ORG, C = self.P, self.W, self.ORG, self.C
        for ok, o in ORG.items():
            f = P[o.founder]
            yield Question("hotpotqa", "founder_birth_year", f"In what year was the founder of {o.name} born?", _year(f.born),
                           [self.org(ok, "founder", "founder"), self.person(f.key, "born", "born")], ok)  # fmt: skip
            yield Question("hotpotqa", "founder_birthplace", f"The founder of {o.name} was born in which city?", [C[f.city].name],
                           [self.org(ok, "founder", "founder"), self.person(f.key, "born", "born")], ok)  # fmt: skip
        for wk, x in W.items():
            c = P[x.creator]
            role = CREATOR_ROLE[x.kind]
            yield Question("hotpotqa", "creator_birthplace", f"Where was the {role} of {self.work_ref(wk)} born?", [C[c.city].name],
                           [self.work(wk, "creator", role), self.person(c.key, "born", "born")], wk)  # fmt: skip
            if c.university:
                yield Question("hotpotqa", "creator_university", f"At which university did the {role} of {self.work_ref(wk)} study?",
                               [ORG[c.university].name], [self.work(wk, "creator", role), self.person(c.key, "university", "university")], wk)  # fmt: skip
            if x.publisher:
                pub = PUBLISHER_KIND[x.kind]
                yield Question("hotpotqa", "publisher_year", f"In what year was the {pub} that issued {self.work_ref(wk)} founded?",
                               _year(ORG[x.publisher].founded), [self.work(wk, "publisher", pub), self.org(x.publisher, "founded", "founded")], wk)  # fmt: skip
        for p in self.people_main():
            yield Question("hotpotqa", "birthplace_river", f"Which river flows through the birthplace of {p.name}?", self.river(p.city),
                           [self.person(p.key, "born", "birthplace"), self.city(p.city, "river", "river")], p.key)  # fmt: skip
            if p.university:
                u = ORG[p.university]
                yield Question("hotpotqa", "university_city", f"In which city is the university where {p.name} studied?", [C[u.city].name],
                               [self.person(p.key, "university", "university"), self.org(u.key, "location", "city")], p.key)  # fmt: skip

    # ---- 2wikimultihopqa -----------------------------------------------------------------------
    def comparisons(self, mine: Callable[[str], bool], rng: random.Random) -> Iterator[Question]:
        """Random pairs, both entities from this split (`mine`); endless, the caller takes what it needs."""
        _P, C = self.P, self.C
        people = [p for p in self.people_main() if mine(p.key)]
        works = [w for w in self.W.values() if mine(w.key)]
        orgs = [o for o in self.ORG.values() if mine(o.key)]
        cities = [c for c in C.values() if mine(c.key)]
        for _ in range(4000):
            t = rng.randrange(6)
            if t == 0:
                a, b = rng.sample(people, 2)
                if a.born == b.born:
                    continue
                first = a if a.born < b.born else b
                yield Question("2wikimultihopqa", "born_first", f"Who was born first, {a.name} or {b.name}?", [first.name],
                               [self.person(a.key, "born", "born"), self.person(b.key, "born", "born")], a.key, (a.key, b.key))  # fmt: skip
            elif t == 1:
                x = rng.choice(works)
                same = [w for w in works if w.kind == x.kind and w.year != x.year and w.title != x.title]
                if not same:
                    continue
                y = rng.choice(same)
                first = x if x.year < y.year else y
                yield Question("2wikimultihopqa", "released_first", f"Which {x.kind} came out first, {x.title} or {y.title}?", [first.title],
                               [self.work(x.key, "year", "came out"), self.work(y.key, "year", "came out")], x.key, (x.key, y.key))  # fmt: skip
            elif t == 2:
                x, y = rng.sample(orgs, 2)
                if x.founded == y.founded:
                    continue
                first = x if x.founded < y.founded else y
                yield Question("2wikimultihopqa", "founded_first", f"Which was founded earlier, {x.name} or {y.name}?", [first.name],
                               [self.org(x.key, "founded", "founded"), self.org(y.key, "founded", "founded")], x.key, (x.key, y.key))  # fmt: skip
            elif t == 3:
                a = rng.choice(people)
                same = [p for p in people if p.city == a.city and p.key != a.key]
                b = rng.choice(same) if same and rng.random() < 0.5 else rng.choice(people)
                if b.key == a.key:
                    continue
                ans = "yes" if a.city == b.city else "no"
                yield Question("2wikimultihopqa", "same_birthplace", f"Were {a.name} and {b.name} born in the same city?", [ans],
                               [self.person(a.key, "born", "born"), self.person(b.key, "born", "born")], a.key, (a.key, b.key))  # fmt: skip
            elif t == 4:
                a = rng.choice(people)
                same = [p for p in people if p.occupation == a.occupation and p.key != a.key]
                b = rng.choice(same) if same and rng.random() < 0.5 else rng.choice(people)
                if b.key == a.key:
                    continue
                ans = "yes" if a.occupation == b.occupation else "no"
                yield Question("2wikimultihopqa", "same_occupation", f"Did {a.name} and {b.name} have the same occupation?", [ans],
                               [self.person(a.key, "occupation", "occupation"), self.person(b.key, "occupation", "occupation")], a.key, (a.key, b.key))  # fmt: skip
            else:
                x, y = rng.sample(cities, 2)
                big = x if x.population > y.population else y
                yield Question("2wikimultihopqa", "larger_city", f"Which city has the larger population, {x.name} or {y.name}?", [big.name],
                               [self.city(x.key, "population", "population"), self.city(y.key, "population", "population")], x.key, (x.key, y.key))  # fmt: skip

    # ---- musique -------------------------------------------------------------------------------
    def musique(self) -> Iterator[Question]:
        P, W, ORG, C, T = self.P, self.W, self.ORG, self.C, self.T
        for wk, x in W.items():
            c = P[x.creator]
            role = CREATOR_ROLE[x.kind]
            yield Question("musique", "creator_country", f"In which country was the {role} of {self.work_ref(wk)} born?",
                           [T[C[c.city].country].name],
                           [self.work(wk, "creator", role), self.person(c.key, "born", "born"), self.city(c.city, "country", "country")], wk)  # fmt: skip
            if x.publisher:
                o = ORG[x.publisher]
                pub = PUBLISHER_KIND[x.kind]
                yield Question("musique", "publisher_country",
                               f"In which country is the {pub} that issued {self.work_ref(wk)} headquartered?",
                               [T[C[o.city].country].name],
                               [self.work(wk, "publisher", pub), self.org(o.key, "location", "headquartered"), self.city(o.city, "country", "country")], wk)  # fmt: skip
        for ok, o in ORG.items():
            f = P[o.founder]
            yield Question("musique", "founder_river", f"Which river flows through the city where the founder of {o.name} was born?",
                           self.river(f.city),
                           [self.org(ok, "founder", "founder"), self.person(f.key, "born", "born"), self.city(f.city, "river", "river")], ok)  # fmt: skip
        for p in self.people_main():
            if p.father:
                fa = P[p.father]
                yield Question("musique", "father_country", f"In which country was the father of {p.name} born?",
                               [T[C[fa.city].country].name],
                               [self.person(p.key, "father", "father"), self.person(fa.key, "born", "born"), self.city(fa.city, "country", "country")], p.key)  # fmt: skip
                yield Question("musique", "father_birth_year", f"When was the father of {p.name} born?", _year(fa.born),
                               [self.person(p.key, "father", "father"), self.person(fa.key, "born", "born")], p.key)  # fmt: skip
            if p.university:
                u = ORG[p.university]
                yield Question("musique", "university_population",
                               f"What is the population of the city where the university attended by {p.name} is located?",
                               [f"{C[u.city].population:,}"],
                               [self.person(p.key, "university", "university"), self.org(u.key, "location", "located"),
                                self.city(u.city, "population", "population")], p.key)  # fmt: skip

    # ---- bamboogle -----------------------------------------------------------------------------
    def bamboogle(self) -> Iterator[Question]:
        P, W, C, T = self.P, self.W, self.C, self.T
        for ck, c in C.items():
            t = T[c.country]
            if t.capital != ck:
                yield Question("bamboogle", "city_currency", f"What currency is used in the country where {c.name} is located?",
                               [t.currency], [self.city(ck, "country", "country"), self.country(t.key, "currency", "currency")], ck)  # fmt: skip
            else:
                yield Question("bamboogle", "capital_language", f"What is the official language of the country whose capital is {c.name}?",
                               [t.language], [self.city(ck, "capital", "capital"), self.country(t.key, "language", "language")], ck)  # fmt: skip
        for p in self.people_main():
            c = C[p.city]
            yield Question("bamboogle", "hometown_landmark", f"What is the best-known landmark of the city where {p.name} was born?",
                           [c.landmark, f"{c.name} {c.landmark}"], [self.person(p.key, "born", "born"), self.city(p.city, "landmark", "landmark")], p.key)  # fmt: skip
            if p.spouse:
                s = P[p.spouse]
                yield Question("bamboogle", "spouse_birth_year", f"In what year was the spouse of {p.name} born?", _year(s.born),
                               [self.person(p.key, "spouse", "spouse"), self.person(s.key, "born", "born")], p.key)  # fmt: skip
        for wk, x in W.items():
            c = P[x.creator]
            if c.spouse:
                role = CREATOR_ROLE[x.kind]
                yield Question("bamboogle", "creator_spouse", f"Who was married to the {role} of {self.work_ref(wk)}?",
                               [P[c.spouse].name], [self.work(wk, "creator", role), self.person(c.key, "spouse", "married")], wk)  # fmt: skip


def split_of_anchor(key: str, seed: int) -> str:
    """The split an anchor entity belongs to: a stable hash, TEST_ANCHOR_FRACTION of them go to test."""
    return "test" if (_stable_hash(f"{QUESTIONS_VERSION}:{seed}:{key}") % 1000) < TEST_ANCHOR_FRACTION * 1000 else "train"


def _round_robin(qs: list[Question], n: int, rng: random.Random) -> list[Question]:
    """Up to n questions, spread evenly over templates (a big template must not crowd out the others)."""
    by_t: dict[str, list[Question]] = {}
    for q in qs:
        by_t.setdefault(q.template, []).append(q)
    pools = [by_t[t] for t in sorted(by_t)]
    for p in pools:
        rng.shuffle(p)
    out: list[Question] = []
    while len(out) < n and any(pools):
        for p in pools:
            if p and len(out) < n:
                out.append(p.pop())
    rng.shuffle(out)
    return out


def generate_questions(world: World, split: str, sizes: dict[str, int] | None = None) -> list[dict]:
    """The QA rows of one split, in the order of DATA_SOURCES, each source shuffled; ids are stable."""
    sizes = sizes if sizes is not None else SIZES[split]
    g = _Gen(world)
    rng = random.Random(f"{QUESTIONS_VERSION}:{world.seed}:{split}")

    def guessable(q: Question) -> bool:
        """An answer that the question itself spells out (e.g. a title naming the birthplace)."""
        if q.data_source == "2wikimultihopqa":
            return False  # comparisons name their candidates by design
        text = f" {normalize_answer(q.question)} "
        return any(f" {normalize_answer(g)} " in text for g in q.golden_answers)

    def mine(q: Question) -> bool:
        if q.data_source == "bamboogle":
            return True  # test-only source; its relations never appear in train questions
        keys = q.anchors or (q.anchor,)
        return all(split_of_anchor(k, world.seed) == split for k in keys)

    sources: dict[str, Callable[[], Iterator[Question]]] = {
        "nq": g.nq,
        "triviaqa": g.triviaqa,
        "popqa": g.popqa,
        "hotpotqa": g.hotpotqa,
        "2wikimultihopqa": lambda: g.comparisons(
            lambda k: split_of_anchor(k, world.seed) == split, random.Random(f"{QUESTIONS_VERSION}:{world.seed}:{split}:cmp")
        ),
        "musique": g.musique,
        "bamboogle": g.bamboogle,
    }
    rows: list[dict] = []
    seen: set[str] = set()
    for src in DATA_SOURCES:
        n = sizes.get(src, 0)
        if n <= 0:
            continue
        cands = []
        for q in sources[src]():
            if mine(q) and q.question not in seen and not guessable(q):
                seen.add(q.question)
                cands.append(q)
        for i, q in enumerate(_round_robin(cands, n, rng)):
            rows.append(q.record(world, f"{src}-{split}-{i:04d}"))
    return rows

"""Search-QA skills that carry knowledge: the world's wording regularities, the skill texts that state
them, and the two experts (plain vs reading the skills). Pure-Python BM25, no Java."""

from __future__ import annotations

import collections

import pytest
from fakes.experts import expert_success, own_group

from agentgym.core.demos import expert_episode
from agentgym.core.task import Task
from agentgym.core.trajectory import Trajectory
from agentgym.envs.searchqa.env import EXPERT_UNKNOWN, SearchQAEnv
from agentgym.envs.searchqa.protocol import parse_action
from agentgym.envs.searchqa.questions import STYLE, generate_questions
from agentgym.envs.searchqa.skill_rules import Rule, parse_rules, words_for
from agentgym.envs.searchqa.world import (
    DOCUMENTED_FRACTION,
    KINDS,
    NOTES_PER_ENTITY,
    PASSAGE_WORDS,
    build_world,
    passage_words,
)
from agentgym.retrieval.bm25_py import tokenize
from agentgym.skills import SkillStore
from agentgym.skills.library import MAX_SKILL_WORDS, Skill, SkillLibrary, word_count


@pytest.fixture(scope="module")
def world():
    return build_world()


@pytest.fixture(scope="module")
def rows(world):
    return {s: generate_questions(world, s) for s in ("train", "test")}


@pytest.fixture(scope="module")
def env() -> SearchQAEnv:
    return SearchQAEnv(split="test", retriever="bm25-py")


@pytest.fixture(scope="module")
def lib() -> SkillLibrary:
    return SkillLibrary.load("searchqa")


def _play(env: SearchQAEnv, task: Task, skills=None) -> Trajectory:
    """One expert episode: the plain expert when `skills` is None, else the skill-reading expert."""
    return expert_episode(env, task, skills=skills)


def _is_fact_page(key: str) -> bool:
    parts = key.split(":")
    return parts[0] in ("work", "org", "city", "country") and len(parts) == 2 or key.endswith((":origins", ":career"))


def _toks(text: str) -> set[str]:
    return set(tokenize(text))


# ---- the world follows its regularities ---------------------------------------------------------------
def test_every_hop_page_uses_the_passage_words_and_not_the_question_word(world, rows):
    by_id = {d.id: d for d in world.docs}
    seen = collections.Counter()
    for rs in rows.values():
        for r in rs:
            question = _toks(r["question"])
            for i, h in enumerate(r["metadata"]["hops"]):
                doc = by_id[h["doc_id"]]
                assert _is_fact_page(doc.key), (r["question"], doc.key)
                words = passage_words(h["kind"], h["attr"])
                assert words in doc.text, (r["question"], words, doc.text)
                assert h["query"] == f"{h['subject']} {words}"
                # the question's own word for the fact is in the question and never on the fact page
                assert _toks(h["ask"]) <= question, (r["question"], h["ask"])
                # (names on the page are not wording: "University of Ravby" may answer a "university" question)
                hops = r["metadata"]["hops"]
                names = " ".join(r["golden_answers"]) + (f" {hops[i + 1]['subject']}" if i + 1 < len(hops) else "")
                assert not _toks(h["ask"]) & (_toks(doc.contents) - _toks(names)), (r["question"], h["ask"], doc.contents)
                # the subject is written with the question's words, or (a bridge) with the previous page's
                source = r["question"] if i == 0 or STYLE[r["data_source"]] == "comparison" else by_id[r["metadata"]["hops"][i - 1]["doc_id"]].text
                assert _toks(h["subject"]) <= _toks(source), (r["question"], h["subject"])
                seen[(h["kind"], h["attr"])] += 1
    assert {k for k, _ in seen} == set(KINDS)
    assert len(seen) >= 18  # every asked attribute is covered by the table


def test_passage_words_appear_only_on_their_fact_pages_and_never_in_questions(world, rows):
    owner = {"native": ":origins", "worked": ":career", "credited": "work:", "established": "org:", "lies": "city:",
             "government": ("country:", "city:")}  # fmt: skip
    for d in world.docs:
        toks = _toks(d.contents)
        for word, where in owner.items():
            if word in toks:
                where = where if isinstance(where, tuple) else (where,)
                assert any(w in d.key for w in where) and _is_fact_page(d.key), (word, d.key)
    words = {t for w in PASSAGE_WORDS.values() for t in tokenize(w)}
    for rs in rows.values():
        for r in rs:
            assert not _toks(r["question"]) & words, r["question"]


def test_well_documented_entities_have_open_questions_pages_without_facts(world, rows):
    notes = collections.defaultdict(list)
    for d in world.docs:
        if ":notes" in d.key:
            notes[d.key.rsplit(":", 1)[0]].append(d)
    assert notes and all(len(v) == NOTES_PER_ENTITY for v in notes.values())
    assert all(world.is_documented(k) for k in notes)
    words = {t for w in PASSAGE_WORDS.values() for t in tokenize(w)}
    by_id = {d.id: d for d in world.docs}
    asked = {}
    for r in rows["test"]:
        for h in r["metadata"]["hops"]:
            key = by_id[h["doc_id"]].key
            asked[":".join(key.split(":")[:2])] = r
    frac = sum(world.is_documented(k) for k in asked) / len(asked)
    assert abs(frac - DOCUMENTED_FRACTION) <= 0.1
    for key, docs in notes.items():
        for d in docs:
            assert not _toks(d.contents) & words, d.contents
            r = asked.get(key)
            if r is not None and r["golden_answers"][0] not in ("yes", "no"):
                assert r["golden_answers"][0] not in d.text.replace(d.title, ""), (d.text, r["golden_answers"])


def test_the_retriever_follows_the_regularities(env, world):
    """bm25-py: the right query (subject + passage words) ranks the fact page first; for a
    well-documented subject, the question itself and subject + the question's word do not reach it."""
    by_id = {d.id: d for d in world.docs}
    first = total = 0
    plain_hits = plain_total = 0
    for task in env.panel():
        for i, h in enumerate(task.data["hops"]):
            top = [p.id for p in env.retriever.retrieve(h["query"], 3)]
            first += bool(top) and top[0] == h["doc_id"]
            total += 1
            entity = ":".join(by_id[h["doc_id"]].key.split(":")[:2])
            if i == 0 and task.task_type in ("nq", "popqa") and world.is_documented(entity):
                for q in (task.instruction, f"{h['subject']} {h['ask']}"):
                    plain_hits += h["doc_id"] in [p.id for p in env.retriever.retrieve(q, 3)]
                    plain_total += 1
    assert first == total
    assert plain_total > 50 and plain_hits / plain_total < 0.1


# ---- the skill texts state the same table -------------------------------------------------------------
def test_each_style_skill_states_the_wording_its_questions_need(lib, rows):
    needed = collections.defaultdict(set)
    for rs in rows.values():
        for r in rs:
            for h in r["metadata"]["hops"]:
                needed[STYLE[r["data_source"]]].add((h["kind"], h["attr"]))
    for style, pairs in needed.items():
        own = [s for s in lib.skills if s.group == style]
        rules = parse_rules(own)
        assert rules, style
        for kind, attr in pairs:
            assert words_for(rules, kind, attr) == passage_words(kind, attr), (style, kind, attr)
        knowledge = [s for s in own if parse_rules([s])]
        assert len(knowledge) == 1 and word_count(f"{knowledge[0].principle} {knowledge[0].when}") <= MAX_SKILL_WORDS


def test_no_skill_states_a_wrong_wording(lib):
    rules = parse_rules(lib.skills)
    assert len(rules) >= 15
    for rule in rules:
        for a in rule.attrs or {"*"}:
            expected = PASSAGE_WORDS.get((rule.kind, "*")) if a == "*" else passage_words(rule.kind, a)
            assert expected == rule.words, rule


def test_the_right_query_is_copyable_from_question_passages_and_skill(env, lib):
    """Every word of the with-skills expert's queries is in the question, a passage it saw, or the skill text."""
    for task in list(env.panel())[::9]:
        skills = own_group(lib, task)
        sources = _toks(task.instruction) | _toks(" ".join(s.text() for s in skills))
        env.reset(options={"task": task})
        while True:
            action = env.expert_action_with_skills(skills)
            a = parse_action(action)
            if a.kind == "search":
                assert _toks(a.content) <= sources, (task.instruction, a.content)
            obs, _, term, trunc, _ = env.step(action)
            sources |= _toks(obs)
            if term or trunc:
                break


# ---- the skill reader ---------------------------------------------------------------------------------
def test_parse_rules_reads_clauses():
    text = 'Search the name plus: person born or father "native of"; person occupation "worked as"; work "credited to". Then compare.'
    rules = parse_rules([text])
    assert rules == [Rule("person", frozenset({"born", "father"}), "native of"), Rule("person", frozenset({"occupation"}), "worked as"),
                     Rule("work", frozenset(), "credited to")]  # fmt: skip
    assert words_for(rules, "person", "father") == "native of"
    assert words_for(rules, "person", "spouse") is None  # no clause covers it
    assert words_for(rules, "work", "year") == "credited to"
    generic = parse_rules(['person "wrong words"; person born "native of"'])
    assert words_for(generic, "person", "born") == "native of"  # a clause naming the attribute wins
    assert words_for(generic, "person", "spouse") == "wrong words"


@pytest.mark.parametrize("bad", [None, [], [None], [3, object(), b"x"], ["no rules here"], ['"dangling'],
                                 [Skill("x", "general", 'person born "' + "a" * 5000, "w")], "person born \"native of\"",
                                 [Skill("x", "general", "city", '"lies on"')]])  # fmt: skip
def test_bad_or_empty_skills_never_crash(env, bad):
    parse_rules(bad)
    for task in list(env.panel())[::200]:
        t = _play(env, task, bad)
        last = t.steps[-1]
        assert last.action_valid or parse_action(last.action).kind != "invalid"
        assert 0.0 <= t.score <= 1.0


def test_irrelevant_skills_give_exactly_the_plain_behaviour(env):
    other = [Skill("heat-in-microwave", "heat", 'Go to "microwave 1" and run "heat X with microwave 1".', "heating."),
             Skill("buy-now", "apparel", 'Click "Buy Now" once the options match; the work is done.', "on a product page.")]
    other += [s for s in SkillLibrary.load("searchqa").skills if not parse_rules([s])]
    for task in list(env.panel())[::40]:
        plain = [step.action for step in _play(env, task).steps]
        with_other = [step.action for step in _play(env, task, other).steps]
        assert with_other == plain


def test_plain_expert_searches_the_question_first_and_never_answers_unseen(env):
    for task in list(env.panel())[::25]:
        env.reset(options={"task": task})
        assert f"<search> {task.instruction} </search>" in env.expert_action()
        t = _play(env, task)
        last = parse_action(t.steps[-1].action)
        assert t.won or (last.kind == "answer" and last.content == EXPERT_UNKNOWN)


# ---- measured on a slice of the test panel ------------------------------------------------------------
def test_skills_expert_beats_plain_and_random_skills_help_less(env):
    tasks = list(env.panel())[::5]  # 205 tasks, every source
    plain, keyword, rand, right = (expert_success(env, tasks, c, family="searchqa") for c in ("plain", "keyword", "random", "own"))
    assert right == 1.0
    assert 0.25 <= plain <= 0.6  # a policy imitating the plain expert has signal
    assert keyword - plain >= 0.4
    assert rand <= keyword - 0.15


def test_wrong_skills_help_less_than_right_ones(env, lib):
    """The same skills with the passage words swapped around: the expert follows them, misses, and falls
    back to the plain queries."""
    phrases = sorted({w for w in PASSAGE_WORDS.values()})

    def garble(s: Skill) -> Skill:
        p = s.principle
        for w in phrases:
            p = p.replace(f'"{w}"', f'"{phrases[(phrases.index(w) + 1) % len(phrases)].upper()}"')
        return Skill(s.name, s.group, p.lower(), s.when)

    tasks = list(env.panel())[::10]
    right = sum(_play(env, t, own_group(lib, t)).won for t in tasks)
    wrong = sum(_play(env, t, [garble(s) for s in own_group(lib, t)]).won for t in tasks)
    plain = sum(_play(env, t).won for t in tasks)
    assert right == len(tasks) and wrong < 0.7 * right and wrong <= plain + 3


def test_keyword_retrieval_brings_the_styles_knowledge_skill(env, lib):
    store = SkillStore.create("searchqa", strategy="keyword", k=2)
    hits = [any(s.group == lib.group_of(t) and parse_rules([s]) for s in store.retrieve(t)) for t in env.panel()]
    assert sum(hits) / len(hits) >= 0.98


def test_generic_bench_loop_via_the_registry():
    """What a cross-env benchmark does: make, reset with the task, act until done, read won/score."""
    import agentgym

    env = agentgym.make("agentgym/SearchQA-v0", split="test", retriever="bm25-py").unwrapped
    lib = SkillLibrary.load("searchqa")
    task = next(t for t in env.panel() if t.task_type == "musique" and len(t.data["hops"]) == 3)
    for skills, won in ((own_group(lib, task), True), (None, None)):
        env.reset(options={"task": task})
        steps = 0
        while True:
            action = env.expert_action() if skills is None else env.expert_action_with_skills(skills)
            _, _, term, trunc, info = env.step(action)
            steps += 1
            if term or trunc:
                break
        assert steps <= env.max_steps and isinstance(info["won"], bool) and isinstance(info["score"], float)
        if won:
            assert info["won"] and steps == 4  # three hops, each found by its first query, then the answer

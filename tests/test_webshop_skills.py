"""WebShop's category conventions and the skills that state them (fast, BM25 fallback).

The generator follows one convention per product category (agentgym/envs/webshop/conventions.py); one
skill per category states it in words; the plain expert does not know it, the with-skills expert reads it
from the skill texts it is given.
"""

from __future__ import annotations

import re

import pytest
from fakes.experts import expert_success

from agentgym.core.demos import expert_episode
from agentgym.core.task import Task
from agentgym.core.trajectory import Trajectory
from agentgym.envs.webshop import vocab
from agentgym.envs.webshop.conventions import CONVENTIONS
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.expert import (
    NO_KNOWLEDGE,
    Knowledge,
    choose_options,
    has_phrase,
    knowledge_from_skills,
    option_thought,
    parse_skill_text,
    words,
)
from agentgym.skills import SkillLibrary, SkillStore
from agentgym.skills.library import MAX_SKILL_WORDS, Skill


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(split="test", search="bm25")


@pytest.fixture(scope="module")
def lib() -> SkillLibrary:
    return SkillLibrary.load("webshop")


def _play(env: WebShopEnv, task: Task, skills=None) -> Trajectory:
    """One expert episode: the plain expert when `skills` is None, else the skill-reading expert."""
    return expert_episode(env, task, skills=skills)


def _goal_values(env: WebShopEnv, task: Task) -> dict[str, str]:
    """option name -> the goal's label (the generator draws one value per option name)."""
    p = env.shop.catalog[task.data["asin"]]
    out = {}
    for v in task.data["goal_options"]:
        name = p.option_name_of(v)
        assert name is not None, (task.task_id, v)
        out[name] = v
    return out


def _involved(env: WebShopEnv, task: Task) -> bool:
    """Does the goal need the category's convention (a label written in other words, or the unwritten one)?"""
    conv = CONVENTIONS[task.task_type]
    vals = _goal_values(env, task)
    return any(conv.phrase_for(n, v) for n, v in vals.items()) or (
        conv.implicit is not None and vals.get(conv.implicit[0]) == conv.implicit[1])


# ---- the world follows its conventions --------------------------------------------------------------------
def test_every_category_has_one_convention_and_its_labels_exist():
    assert set(CONVENTIONS) == set(vocab.TASK_TYPES)
    for t, conv in CONVENTIONS.items():
        assert conv.task_type == t
        pools = {v for k in vocab.KINDS_BY_TYPE[t] for spec in k.options
                 for g in (k.audiences or ("men",)) for v in vocab.POOLS[spec.pool.format(g=g)]}
        for label, wording in ((lab, w) for table in conv.wording.values() for lab, w in table.items()):
            assert label in pools, (t, label)  # the table speaks about labels this category's pages show
            assert not set(words(label)) & set(words(wording)), (label, wording)  # never literal
        if conv.implicit:
            assert conv.implicit[1] in pools


@pytest.mark.parametrize("split", ["test", "train"])
def test_generator_follows_each_convention_on_the_panel(env, split):
    involved = {t: [0, 0] for t in vocab.TASK_TYPES}
    for task in env.panel(split):
        conv = CONVENTIONS[task.task_type]
        text = task.instruction
        vals = _goal_values(env, task)
        for name, label in vals.items():
            wording = conv.phrase_for(name, label)
            if conv.implicit == (name, label):
                assert not has_phrase(text, label), (task.task_id, text)  # the implicit label is never written
            elif wording is not None:
                assert has_phrase(text, wording) and not has_phrase(text, label), (task.task_id, text)
            else:
                assert has_phrase(text, label), (task.task_id, text)  # everything else is literal
        if conv.implicit:  # the implicit option is always part of the goal, and only its label goes unwritten
            name, label = conv.implicit
            p = env.shop.catalog[task.data["asin"]]
            if name in p.options:
                assert name in vals
                named = [v for v in p.options[name] if has_phrase(text, v)]
                assert (vals[name] == label) == (not named), (task.task_id, text)
        involved[task.task_type][0] += _involved(env, task)
        involved[task.task_type][1] += 1
    # the conventions matter often: in every category, and for about a third of all goals
    rates = {t: a / n for t, (a, n) in involved.items()}
    assert all(r >= 0.1 for r in rates.values()), rates
    total = sum(a for a, _ in involved.values()) / sum(n for _, n in involved.values())
    assert 0.25 <= total <= 0.6, total


def test_synthetic_goals_stay_literal():
    e = WebShopEnv(split="test", search="bm25", goal_style="synthetic")
    for task in list(e.panel())[:100]:
        for name, v in task.data["goal_options"].items():
            assert f"{name}: {v}" in task.instruction


# ---- the skills state them --------------------------------------------------------------------------------
def test_each_convention_skill_states_the_generators_table(lib):
    convention_skills = {c.skill for c in CONVENTIONS.values()}
    for t, conv in CONVENTIONS.items():
        skill = lib.get(conv.skill)
        assert skill.group == t
        know = parse_skill_text(skill.text())
        assert set(know.wording) == set(conv.pairs()), t  # the text and the table agree, pair by pair
        assert set(know.defaults) == ({conv.implicit} if conv.implicit else set()), t
        for _, label in conv.pairs():
            assert label in skill.principle  # the label to click is written in the skill, word for word
        assert len(skill.principle.split()) + len(skill.when.split()) <= MAX_SKILL_WORDS
    for s in lib.skills:  # no other skill states a wording or a default by accident
        if s.name not in convention_skills:
            assert parse_skill_text(s.text()) == NO_KNOWLEDGE, s.name


def test_keyword_retrieval_brings_the_convention_skill(env):
    store = SkillStore.create("webshop", strategy="keyword", k=2)
    for split in ("test", "train"):
        panel = env.panel(split)
        got = sum(CONVENTIONS[t.task_type].skill in [s.name for s in store.retrieve(t)] for t in panel)
        assert got / len(panel) >= 0.99, (split, got)  # measured: 1.000 on both


# ---- the experts ------------------------------------------------------------------------------------------
def test_with_skills_expert_beats_the_plain_expert(env):
    tasks = list(env.panel("test"))[::4]  # 125 goals
    plain, kw, rnd, own = (expert_success(env, tasks, a, family="webshop") for a in ("plain", "keyword", "random", "own"))
    assert own == 1.0 and kw >= 0.99
    assert 0.3 <= plain <= 0.8  # a competent expert without the conventions: signal for imitation
    assert kw - plain >= 0.25
    assert kw - rnd >= 0.2  # random skills rarely carry the task's convention
    # the plain expert fails exactly where a convention is needed
    for task in tasks:
        assert _play(env, task).won == (not _involved(env, task)), task.task_id


def test_wrong_category_skills_help_no_more_than_nothing(env, lib):
    tasks = [t for t in list(env.panel("test"))[:200] if _involved(env, t)][:40]
    assert len(tasks) >= 30
    wins = trials = 0
    for task in tasks:
        for group in CONVENTIONS:
            if group != task.task_type:
                wins += _play(env, task, lib.by_group(group)).won
                trials += 1
        assert _play(env, task, lib.by_group(task.task_type)).won, task.task_id
    # another category's convention rarely fits (the accessory rule "no color named means black" sometimes
    # does on a shoe page), so wrong skills leave the plain expert's failures as they are
    assert wins / trials <= 0.05, (wins, trials)


def test_experts_take_only_admissible_actions(env, lib):
    for task in list(env.panel("test"))[:60]:
        for skills in (None, lib.by_group(task.task_type)):
            for step in _play(env, task, skills).steps:  # each step records what was admissible before it
                a, adm = step.action, step.admissible_actions
                assert a in adm or (a.startswith("search[") and "search[<your query>]" in adm), a


def test_expert_acts_on_the_text_not_the_skill_name(env):
    task = next(t for t in env.panel("test") if t.task_type == "apparel" and "extra large" in t.instruction
                and "double" not in t.instruction and "triple" not in t.instruction)
    anon = Skill(name="x", group="general", principle="Sizes: extra large is xl.", when="always.")
    assert _play(env, task, [anon]).won
    assert _play(env, task, ["xl means extra large"]).won  # a bare text, the pair the other way round
    assert not _play(env, task).won  # the plain expert clicks "large"
    lie = Skill(name="apparel-size-labels", group="apparel", principle="extra large is xxl.", when="sizes.")
    assert not _play(env, task, [lie]).won  # it follows what the text says, even when the text is wrong


def test_choose_options_literal_and_stated():
    opts = {"color": ["black", "navy blue", "blue"], "size": ["large", "xl", "3xl"]}
    instr = "i need a hoodie that is warm, in navy blue and in size extra large, and price lower than 30.00 dollars"
    assert choose_options(instr, opts) == {"color": "navy blue", "size": "large"}
    know = Knowledge(wording=(("extra large", "xl"), ("triple extra large", "3xl")))
    assert choose_options(instr, opts, know) == {"color": "navy blue", "size": "xl"}
    # a label inside a longer stated wording whose label the page lacks is no match
    assert choose_options("shirt in size triple extra large", {"size": ["large"]}, know) == {}
    # a label inside a longer label of the same page is no match ("red" in "red switch")
    kb = {"style": ["red switch", "blue switch"], "color": ["red", "white"]}
    assert choose_options("a keyboard in red switch style and in green", kb) == {"style": "red switch"}
    black = Knowledge(defaults=(("color", "black"),))
    assert choose_options("a wallet that is slim", {"color": ["brown", "black"]}, black) == {"color": "black"}
    assert choose_options("a wallet that is slim, in brown", {"color": ["brown", "black"]}, black) == {"color": "brown"}


def _option_names(observation: str) -> list[str]:
    """The option names an item page shows (each is followed by its labels)."""
    return [n for n in ("color", "size", "style", "flavor name", "scent", "item package quantity")
            if f"[SEP] {n} [SEP]" in observation]


_NAV = re.compile(r"^(?:buy now|back to search|< prev|next >|description|features|reviews|attributes|b0[0-9a-z]{8})$")


def test_option_thoughts_say_where_the_label_comes_from():
    assert option_thought("color", "black", False, "black") == "color black"
    assert option_thought("size", "xl", False, "extra large") == "size extra large is xl"
    assert option_thought("color", "black", True, "") == "names no color wants black"
    assert option_thought("size", "20 x 20 inch", False, "20 x 20 inch") == "size 20 x 20 inch"


def test_expert_thoughts_are_copies_of_the_instruction_page_and_skills(env, lib):
    """Every option click carries a thought (Step.think) built only from what the policy sees: the
    instruction's words, the option name on the page and, with skills, a pair or default the skill text
    states; the plain expert never thinks a wording it could only know from a skill."""
    seen = {"literal": 0, "wording": 0, "default": 0}
    for task in list(env.panel("test"))[:160]:
        own = lib.by_group(task.task_type)
        texts = " ".join(s.text() for s in own).lower()
        for skills in (None, own):
            traj = _play(env, task, skills)
            again = Trajectory.from_dict(traj.to_dict())  # the thought survives the JSONL round trip
            for step, back in zip(traj.steps, again.steps, strict=True):
                assert back.think == step.think
                is_option = step.action.startswith("click[") and not _NAV.match(step.action[6:-1])
                if not step.think:
                    assert not is_option, (task.task_id, step.action)
                    continue
                label = step.action[6:-1]
                assert step.think.endswith(label), (step.think, step.action)
                if step.think.startswith("names no "):
                    name = step.think[len("names no "): -len(f" wants {label}")]
                    assert skills is not None and f"names no {name}" in texts and label in texts, step.think
                    seen["default"] += 1
                elif " is " in step.think:
                    assert skills is not None, step.think  # only a skill names another wording
                    head = step.think[: -len(f" is {label}")]  # "<option name> <wording>"
                    name = max((n for n in _option_names(step.observation) if head.startswith(n + " ")), key=len)
                    wording = head[len(name) + 1:]
                    assert has_phrase(task.instruction, wording), (step.think, task.instruction)
                    assert f"{wording} is {label}" in texts, step.think  # the pair as the skill states it
                    seen["wording"] += 1
                else:
                    name = step.think[: -len(label) - 1]
                    assert f"[SEP] {name} [SEP]" in step.observation, (step.think, step.observation)  # a page option
                    assert has_phrase(task.instruction, label), (step.think, task.instruction)
                    seen["literal"] += 1
    assert all(seen.values()), seen


@pytest.mark.parametrize("skills", [
    None, [], (), [None], [""], ["garbage ::: is is is"], [object()], [42], [{"principle": "ash is grey", "when": "x"}],
    [Skill("e", "general", "", "")], ["x is " * 5000], "extra large is xl", b"bytes", 17,
    [Skill("w", "general", "black is white, white is black, names no color so wants purple", "now")],
])
def test_bad_or_empty_skills_never_crash(env, skills):
    for task in list(env.panel("test"))[:8]:
        assert 0.0 <= _play(env, task, skills).score <= 1.0


def test_empty_or_irrelevant_skills_play_exactly_like_the_plain_expert(env, lib):
    assert knowledge_from_skills(None) == knowledge_from_skills([]) == NO_KNOWLEDGE
    general = lib.by_group("general")
    assert knowledge_from_skills(general) == NO_KNOWLEDGE
    for task in list(env.panel("test"))[:30]:
        runs = [[step.action for step in _play(env, task, skills).steps] for skills in (None, [], general)]
        assert runs[0] == runs[1] == runs[2]


def test_expert_with_skills_needs_a_reset():
    e = WebShopEnv(split="test", search="bm25")
    with pytest.raises(RuntimeError):
        e.expert_action_with_skills([])

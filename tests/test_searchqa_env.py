"""SearchQAEnv on the pure-Python BM25 fallback (no Java): protocol, rewards, expert, fuzzing, checker,
and real-format data files."""

from __future__ import annotations

import collections
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import agentgym
from agentgym.core.checker import check_text_env, garbage_actions
from agentgym.core.env import INFO_KEYS
from agentgym.core.errors import AgentGymError
from agentgym.core.registry import make
from agentgym.envs.searchqa.data import load_qa, write_dataset
from agentgym.envs.searchqa.env import EXPERT_UNKNOWN, RETRIEVER_ENV_VAR, SearchQAEnv
from agentgym.envs.searchqa.protocol import REMINDER
from agentgym.envs.searchqa.questions import DATA_SOURCES, STYLE

ENV_ID = "agentgym/SearchQA-v0"


@pytest.fixture(scope="module")
def env() -> SearchQAEnv:
    return SearchQAEnv(split="test", retriever="bm25-py")


def _run_expert(env: SearchQAEnv, task, skills=None) -> dict:
    """The plain expert, or with `skills` the expert that reads them."""
    env.reset(options={"task": task})
    done = False
    while not done:
        action = env.expert_action() if skills is None else env.expert_action_with_skills(skills)
        _, _, term, trunc, info = env.step(action)
        done = term or trunc
    return info


def _own_skills(task) -> list:
    """The skills of the task's own style group (what the keyword store retrieves for ~all tasks)."""
    from agentgym.skills.library import SkillLibrary

    lib = SkillLibrary.load("searchqa")
    return [s for s in lib.skills if s.group == lib.group_of(task)]


def test_registered_and_made_through_the_registry():
    e = make(ENV_ID, split="test", retriever="bm25-py")
    assert isinstance(e.unwrapped, SearchQAEnv)
    assert e.unwrapped.max_steps == 4 and e.unwrapped.topk == 3
    assert agentgym is not None


def test_reset_shows_the_question_and_labels_the_task(env):
    obs, info = env.reset(seed=3)
    task = env.task
    assert task.instruction in obs and "<search>" in obs
    assert set(INFO_KEYS) <= set(info)
    assert info["task_type"] in DATA_SOURCES and info["data_source"] == info["task_type"]
    assert task.data["style"] == STYLE[task.task_type]
    assert task.data["golden_answers"]


def test_search_then_correct_answer(env):
    task = next(t for t in env.panel() if t.task_type == "nq")
    env.reset(options={"task": task})
    obs, r, term, trunc, info = env.step(f"<think>look it up</think><search> {task.data['hops'][0]['query']} </search>")
    assert obs.startswith("<information>Doc 1(Title: ") and obs.endswith("</information>")
    assert obs.count("\nDoc ") == 2  # top 3
    assert info["action_valid"] and not term and not trunc and r == 0.0
    assert task.data["hops"][0]["doc_id"] in info["retrieved_ids"]
    obs, r, term, trunc, info = env.step(f"<answer> {task.data['golden_answers'][0].upper()}. </answer>")
    assert term and r == 1.0 and info["won"] and info["score"] == 1.0 and info["em"] == 1.0


def test_wrong_and_partial_answers(env):
    task = next(t for t in env.panel() if len(t.data["golden_answers"][0].split()) == 2)
    env.reset(options={"task": task})
    first = task.data["golden_answers"][0].split()[0]
    _, r, term, _, info = env.step(f"<answer>{first}</answer>")
    assert term and r == 0.0 and not info["won"]
    assert 0.0 < info["score"] < 1.0  # token F1 credit
    env.reset(options={"task": task})
    _, r, term, _, info = env.step("<answer>zzz</answer>")
    assert term and r == 0.0 and info["score"] == 0.0


def test_invalid_action_gets_reminder_and_episode_truncates(env):
    env.reset(seed=0)
    for i in range(4):
        obs, r, term, trunc, info = env.step("I think the answer is Paris")
        assert obs == REMINDER and not info["action_valid"] and r == 0.0 and not term
        assert trunc == (i == 3)
    obs, *_ , info = env.step("<answer>x</answer>")
    assert not info["action_valid"]  # the episode is over


def test_empty_search_results_are_valid(env):
    env.reset(seed=0)
    obs, _, _, _, info = env.step("<search> qqqqxyzzy </search>")
    assert obs == "<information>No results.</information>" and info["action_valid"]


def test_expert_exact_match_per_data_source_test_panel(env):
    """With its style's skills the expert solves every test question; the plain expert (no wording
    knowledge) solves what searching the question and the names can reach (0.37 measured)."""
    em = collections.defaultdict(list)
    plain = []
    for task in env.panel():
        em[task.task_type].append(_run_expert(env, task, _own_skills(task))["won"])
        plain.append(_run_expert(env, task)["won"])
    assert set(em) == set(DATA_SOURCES)
    rates = {k: sum(v) / len(v) for k, v in em.items()}
    assert all(r == 1.0 for r in rates.values()), rates
    assert 0.25 <= sum(plain) / len(plain) <= 0.6


def test_expert_on_a_train_sample():
    e = SearchQAEnv(split="train", retriever="bm25-py")
    panel = e.panel()
    tasks = [panel[i] for i in random.Random(0).sample(range(len(panel)), 300)]
    won = [_run_expert(e, t, _own_skills(t))["won"] for t in tasks]
    assert sum(won) / len(won) == 1.0
    plain = [_run_expert(e, t)["won"] for t in tasks]
    assert 0.25 <= sum(plain) / len(plain) <= 0.6


def test_expert_first_searches_the_question_itself(env):
    """A policy can imitate a query it can copy: the expert's first search is the question verbatim."""
    for task in list(env.panel())[:40]:
        env.reset(options={"task": task})
        assert f"<search> {task.instruction} </search>" in env.expert_action()


def test_expert_does_not_answer_without_evidence():
    e = SearchQAEnv(split="test", retriever="bm25-py", max_steps=2)
    task = next(t for t in e.panel() if t.task_type == "musique" and len(t.data["hops"]) == 3)
    info = _run_expert(e, task)  # 2 turns cannot cover 3 hops
    assert info["answer"] == EXPERT_UNKNOWN and not info["won"]


def test_fuzzed_actions_never_raise(env):
    rng = random.Random(7)
    pieces = ["<search>", "</search>", "<answer>", "</answer>", "<think>", "</think>", "<information>", "x", " ", "\x00", "é", "🙂", "\n"]
    actions = garbage_actions(150, seed=1) + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    done = True
    for a in actions:
        if done:
            env.reset(seed=rng.randrange(1000))
        obs, r, term, trunc, info = env.step(a)
        assert isinstance(obs, str) and r in (0.0, 1.0) and 0.0 <= info["score"] <= 1.0
        done = term or trunc


def test_env_checker_passes_with_the_fallback_retriever():
    results = check_text_env(make(ENV_ID, retriever="bm25-py"), n_garbage=100)
    failed = [(r.name, r.detail) for r in results if not r.passed]
    assert not failed, failed


def test_cli_envs_check_with_env_var(monkeypatch, capsys):
    from agentgym.cli import main

    monkeypatch.setenv(RETRIEVER_ENV_VAR, "bm25-py")
    with pytest.raises(SystemExit) as e:
        main(["envs", "check", ENV_ID, "--garbage", "50"])
    assert e.value.code == 0, capsys.readouterr()
    assert "all checks passed" in capsys.readouterr().out


def test_data_sources_filter():
    e = SearchQAEnv(split="train", retriever="bm25-py", data_sources="nq,hotpotqa")
    assert {t.task_type for t in e.panel()} == {"nq", "hotpotqa"}
    assert len(e.panel()) == 1400


def test_bad_constructor_arguments_give_clear_errors(tmp_path):
    with pytest.raises(AgentGymError, match="unknown retriever"):
        SearchQAEnv(retriever="elastic")
    with pytest.raises(AgentGymError, match="retriever_url"):
        SearchQAEnv(retriever="http")
    with pytest.raises(AgentGymError, match="corpus file not found"):
        SearchQAEnv(corpus_path=tmp_path / "nope.jsonl")
    with pytest.raises(AgentGymError, match="no test questions"):
        SearchQAEnv(split="test", retriever="bm25-py", data_sources=["strategyqa"]).panel()


# ---- real-format files ----------------------------------------------------------------------------
CORPUS = [
    {"id": "0", "contents": '"Evan Morris"\nEvan Morris Evan L. Morris (1977 – 2015) was a lobbyist in Washington.'},
    {"id": "1", "contents": '"Paris"\nParis Paris is the capital and largest city of France.'},
    {"id": "2", "contents": '"Lyon"\nLyon Lyon is a city in France on the Rhône.'},
]


def _write_real_files(tmp_path):
    corpus = tmp_path / "wiki-18.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    # FlashRAG raw JSONL: no data_source column; the file name says which set it is
    raw = tmp_path / "nq.jsonl"
    raw.write_text(
        json.dumps({"id": "test_0", "question": "what is the capital of france", "golden_answers": ["Paris", "Paris, France"], "metadata": {}})
        + "\n"
    )
    # Search-R1's processed parquet: only prompt / reward_model carry the question and the answers
    rows = [
        {
            "data_source": "hotpotqa",
            "prompt": [{"role": "user", "content": "Answer the given question. ... Question: What was Evan Morris's job?\n"}],
            "ability": "fact-reasoning",
            "reward_model": {"style": "rule", "ground_truth": {"target": ["lobbyist"]}},
            "extra_info": {"split": "test", "index": 0},
        }
    ]
    processed = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist(rows), processed)
    return corpus, raw, processed


def test_loaders_read_the_originals_formats(tmp_path):
    _, raw, processed = _write_real_files(tmp_path)
    [r] = load_qa(raw)
    assert r["data_source"] == "nq" and r["golden_answers"] == ["Paris", "Paris, France"] and r["id"] == "test_0"
    [p] = load_qa(processed)
    assert p["data_source"] == "hotpotqa" and p["question"] == "What was Evan Morris's job?" and p["golden_answers"] == ["lobbyist"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(AgentGymError, match="golden_answers"):
        load_qa(bad)
    bad.write_text("not json\n")
    with pytest.raises(AgentGymError, match="not JSON"):
        load_qa(bad)


def test_env_over_a_real_corpus_and_qa_files(tmp_path):
    corpus, raw, processed = _write_real_files(tmp_path)
    e = SearchQAEnv(split="test", retriever="bm25-py", corpus_path=corpus, qa_path=raw)
    obs, info = e.reset(seed=0)
    assert info["task_type"] == "nq" and "what is the capital of france?" in obs
    obs, *_ = e.step("<search> capital of France </search>")
    assert 'Doc 1(Title: "Paris") Paris Paris is the capital' in obs
    _, r, term, _, info = e.step("<answer> paris, france </answer>")
    assert term and r == 1.0
    e2 = SearchQAEnv(split="test", retriever="bm25-py", corpus_path=corpus, qa_path=tmp_path)  # folder: test.parquet
    [task] = list(e2.panel())
    assert task.task_type == "hotpotqa" and task.data["style"] == "multi_hop"
    info = _run_expert(e2, task)  # no hop plan: search the question, then answer
    assert info["won"] and info["num_searches"] == 1


def test_generated_files_round_trip(tmp_path):
    counts = write_dataset(tmp_path)
    assert counts["test"] == 1025 and counts["train"] == 3000
    e = SearchQAEnv(split="test", retriever="bm25-py", corpus_path=tmp_path / "corpus.jsonl", qa_path=tmp_path)
    ref = SearchQAEnv(split="test", retriever="bm25-py")
    from_parquet = [(t.task_id, t.task_type, t.instruction, t.data["golden_answers"], t.data["hops"]) for t in e.panel()]
    generated = [(t.task_id, t.task_type, t.instruction, t.data["golden_answers"], t.data["hops"]) for t in ref.panel()]
    assert from_parquet == generated
    task = e.panel()[0]
    assert _run_expert(e, task, _own_skills(task))["won"]
    jsonl = load_qa(tmp_path / "test.jsonl")
    assert [r["question"] for r in jsonl] == [r["question"] for r in load_qa(tmp_path / "test.parquet")]


def test_noisy_demos_run_and_record_valid_trajectories(env):
    from agentgym.core.demos import expert_demos

    trajs = list(expert_demos(env, 30, noise=0.5, seed=3, env_id=ENV_ID))
    assert len(trajs) == 30
    assert any(not s.action_valid for t in trajs for s in t.steps)  # the malformed noisy action
    assert any(t.won for t in trajs)
    for t in trajs:
        assert 1 <= len(t.steps) <= 4 and t.task["task_type"] in DATA_SOURCES

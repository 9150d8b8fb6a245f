"""Search-QA over the default retriever, BM25 through a real pyserini/Lucene index (needs Java 17)."""

from __future__ import annotations

import collections

import pytest

from agentgym.core.checker import check_text_env
from agentgym.core.demos import expert_episode
from agentgym.envs.searchqa.env import SearchQAEnv
from agentgym.envs.searchqa.questions import DATA_SOURCES
from agentgym.retrieval.lucene import LuceneRetriever
from agentgym.retrieval.server import RetrievalServer

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def env() -> SearchQAEnv:
    e = SearchQAEnv(split="test")  # default retriever: bm25 (Lucene)
    assert isinstance(e.retriever, LuceneRetriever)
    return e


def test_expert_exact_match_per_data_source_with_lucene(env):
    """The with-skills expert given its style's skills solves every question on Lucene too; the plain
    expert's success is what it is (0.36 measured; 0.37 on bm25-py)."""
    from agentgym.skills.library import SkillLibrary

    lib = SkillLibrary.load("searchqa")
    em = collections.defaultdict(list)
    plain = []
    for task in env.panel():
        own = [s for s in lib.skills if s.group == lib.group_of(task)]
        em[task.task_type].append(expert_episode(env, task, skills=own).won)
        plain.append(expert_episode(env, task).won)
    rates = {k: sum(v) / len(v) for k, v in em.items()}
    assert set(rates) == set(DATA_SOURCES)
    assert all(r == 1.0 for r in rates.values()), rates
    assert 0.25 <= sum(plain) / len(plain) <= 0.6


def test_lucene_observation_layout(env):
    task = next(t for t in env.panel() if t.task_type == "popqa")
    env.reset(options={"task": task})
    obs, _, _, _, info = env.step(f"<search>{task.data['hops'][0]['query']}</search>")
    assert obs.startswith("<information>Doc 1(Title: ") and obs.count("\nDoc ") == 2
    assert task.data["hops"][0]["doc_id"] in info["retrieved_ids"]


def test_checker_passes_with_lucene(env):
    failed = [(r.name, r.detail) for r in check_text_env(SearchQAEnv(split="test"), n_garbage=100) if not r.passed]
    assert not failed, failed


def test_lucene_behind_the_http_api(env):
    with RetrievalServer(env.retriever, port=0) as srv:
        remote = SearchQAEnv(split="test", retriever="http", retriever_url=srv.url)
        task = next(t for t in remote.panel() if t.task_type == "hotpotqa")
        q = f"<search>{task.data['hops'][0]['query']}</search>"
        remote.reset(options={"task": task})
        env.reset(options={"task": task})
        assert remote.step(q)[0] == env.step(q)[0]


def test_prebuilt_pyserini_index_with_stored_contents_only(tmp_path):
    """A user's own pyserini index (here built with --storeContents, not --storeRaw) plus real QA rows."""
    import json
    import subprocess
    import sys

    from agentgym.retrieval.lucene import ensure_java_env

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "part.jsonl").write_text(
        json.dumps({"id": "0", "contents": '"Paris"\nParis Paris is the capital of France.'}) + "\n"
        + json.dumps({"id": "1", "contents": '"Lyon"\nLyon Lyon is a city on the Rhone.'}) + "\n"
    )
    index = tmp_path / "index"
    cmd = [sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection", "--input", str(docs),
           "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1", "--storeContents"]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, env=ensure_java_env(), timeout=300).returncode == 0
    qa = tmp_path / "nq.jsonl"
    qa.write_text(json.dumps({"id": "q0", "question": "capital of france", "golden_answers": ["Paris"]}) + "\n")
    e = SearchQAEnv(split="test", index_path=index, qa_path=qa)
    e.reset(seed=0)
    obs, *_ = e.step("<search>capital France</search>")
    assert obs.startswith('<information>Doc 1(Title: "Paris") Paris Paris is the capital of France.')

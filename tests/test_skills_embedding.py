"""Embedding retrieval with the real offline MiniLM model (loads in a few seconds on CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from agentgym.core.task import Task
from agentgym.skills import SkillLibrary, SkillStore
from agentgym.skills.embedding import EmbeddingRetriever, Encoder, mask_names, model_dir
from agentgym.skills.evaluate import env_id_for, fixture_tasks, hit_rate, panel_tasks
from agentgym.skills.library import GENERAL

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("skill-embeddings")


def first_task_type_skill(retriever: EmbeddingRetriever, task: Task):
    """The best-ranked skill that is not general: the task type the retriever ranks first."""
    order = np.argsort(-retriever.similarity(task), kind="stable")
    return next(retriever.library.skills[i] for i in order if retriever.library.skills[i].group != GENERAL)


def test_model_is_the_packaged_minilm():
    path = model_dir()
    assert "site-packages" in str(path) and (path / "model.safetensors").is_file()


@pytest.mark.parametrize(("env", "floor"), [("alfworld", 0.6), ("webshop", 0.85), ("searchqa", 0.45)])
def test_embedding_ranks_the_right_task_type_first(env, floor, cache):
    store = SkillStore.create(env, "embedding", cache_path=str(cache))
    tasks = fixture_tasks(env)
    store.warm(tasks)
    first = [first_task_type_skill(store.retriever, t).group == store.library.group_of(t) for t in tasks]
    # Measured on the fixtures: ALFWorld 0.70, WebShop 0.97, Search-QA 0.51 (question form is a weak
    # signal for a topic embedding); the hit rate with k=2 is higher (0.81 / 0.97 / 0.66).
    assert sum(first) / len(first) >= floor
    assert hit_rate(store, tasks).rate >= floor


def test_skill_embeddings_are_cached_on_disk_by_library_content(tmp_path):
    lib = SkillLibrary.load("alfworld")
    a = EmbeddingRetriever(lib, cache_path=str(tmp_path))
    task = Task("t", "cool", "put a cool tomato in microwave.")
    scores = a.similarity(task)
    assert a.cache_hit is False and len(list(tmp_path.glob("alfworld-*.npz"))) == 1
    b = EmbeddingRetriever(SkillLibrary.load("alfworld"), cache_path=str(tmp_path))
    np.testing.assert_allclose(b.similarity(task), scores, rtol=1e-6)
    assert b.cache_hit is True
    changed = lib.to_dict()
    changed["skills"][0]["principle"] = "Look everywhere."
    c = EmbeddingRetriever(SkillLibrary.from_dict(changed), cache_path=str(tmp_path))
    c.similarity(task)
    assert c.cache_hit is False and len(list(tmp_path.glob("alfworld-*.npz"))) == 2


def test_query_embeddings_are_cached_in_memory(cache, monkeypatch):
    retriever = SkillStore.create("webshop", "embedding", cache_path=str(cache)).retriever
    retriever.similarity(Task("w", "x", "warm up"))  # skills loaded
    calls = []
    original = retriever.encoder.encode_uncached

    def counting(texts, batch_size=64):
        calls.append(list(texts))
        return original(texts, batch_size)

    monkeypatch.setattr(retriever.encoder, "encode_uncached", counting)
    task = Task("t", "footwear", "i need waterproof hiking boots for women, size: 8, and price lower than 90.00 dollars")
    first = retriever.retrieve(task)
    assert len(calls) == 1
    assert retriever.retrieve(task) == first and len(calls) == 1  # second time: no model call
    retriever.warm([Task(str(i), "x", f"a lamp number {i}") for i in range(5)])
    assert len(calls) == 2 and len(calls[1]) == 5  # one batch for the warm-up


def test_encoder_lru_is_bounded():
    enc = Encoder(cache_size=3)
    enc.encode(["a", "b", "c", "d"])
    assert not enc.cached("a") and enc.cached("d")
    v = enc.encode(["the same text", "the same text"])
    assert v.shape == (2, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_mask_names_keeps_question_form():
    assert mask_names("Who was born first, Marie Curie or Albert Einstein?") == "Who was born first, or"
    assert mask_names("put a hot apple in fridge.") == "put a hot apple in fridge."


@pytest.mark.skipif(env_id_for("alfworld") is None, reason="ALFWorld env not registered")
def test_embedding_hit_rate_on_the_real_alfworld_panel(cache):
    tasks = panel_tasks("alfworld", "eval_out_of_distribution")
    store = SkillStore.create("alfworld", "embedding", cache_path=str(cache))
    result = hit_rate(store, tasks)
    # one slot for the task type's procedure (the other holds where the object usually is): measured 0.53
    assert result.rate >= 0.45
    from agentgym.envs.alfworld.catalog import USUAL
    from agentgym.envs.alfworld.expert import places_from_skills

    told = [places_from_skills([s.principle for s in store.retrieve(t)]).get(t.data["obj"]) == USUAL[t.data["obj"]]
            for t in tasks]
    assert sum(told) / len(told) >= 0.6  # the object's where-skill: measured 0.70 (both eval panels)

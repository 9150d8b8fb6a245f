"""LuceneIndex / LuceneRetriever against a real pyserini 0.25 index (needs Java 17)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.core.errors import AgentGymError
from agentgym.retrieval.lucene import CorruptIndexError, LuceneIndex, LuceneRetriever

pytestmark = pytest.mark.java

DOCS = [
    {"id": "a", "contents": '"Marrowvale"\nMarrowvale is a river town known for its copper bells.'},
    {"id": "b", "contents": '"Quillan Orr"\nQuillan Orr was a cartographer born in Marrowvale.'},
    {"id": "c", "contents": '"Copper"\nCopper is a metal. Bells are often cast from bronze.'},
    {"id": "d", "contents": '"Oskarsby"\nOskarsby is a mountain village with a glass museum.'},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> LuceneIndex:
    return LuceneIndex.build_or_load(iter(DOCS), "t", cache_root=tmp_path_factory.mktemp("lucene"))


def test_search_ranks_the_matching_doc_first(index):
    hits = index.search("cartographer Quillan Orr", 3)
    assert hits[0][0] == "b"
    assert all(isinstance(s, float) for _, s in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert index.search("glass museum", 1)[0][0] == "d"


def test_batch_search_keeps_query_order_and_matches_single(index):
    qs = ["glass museum", "", "copper bells Marrowvale", "\x00\x00", "zzzz-no-such-term"]
    batch = index.batch_search(qs, 2)
    assert len(batch) == len(qs)
    assert batch[1] == [] and batch[3] == [] and batch[4] == []
    for q, got in zip(qs, batch, strict=True):
        assert [d for d, _ in got] == [d for d, _ in index.search(q, 2)]


def test_doc_returns_raw_contents(index):
    assert index.doc("c") == DOCS[2]["contents"]
    assert index.doc("missing") is None
    assert index.num_docs == 4


def test_odd_queries_never_raise(index):
    for q in ['"unbalanced', "AND OR NOT", "title:(x", "*", "a" * 100_000, "ü ß 東京", "+-&&||!(){}[]^~*?:\\/"]:
        assert isinstance(index.search(q, 3), list)


def test_cache_is_reused_and_rebuilt_when_docs_change(tmp_path):
    a = LuceneIndex.build_or_load(DOCS, "c", cache_root=tmp_path)
    created = a.meta["created"]
    b = LuceneIndex.build_or_load(list(DOCS), "c", cache_root=tmp_path)
    assert b.index_dir == a.index_dir and b.meta["created"] == created
    changed = DOCS[:-1] + [{"id": "d", "contents": '"Oskarsby"\nOskarsby has a salt mine.'}]
    c = LuceneIndex.build_or_load(changed, "c", cache_root=tmp_path)
    assert c.index_dir != a.index_dir
    assert c.search("salt mine", 1)[0][0] == "d"
    # no staging folders are left behind
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".build-")]


def test_incomplete_cache_dir_is_not_trusted(tmp_path):
    good = LuceneIndex.build_or_load(DOCS, "x", cache_root=tmp_path)
    # simulate a build that died after the rename target appeared but without its completion marker
    (good.index_dir / "meta.json").unlink()
    with pytest.raises(AgentGymError):
        LuceneIndex(good.index_dir)
    again = LuceneIndex.build_or_load(DOCS, "x", cache_root=tmp_path)
    assert again.index_dir == good.index_dir
    assert again.search("glass", 1)[0][0] == "d"


def test_killed_build_leaves_no_valid_looking_cache(tmp_path):
    """Kill a real build process mid-way; the cache must hold no hash folder without a complete index."""
    docs_file = tmp_path / "docs.json"
    docs_file.write_text(json.dumps([{"id": str(i), "contents": f'"T{i}"\nword{i} text'} for i in range(2000)]))
    code = (
        "import json,sys; from pathlib import Path; from agentgym.retrieval.lucene import LuceneIndex;"
        f"LuceneIndex.build_or_load(json.load(open({str(docs_file)!r})), 'k', cache_root=Path({str(tmp_path)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    root = tmp_path / "k"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (root.exists() and any(root.iterdir())):
        time.sleep(0.05)
    time.sleep(0.5)  # inside the indexing child by now (JVM start alone takes longer)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for p in root.iterdir():
        if not p.name.startswith(".build-"):
            assert (p / "meta.json").is_file() and (p / "index").is_dir()
    # and a fresh build works afterwards, and removes the killed build's staging folder (issue 16)
    idx = LuceneIndex.build_or_load(json.loads(docs_file.read_text()), "k", cache_root=tmp_path)
    assert idx.search("word1234", 1)[0][0] == "1234"
    assert not [p.name for p in root.iterdir() if p.name.startswith(".build-")]


def test_empty_and_malformed_corpora_give_clear_errors(tmp_path):
    with pytest.raises(AgentGymError, match="empty"):
        LuceneIndex.build_or_load([], "e", cache_root=tmp_path)
    with pytest.raises(AgentGymError, match="'id' and 'contents'"):
        LuceneIndex.build_or_load([{"id": "1", "text": "x"}], "e", cache_root=tmp_path)
    with pytest.raises(AgentGymError, match="duplicate"):
        LuceneIndex.build_or_load([DOCS[0], DOCS[0]], "e", cache_root=tmp_path)


def test_retriever_returns_passages_with_titles(index):
    r = LuceneRetriever(index)
    [p] = r.retrieve("glass museum", 1)
    assert p.id == "d" and p.title == '"Oskarsby"' and p.text.startswith("Oskarsby is")
    assert [x.id for x in r.batch_retrieve(["glass museum"], 1)[0]] == ["d"]


def test_default_cache_location_uses_agentgym_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    idx = LuceneIndex.build_or_load(DOCS, "dflt")
    assert Path(idx.index_dir).parent == tmp_path / "lucene" / "dflt"


def test_key_opens_a_cached_index_without_reading_the_docs(tmp_path):
    first = LuceneIndex.build_or_load(iter(DOCS), "kk", cache_root=tmp_path, key="corpus.jsonl:123:456")

    def never():
        raise AssertionError("the docs were read although the index is cached")
        yield  # pragma: no cover

    again = LuceneIndex.build_or_load(never(), "kk", cache_root=tmp_path, key="corpus.jsonl:123:456")
    assert again.index_dir == first.index_dir and again.search("glass", 1)[0][0] == "d"
    # a list is hashed up front: the cached index opens without staging a copy of the corpus
    listed = LuceneIndex.build_or_load(DOCS, "kk", cache_root=tmp_path)
    assert listed.index_dir != first.index_dir  # content hash, not the key
    assert LuceneIndex.build_or_load(list(DOCS), "kk", cache_root=tmp_path).meta == listed.meta


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_footer(path: Path) -> None:
    """Same size, last 16 bytes zeroed: only Lucene's own footer check sees it."""
    data = path.read_bytes()
    path.write_bytes(data[:-16] + bytes(16))


@pytest.mark.parametrize("listed", [True, False], ids=["with-file-list", "old-meta-without-file-list"])
@pytest.mark.parametrize("damage", [_truncate, _damage_footer, Path.unlink], ids=["truncated", "footer", "deleted"])
def test_a_damaged_cached_index_is_rebuilt(tmp_path, listed, damage):
    """Issue 16: a truncated index file gave CorruptIndexException instead of a rebuild."""
    first = LuceneIndex.build_or_load(DOCS, "z", cache_root=tmp_path, key="corpus:1")
    first.close()
    files = first.meta["files"]
    assert set(files) >= {"segments_1"} and all(isinstance(v, int) for v in files.values())
    if not listed:  # a cache written before the file list existed: Lucene's own checks must catch it
        meta = json.loads((first.index_dir / "meta.json").read_text())
        del meta["files"]
        (first.index_dir / "meta.json").write_text(json.dumps(meta))
    lucene_dir = first.index_dir / "index"
    victim = max((p for p in lucene_dir.iterdir() if p.name != "write.lock"), key=lambda p: p.stat().st_size)
    damage(victim)
    with pytest.raises(CorruptIndexError):
        LuceneIndex(first.index_dir)
    again = LuceneIndex.build_or_load(iter(DOCS), "z", cache_root=tmp_path, key="corpus:1")
    assert again.index_dir == first.index_dir and again.meta["created"] >= first.meta["created"]
    assert again.search("glass museum", 1)[0][0] == "d" and again.doc("c") == DOCS[2]["contents"]
    assert again.meta["files"] == {p.name: p.stat().st_size for p in lucene_dir.iterdir() if p.name != "write.lock"}
    assert not [p.name for p in (tmp_path / "z").iterdir() if p.name.startswith(".build-")]


def test_a_damaged_prebuilt_index_is_one_clear_error(tmp_path):
    built = LuceneIndex.build_or_load(DOCS, "p", cache_root=tmp_path)
    built.close()
    _damage_footer(built.index_dir / "index" / "segments_1")
    with pytest.raises(CorruptIndexError, match="CorruptIndexException"):
        LuceneIndex(built.index_dir / "index", prebuilt=True)

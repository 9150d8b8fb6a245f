"""Build (and share within a process) the retriever a Search-QA env uses.

Kinds: "bm25" (Lucene via pyserini, the default), "bm25-py" (rank_bm25, no Java), "dense" (MiniLM +
faiss) and "http" (a `/retrieve` server). Envs in one process that use the same corpus share one
retriever: a Lucene searcher holds a JVM and an index, and vectorized rollouts make many envs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from agentgym.core.errors import AgentGymError
from agentgym.retrieval.base import Retriever
from agentgym.retrieval.bm25_py import BM25PyRetriever
from agentgym.retrieval.dense import DenseRetriever
from agentgym.retrieval.lucene import LuceneIndex, LuceneRetriever
from agentgym.retrieval.remote import HttpRetriever

KINDS = ("bm25", "bm25-py", "dense", "http")
_shared: dict[tuple, Retriever] = {}
_lock = threading.Lock()


def make_retriever(
    kind: str,
    *,
    docs: Callable[[], Iterable[dict[str, Any]]] | None = None,
    name: str = "corpus",
    url: str | None = None,
    index_path: str | None = None,
    share_key: tuple = (),
    deadline_s: float | None = None,
) -> Retriever:
    """A retriever of `kind` over `docs()` (called only when an index must be built or hashed), or for
    "bm25" over the prebuilt Lucene index at `index_path` (then no corpus is read at all)."""
    if kind not in KINDS:
        raise AgentGymError(f"unknown retriever {kind!r}; valid: {', '.join(KINDS)}")
    if kind == "http":
        if not url:
            raise AgentGymError("retriever='http' needs retriever_url (e.g. http://127.0.0.1:8000/retrieve)")

        return HttpRetriever(url, deadline=deadline_s)
    if index_path is not None:
        if kind != "bm25":
            raise AgentGymError("index_path is a Lucene index; it needs retriever='bm25'")
        key = ("prebuilt", str(index_path))
        with _lock:
            if key not in _shared:
                _shared[key] = LuceneRetriever(LuceneIndex(index_path, prebuilt=True))
            return _shared[key]
    if docs is None:
        raise AgentGymError(f"retriever={kind!r} needs a corpus")
    key = (kind, name, *share_key)
    with _lock:
        if key in _shared:
            return _shared[key]
        if kind == "bm25":
            # a file corpus is keyed by (path, size, mtime): reopening never re-reads a wiki-sized file
            key = ":".join(map(str, share_key)) if share_key and isinstance(share_key[0], str) else None
            r: Retriever = LuceneRetriever.from_docs(docs(), name, key=key)
        elif kind == "bm25-py":
            r = BM25PyRetriever(docs())
        else:
            r = DenseRetriever(docs(), name, progress=True)
        _shared[key] = r
        return r

"""Search backends for the shop: Lucene BM25 (pyserini 0.25, the default) and a pure-Python BM25
fallback (rank_bm25) for machines without Java.

Both index WebShop's document text (title, description, first bullet point, option text, lowercased)
and return the top 50 ASINs. Results are memoized per query (GRPO groups repeat queries), and every
Lucene call runs on one dedicated thread: the JVM is driven through JNI, and one thread keeps the
threaded web server from attaching a new OS thread to the JVM per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from agentgym.envs.webshop.catalog import Catalog
from agentgym.envs.webshop.textutil import tokens
from agentgym.retrieval.lucene import LuceneIndex

SEARCH_RETURN_N = 50
BACKENDS = ("lucene", "bm25")

_STOP = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "i", "i'm", "im", "in", "is", "it", "me", "my",
     "need", "of", "on", "or", "that", "the", "to", "want", "with")
)  # fmt: skip


class SearchBackend(Protocol):
    name: str

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]: ...


class _Memo:
    """A small thread-safe LRU of query -> ASINs."""

    def __init__(self, size: int = 8192):
        self.size = size
        self._d: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> list[str] | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, int], value: list[str]) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


def _clean(query: str) -> str:
    return " ".join(str(query).lower().replace("\x00", " ").split())[:2000]


class BM25Search:
    """rank_bm25's Okapi BM25 over the catalog; a fallback for machines without Java (and fast tests)."""

    name = "bm25"

    def __init__(self, catalog: Catalog, *, memo: bool = True):
        from rank_bm25 import BM25Okapi

        self._asins = [p.asin for p in catalog.products]
        corpus = [[t for t in tokens(p.search_text()) if t not in _STOP] or ["_"] for p in catalog.products]
        self._bm25 = BM25Okapi(corpus)
        self._memo = _Memo() if memo else None

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        q = _clean(query)
        key = (q, k)
        if self._memo is not None and (hit := self._memo.get(key)) is not None:
            return hit
        terms = [t for t in tokens(q) if t not in _STOP]
        if not terms or k < 1:
            out: list[str] = []
        else:
            scores = self._bm25.get_scores(terms)
            order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
            out = [self._asins[i] for i in order if scores[i] > 0]
        if self._memo is not None:
            self._memo.put(key, out)
        return out


class LuceneSearch:
    """A pyserini Lucene BM25 index of the catalog, built once per catalog content and cached on disk."""

    name = "lucene"

    def __init__(self, catalog: Catalog, *, cache_root: Path | None = None, memo: bool = True, progress: bool = False):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webshop-lucene")
        threads = 2 if len(catalog) > 20_000 else 1
        self.index = self._pool.submit(
            LuceneIndex.build_or_load, catalog.documents(), "webshop", cache_root, threads=threads, progress=progress
        ).result()
        self._memo = _Memo() if memo else None

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        q = _clean(query)
        key = (q, k)
        if self._memo is not None and (hit := self._memo.get(key)) is not None:
            return hit
        hits = self._pool.submit(self.index.search, q, k).result(timeout=60) if q else []
        out = [docid for docid, _ in hits]
        if self._memo is not None:
            self._memo.put(key, out)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def make_search(name: str, catalog: Catalog, *, memo: bool = True, progress: bool = False) -> SearchBackend:
    if name == "lucene":
        return LuceneSearch(catalog, memo=memo, progress=progress)
    if name == "bm25":
        return BM25Search(catalog, memo=memo)
    raise ValueError(f"unknown search backend {name!r}; valid: {', '.join(BACKENDS)}")

"""Pure-Python BM25 (rank_bm25): the fallback where Java is unwanted (fast tests, tiny corpora).

It tokenizes like a plain Lucene analyzer without stemming (lower-case word characters, English stop
words removed) and uses pyserini's BM25 parameters (k1=0.9, b=0.4), so rankings are close to, but not
identical with, the Lucene backend's (Lucene also stems words).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from agentgym.core.errors import AgentGymError
from agentgym.retrieval.base import Passage, Retriever

#: Lucene's default English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
STOP_WORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with"]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def _lucene_idf_bm25(corpus: list[list[str]], k1: float, b: float):
    """rank_bm25's BM25Okapi with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)): always positive, so a
    word that occurs in half the documents still counts (Okapi's classic IDF gives it zero weight)."""
    from rank_bm25 import BM25Okapi

    class LuceneIdfBM25(BM25Okapi):
        def _calc_idf(self, nd):
            n = self.corpus_size
            self.idf = {w: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for w, f in nd.items()}

    return LuceneIdfBM25(corpus, k1=k1, b=b)


def tokenize(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in STOP_WORDS]


class BM25PyRetriever(Retriever):
    """In-memory BM25 over `{"id", "contents"}` docs; builds in well under a second for a few thousand."""

    kind = "bm25-py"

    def __init__(self, docs: Iterable[dict[str, Any]], k1: float = 0.9, b: float = 0.4):
        self.ids: list[str] = []
        self.contents: list[str] = []
        for d in docs:
            self.ids.append(str(d["id"]))
            self.contents.append(str(d["contents"]))
        if not self.ids:
            raise AgentGymError("cannot index an empty corpus")
        self._by_id = {docid: i for i, docid in enumerate(self.ids)}
        self._bm25 = _lucene_idf_bm25([tokenize(c) for c in self.contents], k1, b)

    def retrieve(self, query: str, k: int) -> list[Passage]:
        if not isinstance(query, str) or k < 1:
            return []
        toks = tokenize(query[:4096])
        if not toks:
            return []
        scores = self._bm25.get_scores(toks)
        k = min(int(k), len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        # ties broken by corpus order, so results are deterministic
        top = sorted(top.tolist(), key=lambda i: (-scores[i], i))
        return [Passage(self.ids[i], self.contents[i], float(scores[i])) for i in top if scores[i] > 0]

    def doc(self, docid: str) -> str | None:
        i = self._by_id.get(str(docid))
        return None if i is None else self.contents[i]

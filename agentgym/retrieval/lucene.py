"""BM25 over a pyserini 0.25 Lucene index, built once per corpus and cached on disk.

The index lives under `cache_dir("lucene", name, <content hash>)`, so a changed corpus gets a new index
and an unchanged one is reused. Builds go to a temporary sibling folder that is renamed into place only
when complete (with a `meta.json` marker), so a killed build never leaves a cache that looks valid.
`meta.json` lists every index file with its size: a cached index whose files were truncated, removed
or damaged (Lucene's own checks fail on open) is discarded and rebuilt instead of failing the run. A
staging folder left by a killed build (`.build-<host>-<pid>-*`) is removed by the next build once its
process is gone. Indexing runs pyserini's documented command line in a child process (its own JVM,
with a timeout); searching loads `LuceneSearcher` in this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from agentgym.core.errors import AgentGymError
from agentgym.paths import cache_dir
from agentgym.retrieval.base import Passage, Retriever

#: Bump when the on-disk layout or the indexing options change, so old caches are not reused.
INDEX_FORMAT = "lucene-json-v1"
DEFAULT_JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
_META = "meta.json"
_BUILD_PREFIX = ".build-"

log = logging.getLogger(__name__)


class CorruptIndexError(AgentGymError):
    """A Lucene index folder that cannot be opened: truncated, missing or damaged files."""


def ensure_java_env() -> dict[str, str]:
    """Set JAVA_HOME (if unset) before pyserini starts its JVM; returns the environment to use."""
    if not os.environ.get("JAVA_HOME") and Path(DEFAULT_JAVA_HOME).is_dir():
        os.environ["JAVA_HOME"] = DEFAULT_JAVA_HOME
    # pyserini's import builds an OpenAI client; with no key it must not try anything else.
    os.environ.setdefault("OPENAI_API_KEY", "")
    return dict(os.environ)


def _import_searcher():
    ensure_java_env()
    try:
        from pyserini.search.lucene import LuceneSearcher
    except ImportError as e:  # pragma: no cover - depends on the install
        raise AgentGymError(
            f"pyserini is not usable ({e}); install agentgym[search] and Java 17, or use retriever='bm25-py'"
        ) from None
    return LuceneSearcher


def _doc_line(doc: dict[str, Any]) -> str:
    if "id" not in doc or "contents" not in doc:
        raise AgentGymError(f"every document needs 'id' and 'contents'; got keys {sorted(doc)}")
    return json.dumps({"id": str(doc["id"]), "contents": str(doc["contents"])}, ensure_ascii=False)


def _valid(path: Path) -> bool:
    return (path / _META).is_file()


def _file_sizes(lucene_dir: Path) -> dict[str, int]:
    """Every index file and its size (write.lock aside: Lucene may create or drop it)."""
    return {p.name: p.stat().st_size for p in sorted(lucene_dir.iterdir()) if p.is_file() and p.name != "write.lock"}


def _check_files(lucene_dir: Path, expected: dict[str, Any]) -> None:
    """Raise `CorruptIndexError` when a file listed at build time is missing or has another size: a
    truncated copy is caught here with a stat per file, before the JVM reads anything."""
    for name, size in expected.items():
        p = lucene_dir / name
        try:
            actual = p.stat().st_size
        except OSError:
            raise CorruptIndexError(f"Lucene index {lucene_dir} lacks {name}") from None
        if actual != size:
            raise CorruptIndexError(f"Lucene index file {p} has {actual} bytes, {size} when built (truncated?)")


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale_builds(parent: Path) -> list[Path]:
    """Remove staging folders of builds on this host whose process is gone (killed with -9, a power
    cut); returns them. Another host's folders (a shared cache) and live builds are left alone."""
    removed = []
    host = _host_tag()
    pattern = re.compile(rf"^{re.escape(_BUILD_PREFIX)}{re.escape(host)}-(\d+)-")
    for p in Path(parent).iterdir() if Path(parent).is_dir() else ():
        m = pattern.match(p.name)
        if m and p.is_dir() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _discard(path: Path, why: Exception) -> None:
    """Move a corrupt cached index out of the way (atomically) and delete it, so it gets rebuilt."""
    log.warning("discarding the corrupt Lucene index %s (%s); rebuilding it", path, why)
    trash = path.with_name(f"{_BUILD_PREFIX}{_host_tag()}-{os.getpid()}-corrupt-{path.name}")
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


#: Lucene's own words for a damaged index (the only open failures that discard a cached index)
_CORRUPT_SIGNS = ("CorruptIndex", "IndexFormatTooOld", "IndexFormatTooNew", "EOFException", "NoSuchFile",
                  "FileNotFound", "IndexNotFound", "checksum")


class LuceneIndex:
    """A searchable Lucene index of {"id", "contents"} documents (BM25, k1=0.9, b=0.4: pyserini's defaults)."""

    def __init__(self, index_dir: Path, *, threads: int | None = None, prebuilt: bool = False):
        """Open an index that `build_or_load` made (`index_dir` holds meta.json and index/), or with
        `prebuilt=True` any pyserini Lucene index folder (e.g. a downloaded wiki-18 BM25 index)."""
        self.index_dir = Path(index_dir)
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        meta: dict[str, Any] = {}
        if prebuilt:
            if not any(self.index_dir.glob("segments_*")):
                raise AgentGymError(f"{self.index_dir} is not a Lucene index folder (no segments_* file)")
            lucene_dir = self.index_dir
        else:
            if not _valid(self.index_dir):
                raise AgentGymError(f"{self.index_dir} is not a complete agentgym Lucene index (no {_META})")
            lucene_dir = self.index_dir / "index"
            try:
                meta = json.loads((self.index_dir / _META).read_text())
            except (OSError, ValueError) as e:
                raise CorruptIndexError(f"{self.index_dir / _META} is unreadable ({type(e).__name__})") from None
            if not isinstance(meta, dict):
                raise CorruptIndexError(f"{self.index_dir / _META} is not a JSON object")
            if isinstance(meta.get("files"), dict):  # caches built before the file list open unchecked
                _check_files(lucene_dir, meta["files"])
        LuceneSearcher = _import_searcher()
        try:
            self._searcher = LuceneSearcher(str(lucene_dir))
        except Exception as e:  # jnius.JavaException
            msg = _java_message(e)
            if not any(k in msg or k in type(e).__name__ for k in _CORRUPT_SIGNS):
                # out of memory, too many open files, ...: the index may be fine; never discard it for that
                raise AgentGymError(f"Lucene cannot open the index {lucene_dir}: {msg}") from None
            raise CorruptIndexError(f"Lucene cannot open the index {lucene_dir}: {msg}") from None
        self.meta = meta if not prebuilt else {"format": "prebuilt", "num_docs": int(self._searcher.num_docs)}

    @property
    def num_docs(self) -> int:
        return int(self.meta.get("num_docs", 0))

    # ---- building ----------------------------------------------------------------------------------
    @classmethod
    def build_or_load(
        cls,
        docs: Iterable[dict[str, Any]],
        name: str,
        cache_root: Path | None = None,
        *,
        timeout_s: float = 3600.0,
        threads: int = 1,
        progress: bool = False,
        key: str | None = None,
    ) -> LuceneIndex:
        """Load the cached index for these docs, building it first if this corpus was never indexed.

        The cache key is a hash of every (id, contents), so changed docs get a new index. A list is
        hashed before anything is written; any other iterable is read once, written and hashed in one
        pass. `key` (e.g. a file's path, size and mtime) replaces the content hash, so a cached index
        of a huge corpus opens without reading the corpus at all. `cache_root` replaces the default
        root `cache_dir("lucene")`; the index goes to `<root>/<name>/<hash>`.
        """
        if not name or "/" in name or name.startswith("."):
            raise AgentGymError(f"index name must be a plain folder name, got {name!r}")
        parent = (Path(cache_root) / name) if cache_root is not None else cache_dir("lucene", name)
        parent.mkdir(parents=True, exist_ok=True)
        known = None
        if key is not None:
            known = "k" + hashlib.sha256(f"{INDEX_FORMAT}:{key}".encode()).hexdigest()[:16]
        elif isinstance(docs, list | tuple):
            known = cls._hash(docs)
        if known is not None and _valid(parent / known):
            try:
                return cls(parent / known)
            except CorruptIndexError as e:
                _discard(parent / known, e)
        sweep_stale_builds(parent)
        staging = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{_host_tag()}-{os.getpid()}-", dir=parent))
        try:
            digest, n = cls._write_corpus(docs, staging / "corpus")
            final = parent / (known if key is not None else digest)
            if _valid(final):  # built meanwhile, or the corpus's hash was unknown until now
                try:
                    return cls(final)
                except CorruptIndexError as e:
                    _discard(final, e)
            cls._build(staging, n, digest, timeout_s=timeout_s, threads=threads, progress=progress)
            shutil.rmtree(staging / "corpus", ignore_errors=True)  # the index stores the raw docs
            staging.chmod(0o755)  # mkdtemp made it private
            if final.exists():  # a broken leftover (no marker) or a concurrent build that won
                if _valid(final):
                    with contextlib.suppress(CorruptIndexError):
                        return cls(final)
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(staging, final)
            except OSError:
                if not _valid(final):
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return cls(final)

    @staticmethod
    def _hash(docs: Iterable[dict[str, Any]]) -> str:
        h = hashlib.sha256(INDEX_FORMAT.encode())
        for doc in docs:
            h.update(_doc_line(doc).encode())
            h.update(b"\n")
        return h.hexdigest()[:16]

    @staticmethod
    def _write_corpus(docs: Iterable[dict[str, Any]], folder: Path) -> tuple[str, int]:
        """Write docs as one JsonCollection file and hash them; returns (hash, count)."""
        folder.mkdir(parents=True)
        h = hashlib.sha256(INDEX_FORMAT.encode())
        n = 0
        seen: set[str] = set()
        with open(folder / "docs.jsonl", "w", encoding="utf-8") as f:
            for doc in docs:
                line = _doc_line(doc)
                docid = str(doc["id"])
                if docid in seen:
                    raise AgentGymError(f"duplicate document id {docid!r}")
                seen.add(docid)
                f.write(line + "\n")
                h.update(line.encode())
                h.update(b"\n")
                n += 1
        if n == 0:
            raise AgentGymError("cannot index an empty corpus")
        return h.hexdigest()[:16], n

    @staticmethod
    def _build(staging: Path, n: int, digest: str, *, timeout_s: float, threads: int, progress: bool) -> None:
        cmd = [
            sys.executable, "-m", "pyserini.index.lucene",
            "--collection", "JsonCollection",
            "--input", str(staging / "corpus"),
            "--index", str(staging / "index"),
            "--generator", "DefaultLuceneDocumentGenerator",
            "--threads", str(threads),
            "--storeRaw",
        ]  # fmt: skip
        t0 = time.perf_counter()
        status = None
        if progress:
            status = Console(stderr=True).status(f"indexing {n} documents with Lucene ...")
            status.start()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=ensure_java_env())
        except subprocess.TimeoutExpired:
            raise AgentGymError(f"Lucene indexing timed out after {timeout_s:.0f} s") from None
        finally:
            if status is not None:
                status.stop()
        if proc.returncode != 0 or not (staging / "index").is_dir():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
            raise AgentGymError("Lucene indexing failed: " + " | ".join(tail))
        meta = {
            "format": INDEX_FORMAT,
            "hash": digest,
            "num_docs": n,
            "build_seconds": round(time.perf_counter() - t0, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "files": _file_sizes(staging / "index"),
        }
        (staging / _META).write_text(json.dumps(meta, indent=1))

    # ---- searching ---------------------------------------------------------------------------------
    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k (docid, BM25 score), best first. An empty or unparseable query returns []."""
        query = _clean_query(query)
        if not query or k < 1:
            return []
        try:
            hits = self._searcher.search(query, k=int(k))
        except Exception:  # a Lucene parse error must not crash an episode
            return []
        return [(h.docid, float(h.score)) for h in hits]

    def batch_search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        """`search` for many queries at once, on `threads` Java threads; results in the queries' order."""
        cleaned = [_clean_query(q) for q in queries]
        qids = [str(i) for i in range(len(cleaned))]
        live = [(qid, q) for qid, q in zip(qids, cleaned, strict=True) if q]
        out: dict[str, list] = {}
        if live and k >= 1:
            try:
                out = self._searcher.batch_search(
                    [q for _, q in live], [qid for qid, _ in live], k=int(k), threads=self.threads
                )
            except Exception:
                out = {qid: self._searcher_search_safe(q, k) for qid, q in live}
        return [[(h.docid, float(h.score)) for h in out.get(qid, [])] for qid in qids]

    def _searcher_search_safe(self, query: str, k: int) -> list:
        try:
            return self._searcher.search(query, k=int(k))
        except Exception:
            return []

    def doc(self, docid: str) -> str | None:
        """The stored contents of a document, or None if there is no such id."""
        try:
            d = self._searcher.doc(str(docid))
        except Exception:
            return None
        if d is None:
            return None
        raw = d.raw()
        if raw is None:  # built without --storeRaw: stored contents are the next best thing
            try:
                return d.contents()
            except Exception:
                return None
        try:
            return str(json.loads(raw)["contents"])
        except (ValueError, KeyError, TypeError):
            return raw

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._searcher.close()


def _java_message(e: Exception) -> str:
    """The Java exception's class and message (pyjnius keeps them in `classname` / `innermessage`)."""
    name = getattr(e, "classname", None) or type(e).__name__
    msg = getattr(e, "innermessage", None) or str(e)
    return f"{name}: {str(msg)[:300]}"


def _clean_query(query: Any) -> str:
    """Lucene's query parser is not used by pyserini's BM25 search, but NUL bytes and huge inputs are
    still worth removing before they reach the JVM."""
    if not isinstance(query, str):
        return ""
    return " ".join(query.replace("\x00", " ").split())[:4096]


class LuceneRetriever(Retriever):
    """`Retriever` over a `LuceneIndex`: BM25 hits with their stored contents."""

    kind = "bm25"

    def __init__(self, index: LuceneIndex):
        self.index = index

    @classmethod
    def from_docs(
        cls, docs: Iterable[dict[str, Any]], name: str, cache_root: Path | None = None, key: str | None = None
    ) -> LuceneRetriever:
        return cls(LuceneIndex.build_or_load(docs, name, cache_root, progress=True, key=key))

    def _passages(self, hits: list[tuple[str, float]]) -> list[Passage]:
        out = []
        for docid, score in hits:
            contents = self.index.doc(docid)
            if contents is not None:
                out.append(Passage(docid, contents, score))
        return out

    def retrieve(self, query: str, k: int) -> list[Passage]:
        return self._passages(self.index.search(query, k))

    def batch_retrieve(self, queries: list[str], k: int) -> list[list[Passage]]:
        return [self._passages(h) for h in self.index.batch_search(queries, k)]

    def close(self) -> None:
        self.index.close()

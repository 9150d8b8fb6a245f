"""A client for the `/retrieve` API that Search-R1's retrieval server speaks.

Request: `POST /retrieve {"queries": [...], "topk": k, "return_scores": true}`. Response:
`{"result": [[{"document": {"id": ..., "contents": ...}, "score": s}, ...], ...]}` (one list per query;
without `return_scores` the items are the bare documents).

Every search has a total deadline (`deadline`, 30 s by default, enough for a
single-threaded dense server queried by 16 env threads; `$AGENTGYM_RETRIEVER_DEADLINE_S`
overrides the default): the connect and read timeouts, the retries and their back-off all fit inside
it, and a timer shuts the socket when it passes, so a server that hangs, or answers one byte at a
time, costs at most the deadline and then one `RetrievalServerError`. A server that is down fails in
about a second. Each try uses a fresh connection (no state is shared, so one client is thread-safe).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from agentgym.core.errors import AgentGymError
from agentgym.retrieval.base import Passage, Retriever
from agentgym.retrieval.corpus import make_contents

#: Seconds one search may take in all (tries, waits and back-off together).
DEFAULT_DEADLINE_S = 30.0
DEADLINE_ENV = "AGENTGYM_RETRIEVER_DEADLINE_S"
#: A larger answer is refused: a broken server must not fill this process's memory.
MAX_RESPONSE_BYTES = 64 << 20


class RetrievalServerError(AgentGymError):
    """The retrieval server is unreachable, timed out, or answered something that is not the API."""


class _DeadlineHit(Exception):
    """The search's total deadline passed during a try."""


class _Watchdog:
    """Shuts a connection's socket when the deadline passes: a blocked send or recv then returns at
    once, whatever the per-call socket timeout is (a trickling server resets that timeout each byte)."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float):
        self.conn = conn
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _seconds(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out) or out <= 0:
        raise AgentGymError(f"{what} must be a positive number of seconds, got {value!r}")
    return out


def default_deadline() -> float:
    """`$AGENTGYM_RETRIEVER_DEADLINE_S` if set, else `DEFAULT_DEADLINE_S`."""
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    return _seconds(raw, f"${DEADLINE_ENV}") if raw else DEFAULT_DEADLINE_S


def retrieve_url(url: str) -> str:
    """Accept either the server's base URL or the full `/retrieve` endpoint."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith("/retrieve") else url + "/retrieve"


def _passage(item: Any, rank: int) -> Passage:
    if not isinstance(item, dict):
        raise ValueError(f"result item is {type(item).__name__}, not an object")
    doc, score = (item["document"], item.get("score", 0.0)) if "document" in item else (item, 0.0)
    if not isinstance(doc, dict):
        raise ValueError("'document' is not an object")
    if "contents" in doc:
        contents = str(doc["contents"])
    elif "text" in doc:  # some servers split the title out
        contents = make_contents(str(doc.get("title", "")), str(doc["text"]))
    else:
        raise ValueError("document has neither 'contents' nor 'text'")
    try:
        score = float(score)
    except (TypeError, ValueError):
        score = 0.0
    return Passage(str(doc.get("id", f"rank{rank}")), contents, score)


class HttpRetriever(Retriever):
    """`Retriever` that asks a remote `/retrieve` server (Search-R1's, or `agentgym searchqa serve-retriever`).

    `connect_timeout` and `read_timeout` bound each socket wait, `retries` the extra tries (on
    connection errors, timeouts and 5xx, with exponential `backoff`), and `deadline` the whole search.
    """

    kind = "http"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        deadline: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ):
        self.url = retrieve_url(url)
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            port = None
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RetrievalServerError(f"not a retrieval server URL: {url!r}")
        self._conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host = parts.hostname
        self._port = port or (443 if parts.scheme == "https" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.connect_timeout = _seconds(connect_timeout, "connect_timeout")
        self.read_timeout = _seconds(read_timeout, "read_timeout")
        self.deadline = default_deadline() if deadline is None else _seconds(deadline, "deadline")
        self.timeout = (self.connect_timeout, self.read_timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.max_response_bytes = int(max_response_bytes)

    def _once(self, body: bytes, end: float) -> tuple[int, bytes]:
        """One POST on a fresh connection, over by `end` (monotonic) at the latest. A socket timeout
        that the deadline shortened counts as the deadline (`_DeadlineHit`), not as a slow server."""
        left = end - time.monotonic()
        if left <= 0:
            raise _DeadlineHit
        conn = self._conn_cls(self._host, self._port, timeout=min(self.connect_timeout, left))
        dog = _Watchdog(conn, left)
        phase, capped = "connect", self.connect_timeout >= left
        try:
            conn.connect()
            left = end - time.monotonic()
            if dog.fired or left <= 0:
                raise _DeadlineHit
            phase, capped = "read", self.read_timeout >= left
            conn.sock.settimeout(min(self.read_timeout, left))
            headers = {"Content-Type": "application/json", "Accept": "application/json", "Connection": "close"}
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            data = self._read(resp)
            if dog.fired:
                raise _DeadlineHit
            return resp.status, data
        except TimeoutError:
            if dog.fired or capped:
                raise _DeadlineHit from None
            raise TimeoutError(phase) from None
        except (OSError, http.client.HTTPException):
            if dog.fired:
                raise _DeadlineHit from None
            raise
        finally:
            dog.cancel()
            conn.close()

    def _read(self, resp: http.client.HTTPResponse) -> bytes:
        """The whole body, refused past `max_response_bytes` (before reading when the length says so)."""
        cap = self.max_response_bytes
        length = resp.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > cap:
            raise RetrievalServerError(f"retrieval server {self.url} answered {int(length)} bytes (limit {cap})")
        chunks, total = [], 0
        while chunk := resp.read(1 << 16):
            total += len(chunk)
            if total > cap:
                raise RetrievalServerError(f"retrieval server {self.url} answered more than {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _post(self, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload).encode()
        end = time.monotonic() + self.deadline
        last, tries = "", 0
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * (2 ** (attempt - 1))
                if time.monotonic() + pause >= end:
                    last += f"; the {self.deadline:g}s deadline left no time for another try"
                    break
                time.sleep(pause)
            tries += 1
            try:
                status, data = self._once(body, end)
            except _DeadlineHit:
                last = f"no complete answer within the {self.deadline:g}s deadline"
                break
            except TimeoutError as e:
                last = (f"no connection within {self.connect_timeout:g}s" if e.args == ("connect",)
                        else f"no answer within {self.connect_timeout:g}s connect / {self.read_timeout:g}s read")
                continue
            except http.client.HTTPException as e:
                last = f"broken HTTP answer ({type(e).__name__})"
                continue
            except OSError as e:
                last = f"cannot connect ({type(e).__name__})"
                continue
            if status >= 500:
                last = f"HTTP {status}"
                continue
            if status != 200:
                text = data[:200].decode("utf-8", "replace")
                raise RetrievalServerError(f"retrieval server {self.url} rejected the request: HTTP {status} {text}")
            try:
                return json.loads(data)
            except (ValueError, RecursionError):
                raise RetrievalServerError(f"retrieval server {self.url} did not answer JSON") from None
        raise RetrievalServerError(
            f"retrieval server {self.url} is not reachable: {last} (after {tries} {'try' if tries == 1 else 'tries'}); "
            "start one with `agentgym searchqa serve-retriever` or pass another --retriever"
        )

    def batch_retrieve(self, queries: list[str], k: int) -> list[list[Passage]]:
        clean = [q if isinstance(q, str) else "" for q in queries]
        if not clean or k < 1:
            return [[] for _ in clean]
        body = self._post({"queries": clean, "topk": int(k), "return_scores": True})
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, list) or len(result) != len(clean):
            raise RetrievalServerError(
                f"retrieval server {self.url} answered without a 'result' list of {len(clean)} entries"
            )
        try:
            return [[_passage(item, i) for i, item in enumerate(row)][:k] for row in result]
        except (ValueError, KeyError, TypeError) as e:
            raise RetrievalServerError(f"retrieval server {self.url} answered an unexpected shape: {e}") from None

    def retrieve(self, query: str, k: int) -> list[Passage]:
        return self.batch_retrieve([query], k)[0]

    def close(self) -> None:
        """Nothing to release: every try opens and closes its own connection."""

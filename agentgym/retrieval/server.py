"""Serve any `Retriever` over Search-R1's `/retrieve` API (Flask, loopback only by default).

`POST /retrieve {"queries": [...], "topk": 3, "return_scores": true}` ->
`{"result": [[{"document": {"id", "contents"}, "score": s}, ...], ...]}`; without `return_scores` each
item is the bare document, as in the original server. `GET /health` reports the backend and is cheap.

Every malformed request gets a 4xx with a JSON `detail`, never a 500: a body over `max_body_bytes`
(1 MiB by default) a 413, one that is not a JSON object, nests too deeply for the JSON parser, or has
a field of the wrong type (`return_scores` must be a real boolean) a 422.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from agentgym.retrieval.base import Retriever

MAX_QUERIES = 4096
MAX_TOPK = 1000
#: 4096 queries of 200 characters fit; a larger body is refused before it is read (HTTP 413).
MAX_BODY_BYTES = 1 << 20

log = logging.getLogger(__name__)


def make_app(
    retriever: Retriever,
    default_topk: int = 3,
    worker: ThreadPoolExecutor | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
):
    """The Flask app. Retrieval runs on one worker thread: the JVM searcher (pyjnius attaches each
    calling thread to the JVM) and the encoder then see a single long-lived thread, and one batched
    call is faster than many concurrent ones on a few cores. HTTP handling stays concurrent."""
    app = Flask("agentgym-retriever")
    app.config["MAX_CONTENT_LENGTH"] = int(max_body_bytes)  # werkzeug refuses larger bodies unread
    worker = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix="retriever")

    def bad(msg: str, code: int = 422):
        return jsonify({"detail": msg}), code

    @app.errorhandler(413)
    def too_large(_e):
        return bad(f"request body over {int(max_body_bytes)} bytes", 413)

    @app.post("/retrieve")
    def retrieve():
        try:
            body: Any = request.get_json(silent=True)
        except RecursionError:  # json's C parser gives up on deep nesting with this, not a ValueError
            return bad("body nests too deeply")
        if not isinstance(body, dict):
            return bad("body must be a JSON object")
        queries = body.get("queries")
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            return bad("'queries' must be a list of strings")
        if len(queries) > MAX_QUERIES:
            return bad(f"at most {MAX_QUERIES} queries per request")
        topk = body.get("topk")
        if topk is None or (type(topk) is int and topk == 0):  # missing or 0: the server default
            topk = default_topk
        if type(topk) is not int or not 1 <= topk <= MAX_TOPK:  # type(): neither bool nor float passes
            return bad(f"'topk' must be an integer in 1..{MAX_TOPK}")
        with_scores = body.get("return_scores")
        if with_scores is None:
            with_scores = False
        if not isinstance(with_scores, bool):  # "false" is truthy: only real booleans are accepted
            return bad("'return_scores' must be true or false")
        try:
            results = worker.submit(retriever.batch_retrieve, queries, topk).result()
        except Exception as e:  # one failing backend call is one JSON error, and the server stays up
            log.exception("retrieval failed")
            return bad(f"retrieval failed: {type(e).__name__}", 500)
        return jsonify({"result": [[p.to_json(with_scores) for p in row] for row in results]})

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "retriever": retriever.kind, "topk": default_topk})

    return app


class RetrievalServer:
    """A `/retrieve` server on a background thread (tests, notebooks); `serve_forever` for the CLI."""

    def __init__(
        self,
        retriever: Retriever,
        host: str = "127.0.0.1",
        port: int = 0,
        default_topk: int = 3,
        log_requests: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
    ):
        if not log_requests:  # one log line per request drowns a training log
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

        self.retriever = retriever
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retriever")
        self._server = make_server(host, port, make_app(retriever, default_topk, self._worker, max_body_bytes), threaded=True)
        self.host = host
        self.port = int(self._server.server_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> RetrievalServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="retrieval-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._worker.shutdown(wait=True)

    def __enter__(self) -> RetrievalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Run the WebShop site on 127.0.0.1 in a background thread (for the browser env, tests and `serve`).

Connection limits, so that idle or abandoned clients cannot pile up threads: every connection gets a
socket timeout (`request_timeout_s`, 20 s by default): a client that sends nothing (an idle keep-alive
connection, a half-open or half-sent request) for that long is disconnected, and its thread ends. At
most `max_connections` connections (128) are served at once, one thread each; a connection beyond that
gets an immediate `503 Service Unavailable` and is closed, without a thread. Browsers and `requests`
reconnect by themselves after an idle keep-alive connection is closed.
"""

from __future__ import annotations

import random
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from agentgym.core.task import Panel, Task
from agentgym.envs.webshop.app import WebShopSite, create_app
from agentgym.envs.webshop.engine import Shop

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 20.0
MAX_CONNECTIONS = 128
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
         b"Retry-After: 1\r\nConnection: close\r\n\r\nserver is busy")  # fmt: skip


def panel_picker(panels: dict[str, Panel], default_split: str, seed: int = 0):
    """`pick_task(spec, split)` for /start: a task id or index in the split, else a seeded random task."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def pick(spec: str | None, split: str | None) -> Task:
        panel = panels[split or default_split]
        if spec:
            if spec.isdigit():
                return panel[int(spec) % len(panel)]
            return panel.get(spec)
        with lock:
            return panel[rng.randrange(len(panel))]

    return pick


class _Handler(WSGIRequestHandler):
    """werkzeug's handler; a connection that times out is closed quietly (it is expected, not an error)."""

    def log_error(self, format: str, *args: Any) -> None:
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)


class _QuietHandler(_Handler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request is noise for envs
        pass


class _BoundedServer(ThreadedWSGIServer):
    """werkzeug's threaded server with at most `max_connections` handler threads at a time."""

    def __init__(self, host: str, port: int, app: Any, handler: type[WSGIRequestHandler], max_connections: int):
        super().__init__(host, port, app, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.settimeout(0.5)
            request.sendall(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)


class ShopServer:
    """A threaded werkzeug server for the site, bound to 127.0.0.1 (port 0 = any free port), with the
    connection limits of the module docstring."""

    def __init__(self, site: WebShopSite, port: int = 0, *, log_requests: bool = False,
                 request_timeout_s: float = REQUEST_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS):  # fmt: skip
        if request_timeout_s <= 0 or max_connections < 1:
            raise ValueError("request_timeout_s must be > 0 and max_connections >= 1")
        self.site = site
        self.app = create_app(site)
        base = _Handler if log_requests else _QuietHandler
        # a class per server: StreamRequestHandler applies `timeout` to every connection's socket
        handler = type(base.__name__, (base,), {"timeout": float(request_timeout_s)})
        self._server = _BoundedServer(HOST, port, self.app, handler, max_connections)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"webshop-http-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> ShopServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def start_server(
    shop: Shop, panels: dict[str, Panel], *, split: str = "test", port: int = 0, human: bool = False, **limits: Any
) -> ShopServer:
    """The site for `panels` on 127.0.0.1; `limits` go to `ShopServer` (request_timeout_s, max_connections)."""
    site = WebShopSite(shop, panel_picker(panels, split), human=human)
    return ShopServer(site, port, log_requests=human, **limits)

"""The WebShop web site (Flask, real werkzeug server on 127.0.0.1): same pages as text mode, sessions kept
apart, bounded concurrent load with no errors."""

from __future__ import annotations

import random
import threading
import time
from html.parser import HTMLParser

import pytest
import requests

from agentgym.envs.webshop.app import WebShopSite, create_app
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.server import ShopServer, panel_picker, start_server

SEP = " [SEP] "


class _VisibleText(HTMLParser):
    """Visible text nodes of <body> (not script/style/title), stripped, as the browser env reads them."""

    VOID = {"br", "input", "meta", "link", "img", "hr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if "body" in self.stack and not {"script", "style", "title"} & set(self.stack) and data.strip():
            self.out.append(data.strip())


def visible_text(html: str) -> str:
    p = _VisibleText()
    p.feed(html)
    return SEP.join(p.out)


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(split="test", search="bm25", show_attrs=True)


@pytest.fixture(scope="module")
def site(env) -> WebShopSite:
    return WebShopSite(env.shop, panel_picker({s: env.panel(s) for s in env.splits}, "test"))


def _send(client, sid: str, action: str):
    name, _, arg = action.partition("[")
    arg = arg[:-1]
    if name == "search":
        return client.post(f"/s/{sid}/search", data={"search_query": arg}, follow_redirects=True)
    return client.post(f"/s/{sid}/click", data={"target": arg}, follow_redirects=True)


def test_html_pages_show_exactly_the_text_observation(env, site):
    client = create_app(site).test_client()
    rng = random.Random(0)
    for i in range(12):
        task = env.panel()[i * 7]
        obs, info = env.reset(options={"task": task})
        r = client.get(f"/start?task={task.task_id}", follow_redirects=True)
        sid = r.request.path.rsplit("/", 1)[1]
        assert r.status_code == 200 and visible_text(r.get_data(as_text=True)) == obs
        done = False
        while not done:
            # the expert's path, with detours through sub-pages, pagination and invalid clicks
            adm = info["admissible_actions"]
            if rng.random() < 0.3 and len(adm) > 1:
                a = rng.choice(adm[1:] if adm[0].startswith("search") else adm)
                if a == "click[buy now]":
                    a = "click[< prev]"
            elif rng.random() < 0.1:
                a = "click[not a button]"
            else:
                a = env.expert_action()
            obs, reward, term, trunc, info = env.step(a)
            page = _send(client, sid, a)
            assert page.status_code == 200
            assert visible_text(page.get_data(as_text=True)) == obs, a
            done = term or trunc
        status = client.get(f"/s/{sid}/status").get_json()
        assert status["reward"] == (info["score"] if term else None)


def test_site_routes_handle_bad_input(site):
    client = create_app(site).test_client()
    assert client.get("/s/nope").status_code == 404
    assert client.post("/s/nope/click", data={"target": "buy now"}).status_code == 404
    assert client.get("/start?task=not-a-task").status_code == 404
    r = client.get("/start?task=3")
    assert r.status_code == 303
    sid = r.headers["Location"].rsplit("/", 1)[1]
    for data in ({}, {"target": "x" * 100_000}, {"target": "\x00"}, {"search_query": "💥"}):
        assert client.post(f"/s/{sid}/click", data=data).status_code in (303, 413)
    assert client.get(f"/s/{sid}").status_code == 200
    assert client.get("/").status_code == 302


def test_concurrent_clients_stay_apart_under_load(env):
    """16 concurrent clients, 1,000 HTTP requests in all, to the real server on 127.0.0.1."""
    panels = {s: env.panel(s) for s in env.splits}
    n_clients, total = 16, 1000
    per_client = total // n_clients
    errors: list[str] = []
    results: dict[int, tuple[str, list[str], float | None]] = {}
    counted = [0]
    lock = threading.Lock()

    def client(k: int, base: str) -> None:
        task = panels["test"][k * 13]
        s = requests.Session()
        sent = 0
        actions: list[str] = []
        try:
            r = s.get(f"{base}/start", params={"task": task.task_id}, timeout=10, allow_redirects=False)
            sid = r.headers["Location"].rsplit("/", 1)[1]
            sent += 1
            local = WebShopEnv(split="test", search="bm25", show_attrs=True)
            local.reset(options={"task": task})
            while sent + 2 <= per_client:
                a = local.expert_action()
                actions.append(a)
                local.step(a)
                name, _, arg = a.partition("[")
                url = f"{base}/s/{sid}/{'search' if name == 'search' else 'click'}"
                field = "search_query" if name == "search" else "target"
                r = s.post(url, data={field: arg[:-1]}, timeout=10, allow_redirects=False)
                page = s.get(f"{base}/s/{sid}", timeout=10)
                sent += 2
                if r.status_code != 303 or page.status_code != 200:
                    errors.append(f"client {k}: {r.status_code} {page.status_code}")
                elif visible_text(page.text) != local._last_obs:
                    errors.append(f"client {k}: page differs from its own text env after {a}")
                if local.done:  # start another goal in a new session, so the load keeps going
                    task = panels["test"][(k * 13 + len(actions)) % len(panels["test"])]
                    r = s.get(f"{base}/start", params={"task": task.task_id}, timeout=10, allow_redirects=False)
                    sid = r.headers["Location"].rsplit("/", 1)[1]
                    sent += 1
                    local.reset(options={"task": task})
            while sent < per_client:
                ok = s.get(f"{base}/s/{sid}/status", timeout=10)
                sent += 1
                if ok.status_code != 200 or ok.json()["task_id"] != task.task_id:
                    errors.append(f"client {k}: status of another session")
            results[k] = (sid, actions, None)
        except Exception as e:  # any failure is a test failure, reported with its client
            errors.append(f"client {k}: {type(e).__name__}: {e}")
        with lock:
            counted[0] += sent

    with start_server(env.shop, panels) as server:
        assert server.url.startswith("http://127.0.0.1:")
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k, server.url)) for k in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - t0
        assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors[:5]
    assert counted[0] >= n_clients * per_client - n_clients  # about 1,000 requests were served
    assert len(results) == n_clients
    assert elapsed < 120


def test_server_binds_loopback_only_and_closes(site):
    server = ShopServer(site)
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        assert requests.get(f"{server.url}/start", timeout=5).status_code == 200
    finally:
        server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/start", timeout=2)


def test_serve_command_serves_a_person_on_loopback(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("agentgym")
    proc = subprocess.Popen([str(exe), "webshop", "serve", "--port", "0", "--search", "bm25", "--num-products", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        url = None
        deadline = time.time() + 90
        while time.time() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            if "http://127.0.0.1:" in line:
                url = line[line.index("http://") :].split("/ ")[0].split()[0].rstrip("/")
        assert url is not None, "serve printed no URL"
        r = requests.get(f"{url}/", timeout=10)  # a new session with a goal from the test panel
        assert r.status_code == 200 and "Instruction:" in r.text and 'id="search_input"' in r.text
        assert "task " in visible_text(r.text)  # the person sees which task they are on
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---- limits: anonymous floods and idle connections (issue 16, item 7) -------------------------------------
def _live_session(base: str, task: str = "3") -> str:
    """A session that has acted (searched), so it counts as live."""
    r = requests.get(f"{base}/start", params={"task": task}, timeout=10, allow_redirects=False)
    sid = r.headers["Location"].rsplit("/", 1)[1]
    assert requests.post(f"{base}/s/{sid}/search", data={"search_query": "shoes"}, timeout=10,
                         allow_redirects=False).status_code == 303  # fmt: skip
    return sid


def test_anonymous_start_flood_does_not_evict_live_sessions(env):
    """300 anonymous /start against a store of 100: they push out each other, never a live session."""
    panels = {s: env.panel(s) for s in env.splits}
    site = WebShopSite(env.shop, panel_picker(panels, "test"), max_sessions=100)
    with ShopServer(site) as server:
        live = [_live_session(server.url, str(k)) for k in range(3)]
        http = requests.Session()
        for _ in range(300):
            r = http.get(f"{server.url}/start", timeout=10, allow_redirects=False)
            assert r.status_code == 303
        for sid in live:
            status = requests.get(f"{server.url}/s/{sid}/status", timeout=10)
            assert status.status_code == 200 and status.json()["keywords"] == "shoes"
        assert len(site.sessions) <= 100 and site.sessions.fresh_count <= 100
        http.close()


def test_a_store_full_of_live_sessions_refuses_new_ones_with_503(env):
    panels = {s: env.panel(s) for s in env.splits}
    site = WebShopSite(env.shop, panel_picker(panels, "test"), max_sessions=2)
    with ShopServer(site) as server:
        live = [_live_session(server.url, str(k)) for k in range(2)]
        r = requests.get(f"{server.url}/start", timeout=10, allow_redirects=False)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert all(requests.get(f"{server.url}/s/{sid}/status", timeout=10).status_code == 200 for sid in live)


def test_session_store_evicts_idle_then_fresh_sessions_never_live_ones():
    from agentgym.envs.webshop.app import Session, SessionStore, StoreFull

    now = [0.0]
    store = SessionStore(3, max_fresh=2, idle_s=60.0, clock=lambda: now[0])

    def new(fresh: bool) -> str:
        return store.add(Session(None, "t"), fresh=fresh)  # type: ignore[arg-type]

    a, b = new(False), new(False)
    f1 = new(True)
    f2 = new(True)  # the store is full: the fresh f1 makes room, live a and b stay
    assert store.get(f1) is None and store.get(a) and store.get(b) and store.get(f2)
    store.acted(f2)  # f2 searched: now live too
    with pytest.raises(StoreFull):
        new(True)
    now[0] = 30.0
    store.get(a)
    store.get(f2)
    now[0] = 61.0  # b was last used at 0: idle now, and the least recently used
    c = new(True)
    assert store.get(b) is None and all(store.get(s) for s in (a, f2, c))
    assert store.fresh_count == 1 and len(store) == 3


def test_idle_and_half_open_connections_are_closed_and_threads_are_bounded(site):
    """50 connections that never finish a request: at most `max_connections` get a thread, the rest an
    immediate 503; all are closed within the request timeout, and the site still serves."""
    import socket

    server = ShopServer(site, request_timeout_s=0.5, max_connections=16)
    socks: list[socket.socket] = []
    try:
        base_threads = threading.active_count()
        t0 = time.monotonic()
        for k in range(50):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if k % 2:  # half-sent request: the request line and no end of headers
                s.sendall(b"GET /start HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        time.sleep(0.2)
        assert threading.active_count() <= base_threads + 16
        closed_after = []
        for s in socks:
            try:
                while s.recv(4096):  # a refused one reads its 503 first
                    pass
            except ConnectionResetError:
                pass
            closed_after.append(time.monotonic() - t0)
        assert max(closed_after) < 3.0, max(closed_after)
        assert server._server.refused >= 50 - 16
        assert requests.get(f"{server.url}/start?task=1", timeout=5).status_code == 200
        deadline = time.monotonic() + 3
        while threading.active_count() > base_threads + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= base_threads + 1
    finally:
        for s in socks:
            s.close()
        server.close()

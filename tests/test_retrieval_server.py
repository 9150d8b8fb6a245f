"""The `/retrieve` API: our Flask server (real, on 127.0.0.1) and the HTTP client, including servers
that are down, silent or failing. Every wait here is bounded by the client's own timeouts."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from agentgym.core.errors import AgentGymError
from agentgym.envs.searchqa.env import SearchQAEnv
from agentgym.retrieval.base import Passage, Retriever
from agentgym.retrieval.bm25_py import BM25PyRetriever
from agentgym.retrieval.remote import (
    DEADLINE_ENV,
    DEFAULT_DEADLINE_S,
    HttpRetriever,
    RetrievalServerError,
    retrieve_url,
)
from agentgym.retrieval.server import MAX_BODY_BYTES, RetrievalServer
from agentgym.skills import SkillStore

DOCS = [
    {"id": "a", "contents": '"Marrowvale"\nMarrowvale is a river town known for its copper bells.'},
    {"id": "b", "contents": '"Quillan Orr"\nQuillan Orr was a cartographer born in Marrowvale.'},
    {"id": "c", "contents": '"Oskarsby"\nOskarsby is a mountain village with a glass museum.'},
    {"id": "d", "contents": '"Glass"\nGlass is made from sand.'},
]


@pytest.fixture(scope="module")
def server():
    with RetrievalServer(BM25PyRetriever(DOCS), port=0, default_topk=2) as s:
        yield s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wire_format_matches_search_r1(server):
    r = requests.post(server.url + "/retrieve", json={"queries": ["glass museum", "cartographer"], "topk": 2, "return_scores": True}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"result"} and len(body["result"]) == 2
    first = body["result"][0][0]
    assert set(first) == {"document", "score"} and first["document"]["id"] == "c"
    assert first["document"]["contents"] == DOCS[2]["contents"] and isinstance(first["score"], float)
    assert body["result"][1][0]["document"]["id"] == "b"
    # without return_scores the items are the bare documents; without topk the server default applies
    r = requests.post(server.url + "/retrieve", json={"queries": ["glass"]}, timeout=10).json()
    assert all(set(d) == {"id", "contents"} for d in r["result"][0]) and len(r["result"][0]) == 2
    assert requests.get(server.url + "/health", timeout=10).json()["status"] == "ok"


@pytest.mark.parametrize(
    "body",
    [None, [], {"queries": ["x"], "topk": -1}, {"queries": [1, 2]}, {"topk": 3}, {"queries": ["x"], "topk": "3"}, {"queries": ["x"], "topk": 10**9}],
)
def test_bad_requests_get_a_4xx_not_a_crash(server, body):
    r = requests.post(server.url + "/retrieve", json=body, timeout=10)
    assert 400 <= r.status_code < 500 and "detail" in r.json()


def test_client_round_trip_and_odd_queries(server):
    client = HttpRetriever(server.url)
    assert client.url == server.url + "/retrieve"
    [p] = client.retrieve("glass museum", 1)
    assert p.id == "c" and p.title == '"Oskarsby"'
    batch = client.batch_retrieve(["glass", "", "\x00 é 🙂", "zzzz"], 3)
    assert len(batch) == 4 and batch[1] == [] and batch[3] == []
    assert client.batch_retrieve([], 3) == []


def test_env_over_our_server_with_the_http_retriever():
    local = SearchQAEnv(split="test", retriever="bm25-py")
    with RetrievalServer(local.retriever, port=0) as srv:
        env = SearchQAEnv(split="test", retriever="http", retriever_url=srv.url)
        tasks = [t for t in env.panel() if t.task_type in ("hotpotqa", "musique")][:20]
        store = SkillStore.create("searchqa", strategy="keyword")
        for t in tasks:
            env.reset(options={"task": t})
            skills = store.retrieve(t)  # the skill-reading expert knows each hop's query words
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(env.expert_action_with_skills(skills))
                done = term or trunc
            assert info["won"], t.instruction
        # the observation is the same as with the local retriever
        env.reset(options={"task": tasks[0]})
        local.reset(options={"task": tasks[0]})
        q = f"<search>{tasks[0].data['hops'][0]['query']}</search>"
        assert env.step(q)[0] == local.step(q)[0]


def test_down_server_fails_fast_with_a_clear_error():
    port = _free_port()  # nothing listens here
    client = HttpRetriever(f"127.0.0.1:{port}", retries=2, backoff=0.1)
    t0 = time.monotonic()
    with pytest.raises(RetrievalServerError, match="not reachable.*3 tries"):
        client.retrieve("anything", 3)
    assert time.monotonic() - t0 < 5
    env = SearchQAEnv(retriever="http", retriever_url=f"http://127.0.0.1:{port}/retrieve")
    env.reset(seed=0)
    with pytest.raises(RetrievalServerError):
        env.step("<search> x </search>")
    # invalid actions never touch the server, so they still work
    assert not env.step("no tags")[4]["action_valid"]


def test_silent_server_times_out_instead_of_hanging():
    """A socket that accepts connections but never answers: the read timeout must end the call."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        client = HttpRetriever(f"http://127.0.0.1:{sock.getsockname()[1]}", read_timeout=0.5, retries=1, backoff=0.05)
        t0 = time.monotonic()
        with pytest.raises(RetrievalServerError, match="no answer within"):
            client.retrieve("x", 3)
        assert time.monotonic() - t0 < 5
    finally:
        sock.close()


class _Flaky(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if type(self).calls == 1:
            self.send_response(503)
            self.end_headers()
            return
        payload = b'{"result": [[{"document": {"id": "7", "title": "T", "text": "body"}, "score": "1.5"}]]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *a):
        pass


def test_client_retries_a_5xx_and_accepts_title_text_documents():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        client = HttpRetriever(f"http://127.0.0.1:{srv.server_address[1]}", retries=2, backoff=0.05)
        [p] = client.retrieve("x", 3)
        assert (p.id, p.contents, p.score) == ("7", '"T"\nbody', 1.5)
        assert _Flaky.calls == 2
    finally:
        srv.shutdown()
        srv.server_close()


def test_wrong_shape_and_4xx_are_clear_errors(server):
    with pytest.raises(RetrievalServerError, match="rejected"):
        HttpRetriever(server.url + "/nope", retries=0).retrieve("x", 1)  # -> /nope/retrieve: 404


def test_retrieve_url_forms():
    assert retrieve_url("127.0.0.1:8000") == "http://127.0.0.1:8000/retrieve"
    assert retrieve_url("http://h:1/retrieve/") == "http://h:1/retrieve"
    assert retrieve_url("https://h") == "https://h/retrieve"


# ---- hostile requests and servers (issue 16, item 8) ---------------------------------------------
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("wrap", ["{}", '{{"queries": {}}}', '{{"queries": ["x"], "topk": {}}}'])
def test_deeply_nested_json_is_a_422_not_a_500(server, depth, wrap):
    body = wrap.format("[" * depth + "]" * depth)
    r = requests.post(server.url + "/retrieve", data=body, headers=JSON, timeout=10)
    assert r.status_code == 422 and "detail" in r.json()
    assert requests.post(server.url + "/retrieve", json={"queries": ["glass"]}, timeout=10).status_code == 200


def test_body_over_the_limit_is_a_413_before_it_is_read(server):
    assert MAX_BODY_BYTES == 1 << 20
    big = b'{"queries": ["' + b"a" * (2 * MAX_BODY_BYTES) + b'"]}'
    r = requests.post(server.url + "/retrieve", data=big, headers=JSON, timeout=10)
    assert r.status_code == 413 and "over 1048576 bytes" in r.json()["detail"]
    with RetrievalServer(BM25PyRetriever(DOCS), port=0, max_body_bytes=64) as small:
        r = requests.post(small.url + "/retrieve", json={"queries": ["glass museum", "x" * 64]}, timeout=10)
        assert r.status_code == 413
        assert requests.post(small.url + "/retrieve", json={"queries": ["glass"]}, timeout=10).status_code == 200


@pytest.mark.parametrize("value", ["false", "true", 0, 1, [], {}, "no"])
def test_return_scores_must_be_a_real_boolean(server, value):
    r = requests.post(server.url + "/retrieve", json={"queries": ["glass"], "return_scores": value}, timeout=10)
    assert r.status_code == 422 and "return_scores" in r.json()["detail"]


def test_return_scores_false_null_and_topk_forms(server):
    def first(**kw):
        return requests.post(server.url + "/retrieve", json={"queries": ["glass"], **kw}, timeout=10).json()["result"][0]

    assert set(first(return_scores=False)[0]) == {"id", "contents"}
    assert set(first(return_scores=None)[0]) == {"id", "contents"}
    assert set(first(return_scores=True)[0]) == {"document", "score"}
    assert len(first(topk=0)) == len(first(topk=None)) == 2  # 0 or null: the server default (2 here)
    for topk in (False, True, 1.0, 0.0, "1"):
        r = requests.post(server.url + "/retrieve", json={"queries": ["glass"], "topk": topk}, timeout=10)
        assert r.status_code == 422, topk


class _Broken(Retriever):
    kind = "broken"

    def retrieve(self, query: str, k: int) -> list[Passage]:
        raise RuntimeError("backend down")


def test_a_failing_backend_is_a_json_500_and_the_server_stays_up():
    with RetrievalServer(_Broken(), port=0) as srv:
        for _ in range(2):
            r = requests.post(srv.url + "/retrieve", json={"queries": ["x"]}, timeout=10)
            assert r.status_code == 500 and r.json()["detail"] == "retrieval failed: RuntimeError"
        assert requests.get(srv.url + "/health", timeout=10).status_code == 200


class _LoopbackServer:
    """A raw TCP server on 127.0.0.1 whose handler gets each accepted socket (for hung/odd servers)."""

    def __init__(self, handle):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.stop = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.settimeout(30)
            with contextlib.suppress(OSError):  # the client hung up: expected here
                self.handle(conn, self.stop)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _read_request(conn) -> None:
    """Consume the whole request: closing a socket with unread input sends a reset, not the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length and (chunk := conn.recv(65536)):
        body += chunk


def _hang(conn, stop):
    _read_request(conn)
    stop.wait(30)  # reads the request, never answers


def _trickle(conn, stop):
    """Answers one byte every 0.2 s: each byte resets a per-read socket timeout."""
    _read_request(conn)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    for b in head + b" " * 100_000:
        if stop.wait(0.2):
            return
        conn.sendall(bytes([b]))


@pytest.mark.parametrize("handler", [_hang, _trickle], ids=["hung", "trickling"])
def test_a_hung_server_costs_at_most_the_deadline(handler):
    """Issue 16: 3 tries x 30 s read timeout cost 92 s per search. The deadline bounds the whole call,
    retries and back-off included, even when every single read stays under the read timeout."""
    with _LoopbackServer(handler) as srv:
        client = HttpRetriever(f"127.0.0.1:{srv.port}", read_timeout=30, retries=2, backoff=0.05, deadline=1.5)
        t0 = time.monotonic()
        with pytest.raises(RetrievalServerError, match="within the 1.5s deadline"):
            client.retrieve("x", 3)
        assert 1.4 < time.monotonic() - t0 < 3.0


def test_the_deadline_default_and_its_environment_override(monkeypatch):
    monkeypatch.delenv(DEADLINE_ENV, raising=False)
    assert DEFAULT_DEADLINE_S == 30.0 and HttpRetriever("127.0.0.1:9").deadline == 30.0
    monkeypatch.setenv(DEADLINE_ENV, "2.5")
    assert HttpRetriever("127.0.0.1:9").deadline == 2.5
    assert HttpRetriever("127.0.0.1:9", deadline=4).deadline == 4.0
    for bad in ("0", "-1", "nan", "soon"):
        monkeypatch.setenv(DEADLINE_ENV, bad)
        with pytest.raises(AgentGymError, match=DEADLINE_ENV):
            HttpRetriever("127.0.0.1:9")
    with pytest.raises(AgentGymError, match="read_timeout"):
        HttpRetriever("127.0.0.1:9", read_timeout=0)
    with pytest.raises(RetrievalServerError, match="not a retrieval server URL"):
        HttpRetriever("http://h:notaport")


def _answer(payload: bytes, length: int | None = None):
    def handle(conn, stop):
        _read_request(conn)
        n = len(payload) if length is None else length
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % n + payload)

    return handle


@pytest.mark.parametrize(
    "payload,length,match",
    [
        (b"[" * 100_000 + b"]" * 100_000, None, "did not answer JSON"),
        (b"not json", None, "did not answer JSON"),
        (b"{}", 10**12, "answered 1000000000000 bytes"),
        (b'{"result": [[{"document": {"id": 1}}]]}', None, "unexpected shape"),
        (b'{"result": [3]}', None, "unexpected shape"),
        (b'{"result": []}', None, "'result' list of 1"),
    ],
)
def test_malformed_answers_are_one_clear_error(payload, length, match):
    with _LoopbackServer(_answer(payload, length)) as srv, pytest.raises(RetrievalServerError, match=match):
        HttpRetriever(f"127.0.0.1:{srv.port}", retries=0, deadline=5).retrieve("x", 3)


def test_the_searchqa_env_option_sets_the_http_deadline():
    """A slow but valid server (a single-threaded dense index behind many env threads) needs a longer
    deadline than the default: the env option reaches the client, and a bad value is refused."""
    from agentgym.envs.searchqa.env import SearchQAEnv

    env = SearchQAEnv(retriever="http", retriever_url="http://127.0.0.1:9/retrieve", retriever_deadline_s=75)
    assert env.retriever.deadline == 75.0
    with pytest.raises(ValueError, match="retriever_deadline_s"):
        SearchQAEnv(retriever="http", retriever_url="http://127.0.0.1:9/retrieve", retriever_deadline_s=0)

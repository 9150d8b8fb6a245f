"""The `/retrieve` API: our Flask server (real, on 127.0.0.1) and the HTTP client, including servers
that are down, silent or failing. Every wait here is bounded by the client's own timeouts."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from agentgym.envs.searchqa.env import SearchQAEnv
from agentgym.retrieval.bm25_py import BM25PyRetriever
from agentgym.retrieval.remote import HttpRetriever, RetrievalServerError, retrieve_url
from agentgym.retrieval.server import RetrievalServer
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

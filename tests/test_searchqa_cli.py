"""`agentgym searchqa ...` end to end: generate, serve-retriever (a real process on 127.0.0.1), expert."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from agentgym.cli import main
from agentgym.retrieval.remote import HttpRetriever, RetrievalServerError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_retriever_process_answers_search_r1_requests():
    port = _free_port()
    cmd = [sys.executable, "-c", "from agentgym.cli import main; main()", "searchqa", "serve-retriever",
           "--retriever", "bm25-py", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = HttpRetriever(f"http://127.0.0.1:{port}", retries=0, connect_timeout=1)
        deadline = time.monotonic() + 60
        while True:
            try:
                res = client.batch_retrieve(["University of", "zzzz-nothing"], 3)
                break
            except RetrievalServerError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not come up within 60 s"
                time.sleep(0.2)
        assert len(res[0]) == 3 and res[1] == []
        assert all(p.contents.startswith('"') for p in res[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_serve_retriever_rejects_http_backend(capsys):
    with pytest.raises(SystemExit) as e:
        main(["searchqa", "serve-retriever", "--retriever", "http"])
    assert e.value.code == 2


def test_generate_and_expert_commands(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["searchqa", "generate", "--out", str(tmp_path), "--no-parquet"])
    assert e.value.code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"corpus.jsonl", "train.jsonl", "test.jsonl"}
    with pytest.raises(SystemExit) as e:
        main(["searchqa", "expert", "--retriever", "bm25-py", "--qa", str(tmp_path), "--corpus", str(tmp_path / "corpus.jsonl"),
              "--episodes", "40", "--out", str(tmp_path / "demos.jsonl")])  # fmt: skip
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "nq" in out and "exact match" in out  # the plain expert's numbers (no skills), whatever they are
    assert len((tmp_path / "demos.jsonl").read_text().splitlines()) == 40

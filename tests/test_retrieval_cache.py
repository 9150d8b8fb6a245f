"""Cache housekeeping of the retrieval indexes that needs no Java: stale staging folders (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys

from agentgym.retrieval.lucene import _host_tag, sweep_stale_builds


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def test_staging_folders_of_dead_builds_are_swept_and_live_ones_kept(tmp_path):
    host, dead = _host_tag(), _dead_pid()
    stale = tmp_path / f".build-{host}-{dead}-abc123"
    live = tmp_path / f".build-{host}-{os.getpid()}-def456"
    other_host = tmp_path / f".build-otherhost-{dead}-ghi789"
    legacy = tmp_path / ".build-x1y2z3"  # random mkdtemp name of older versions: no pid to check
    cached = tmp_path / "0123456789abcdef"
    for p in (stale, live, other_host, legacy, cached):
        (p / "index").mkdir(parents=True)
    assert sweep_stale_builds(tmp_path) == [stale]
    assert not stale.exists() and all(p.is_dir() for p in (live, other_host, legacy, cached))
    assert sweep_stale_builds(tmp_path / "missing") == []

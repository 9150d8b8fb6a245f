"""tools/fuzz_inputs.py: a short env fuzz per built-in env finds nothing, and the CLI part reports right.

The full run (10,000 actions per env and the whole CLI matrix) is `python tools/fuzz_inputs.py`; this
runs 200 actions per env so that a regression in any env's action handling shows up in the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "fuzz_inputs.py"


def _tool(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def env_reports(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("fuzz") / "env.json"
    p = _tool("--only", "env", "--actions", "200", "--json", str(out))
    assert out.is_file(), p.stdout + p.stderr
    return {r["env"]: r | {"_rc": p.returncode, "_out": p.stdout[-3000:]} for r in json.loads(out.read_text())["env"]}


@pytest.mark.parametrize("env", ["alfworld", "webshop", "searchqa"])
def test_fuzzed_steps_never_raise_and_garbage_is_invalid(env_reports, env):
    r = env_reports[env]
    assert r["steps"] == 200 and r["garbage"] > 20, r
    assert (r["step_exceptions"], r["garbage_valid"], r["contract"]) == (0, 0, 0), r["failures"]


@pytest.mark.parametrize("env", ["alfworld", "webshop", "searchqa"])
def test_bad_resets_are_refused_cleanly_and_leave_the_episode(env_reports, env):
    """Item 6: a refused reset is an AgentGymError and the env stays in its previous episode."""
    r = env_reports[env]
    assert r["resets"] >= 30 and r["reset_refused"] >= 20, r
    assert (r["reset_exceptions"], r["half_reset"], r["after_reset_exceptions"]) == (0, 0, 0), r["failures"]


def test_the_tool_exits_zero_when_nothing_was_found(env_reports):
    assert {r["_rc"] for r in env_reports.values()} == {0}, next(iter(env_reports.values()))["_out"]


def test_cli_part_runs_the_cases_as_subprocesses(tmp_path):
    out = tmp_path / "cli.json"
    p = _tool("--only", "cli", "--cases", "envs check*", "--json", str(out), timeout=120)
    results = json.loads(out.read_text())["cli"]
    assert len(results) == 5 and all(r["rc"] == 2 and not r["problem"] for r in results), results
    assert p.returncode == 0 and "CLI bad-input matrix" in p.stdout


def test_case_results_are_classified():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import fuzz_inputs as fz
    finally:
        sys.path.remove(str(TOOL.parent))

    def res(rc, err_lines=1, warn=0, other=0, tb=False, expect="error", timed_out=False):
        return fz.CaseResult("c", "agentgym c", expect, rc, 0.1, tb, timed_out, err_lines, warn, other, "")

    assert res(2).problem == ""
    assert res(0, err_lines=0).problem == "silent acceptance"
    assert res(1, err_lines=0, other=12, tb=True).problem == "traceback"
    assert res(2, other=1).problem == "not one clean line"
    assert res(None, timed_out=True).problem == "timeout"
    assert res(0, err_lines=0, warn=1, expect="warn").problem == ""
    assert res(0, err_lines=0, warn=0, expect="warn").problem == "silent acceptance"
    assert res(2, warn=1).problem == ""  # a warning before the error line is fine

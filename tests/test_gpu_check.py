"""Issue 18: the GPU check script runs end to end on CPU with its tiny config (plain torch, DeepSpeed
ZeRO-2 in one process, LoRA) and fails loudly when a run fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_tiny_gpu_check_passes_on_cpu():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable)
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--tiny", "--device", "cpu"], capture_output=True,
                       text=True, timeout=900, env=env, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    for run in ("torch", "zero2", "lora"):
        assert f"│ {run} " in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("gpu_check: OK")


def test_a_failing_run_fails_the_check_with_its_output():
    """A run past its time limit fails the check: it says FAILED and exits 1."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable)
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--tiny", "--device", "cpu", "--only", "torch",
                        "--steps", "2", "--timeout-s", "1"], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert r.returncode == 1 and "gpu_check: FAILED" in r.stdout

"""Kill -9 a training run after a checkpoint, resume it, and read its learning curve: the procedure the
resume bit-identity tests share (full fine-tuning in test_trainer.py, LoRA in test_lora.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def run_killed_and_resumed(cmd: Callable[..., list[str]], out: Path, *, kill_after: int = 2,
                           steps: int = 4) -> subprocess.CompletedProcess:
    """`cmd(*extra)` is the training command writing to `out`: start it, SIGKILL it once its checkpoint of
    step `kill_after` is complete (before step `steps` is), then run `cmd("--resume")` and return that."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    victim = subprocess.Popen(cmd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    marker = out / "checkpoints" / f"step_{kill_after:06d}" / "trainer_state.json"
    deadline = time.time() + 300
    while not marker.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the run never reached its step-{kill_after} checkpoint"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    done = {int(p.name[5:]) for p in (out / "checkpoints").iterdir() if (p / "trainer_state.json").exists()}
    assert max(done) < steps, "killed too late to test resuming"
    resumed = subprocess.run(cmd("--resume"), capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step" in resumed.stdout
    return resumed


def learning_curve(run: Path) -> list[tuple]:
    """(step, success, response tokens, loss) per logged step: what must match after a resume."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(m["step"], m["success"], m["response_tokens"], round(m["loss"], 10)) for m in rows]

"""tools/bench_vs_trl.py: its workload is what it claims, agentgym's side runs, and a missing TRL is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import bench_vs_trl as bench  # noqa: E402


@pytest.mark.slow
def test_workload_and_agentgym_side(tmp_path):
    """Prompts of exactly 72 tokens that re-tokenize to the same ids as text (what TRL is given), a 2k BPE,
    the 4-layer model, and agentgym steps of exactly 2 x 8 x 32 response tokens (the run checks it)."""
    import torch

    from agentgym.models.load import load_policy

    torch.set_num_threads(1)
    model_dir, texts = bench.build_workload(tmp_path)
    model, tok = load_policy(model_dir)
    assert 1900 <= len(tok) <= 2100 and model.config.num_hidden_layers == 4
    assert len(texts) == 64
    ids = [bench.encode_prompt(tok, bench.user_text(t)) for t in texts]
    assert {len(i) for i in ids} == {bench.PROMPT_TOKENS}
    text = tok.decode(ids[0], skip_special_tokens=False)
    assert tok(text, add_special_tokens=False)["input_ids"] == ids[0]
    times = bench.agentgym_run(model_dir, texts, 3, False, 0, tmp_path / "run")
    assert len(times) == 3 and all(t > 0 for t in times)


def test_without_trl_it_says_how_to_set_up(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AGENTGYM_TRL_VENV": str(tmp_path / "none"), "HOME": str(tmp_path)}
    try:
        import trl  # noqa: F401
        pytest.skip("trl is installed in this environment")
    except ImportError:
        pass
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_vs_trl.py")], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode != 0 and "--setup" in r.stderr and len(r.stderr.strip().splitlines()) == 1

"""tools/bench_rollout.py end to end on the toy env and a tiny model: every row is measured and consistent."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from fakes.tiny import build_tiny
from fakes.toy_env import register_toy


def _bench_main():
    path = Path(__file__).resolve().parents[1] / "tools" / "bench_rollout.py"
    spec = importlib.util.spec_from_file_location("bench_rollout", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_bench_rollout_reports_rows_and_the_prefill_bound(tmp_path):
    env_id = register_toy()
    model = build_tiny(tmp_path / "m", seed=1)
    out = tmp_path / "rows.json"
    rc = _bench_main()(["--env", env_id, "--model", str(model), "--batches", "1", "4", "--threads", "1",
                        "--min-episodes", "2", "--group-size", "2", "--max-new-tokens", "8", "--decode", "both",
                        "--engine-only", "16", "4", "--json", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text())["rows"]
    rollout = [r for r in rows if "engine_only" not in r]
    assert {(r["decode"], r["batch"]) for r in rollout} == {(d, b) for d in ("fast", "plain") for b in (1, 4)}
    for r in rollout:
        assert r["episodes"] >= 2 and r["turns"] >= r["episodes"] and r["tokens_per_s"] > 0
        assert 0 < r["prefill_frac"] < 1 and r["prompt_tokens_per_turn"] > 0
        assert r["tokens_per_s_prefill_bound"] > r["tokens_per_s"]  # decoding is never free
        assert abs(r["gen_frac"] + r["env_frac"] + r["prompt_frac"] - 1) < 0.2
    engine_only = [r for r in rows if "engine_only" in r]
    assert len(engine_only) == 4 and all(r["tokens_per_s"] > 0 and r["decode_s_per_token"] > 0 for r in engine_only)

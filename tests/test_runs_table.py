"""tools/runs_table.py: per-run change with its interval, the mean over seeds, unfinished runs listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.tools import load_tool


def _tool():
    return load_tool("runs_table")


def _run(folder: Path, seed: int, before: float | None, after: float | None, backend: str = "grpo") -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text(f"backend: {backend}\nseed: {seed}\nsteps: 60\n")
    for name, p in (("eval_before.json", before), ("eval_after.json", after)):
        if p is not None:
            (folder / name).write_text(json.dumps({
                "env_id": "e", "split": "test", "episodes": 300, "temperature": 0.4, "with_skills": False,
                "success": p, "score": p, "mean_length": 5.0, "valid_action_ratio": 0.9}))
    return folder


def test_runs_table_reports_each_change_and_the_mean_over_seeds(tmp_path, capsys):
    runs = [_run(tmp_path / "a", 0, 0.2, 0.3), _run(tmp_path / "b", 1, 0.2, 0.25), _run(tmp_path / "c", 2, 0.2, None)]
    out = tmp_path / "rows.json"
    assert _tool().main([*map(str, runs), "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["seed"] for r in rows] == [0, 1]
    assert rows[0]["diff"] == pytest.approx(0.1) and rows[0]["significant"] is True
    assert rows[1]["significant"] is False  # +0.05 on 300 episodes each: inside the interval
    text = capsys.readouterr().out
    assert "unfinished" in text and "grpo: mean change over 2 runs: +0.075 ± 0.025" in text


def test_the_mean_over_seeds_is_per_backend(tmp_path, capsys):
    runs = [_run(tmp_path / "a", 0, 0.2, 0.3), _run(tmp_path / "b", 1, 0.2, 0.25),
            _run(tmp_path / "c", 0, 0.2, 0.4, backend="sdar")]
    assert _tool().main(list(map(str, runs))) == 0
    text = capsys.readouterr().out
    assert "grpo: mean change over 2 runs: +0.075 ± 0.025" in text
    assert "sdar: one run (+0.200): no spread over seeds yet" in text


def test_a_torn_or_foreign_eval_file_reads_as_missing(tmp_path):
    """EvalResult.load: what a resume and the runs table read; a torn write or another JSON is None."""
    from agentgym.trainer.evaluate import EvalResult

    ok = EvalResult("e", "test", 10, 0.4, False, 0.3, 0.3, 5.0, 1.0)
    ok.save(tmp_path / "a.json")
    assert EvalResult.load(tmp_path / "a.json") == ok
    (tmp_path / "b.json").write_text('{"success": 0.')
    (tmp_path / "c.json").write_text('[1, 2]')
    (tmp_path / "d.json").write_text('{"success": 0.5}')
    assert [EvalResult.load(tmp_path / n) for n in ("b.json", "c.json", "d.json", "none.json")] == [None] * 4

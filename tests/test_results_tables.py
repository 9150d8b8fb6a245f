"""tools/results_tables.py: the docs/results.md tables from a bench folder, paired by seed, diagnostics
windows, finished runs only (in the tables and in the figure)."""

from __future__ import annotations

import json
from pathlib import Path

from fakes.tools import load_tool

from agentgym.plots import arm_of, collect_groups


def _run(bench: Path, name: str, backend: str, seed: int, before: float, after: float | None, gap: float = -0.1) -> None:
    d = bench / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"backend: {backend}\nseed: {seed}\nsteps: 30\n")
    (d / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "success": 0.1, "gate_mean": 0.4, "gap_mean": gap})
                                             + "\n" for s in range(1, 31)))
    (d / "summary.json").write_text(json.dumps({"wall_seconds": 600.0}))
    for fname, p in (("eval_before.json", before), ("eval_after.json", after)):
        if p is not None:
            (d / fname).write_text(json.dumps({
                "env_id": "e", "split": "test", "episodes": 300, "temperature": 0.4, "with_skills": False,
                "success": p, "score": p, "mean_length": 5.0, "valid_action_ratio": 0.9, "panel_fingerprint": "abc"}))


def test_the_tables_pair_by_seed_and_leave_unfinished_runs_out(tmp_path, capsys):
    bench = tmp_path / "bench"
    _run(bench, "grpo-s0", "grpo", 0, 0.2, 0.25)
    _run(bench, "grpo-s1", "grpo", 1, 0.2, 0.27)
    _run(bench, "sdar-s0", "sdar", 0, 0.2, 0.28, gap=-0.2)
    _run(bench, "sdar-s1", "sdar", 1, 0.2, 0.31, gap=-0.2)
    _run(bench, "sdar-s2", "sdar", 2, 0.2, None)  # still training: in no table, in no curve
    _run(bench, "sdar_lam0.1-s0", "sdar", 0, 0.2, 0.22)  # a sweep's arm is its folder name, not its backend
    fig = tmp_path / "curves.png"
    assert load_tool("results_tables").main([str(bench), "--against", "grpo", "--figure", str(fig)]) == 0
    text = capsys.readouterr().out
    assert "| sdar | 0 | 0.200 | 0.280 | +0.080 [" in text and "| sdar | 2 | 0.200 |" not in text
    assert "| sdar | 2 | +0.095 ± 0.015 | 0.295 ± 0.015 |" in text  # arm, seeds, change, after
    assert "| sdar | s0 +0.030, s1 +0.040 | +0.035 ± 0.005 | 7.00 (1) | 12.71 |" in text
    assert "| sdar_lam0.1 | s0 -0.030 | -0.030 (one seed) | - (0) | - |" in text and "nan" not in text
    assert "| sdar_lam0.1 | 1 | +0.020 (one seed) | 0.220 (one seed) |" in text
    assert "| sdar | 1-10 | 0.400 | - | -0.200 | - | 0.100 |" in text and "| grpo | 21-30 | 0.400 |" in text
    assert "| grpo | s0 10, s1 10 |" in text and "Unfinished (not in the tables): sdar-s2" in text
    assert "Panels (fingerprint, episodes, split): abc, 300, test" in text and fig.is_file()


def test_arms_are_folder_names_without_the_seed():
    assert arm_of(Path("sdar-s2"), "sdar") == "sdar" and arm_of(Path("sdar_lam0.1-s0"), "sdar") == "sdar_lam0.1"
    assert arm_of(Path("myrun"), "grpo") == "grpo" and arm_of(Path("myrun")) == "myrun"


def test_a_bench_folder_plots_one_line_per_arm(tmp_path):
    bench = tmp_path / "bench"
    _run(bench, "sdar-s0", "sdar", 0, 0.2, 0.3)
    _run(bench, "sdar-s1", "sdar", 1, 0.2, 0.3)
    _run(bench, "sdar_lam1-s0", "sdar", 0, 0.2, 0.3)
    assert [(g.label, len(g.runs)) for g in collect_groups([bench])] == [("sdar", 2), ("sdar_lam1", 1)]


def test_the_archive_keeps_the_records_only_and_the_tables_read_it_alike(tmp_path, capsys):
    bench, dest = tmp_path / "bench", tmp_path / "docs" / "bench"
    _run(bench, "grpo-s0", "grpo", 0, 0.2, 0.25)
    _run(bench, "sdar-s0", "sdar", 0, 0.2, 0.3)
    (bench / "sdar-s0" / "step_000060").mkdir()
    (bench / "sdar-s0" / "step_000060" / "model.safetensors").write_bytes(b"weights")
    (bench / "sdar-s0" / "tensorboard").mkdir()
    tools = load_tool("results_tables")
    assert tools.main([str(bench), "--against", "grpo"]) == 0
    from_runs = capsys.readouterr().out
    _run(bench, "sdar-s1", "sdar", 1, 0.2, None)  # unfinished: not archived
    assert load_tool("archive_runs").main([str(bench), str(dest)]) == 0
    assert "left out (unfinished): sdar-s1" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == ["grpo-s0", "sdar-s0"]
    assert sorted(p.name for p in (dest / "sdar-s0").iterdir()) == sorted(
        ["config.yaml", "eval_after.json", "eval_before.json", "metrics.jsonl", "summary.json"])
    assert tools.main([str(dest), "--against", "grpo"]) == 0
    assert capsys.readouterr().out == from_runs
    assert load_tool("archive_runs").main([str(bench), str(bench)]) == 2  # never into itself

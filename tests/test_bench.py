"""`agentgym bench` and `agentgym plot` end to end with a tiny policy on ALFWorld (small): 2 backends x
2 seeds of real training runs, identical eval panels, the table, the PNGs, skipping finished runs,
resuming an unfinished one, refusing a changed config, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.core.recipe import ModelSize

ENV = "agentgym/ALFWorld-Small-v0"
TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)
RUNS = ["grpo-s0", "grpo-s1", "sdar-s0", "sdar-s1"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from agentgym.models.build import init_model_dir

    return init_model_dir(ENV, tmp_path_factory.mktemp("tiny") / "policy", vocab_size=400, size=TINY, demos=20)


def _bench_cmd(model: Path, out: Path, *extra: str, steps: int = 2) -> list[str]:
    return [sys.executable, "-m", "agentgym", "bench", "--env", ENV, "--backends", "grpo,sdar", "--seeds", "0,1",
            "--steps", str(steps), "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "2",
            "--model", str(model), "--out", str(out), "--env-opt", "max_steps=4", "--set", "max_new_tokens=24",
            "--set", "warmup_steps=1", "--set", "lr=1e-3", "--set", "tensorboard=false", *extra]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="110", HF_HUB_OFFLINE="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _cli(cmd: list[str], capsys) -> subprocess.CompletedProcess:
    """The same command through `agentgym.cli.main` in this process (no second torch import)."""
    from agentgym.cli import main

    assert cmd[:3] == [sys.executable, "-m", "agentgym"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main(cmd[3:])
    cap = capsys.readouterr()
    return subprocess.CompletedProcess(cmd, ei.value.code, cap.out, cap.err)


@pytest.fixture(scope="module")
def bench_run(tiny_model, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench") / "b"
    proc = _run(_bench_cmd(tiny_model, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _png_is_drawn(path: Path) -> bool:
    """A real figure: several thousand pixels and not one flat colour."""
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))
    return img.shape[0] > 200 and img.shape[1] > 300 and float(img[..., :3].std()) > 0.02


def test_bench_trains_every_pair_on_one_panel_and_reports(bench_run):
    out, proc = bench_run
    res = json.loads((out / "results.json").read_text())
    assert sorted(f"{r['backend']}-s{r['seed']}" for r in res["runs"]) == RUNS
    assert {r["status"] for r in res["runs"]} == {"trained"} and res["missing"] == []
    for name in RUNS:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["steps"] == 2 and summary["after"]["episodes"] == 2
        assert len((out / name / "metrics.jsonl").read_text().splitlines()) == 2
    # the panel: one fingerprint for every run, before and after, and it is the env's eval split
    fps = {json.loads((out / n / "summary.json").read_text())[w]["panel_fingerprint"] for n in RUNS
           for w in ("before", "after")}
    import agentgym

    probe = agentgym.make(ENV, max_steps=4).unwrapped
    assert fps == {probe.panel(probe.splits[-1]).fingerprint} == {res["eval"]["panel_fingerprint"]}
    panel = probe.panel(probe.splits[-1])
    assert res["panel"]["task_ids"] == [panel[0].task_id, panel[len(panel) // 2].task_id]  # spread over the panel
    probe.close()
    # same initial policy + same eval sampling seed: the "before" numbers agree across all runs
    assert len({r["before"]["success"] for r in res["runs"]}) == 1
    # configs differ only in backend and seed
    import yaml

    cfgs = {n: yaml.safe_load((out / n / "config.yaml").read_text()) for n in RUNS}
    for c in cfgs.values():
        for k in ("backend", "seed", "out_dir"):
            c.pop(k)
    assert all(c == cfgs["grpo-s0"] for c in cfgs.values())
    # statistics recomputed from the run folders
    after = {n: json.loads((out / n / "summary.json").read_text())["after"]["success"] for n in RUNS}
    diffs = [after["sdar-s0"] - after["grpo-s0"], after["sdar-s1"] - after["grpo-s1"]]
    assert res["paired"]["sdar"]["success_after"]["mean"] == pytest.approx(sum(diffs) / 2)
    assert res["per_backend"]["grpo"]["success_after"]["mean"] == pytest.approx((after["grpo-s0"] + after["grpo-s1"]) / 2)
    gate = [json.loads(x)["gate_mean"] for n in ("sdar-s0", "sdar-s1") for x in (out / n / "metrics.jsonl").read_text().splitlines()]
    assert res["per_backend"]["sdar"]["diagnostics"]["gate_mean"]["mean"] == pytest.approx(sum(gate) / len(gate))
    assert res["per_backend"]["grpo"]["diagnostics"] == {}
    # the table (captions wrap: compare with whitespace collapsed)
    flat = " ".join(proc.stdout.split())
    for text in ("eval success on", "backend", "before", "after", "gain", "Δ vs grpo", "reference",
                 "self-distillation diagnostics", "gate mean", "Not significant", "Only 2 seed(s)"):
        assert text in flat, text
    # the plots
    for png in ("curves.png", "final.png"):
        p = out / png
        assert _is_png(p) and p.stat().st_size > 10_000 and _png_is_drawn(p), png


def test_rerun_skips_finished_runs(bench_run, tiny_model, capsys):
    out, _ = bench_run
    files = ("summary.json", "metrics.jsonl", "eval_before.json", "eval_after.json", "config.yaml")
    stamp = {n: [(out / n / f).stat().st_mtime_ns for f in files] for n in RUNS}
    again = _cli(_bench_cmd(tiny_model, out), capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 finished run(s) reused" in again.stdout
    assert all([(out / n / f).stat().st_mtime_ns for f in files] == stamp[n] for n in RUNS), \
        "a finished run was trained again"
    res = json.loads((out / "results.json").read_text())
    assert {r["status"] for r in res["runs"]} == {"skipped"} and len(res["runs"]) == 4


def test_a_killed_bench_continues_where_it_stopped(tiny_model, tmp_path, capsys):
    """SIGKILL the bench while its second run is between checkpoints; the same command again reuses the
    first run and resumes the second from its checkpoint (not from scratch)."""
    out = tmp_path / "b"
    cmd = _bench_cmd(tiny_model, out, "--set", "checkpoint_every=1", "--no-plots", steps=3)
    cmd[cmd.index("grpo,sdar")] = "grpo"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    victim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    marker = out / "grpo-s1" / "checkpoints" / "step_000001" / "trainer_state.json"
    deadline = time.time() + 240
    while not marker.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the bench never reached grpo-s1's first checkpoint"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert (out / "grpo-s0" / "summary.json").is_file()
    assert not (out / "grpo-s1" / "summary.json").exists(), "killed too late to test resuming"
    first = (out / "grpo-s0" / "summary.json").stat().st_mtime_ns
    again = _cli(cmd, capsys)
    assert again.returncode == 0, again.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert {f"{r['backend']}-s{r['seed']}": r["status"] for r in res["runs"]} == {"grpo-s0": "skipped",
                                                                                  "grpo-s1": "resumed"}
    assert (out / "grpo-s0" / "summary.json").stat().st_mtime_ns == first
    assert "resumed from step" in (out / "grpo-s1" / "train.log").read_text()
    rows = [json.loads(x) for x in (out / "grpo-s1" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in rows] == [1, 2, 3]


def test_a_changed_config_is_refused_not_mixed_in(bench_run, tiny_model, capsys):
    out, _ = bench_run
    proc = _cli(_bench_cmd(tiny_model, out, steps=3), capsys)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "steps=2" in err[0] and "steps=3" in err[0], proc.stderr


def test_plot_cli_draws_run_and_bench_folders(bench_run, tmp_path):
    out, _ = bench_run
    png = tmp_path / "c.png"
    proc = _run([sys.executable, "-m", "agentgym", "plot", str(out), str(out / "grpo-s0"), "--out", str(png),
                 "--metrics", "success,gate_mean,loss"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _is_png(png) and png.stat().st_size > 10_000 and _png_is_drawn(png)
    from agentgym.plots import collect_groups

    groups = collect_groups([out])
    assert [(g.label, len(g.runs)) for g in groups] == [("grpo", 2), ("sdar", 2)]


@pytest.mark.parametrize("argv, message", [
    (["bench", "--env", ENV, "--backends", "grpo,nope", "--seeds", "0"], "unknown backend 'nope'"),
    (["bench", "--env", ENV, "--backends", "grpo", "--seeds", ","], "--seeds is empty"),
    (["bench", "--env", ENV, "--backends", "", "--seeds", "0"], "--backends is empty"),
    (["bench", "--env", ENV, "--seeds", "0", "--set", "seed=3"], "the bench sets seed itself"),
    (["plot", "/nonexistent/run", "--out", "x.png"], "/nonexistent/run does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    from agentgym.cli import main

    with pytest.raises(SystemExit) as ei:
        main([*argv, *(["--out", str(tmp_path / "b")] if argv[0] == "bench" else [])])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "b").exists(), "a rejected bench must not create its folder"


def test_a_failing_run_does_not_stop_the_others(tiny_model, tmp_path):
    """One run raises (an injected fault around the real trainer); the others finish, results.json lists
    the finished ones and the missing one, and the bench ends with a user error naming the run."""
    from rich.console import Console

    from agentgym.bench import BenchSpec, run_bench
    from agentgym.core.errors import AgentGymError
    from agentgym.trainer.run import run_training

    def flaky(cfg, **kw):
        if Path(cfg.out_dir).name == "sdar-s0":
            raise RuntimeError("injected fault")
        return run_training(cfg, **kw)

    spec = BenchSpec(env=ENV, backends="grpo,sdar", seeds="0", out_dir=tmp_path / "b",
                     overrides=dict(model=str(tiny_model), steps=1, tasks_per_step=2, group_size=2, eval_episodes=2,
                                    env_kwargs={"max_steps": 4}, max_new_tokens=24, warmup_steps=1, lr="1e-3",
                                    tensorboard=False))
    with open(os.devnull, "w") as sink, pytest.raises(AgentGymError, match="1 run\\(s\\) failed: sdar-s0"):
        run_bench(spec, console=Console(file=sink), trainer=flaky, plots=False)
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [r["backend"] for r in res["runs"]] == ["grpo"] and res["missing"] == ["sdar-s0"]
    assert "injected fault" in (tmp_path / "b" / "sdar-s0" / "train.log").read_text()


def test_paired_statistics():
    from agentgym.bench import mean_std, paired

    p = paired([0.1, 0.5])
    assert p["mean"] == pytest.approx(0.3) and p["se"] == pytest.approx(0.2) and not p["significant"]
    assert paired([0.10, 0.11, 0.12])["significant"]
    assert paired([0.0, 0.0])["significant"] is False
    one = paired([0.5])
    assert one["se"] is None and not one["significant"]
    s = mean_std([0.2, 0.4, None])
    assert s["n"] == 2 and s["mean"] == pytest.approx(0.3) and s["std"] == pytest.approx(0.1414, abs=1e-4)


def test_a_run_trained_through_the_env_alias_and_other_eval_steps_is_the_same_run(tmp_path):
    """`agentgym train --env alfworld` records the alias, the bench the id; intermediate evaluations
    change no training step. Both are reused; a different learning rate is still refused."""
    import yaml

    from agentgym.bench import check_same_config
    from agentgym.core.errors import AgentGymError
    from agentgym.trainer.config import TrainConfig

    run = tmp_path / "grpo-s0"
    run.mkdir()
    trained = TrainConfig(env="alfworld", backend="grpo", eval_every=0, out_dir=str(run)).resolved().to_dict()
    (run / "config.yaml").write_text(yaml.safe_dump(trained))
    check_same_config(run, TrainConfig(env="agentgym/ALFWorld-v0", backend="grpo", eval_every=20, out_dir="x"))
    with pytest.raises(AgentGymError, match="lr=0.0001, the bench asks lr=0.001"):
        check_same_config(run, TrainConfig(env="agentgym/ALFWorld-v0", backend="grpo", lr=1e-3, out_dir="x"))

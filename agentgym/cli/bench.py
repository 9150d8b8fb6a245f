"""`agentgym bench` (backends head to head over seeds) and `agentgym plot` (learning curves)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentgym.cli.common import (
    check_train_config,
    check_writable,
    console,
    console_err,
    learning_rate,
    parse_kv,
)
from agentgym.core.errors import AgentGymError


def bench(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    backends: str = typer.Option("grpo,grpo_opsd,sdar", help="comma-separated backends; the first is the reference"),
    seeds: str = typer.Option("0,1,2", help="comma-separated training seeds (each backend runs every seed)"),
    steps: int = typer.Option(None, min=0, help="training steps per run"),
    tasks_per_step: int = typer.Option(None, min=1, help="tasks per step (B)"),
    group_size: int = typer.Option(None, min=2, help="rollouts per task (G)"),
    lr: float = typer.Option(None, help="learning rate", callback=learning_rate),
    eval_episodes: int = typer.Option(None, min=1, help="episodes of the before/after evaluation (the panel size)"),
    model: str = typer.Option(None, help="Hugging Face causal-LM directory (default: the embedded policy)"),
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of TrainConfig fields shared by all runs"),
    out: Path = typer.Option(None, "--out", "-o", help="bench folder (default runs/bench-<env>)"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
    backend_opt: list[str] = typer.Option(None, "--backend-opt", help="option for every backend key=value (repeatable)"),
    set_: list[str] = typer.Option(None, "--set", help="any TrainConfig field key=value, shared by all runs (repeatable)"),
    diag_window: int = typer.Option(10, min=1, help="average the self-distillation diagnostics over this many last steps"),
    plots: bool = typer.Option(True, help="write curves.png and final.png into the bench folder"),
) -> None:
    """Train every backend with every seed on identical settings and compare them on one eval panel.

    Resumable: finished runs are reused, interrupted ones resume from their newest checkpoint."""
    from agentgym.bench import BenchSpec, run_bench

    overrides = dict(steps=steps, tasks_per_step=tasks_per_step, group_size=group_size, lr=lr,
                     eval_episodes=eval_episodes, model=model)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    overrides.update(parse_kv(set_, "--set"))
    if env_opt:
        overrides["env_kwargs"] = {**overrides.get("env_kwargs", {}), **parse_kv(env_opt, "--env-opt")}
    if backend_opt:
        overrides["backend_kwargs"] = {**overrides.get("backend_kwargs", {}), **parse_kv(backend_opt, "--backend-opt")}
    if out is None:
        out = Path("runs") / f"bench-{env.split('/')[-1].lower()}"
    check_writable(out, "--out", folder=True)
    spec = BenchSpec(env=env, backends=backends, seeds=seeds, out_dir=out, overrides=overrides, config_file=config,
                     diag_window=diag_window)
    _check_spec(spec)
    run_bench(spec, console=console, plots=plots)


def _check_spec(spec) -> None:
    """Every backend's options, the env options, splits and B against the panel, before the first run:
    a bad value found at run 3 of 9 would cost the first two runs' time and then stop the bench."""
    from agentgym.bench import plan

    seen: set[str] = set()
    env_kwargs = None
    for cfg in plan(spec):
        if cfg.backend not in seen:
            seen.add(cfg.backend)
            check_train_config(cfg)
            env_kwargs = cfg.env_kwargs
    if env_kwargs is not None:  # the typed values, so that every run builds its env with the same ones
        spec.overrides["env_kwargs"] = env_kwargs


def plot(
    run_dirs: list[Path] = typer.Argument(..., help="run folders (with metrics.jsonl) or bench folders"),
    out: Path = typer.Option(..., "--out", "-o", help="output image (.png, .pdf or .svg)"),
    metrics: str = typer.Option(None, help="comma-separated metrics (default: success, valid_action_ratio, loss, kl, "
                                "entropy, gate_mean, gate_active_ratio, gap_mean where logged)"),
    smooth: int = typer.Option(0, min=0, help="moving-average window in steps (0: about 1/25 of the run, 1: none)"),
) -> None:
    """Learning curves from metrics.jsonl: one panel per metric; a bench folder's seeds are averaged
    per arm (the run folder's name without -s<seed>: the backend, or a sweep's setting) with a min-max band."""
    from agentgym.plots import plot_curves

    wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    if metrics is not None and not wanted:
        raise AgentGymError("--metrics is empty")
    check_writable(out, "--out")
    path = plot_curves(run_dirs, out, metrics=wanted, smooth=smooth, warn=console_err)
    console.print(f"wrote {path}", markup=False, highlight=False)



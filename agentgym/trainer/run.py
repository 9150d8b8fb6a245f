"""`agentgym train` end to end: eval before, the training loop with live progress, checkpoints,
metrics (JSONL + TensorBoard, wandb when asked), eval after, and a summary."""

from __future__ import annotations

import fcntl
import json
import math
import resource
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from transformers.utils import logging as hf_logging

from agentgym.backends import get_backend
from agentgym.core.errors import AgentGymError
from agentgym.core.registry import known_env_id, resolve_env_id
from agentgym.models.default import ensure_default_model
from agentgym.plots import plot_curves
from agentgym.trainer.config import TRAIN_SKILL_LIBRARY_HOW, TrainConfig, config_json, skill_library_for
from agentgym.trainer.evaluate import EvalResult, change
from agentgym.trainer.loop import Trainer, write_metrics_line


class _Loggers:
    """TensorBoard and wandb. `start_step`: the step this run continues after (0 for a fresh run, the
    checkpoint's step on resume); TensorBoard then hides what an earlier run in the folder logged past
    it (`purge_step`), so that the steps between the last checkpoint and an interruption, played again,
    are not shown twice (metrics.jsonl is rewritten from the checkpoint's history for the same reason,
    and deleted for a fresh run)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, main: bool, start_step: int | None = None):
        self.tb = self.wandb = None
        if not main:
            return
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = start_step + 1 if start_step is not None else None
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        if cfg.wandb:
            try:
                import wandb
            except ImportError:
                raise AgentGymError("--wandb needs the wandb package: pip install wandb") from None
            self.wandb = wandb.init(project="agentgym", config=cfg.to_dict(), dir=str(run_dir))

    def log(self, metrics: dict[str, Any], step: int, prefix: str = "train") -> None:
        clean = {f"{prefix}/{k}": float(v) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        if self.tb:
            for k, v in clean.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb:
            self.wandb.log(clean, step=step)

    def close(self) -> None:
        if self.tb:
            self.tb.close()
        if self.wandb:
            self.wandb.finish()


def _eval_table(before, after) -> Table:
    t = Table("", "success", "score", "valid actions", "mean length",
              title=escape(f"eval on {before.env_id} [{before.split}], {before.episodes} episodes, "
                           f"T={before.temperature}, no skills"))
    for name, r in (("before", before), ("after", after)):
        if r is not None:
            t.add_row(name, f"{r.success:.3f}", f"{r.score:.3f}", f"{r.valid_action_ratio:.3f}", f"{r.mean_length:.2f}")
    if before is not None and after is not None:
        c = change(before, after)
        t.add_row("change", escape(f"{c.diff:+.3f} [{c.lo:+.3f}, {c.hi:+.3f}]"), f"{after.score - before.score:+.3f}",
                  f"{after.valid_action_ratio - before.valid_action_ratio:+.3f}",
                  f"{after.mean_length - before.mean_length:+.2f}")
        t.caption = escape(f"change in success: {c.line()}")
    return t


def _draw_curves(run_dir: Path, console: Console) -> str | None:
    """`<run>/curves.png`: eval success (before, every `eval_every` steps, after), train success, valid
    actions and the backend's diagnostics. A plotting failure costs the picture, never the run."""
    try:
        return str(plot_curves([run_dir], run_dir / "curves.png", warn=lambda m: None))
    except Exception as e:  # matplotlib missing, nothing logged (0 steps), a full disk
        console.print(f"no learning-curve picture: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                      markup=False)
        return None


def default_policy(cfg: TrainConfig, *, log=print) -> Path:
    """The policy a run on `cfg` starts from: `cfg.model`, else the env's default policy (the shipped build
    copied into the cache, or built on first use: minutes to hours on a CPU). A skill-using backend's
    missing skill library, an unknown env or a bad option is reported first, so that it never costs a build."""
    if cfg.model:
        return Path(cfg.model)
    checked = cfg.resolved()
    checked.validate()
    known_env_id(cfg.env)
    backend = get_backend(cfg.backend, **cfg.backend_kwargs)  # unknown backend options: one line
    if backend.needs_skills:
        skill_library_for(cfg.env, cfg.skill_library, needed_by=f"the {backend.name} backend", how=TRAIN_SKILL_LIBRARY_HOW)
    return ensure_default_model(resolve_env_id(cfg.env), env_kwargs=cfg.env_kwargs, log=log, isolated=True)


def run_training(cfg: TrainConfig, *, resume: bool = False, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    t_start = time.perf_counter()

    hf_logging.disable_progress_bar()  # no "Writing model shards" bar at every checkpoint
    run_dir = Path(cfg.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    say = lambda m: console.print(m, markup=False)  # noqa: E731
    trainer = Trainer(cfg, log=say, policy=default_policy(cfg, log=say))
    main = trainer.is_main
    lock = _lock_run_dir(run_dir, trainer) if main else None
    try:
        return _run(cfg, trainer, run_dir, resume, console, t_start)
    finally:
        if lock is not None:
            lock.close()


def _lock_run_dir(run_dir: Path, trainer: Trainer):
    """An exclusive lock on the run folder for the whole run: a second run on it stops at once."""
    f = open(run_dir / ".lock", "w")  # noqa: SIM115 (held open until the run ends)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        trainer.close()
        raise AgentGymError(f"{run_dir} is in use by another agentgym run; wait for it or pick another --out") from None
    return f


def _run(cfg: TrainConfig, trainer: Trainer, run_dir: Path, resume: bool, console: Console,
         t_start: float) -> dict[str, Any]:
    main = trainer.is_main
    if main:
        console.print(f"[bold]agentgym train[/bold] backend={trainer.backend.name} env={trainer.env_id} "
                      f"model={trainer.init_model_path}")
        console.print(config_json(trainer.cfg), markup=False, highlight=False)
        trainer.cfg.dump(run_dir / "config.yaml")
    metrics_path = run_dir / "metrics.jsonl"
    resumed = trainer.resume() if resume else False
    before: EvalResult | None = None
    if resumed:
        if main:
            console.print(f"resumed from step {trainer.steps_done} ({run_dir / 'checkpoints'})")
            metrics_path.write_text("".join(json.dumps(m) + "\n" for m in trainer.history))
        before = EvalResult.load(run_dir / "eval_before.json")  # None: missing or torn
    else:
        metrics_path.unlink(missing_ok=True)
        if cfg.eval_episodes > 0 and main:  # rank 0 evaluates; the others wait at the first collective
            with console.status("evaluating the initial policy (no skills)"):
                before = trainer.evaluate()
            if main:
                before.save(run_dir / "eval_before.json")
                console.print(f"before training: success {before.success:.3f}, score {before.score:.3f}")
    loggers = _Loggers(trainer.cfg, run_dir, main, start_step=trainer.steps_done)
    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not main) as progress:
        bar = progress.add_task("", total=cfg.steps, completed=trainer.steps_done)
        while trainer.steps_done < cfg.steps:
            m = trainer.step()
            if cfg.eval_every and trainer.steps_done % cfg.eval_every == 0 and trainer.steps_done < cfg.steps and main:
                ev = trainer.evaluate()
                m["eval_success"], m["eval_score"] = ev.success, ev.score
                loggers.log({"success": ev.success, "score": ev.score}, trainer.steps_done, prefix="eval")
            if main:
                write_metrics_line(metrics_path, m)
                loggers.log(m, trainer.steps_done)
            if trainer.steps_done % max(1, cfg.checkpoint_every) == 0 or trainer.steps_done == cfg.steps:
                trainer.save_checkpoint()
            gate = f" gate {m['gate_mean']:.2f}" if "gate_mean" in m else ""
            progress.update(bar, advance=1, description=f"success {m['success']:.2f} valid {m['valid_action_ratio']:.2f} "
                            f"loss {m.get('loss', float('nan')):+.3f}{gate} {m.get('time_step', 0):.1f}s/step")
    after = None
    if cfg.eval_episodes > 0 and main:
        with console.status("evaluating the trained policy (no skills)"):
            after = trainer.evaluate()
        if main:
            after.save(run_dir / "eval_after.json")
            loggers.log({"success": after.success, "score": after.score}, trainer.steps_done, prefix="eval")
    loggers.close()
    trainer.close()
    summary = {
        "backend": trainer.backend.name, "env": trainer.env_id, "steps": trainer.steps_done,
        "before": before.to_dict() if before else None, "after": after.to_dict() if after else None,
        "wall_seconds": time.perf_counter() - t_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "run_dir": str(run_dir),
    }
    if before and after:
        summary["change"] = change(before, after).to_dict()
    if main:
        summary["curves"] = _draw_curves(run_dir, console)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if before and after:
            console.print(_eval_table(before, after))
        if summary["curves"]:
            console.print(f"learning curves: {summary['curves']}", markup=False)
        console.print(f"done: {trainer.steps_done} steps in {summary['wall_seconds']:.0f} s, peak RSS {summary['peak_rss_mb']:.0f} MB; "
                      f"run folder {run_dir}")
    return summary

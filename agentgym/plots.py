"""Learning curves and final-result bar charts from run folders (PNG, no display needed).

    plot_curves(["runs/bench-alfworld"], "curves.png")                 # a bench folder: one line per backend
    plot_curves(["runs/a", "runs/b"], "ab.png", metrics=["success"])  # run folders: one line per run
    plot_final(load_results("runs/bench-alfworld"), "final.png")

A bench folder's runs of the same backend are averaged step by step, with a band from the min to the
max over seeds, so seed noise is visible next to the mean. Figures are drawn on matplotlib's Agg canvas
through `matplotlib.figure.Figure` (no pyplot, no global backend state, no display).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agentgym.core.errors import AgentGymError

#: Panels drawn when no --metrics are given (those a run did not log are left out).
DEFAULT_METRICS = ("eval_success", "success", "valid_action_ratio", "loss", "kl", "entropy", "gate_mean", "gate_active_ratio",
                   "gap_mean")
LABELS = {
    "success": "train success (rollouts)", "valid_action_ratio": "valid action ratio", "loss": "loss",
    "kl": "KL to reference (k3)", "entropy": "entropy (nats/token)", "gate_mean": "gate mean",
    "gate_active_ratio": "gate active ratio (g > 0.5)", "gap_mean": "mean teacher-student gap (nats)",
    "gap_neg_frac": "negative-gap fraction", "eval_success": "eval success", "score": "train score",
    "sd_loss": "self-distillation loss", "grad_norm": "grad norm", "episode_length": "episode length",
}
FORMATS = (".png", ".pdf", ".svg")


@dataclass
class Run:
    run_dir: Path
    rows: list[dict[str, Any]]
    backend: str | None = None
    seed: int | None = None


@dataclass
class Group:
    """Runs drawn as one line: one run, or all seeds of a backend in a bench folder."""

    label: str
    runs: list[Run] = field(default_factory=list)


def read_metrics(run_dir: Path, skipped: list[int] | None = None) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl. A line that is not a JSON object with an integer `step`
    (cut by a kill, damaged on disk, edited by hand) is left out, and its number goes to `skipped`."""
    path = Path(run_dir) / "metrics.jsonl"
    rows: list[dict[str, Any]] = []
    if not path.is_file():
        return rows
    for n, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            row = None
        step = row.get("step") if isinstance(row, dict) else None
        if isinstance(step, float) and math.isfinite(step) and step.is_integer():
            row["step"] = step = int(step)
        if isinstance(step, int) and not isinstance(step, bool):
            rows.append(row)
        elif skipped is not None:
            skipped.append(n)
    return rows


def _read_run(run_dir: Path, warn: Callable[[str], None]) -> Run:
    backend = seed = None
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        try:
            cfg = yaml.safe_load(cfg_path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            cfg = None
        if isinstance(cfg, dict):
            backend, seed = cfg.get("backend"), cfg.get("seed")
        else:
            warn(f"warning: {cfg_path} is not a valid YAML mapping; ignored")
    skipped: list[int] = []
    rows = read_metrics(run_dir, skipped)
    if skipped:
        shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        warn(f"warning: {run_dir / 'metrics.jsonl'}: skipped {len(skipped)} malformed line(s) (line {shown})")
    rows = rows + _eval_points(run_dir, rows)
    return Run(run_dir, rows, backend, seed if isinstance(seed, int) else None)


def _eval_points(run_dir: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's before/after evaluations as `eval_success` points at step 0 and at its last step, so
    the eval curve starts where training did (they live in eval_before/after.json, not metrics.jsonl)."""
    last = max((int(r["step"]) for r in rows if isinstance(r.get("step"), int)), default=0)
    out = []
    for name, step in (("eval_before.json", 0), ("eval_after.json", last)):
        try:
            ev = json.loads((run_dir / name).read_text())
            success = float(ev["success"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out.append({"step": step, "eval_success": success})
    return out


def arm_of(run_dir: Path, backend: str | None = None) -> str:
    """The arm a run folder of a bench belongs to: its name without the `-s<seed>` the bench gives it
    (`sdar-s2` -> `sdar`; a sweep's `sdar_lam0.1-s0` -> `sdar_lam0.1`), else its backend, else its name."""
    m = re.fullmatch(r"(.+)-s\d+", Path(run_dir).name)
    return m.group(1) if m else (backend or Path(run_dir).name)


def collect_groups(paths: Sequence[str | Path], warn: Callable[[str], None] | None = None) -> list[Group]:
    """Run folders (holding metrics.jsonl) become one group each; a bench folder (whose sub-folders are
    runs) becomes one group per arm (`arm_of`: a backend, or a sweep's setting), the bench's backends
    first, in its order."""
    warn = warn or (lambda _m: None)
    if not paths:
        raise AgentGymError("give at least one run folder or bench folder")
    groups: list[Group] = []
    multi = len(paths) > 1
    for p in map(Path, paths):
        if not p.exists():
            raise AgentGymError(f"{p} does not exist")
        if not p.is_dir():
            raise AgentGymError(f"{p} is not a folder (give a run folder or a bench folder)")
        if (p / "metrics.jsonl").is_file():
            groups.append(Group(p.name, [_read_run(p, warn)]))
            continue
        runs = [_read_run(c, warn) for c in sorted(p.iterdir()) if c.is_dir() and (c / "metrics.jsonl").is_file()]
        if not runs:
            raise AgentGymError(f"{p} holds no metrics.jsonl (neither a run folder nor a bench folder of runs)")
        order: list[str] = []
        bench_json = p / "bench.json"
        if bench_json.is_file():
            try:
                bench = json.loads(bench_json.read_bytes().decode("utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                bench = None
            if isinstance(bench, dict) and isinstance(bench.get("backends"), list):
                order = [str(b) for b in bench["backends"]]
            else:
                warn(f"warning: {bench_json} is not a valid bench.json; backends in name order")
        by: dict[str, list[Run]] = {}
        for r in runs:
            by.setdefault(arm_of(r.run_dir, r.backend), []).append(r)
        keys = [k for k in order if k in by] + sorted(k for k in by if k not in order)
        for k in keys:
            groups.append(Group(f"{p.name}/{k}" if multi else k, sorted(by[k], key=lambda r: (r.seed is None, r.seed or 0))))
    return groups


def _series(run: Run, metric: str, smooth: int) -> dict[int, float]:
    """step -> value (finite values only), trailing moving average over `smooth` logged points."""
    pts = sorted((int(r["step"]), float(r[metric])) for r in run.rows
                 if isinstance(r.get(metric), (int, float)) and not isinstance(r.get(metric), bool)
                 and math.isfinite(float(r[metric])) and "step" in r)
    if metric.startswith("eval_"):  # a few evaluations of 100s of episodes each: drawn as measured
        smooth = 1
    out = {}
    for i, (s, _) in enumerate(pts):
        window = [v for _, v in pts[max(0, i - smooth + 1) : i + 1]]
        out[s] = sum(window) / len(window)
    return out


def _available(groups: list[Group]) -> list[str]:
    keys = set()
    for g in groups:
        for r in g.runs:
            for row in r.rows:
                keys.update(k for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    return sorted(keys - {"step"})


def _check_out(out: Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise AgentGymError(f"--out {out} must end in {', '.join(FORMATS)}")
    if out.exists() and out.is_dir():
        raise AgentGymError(f"--out {out} is a folder; give a file name such as curves.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def plot_curves(paths: Sequence[str | Path], out: str | Path, metrics: Sequence[str] | None = None,
                smooth: int = 0, warn: Callable[[str], None] | None = None) -> Path:
    """One panel per metric, one line per group (mean over its runs, min-max band over seeds).

    `smooth`: trailing moving-average window in steps; 0 picks about 1/25 of the run length."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    out = _check_out(Path(out))
    groups = collect_groups(paths, warn)
    avail = _available(groups)
    if metrics:
        unknown = [m for m in metrics if m not in avail]
        if unknown:
            raise AgentGymError(f"metric(s) {', '.join(unknown)} not in any metrics.jsonl; available: {', '.join(avail)}")
        wanted = list(metrics)
    else:
        wanted = [m for m in DEFAULT_METRICS if m in avail]
        if not wanted:
            raise AgentGymError(f"none of the default metrics were logged; available: {', '.join(avail) or 'none'}")
    n_steps = max((len(r.rows) for g in groups for r in g.runs), default=1)
    if smooth < 0:
        raise AgentGymError("--smooth must be >= 0")
    smooth = smooth or max(1, round(n_steps / 25))
    ncols = min(3, len(wanted))
    nrows = -(-len(wanted) // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.2 * nrows + 0.9), dpi=110, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()  # eval points line up with steps
    colors = [f"C{i % 10}" for i in range(len(groups))]
    for ax, metric in zip(axes, wanted, strict=False):
        for g, color in zip(groups, colors, strict=True):
            series = [_series(r, metric, smooth) for r in g.runs]
            series = [s for s in series if s]
            if not series:
                continue
            steps = sorted(set().union(*series))
            vals = [[s[t] for s in series if t in s] for t in steps]
            x = np.array(steps)
            mean = np.array([np.mean(v) for v in vals])
            label = g.label + (f" (n={len(series)})" if len(series) > 1 else "")
            ax.plot(x, mean, color=color, lw=1.8, label=label, marker="o" if len(x) <= 3 or metric.startswith("eval_") else None, ms=4)
            if len(series) > 1:
                ax.fill_between(x, [min(v) for v in vals], [max(v) for v in vals], color=color, alpha=0.18, lw=0)
        ax.set_title(LABELS.get(metric, metric), fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(wanted):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[: len(wanted)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), 5), fontsize=9, frameon=False)
    band = " ; band = min-max over seeds" if any(len(g.runs) > 1 for g in groups) else ""
    fig.supxlabel(f"moving average over {smooth} step{'s' if smooth > 1 else ''}{band}", fontsize=8)
    fig.savefig(out)
    return out


def plot_final(results: dict[str, Any], out: str | Path) -> Path:
    """Bars: mean eval success before and after training per backend; dots: the seeds."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = _check_out(Path(out))
    backends = results["backends"]
    runs = results["runs"]
    ev = results["eval"]
    fig = Figure(figsize=(max(4.5, 1.6 * len(backends) + 2), 4.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    width = 0.36
    top = 0.0
    for i, b in enumerate(backends):
        color = f"C{i % 10}"
        rs = [r for r in runs if r["backend"] == b]
        for j, (when, alpha) in enumerate((("before", 0.35), ("after", 0.9))):
            vals = [r[when]["success"] for r in rs if r[when]["success"] is not None]
            if not vals:
                continue
            x = i + (j - 0.5) * width
            m = float(np.mean(vals))
            ax.bar(x, m, width=width * 0.92, color=color, alpha=alpha, edgecolor=color)
            # the mean at the foot of its bar, clear of the seed dots
            ax.annotate(f"{m:.3f}", (x, 0), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                        fontsize=8, color="black")
            jitter = np.linspace(-width * 0.25, width * 0.25, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.scatter(x + jitter, vals, s=16, color="black", zorder=3)
            top = max(top, m, *vals)
    ax.set_xticks(range(len(backends)), backends, fontsize=9)
    ax.set_ylim(0, min(1.1, max(0.1, top * 1.25 + 0.02)))
    ax.set_ylabel("eval success", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{results.get('env')} [{ev.get('split')}]\n{ev.get('episodes')} eval episodes per run, "
                 f"T={ev.get('temperature')}, panel {ev.get('panel_fingerprint')}", fontsize=9)
    ax.legend(handles=[Patch(color="0.5", alpha=0.35, label="before training"),
                       Patch(color="0.5", alpha=0.9, label="after training"),
                       Line2D([], [], marker="o", ls="", color="black", ms=4, label="one seed")],
              fontsize=8, loc="upper left", frameon=False)
    fig.savefig(out)
    return out

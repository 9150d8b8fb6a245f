"""Head-to-head benchmarking of training backends: the same config, several seeds, one task panel.

Public reproductions of SDAR report large run-to-run variance (docs/method.md, section 8), so a claim that
backend A beats backend B needs several seeds per arm, trained with identical settings and evaluated on
an identical task panel. `run_bench` trains every (backend, seed) pair through
`agentgym.trainer.run.run_training` with one config that differs only in `backend` and `seed`, into
`<out>/<backend>-s<seed>/`, then compares them:

- per backend, mean +- std over seeds of eval success before/after training, gain, score;
- the self-distillation diagnostics (gate mean, gate active ratio, mean gap, negative-gap fraction),
  averaged over the last `diag_window` steps of each run, where the backend logs them;
- a paired comparison against the first backend: the mean of per-seed differences and its standard
  error (seed s of every backend shares the training seed, so pairing removes the seed's own effect).

A bench is resumable: a run whose `summary.json` exists is skipped (after checking it was trained with
the same config), a run with checkpoints but no summary resumes from its newest checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import agentgym
from agentgym.backends import get_backend
from agentgym.core.errors import AgentGymError
from agentgym.core.registry import known_env_id, resolve_env_id
from agentgym.plots import plot_curves, plot_final, read_metrics
from agentgym.trainer import checkpoint as ckpt
from agentgym.trainer.config import TrainConfig, load_config
from agentgym.trainer.evaluate import eval_indices
from agentgym.trainer.run import run_training

#: Self-distillation diagnostics logged per step by the SD backends (docs/backends.md, "Metrics").
DIAG_KEYS = ("gate_mean", "gate_active_ratio", "gap_mean", "gap_neg_frac")
DIAG_LABELS = {"gate_mean": "gate mean", "gate_active_ratio": "gate active", "gap_mean": "mean gap",
               "gap_neg_frac": "neg. gap frac"}
#: Fields the bench sets itself; a user override of them would break the comparison.
BENCH_CONTROLLED = ("backend", "seed", "out_dir")
#: Fields that may differ between a finished run and the plan without changing what the run measured
#: (logging, checkpointing, and how the same maths is executed: device, processes, micro-batches, engine;
#: eval_every too: every step re-seeds from (seed, step), so evaluations between steps change no step).
_NOT_COMPARED = {"out_dir", "tensorboard", "wandb", "checkpoint_every", "keep_checkpoints", "eval_every", "device", "deepspeed",
                 "zero_stage", "micro_batch_size", "engine", "sglang_url", "sglang_command", "sglang_args",
                 "sglang_env", "sglang_startup_timeout_s"}
DEFAULT_BACKENDS = "grpo,grpo_opsd,sdar"
DEFAULT_SEEDS = "0,1,2"


# ---- inputs ------------------------------------------------------------------------------------
def parse_backends(text: str | Sequence[str]) -> list[str]:
    """'grpo, sdar' -> ['grpo', 'sdar'], each checked against the backend registry."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise AgentGymError("--backends is empty: give at least one backend, e.g. --backends grpo,sdar")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AgentGymError(f"--backends lists {', '.join(dup)} more than once")

    for n in names:
        get_backend(n)  # an unknown name raises AgentGymError naming the valid ones
    return names


def parse_seeds(text: str | Sequence[int]) -> list[int]:
    """'0,1,2' -> [0, 1, 2]."""
    items = text.split(",") if isinstance(text, str) else [str(s) for s in text]
    raw = [s.strip() for s in items if s.strip()]
    if not raw:
        raise AgentGymError("--seeds is empty: give at least one seed, e.g. --seeds 0,1,2")
    try:
        seeds = [int(s) for s in raw]
    except ValueError:
        raise AgentGymError(f"--seeds must be comma-separated integers, got {','.join(raw)!r}") from None
    if len(set(seeds)) != len(seeds):
        raise AgentGymError(f"--seeds lists a seed more than once: {','.join(raw)}")
    return seeds


def run_name(backend: str, seed: int) -> str:
    return f"{backend}-s{seed}"


@dataclass
class BenchSpec:
    """What to compare: backends x seeds, one shared training config (`overrides` on `config_file`)."""

    env: str
    backends: list[str]
    seeds: list[int]
    out_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields, except BENCH_CONTROLLED
    config_file: Path | None = None
    diag_window: int = 10  # diagnostics are averaged over this many last steps

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.backends = parse_backends(self.backends)
        self.seeds = parse_seeds(self.seeds)
        self.overrides = coerce_numbers(self.overrides)
        clash = sorted(set(self.overrides) & set(BENCH_CONTROLLED))
        if clash:
            raise AgentGymError(f"the bench sets {', '.join(clash)} itself; use --backends / --seeds / --out")
        if self.diag_window < 1:
            raise AgentGymError("--diag-window must be >= 1")


def coerce_numbers(overrides: dict[str, Any]) -> dict[str, Any]:
    """Strings given to numeric TrainConfig fields become numbers: YAML 1.1 reads `1e-3` (no dot) as a
    string, which `--set lr=1e-3` would otherwise pass on."""
    kinds = {f.name: str(f.type) for f in fields(TrainConfig)}
    out = dict(overrides)
    for k, v in overrides.items():
        kind = kinds.get(k, "")
        if not isinstance(v, str) or kind.split("|")[0].strip() not in ("int", "float"):
            continue
        try:
            out[k] = int(v) if kind.startswith("int") else float(v)
        except ValueError:
            raise AgentGymError(f"{k} must be a number, got {v!r}") from None
    return out


def plan(spec: BenchSpec) -> list[Any]:
    """One validated TrainConfig per (backend, seed), identical apart from backend, seed and out_dir."""
    env_id = known_env_id(spec.env)
    cfgs = []
    for backend in spec.backends:
        for seed in spec.seeds:
            cfg = load_config(spec.config_file, {**spec.overrides, "env": env_id, "backend": backend, "seed": seed,
                                                 "out_dir": str(spec.out_dir / run_name(backend, seed))})
            if cfg.eval_episodes < 1:
                raise AgentGymError("a bench compares eval success: --eval-episodes must be >= 1")
            if cfg.deepspeed:
                raise AgentGymError("the bench trains its runs one after another in one process; DeepSpeed runs "
                                    "need a launcher per run (agentgym train under torchrun into <out>/<backend>-s<seed>, "
                                    "then agentgym bench with the same settings summarizes them)")
            cfgs.append(cfg)
    return cfgs


def eval_panel(cfg) -> dict[str, Any]:
    """The tasks the trainer's evaluation plays: N spread over the eval split (trainer/evaluate.py)."""
    probe = agentgym.make(cfg.env, **cfg.env_kwargs).unwrapped
    split = cfg.eval_split or probe.splits[-1]
    panel = probe.panel(split)
    probe.close()
    ids = [panel[i].task_id for i in eval_indices(cfg.eval_episodes, len(panel))]
    return {"env": cfg.env, "split": split, "episodes": cfg.eval_episodes, "temperature": cfg.eval_temperature,
            "panel_fingerprint": panel.fingerprint,
            "tasks_fingerprint": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12], "task_ids": ids}


def _comparable(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """The fields that decide what a run measured; the env by its id (`alfworld` is
    `agentgym/ALFWorld-v0`: a run trained through `agentgym train --env alfworld` is the same run)."""
    out = {k: v for k, v in cfg_dict.items() if k not in _NOT_COMPARED}
    if isinstance(out.get("env"), str):
        out["env"] = resolve_env_id(out["env"])
    return out


def check_same_config(run_dir: Path, planned) -> None:
    """A finished run is reused, and an interrupted one resumed, only if it was trained with the planned
    config (else the bench would silently compare, or splice together, runs of different settings)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise AgentGymError(f"{run_dir} has a summary or checkpoint but no config.yaml; remove the folder to retrain it")
    done = _comparable(yaml.safe_load(path.read_text()) or {})
    want = _comparable(planned.resolved().to_dict())
    diff = [k for k in sorted(set(done) & set(want)) if done[k] != want[k]]
    if diff:
        k = diff[0]
        raise AgentGymError(f"{run_dir} was trained with {k}={done[k]!r}, the bench asks {k}={want[k]!r}"
                            f"{f' (and {len(diff) - 1} more)' if len(diff) > 1 else ''}; "
                            "use another --out or remove that folder")


# ---- running -----------------------------------------------------------------------------------
def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


class _StepWatcher:
    """Moves a progress bar as the run appends to metrics.jsonl (run_training owns the step loop)."""

    def __init__(self, path: Path, update: Callable[[int], None], every: float = 0.5):
        self.path, self.update, self.every = path, update, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.update(_count_lines(self.path))

    def __enter__(self) -> _StepWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _has_checkpoint(run_dir: Path) -> bool:
    return ckpt.latest(run_dir) is not None


def run_bench(spec: BenchSpec, *, console: Console | None = None, trainer: Callable[..., dict] | None = None,
              plots: bool = True) -> dict[str, Any]:
    """Train (or skip / resume) every run, then write results.json (+ curves.png, final.png).

    Each run's own output (config, progress, eval table) goes to `<run>/train.log`; the console shows
    one progress bar over runs and one over the current run's steps."""
    console = console or Console()
    trainer = trainer or run_training
    cfgs = plan(spec)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    status: dict[str, str] = {}
    failed: list[str] = []
    todo = []
    for cfg in cfgs:
        run_dir = Path(cfg.out_dir)
        name = run_dir.name
        if (run_dir / "summary.json").is_file():
            check_same_config(run_dir, cfg)
            status[name] = "skipped"
        else:
            if _has_checkpoint(run_dir):
                check_same_config(run_dir, cfg)
            todo.append(cfg)
    panel = eval_panel(cfgs[0])
    _write_json(spec.out_dir / "bench.json", {
        "env": cfgs[0].env, "backends": spec.backends, "seeds": spec.seeds, "diag_window": spec.diag_window,
        "config": _shared_config(cfgs[0]), "panel": panel})
    if status:
        console.print(f"{len(status)} finished run(s) reused: {', '.join(status)}", markup=False, highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        runs_bar = progress.add_task("[bold]runs", total=len(cfgs), completed=len(status))
        for cfg in todo:
            run_dir = Path(cfg.out_dir)
            name = run_dir.name
            resume = _has_checkpoint(run_dir)
            steps_bar = progress.add_task(f"  {escape(name)}{' (resumed)' if resume else ''}", total=cfg.steps)
            run_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with open(run_dir / "train.log", "a", encoding="utf-8") as log, \
                    _StepWatcher(run_dir / "metrics.jsonl", lambda n, b=steps_bar: progress.update(b, completed=n)):
                run_console = Console(file=log, width=120, no_color=True, force_terminal=False, soft_wrap=True)
                try:
                    trainer(cfg, resume=resume, console=run_console)
                    status[name] = "resumed" if resume else "trained"
                except AgentGymError:
                    raise
                except Exception as e:  # one broken run must not lose the others' hours of work
                    log.write(traceback.format_exc())
                    status[name] = "failed"
                    failed.append(name)
                    progress.console.print(f"[red]{escape(name)} failed[/red]: {escape(type(e).__name__)}: "
                                           f"{escape(str(e).splitlines()[0] if str(e) else '')} "
                                           f"(traceback in {escape(str(run_dir / 'train.log'))})")
            progress.update(steps_bar, completed=_count_lines(run_dir / "metrics.jsonl"), visible=False)
            progress.update(runs_bar, advance=1)
            if status[name] != "failed":
                progress.console.print(f"{name}: {status[name]} in {time.perf_counter() - t0:.0f} s", markup=False,
                                       highlight=False)
    results = summarize(spec.out_dir, spec.backends, spec.seeds, diag_window=spec.diag_window, status=status,
                        panel=panel, config=_shared_config(cfgs[0]))
    _write_json(spec.out_dir / "results.json", results)
    if plots and results["runs"]:
        results["plots"] = {
            "curves": str(plot_curves([spec.out_dir], spec.out_dir / "curves.png")),
            "final": str(plot_final(results, spec.out_dir / "final.png")),
        }
        _write_json(spec.out_dir / "results.json", results)
    for t in render_tables(results):
        console.print(t)
    console.print(f"results: {spec.out_dir / 'results.json'}"
                  + (f", plots: {results['plots']['curves']}, {results['plots']['final']}" if "plots" in results else ""),
                  markup=False, highlight=False)
    if failed:
        raise AgentGymError(f"{len(failed)} run(s) failed: {', '.join(failed)} (see their train.log); "
                            "run the same command again to retry them")
    return results


def _shared_config(cfg) -> dict[str, Any]:
    d = cfg.resolved().to_dict()
    for k in BENCH_CONTROLLED:
        d.pop(k, None)
    return d


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default, allow_nan=False))
    tmp.replace(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# ---- statistics --------------------------------------------------------------------------------
def _finite(xs: Sequence[Any]) -> list[float]:
    return [float(x) for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]


def mean_std(xs: Sequence[float]) -> dict[str, Any]:
    """Mean and sample std (ddof 1; None with fewer than 2 values)."""
    v = _finite(xs)
    if not v:
        return {"n": 0, "mean": None, "std": None, "values": list(xs)}
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return {"n": len(v), "mean": m, "std": sd, "values": list(xs)}


def paired(diffs: Sequence[float]) -> dict[str, Any]:
    """Mean of per-seed differences and its standard error std/sqrt(n). `significant` is True only when
    |mean| > 2 SE (with n >= 2): a rough two-sided 95% criterion that, with 2-3 seeds, is optimistic
    (Student's t with 1-2 degrees of freedom needs 4.3-12.7 SE), so treat it as a floor, not a test."""
    v = _finite(diffs)
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": None, "se": None, "significant": False, "diffs": list(diffs)}
    m = sum(v) / n
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) / math.sqrt(n) if n > 1 else None
    sig = se is not None and abs(m) > 2 * se
    return {"n": n, "mean": m, "se": se, "significant": sig, "diffs": list(diffs)}


def last_window_means(rows: list[dict[str, Any]], keys: Sequence[str], window: int) -> dict[str, float]:
    """Mean of each key over the last `window` steps that logged it (absent keys are left out)."""
    out = {}
    for k in keys:
        v = _finite([r.get(k) for r in rows if k in r])[-window:]
        if v:
            out[k] = sum(v) / len(v)
    return out


def _run_record(run_dir: Path, backend: str, seed: int, diag_window: int, status: str) -> dict[str, Any] | None:
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    s = json.loads(path.read_text())
    before, after = s.get("before") or {}, s.get("after") or {}
    rows = read_metrics(run_dir)
    pick = ("success", "score", "valid_action_ratio", "mean_length", "panel_fingerprint", "split", "episodes",
            "temperature")
    rec = {
        "backend": backend, "seed": seed, "run_dir": str(run_dir), "status": status, "steps": s.get("steps"),
        "wall_seconds": s.get("wall_seconds"),
        "before": {k: before.get(k) for k in pick}, "after": {k: after.get(k) for k in pick},
        "diagnostics": last_window_means(rows, DIAG_KEYS, diag_window),
        "train_last": last_window_means(rows, ("success", "valid_action_ratio", "loss", "kl", "entropy"), diag_window),
    }
    b, a = before.get("success"), after.get("success")
    rec["gain"] = a - b if a is not None and b is not None else None
    return rec


def summarize(out_dir: Path, backends: list[str], seeds: list[int], *, diag_window: int = 10,
              status: dict[str, str] | None = None, panel: dict[str, Any] | None = None,
              config: dict[str, Any] | None = None) -> dict[str, Any]:
    """results.json: every finished run, per-backend statistics, paired differences to backends[0].

    Raises AgentGymError if the finished runs were evaluated on different panels."""
    status = status or {}
    runs = []
    for b in backends:
        for s in seeds:
            rec = _run_record(Path(out_dir) / run_name(b, s), b, s, diag_window, status.get(run_name(b, s), "skipped"))
            if rec is not None:
                runs.append(rec)
    _check_identical_panels(runs)
    by = {b: [r for r in runs if r["backend"] == b] for b in backends}
    per_backend = {}
    for b, rs in by.items():
        diag = {k: mean_std([r["diagnostics"][k] for r in rs if k in r["diagnostics"]]) for k in DIAG_KEYS}
        per_backend[b] = {
            "seeds": [r["seed"] for r in rs],
            "success_before": mean_std([r["before"]["success"] for r in rs]),
            "success_after": mean_std([r["after"]["success"] for r in rs]),
            "gain": mean_std([r["gain"] for r in rs]),
            "score_after": mean_std([r["after"]["score"] for r in rs]),
            "valid_action_ratio_after": mean_std([r["after"]["valid_action_ratio"] for r in rs]),
            "diagnostics": {k: v for k, v in diag.items() if v["n"]},
        }
    ref = backends[0]
    ref_by_seed = {r["seed"]: r for r in by[ref]}
    comparisons = {}
    for b in backends[1:]:
        pairs = [(r, ref_by_seed[r["seed"]]) for r in by[b] if r["seed"] in ref_by_seed]
        comparisons[b] = {
            "reference": ref, "seeds": [r["seed"] for r, _ in pairs],
            "success_after": paired([_sub(r["after"]["success"], q["after"]["success"]) for r, q in pairs]),
            "gain": paired([_sub(r["gain"], q["gain"]) for r, q in pairs]),
            "score_after": paired([_sub(r["after"]["score"], q["after"]["score"]) for r, q in pairs]),
        }
    first = runs[0]["after"] if runs else {}
    n_eval = first.get("episodes") or 0
    return {
        "env": (panel or {}).get("env"), "backends": backends, "seeds": seeds, "diag_window": diag_window,
        "config": config, "panel": panel,
        "eval": {"split": first.get("split"), "episodes": n_eval, "temperature": first.get("temperature"),
                 "panel_fingerprint": first.get("panel_fingerprint")},
        "missing": [run_name(b, s) for b in backends for s in seeds
                    if not any(r["backend"] == b and r["seed"] == s for r in runs)],
        "runs": runs, "per_backend": per_backend, "paired": comparisons,
    }


def _sub(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def _check_identical_panels(runs: list[dict[str, Any]]) -> None:
    keys = {(r[w]["panel_fingerprint"], r[w]["split"], r[w]["episodes"], r[w]["temperature"])
            for r in runs for w in ("before", "after") if r[w].get("panel_fingerprint") is not None}
    if len(keys) > 1:
        raise AgentGymError("the runs were evaluated on different task panels "
                            f"({'; '.join(sorted(f'{k[0]} {k[1]} n={k[2]} T={k[3]}' for k in keys))}); "
                            "they cannot be compared")


# ---- tables ------------------------------------------------------------------------------------
def _pm(s: dict[str, Any], signed: bool = False, digits: int = 3) -> str:
    if s.get("mean") is None:
        return "-"
    m = f"{s['mean']:+.{digits}f}" if signed else f"{s['mean']:.{digits}f}"
    return m if s.get("std") is None else f"{m}±{s['std']:.{digits}f}"


def _paired_cell(p: dict[str, Any], digits: int = 2) -> str:
    if p["mean"] is None:
        return "-"
    if p["se"] is None:
        return f"{p['mean']:+.{digits}f} (1 seed)"
    return f"{p['mean']:+.{digits}f}±{p['se']:.{digits}f}{'*' if p['significant'] else ''}"


def _table(*headers: str, **kw: Any) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, **kw)
    for i, h in enumerate(headers):
        t.add_column(h, no_wrap=True, justify="left" if i == 0 else "right")
    return t


def render_tables(results: dict[str, Any]) -> list[Table]:
    """The main table (eval success, gain, score, paired difference) and, where any backend logs them,
    the self-distillation diagnostics table."""
    ev = results["eval"]
    per, comp = results["per_backend"], results["paired"]
    ref = results["backends"][0]
    n_eval = ev.get("episodes") or 0
    title = (f"{results.get('env')}: eval success on {ev.get('split')} ({n_eval} episodes, T={ev.get('temperature')}, "
             f"panel {ev.get('panel_fingerprint')}), mean±std over n seeds")
    t = _table("backend", "n", "before", "after", "gain", "score", f"Δ vs {ref}", title=escape(title),
               caption=escape(_caption(results)))
    for b in results["backends"]:
        s = per[b]
        # two decimals: a success rate measured on a few hundred episodes has SE >= 0.02 (full precision in results.json)
        t.add_row(escape(b), str(len(s["seeds"])), _pm(s["success_before"], digits=2), _pm(s["success_after"], digits=2),
                  _pm(s["gain"], signed=True, digits=2), _pm(s["score_after"], digits=2),
                  "reference" if b == ref else _paired_cell(comp[b]["success_after"]))
    tables = [t]
    if any(per[b]["diagnostics"] for b in results["backends"]):
        window = min([results["diag_window"], *(r["steps"] or 0 for r in results["runs"])])
        d = _table("backend", *(DIAG_LABELS[k] for k in DIAG_KEYS),
                   title=escape(f"self-distillation diagnostics: mean over the last {window} step(s) of each run, "
                                "then mean±std over seeds"))
        for b in results["backends"]:
            diag = per[b]["diagnostics"]
            d.add_row(escape(b), *(_pm(diag[k], signed=k == "gap_mean") if k in diag else "-" for k in DIAG_KEYS))
        tables.append(d)
    return tables


def _caption(results: dict[str, Any]) -> str:
    """Says what the paired column means and, where it applies, that the difference is not significant."""
    ref = results["backends"][0]
    parts = [f"score: eval score after training. Δ vs {ref}: success after training, mean of per-seed "
             "differences ± its standard error; * = |Δ| > 2 SE."]
    weak = [b for b, c in results["paired"].items()
            if c["success_after"]["mean"] is not None and not c["success_after"]["significant"]]
    if weak:
        parts.append(f"Not significant (|Δ| < 2 SE or a single seed): {', '.join(weak)} vs {ref}.")
    n_seeds = min((len(results["per_backend"][b]["seeds"]) for b in results["backends"]), default=0)
    if results["paired"] and n_seeds < 3:
        parts.append(f"Only {n_seeds} seed(s) per arm: no claim is possible (needs >= 3 seeds, 150+ steps).")
    n_eval = results["eval"].get("episodes") or 0
    if n_eval:
        ps = _finite([r["after"]["success"] for r in results["runs"]])
        p = sum(ps) / len(ps) if ps else 0.5
        parts.append(f"Eval noise of one run ({n_eval} episodes): SE = sqrt(p(1-p)/N) ≈ "
                     f"{math.sqrt(p * (1 - p) / n_eval):.3f} at p = {p:.2f}, at most {0.5 / math.sqrt(n_eval):.3f}.")
    if results.get("missing"):
        parts.append(f"Missing runs: {', '.join(results['missing'])}.")
    return " ".join(parts)


def load_results(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise AgentGymError(f"{path} does not exist; run `agentgym bench --out {out_dir}` first")
    return json.loads(path.read_text())


__all__ = ["DIAG_KEYS", "BenchSpec", "load_results", "mean_std", "paired", "parse_backends",
           "parse_seeds", "plan", "render_tables", "run_bench", "summarize"]

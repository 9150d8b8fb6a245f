"""The tables and the figure of docs/results.md, regenerated from a bench folder of finished runs.

    python tools/results_tables.py runs/bench-alfworld-small --against grpo --figure docs/results-alfworld-small-curves.png

A bench folder holds one run folder per arm and seed, named `<arm>-s<seed>` (what `agentgym bench`
writes; a sweep's arms are named by hand, e.g. `sdar_lam0.1-s0`). For every finished run (both
evaluations written) it prints, as Markdown:

1. each run's eval success before and after training, with the change's 95% interval;
2. per arm: the mean change over seeds ± its standard error, and the mean success after training;
3. per arm, paired by seed with the `--against` arm: the after-training difference, its mean ± standard
   error, and Student's t with its degrees of freedom (seeds - 1) and two-sided 5% critical value;
4. the self-distillation diagnostics (gate mean, gate active ratio, mean gap, negative-gap fraction)
   averaged over the first, middle and last 10 steps, over the arm's seeds;
5. wall time per run.

`--figure` draws the learning curves (one line per arm, min-max band over seeds). Unfinished runs are
listed, never averaged in. Nothing here trains or evaluates: it reads what the runs wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from agentgym.plots import arm_of, plot_curves, read_metrics
from agentgym.trainer.evaluate import EvalResult, change

#: Two-sided 5% critical values of Student's t by degrees of freedom (1-10).
T_CRIT = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
DIAGNOSTICS = ("gate_mean", "gate_active_ratio", "gap_mean", "gap_neg_frac")


def _runs(bench: Path) -> tuple[dict[str, dict[int, dict]], list[str]]:
    """arm -> seed -> {before, after, rows, cfg, wall}; and the unfinished run folders."""
    arms: dict[str, dict[int, dict]] = {}
    unfinished = []
    for d in sorted(p for p in bench.iterdir() if p.is_dir()):
        cfg = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else None
        if not isinstance(cfg, dict):
            continue
        before, after = EvalResult.load(d / "eval_before.json"), EvalResult.load(d / "eval_after.json")
        if before is None or after is None:
            unfinished.append(d.name)
            continue
        summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else {}
        arms.setdefault(arm_of(d, cfg.get("backend")), {})[int(cfg.get("seed", 0))] = {
            "before": before, "after": after, "rows": read_metrics(d), "cfg": cfg, "wall": summary.get("wall_seconds")}
    return arms, unfinished


def _mean_se(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan"))


def _pm(m: float, se: float, sign: str = "+") -> str:
    """`m ± se`; one seed has no standard error, and the table says so instead of printing nan."""
    return f"{m:{sign}.3f} ± {se:.3f}" if math.isfinite(se) else f"{m:{sign}.3f} (one seed)"


def _num(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "-"


def _windows(steps: int) -> list[tuple[int, int]]:
    mid = max(1, steps // 2 - 4)
    return [(1, min(10, steps)), (mid, min(mid + 9, steps)), (max(1, steps - 9), steps)]


def tables(bench: Path, against: str | None) -> str:
    arms, unfinished = _runs(bench)
    if not arms:
        raise SystemExit(f"{bench}: no finished run (a folder with config.yaml, eval_before.json and eval_after.json)")
    out = ["| arm | seed | before | after | change [95% interval] |", "|---|---|---|---|---|"]
    panels = set()
    for arm, seeds in arms.items():
        for seed, r in sorted(seeds.items()):
            c = change(r["before"], r["after"])
            panels.add((r["before"].panel_fingerprint, r["before"].episodes, r["before"].split))
            out.append(f"| {arm} | {seed} | {c.before:.3f} | {c.after:.3f} | {c.diff:+.3f} [{c.lo:+.3f}, {c.hi:+.3f}] |")
    out += ["", "| arm | seeds | mean change ± SE | mean after ± SE |", "|---|---|---|---|"]
    for arm, seeds in arms.items():
        m, se = _mean_se([r["after"].success - r["before"].success for r in seeds.values()])
        a, ase = _mean_se([r["after"].success for r in seeds.values()])
        out.append(f"| {arm} | {len(seeds)} | {_pm(m, se)} | {_pm(a, ase, '')} |")
    if against in arms:
        out += ["", f"Paired by seed against {against} (success after training):", "",
                "| arm | per seed | mean ± SE | t (df) | 5% critical |", "|---|---|---|---|---|"]
        for arm, seeds in arms.items():
            common = sorted(set(seeds) & set(arms[against]))
            if arm == against or not common:
                continue
            ds = [seeds[s]["after"].success - arms[against][s]["after"].success for s in common]
            m, se = _mean_se(ds)
            df = len(ds) - 1
            t = m / se if df and se > 0 else float("nan")
            per = ", ".join(f"s{s} {d:+.3f}" for s, d in zip(common, ds, strict=True))
            out.append(f"| {arm} | {per} | {_pm(m, se)} | {_num(t)} ({df}) | {_num(T_CRIT.get(df, float('nan')))} |")
    diag = [(arm, seeds) for arm, seeds in arms.items()
            if any(k in row for r in seeds.values() for row in r["rows"] for k in DIAGNOSTICS)]
    if diag:
        out += ["", "| arm | steps | gate mean | gate active | mean gap | negative-gap fraction | train success |",
                "|---|---|---|---|---|---|---|"]
        for arm, seeds in diag:
            steps = min(int(r["cfg"].get("steps", 0)) for r in seeds.values())
            for lo, hi in _windows(steps):
                vals = []
                for key in (*DIAGNOSTICS, "success"):
                    xs = [row[key] for r in seeds.values() for row in r["rows"]
                          if lo <= row.get("step", 0) <= hi and isinstance(row.get(key), (int, float))]
                    vals.append(f"{statistics.fmean(xs):.3f}" if xs else "-")
                out.append(f"| {arm} | {lo}-{hi} | " + " | ".join(vals) + " |")
    out += ["", "| arm | wall time per run (min) |", "|---|---|"]
    for arm, seeds in arms.items():
        walls = [f"s{s} {r['wall'] / 60:.0f}" for s, r in sorted(seeds.items()) if r["wall"]]
        out.append(f"| {arm} | {', '.join(walls) or '-'} |")
    out.append("")
    out.append("Panels (fingerprint, episodes, split): " + "; ".join(f"{f}, {n}, {s}" for f, n, s in sorted(panels)))
    if len(panels) > 1:
        out.append("**Warning: the runs were evaluated on different panels; their numbers do not compare.**")
    if unfinished:
        out.append(f"Unfinished (not in the tables): {', '.join(unfinished)}")
    return "\n".join(out) + "\n"


def figure(bench: Path, out: Path) -> Path:
    """The learning curves of the finished runs only (what the tables average), one line per arm: drawn
    from a folder of links to them, so that a run still in progress is not in the picture."""
    arms, _ = _runs(bench)
    with tempfile.TemporaryDirectory() as tmp:
        for d in sorted(p for p in bench.iterdir() if p.is_dir()):
            cfg = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else None
            seed = int(cfg.get("seed", 0)) if isinstance(cfg, dict) else None
            if seed is not None and seed in arms.get(arm_of(d, cfg.get("backend")), {}):
                (Path(tmp) / d.name).symlink_to(d.resolve(), target_is_directory=True)
        return plot_curves([tmp], out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="a bench folder of <arm>-s<seed> run folders")
    ap.add_argument("--against", default="grpo", help="the arm every other arm is paired with (default grpo)")
    ap.add_argument("--figure", type=Path, help="also draw the learning curves here (.png, .svg or .pdf)")
    args = ap.parse_args(argv)
    if not args.bench.is_dir():
        print(f"results_tables: {args.bench} is not a folder", file=sys.stderr)
        return 2
    sys.stdout.write(tables(args.bench, args.against))
    if args.figure:
        print(f"figure: {figure(args.bench, args.figure)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

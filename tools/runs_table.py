"""Before/after table of finished run folders: each run's change in eval success with its 95% interval,
then the mean change over the runs (seeds) with its standard error.

    python tools/runs_table.py runs/r1-alf-grpo-s0 runs/r1-alf-grpo-s1 runs/r1-alf-grpo-s2

Reads each folder's eval_before.json / eval_after.json (written by `agentgym train` with
--eval-episodes > 0) and config.yaml; a folder without both evaluations is listed as unfinished.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from agentgym.trainer.evaluate import EvalResult, change


def _load(run: Path) -> tuple[dict, EvalResult | None, EvalResult | None]:
    cfg = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    return cfg or {}, EvalResult.load(run / "eval_before.json"), EvalResult.load(run / "eval_after.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    table = Table("run", "backend", "seed", "steps", "panel", "episodes", "before", "after", "change [95% interval]",
                  "significant", title="eval success before and after training (no skills)")
    rows, unfinished = [], []
    for run in args.runs:
        cfg, before, after = _load(run)
        if before is None or after is None:
            unfinished.append(str(run))
            continue
        c = change(before, after)
        rows.append({"run": str(run), "backend": cfg.get("backend"), "seed": cfg.get("seed"),
                     "steps": cfg.get("steps"), "split": before.split, "episodes": before.episodes, **c.to_dict()})
        table.add_row(str(run), str(cfg.get("backend")), str(cfg.get("seed")), str(cfg.get("steps")), before.split,
                      str(before.episodes), f"{before.success:.3f}", f"{after.success:.3f}",
                      f"{c.diff:+.3f} [{c.lo:+.3f}, {c.hi:+.3f}]", "yes" if c.significant else "no")
    console = Console()
    if not console.is_terminal:  # a pipe or a log: wide enough for the whole table
        console = Console(width=170)
    console.print(table)
    if unfinished:
        console.print(f"unfinished (no eval_before.json and eval_after.json): {', '.join(unfinished)}", markup=False)
    by_backend: dict[str, list[float]] = {}
    for r in rows:  # seeds of one backend are pooled; different backends never are
        by_backend.setdefault(str(r["backend"]), []).append(r["diff"])
    for backend, ds in by_backend.items():
        if len(ds) >= 2:
            mean, se = statistics.fmean(ds), statistics.stdev(ds) / math.sqrt(len(ds))
            console.print(f"{backend}: mean change over {len(ds)} runs: {mean:+.3f} ± {se:.3f} (standard error over seeds)")
        else:
            console.print(f"{backend}: one run ({ds[0]:+.3f}): no spread over seeds yet")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

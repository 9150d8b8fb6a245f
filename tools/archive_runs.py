"""Keep the records of finished runs in the repository, so that the results survive the machine.

    python tools/archive_runs.py runs/bench-alfworld-small docs/results-runs/bench-alfworld-small

A run folder holds checkpoints (megabytes to gigabytes, ignored by git) beside a few small records:
its config, the evaluations before and after training, the metrics of every step and the summary.
Those records are everything `tools/results_tables.py` and `tools/runs_table.py` read, so a copy of
them is a bench folder those tools accept. This copies the records of every finished run (both
evaluations written) of a bench folder into DEST/<run>/ and nothing else: no weights, no optimizer
state, no tensorboard events. Unfinished runs are listed and left out. Copying again overwrites a
run's records with the current ones, so a rerun of a seed shows up in `git diff`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

#: What a run writes that the results tools read (agentgym/trainer/run.py writes them).
RECORDS = ("config.yaml", "eval_before.json", "eval_after.json", "metrics.jsonl", "summary.json")


def archive(bench: Path, dest: Path) -> tuple[list[str], list[str]]:
    """Copy the records of each finished run folder of `bench` into `dest`; (copied, unfinished) names."""
    copied, unfinished = [], []
    for run in sorted(p for p in bench.iterdir() if p.is_dir() and (p / "config.yaml").is_file()):
        if not ((run / "eval_before.json").is_file() and (run / "eval_after.json").is_file()):
            unfinished.append(run.name)
            continue
        out = dest / run.name
        out.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if (run / name).is_file():
                shutil.copyfile(run / name, out / name)
        copied.append(run.name)
    return copied, unfinished


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="a bench folder of <arm>-s<seed> run folders")
    ap.add_argument("dest", type=Path, help="where the records go, one folder per run")
    args = ap.parse_args(argv)
    if not args.bench.is_dir():
        print(f"archive_runs: {args.bench} is not a folder", file=sys.stderr)
        return 2
    if args.dest.resolve() == args.bench.resolve():
        print("archive_runs: the destination is the bench folder itself", file=sys.stderr)
        return 2
    copied, unfinished = archive(args.bench, args.dest)
    print(f"archived {len(copied)} finished run(s) into {args.dest}: {', '.join(copied) or '-'}")
    if unfinished:
        print(f"left out (unfinished): {', '.join(unfinished)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

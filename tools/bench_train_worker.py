"""The timing half of `tools/bench_train.py --against REV`, run by whichever agentgym is first on PYTHONPATH.

It uses only what every agentgym version since the trainer existed has: `TrainConfig` fields filtered to
the ones that version knows, `Trainer(cfg)`, `Trainer.update(samples, context_of, step)`,
`Trainer.train_step()` and `TurnSample`. It prints one JSON line.

    python tools/bench_train_worker.py SPEC.json
SPEC: {"config": {...}, "mode": "update" | "steps", "samples": PATH (update), "repeats": N, "threads": T}
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from agentgym.rollout.samples import TurnSample
from agentgym.trainer.config import TrainConfig, load_config
from agentgym.trainer.loop import Trainer


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(int(spec.get("threads", 1)))
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    trainer = Trainer(load_config(None, {k: v for k, v in spec["config"].items() if k in known}), log=lambda *_: None)
    out: dict = {"module": Trainer.__module__, "file": sys.modules[Trainer.__module__].__file__}
    if spec["mode"] == "update":
        data = json.loads(Path(spec["samples"]).read_text())
        fields = {f.name for f in dataclasses.fields(TurnSample)}
        samples = [TurnSample(**{k: v for k, v in d.items() if k in fields}) for d in data["samples"]]
        times = []
        for r in range(int(spec["repeats"])):
            m = trainer.update(samples, data["context_of"], step=r)
            if m.get("skipped") and "time_update" not in m:
                raise RuntimeError("the update was skipped (no samples)")
            times.append(m["time_update"])
        out["update_s"] = statistics.median(times[1:] or times)  # the first repeat warms caches
        out["times"] = times
    else:
        rows = []
        for _ in range(int(spec["repeats"])):
            t0 = time.perf_counter()
            if callable(trainer.step):  # `Trainer.step()` owns the whole step
                m = trainer.step()
            else:  # older versions: `train_step()`, and the caller advanced the step counter
                m = trainer.train_step()
                trainer.step += 1
            rows.append((time.perf_counter() - t0, m["time_rollout"], m.get("response_tokens", 0)))
        rest = rows[1:] or rows  # the first step warms caches
        out["step_s"] = statistics.median(r[0] for r in rest)
        out["rollout_s"] = statistics.median(r[1] for r in rest)
        out["response_tokens"] = statistics.median(r[2] for r in rest)  # the rollouts differ across versions
        out["times"] = [r[0] for r in rows]
    if hasattr(trainer, "close"):
        trainer.close()
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()

"""Seconds per training step for GRPO and SDAR (and other backends) on the *same* batch.

One batch of rollouts is collected once with the policy; every backend then runs its update on exactly
those turn-samples (teacher pass, reference pass, loss, backward, optimizer step), `--repeats` times,
and the median is reported. The full-step figure adds the measured rollout time, which is the same for
all backends. Run on an idle machine or with one thread (the default) and compare ratios.

    .venv/bin/python tools/bench_train.py --env webshop --backends grpo,sdar

`--against REV` measures this checkout against an older commit in the same run: the older code is
checked out in a git worktree and timed by `tools/bench_train_worker.py` with that worktree first on
PYTHONPATH, in alternation with this checkout (with bf16 autocast off and on; old commits have no
such option and run float32). Two figures per backend: the update on one identical batch (the same
token ids for every code version; median of the repeats after the first), and whole training steps
(rollout + update, the same seeds; the rollouts differ where the sampler's random stream changed, so
the response tokens per step are printed beside them).

    .venv/bin/python tools/bench_train.py --env webshop --backends grpo,sdar --against 573af36
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="webshop")
    ap.add_argument("--model", default=None, help="HF model dir (default: the env's embedded default policy)")
    ap.add_argument("--backends", default="grpo,sdar")
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast in the training/scoring forward")
    ap.add_argument("--env-opt", action="append", default=[], help="env option key=value")
    ap.add_argument("--against", default=None, help="also time this git revision (a worktree), interleaved")
    ap.add_argument("--rounds", type=int, default=2, help="--against: alternations of the code versions")
    ap.add_argument("--steps", type=int, default=4, help="--against: whole training steps per run (0: none)")
    args = ap.parse_args()
    if args.against:
        against(args)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import yaml
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    from agentgym.skills import render_context
    from agentgym.trainer.config import load_config
    from agentgym.trainer.loop import Trainer
    from agentgym.trainer.run import default_policy

    env_kwargs = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.env_opt)}
    console = Console()
    base = dict(env=args.env, model=args.model, tasks_per_step=args.tasks, group_size=args.group_size,
                eval_episodes=0, env_kwargs=env_kwargs, bf16=args.bf16, out_dir="/tmp/agentgym-bench-train")
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    policy = default_policy(load_config(None, dict(base, backend="grpo")))
    trainers = {b: Trainer(load_config(None, dict(base, backend=b)), policy=policy) for b in names}
    first = trainers[names[0]]
    # one batch for everyone: collected by the first trainer's step-0 rollout
    from agentgym.engines.base import SamplingParams
    from agentgym.rollout.collector import collect
    from agentgym.skills import SkillStore

    tasks = first.sample_tasks(0)
    t0 = time.perf_counter()
    batch = collect(first.engine, first.env_id, tasks, args.group_size,
                    SamplingParams(temperature=1.0, max_new_tokens=first.cfg.max_new_tokens, stop=(), seed=0),
                    env_kwargs={**env_kwargs, "split": first.train_split}, history=first.cfg.history)
    t_rollout = time.perf_counter() - t0
    store = SkillStore.create(env=first.family, strategy="keyword", k=2, seed=0)
    context_of = {t.task_id: render_context(store.retrieve(t)) for t in tasks}
    samples = batch.samples
    n_resp = sum(len(s.response_ids) for s in samples)
    n_prompt = sum(len(s.prompt_ids) for s in samples)
    console.print(f"batch: {len(tasks)} tasks x {args.group_size} rollouts, {len(samples)} turn-samples, "
                  f"{n_prompt} prompt + {n_resp} response tokens; rollout {t_rollout:.2f} s "
                  f"({batch.stats.generated_tokens / max(1e-9, batch.stats.gen_seconds):.0f} generated tokens/s); "
                  f"{args.threads} thread(s), bf16={args.bf16}")
    rows = []
    for name, tr in trainers.items():
        times, teach, ref = [], [], []
        for r in range(args.repeats):
            m = tr.update(samples, context_of, step=r)
            times.append(m["time_update"])
            teach.append(m["time_teacher"])
            ref.append(m["time_ref"])
        rows.append((name, statistics.median(times), statistics.median(teach), statistics.median(ref)))
    grpo_update = next((u for n, u, _, _ in rows if n == "grpo"), rows[0][1])
    table = Table("backend", "update s", "teacher s", "ref s", "full step s", "update / GRPO", "step / GRPO",
                  "train tokens/s", title=f"training step on {first.env_id} (median of {args.repeats})")
    for name, upd, teach, ref in rows:
        table.add_row(name, f"{upd:.2f}", f"{teach:.2f}", f"{ref:.2f}", f"{t_rollout + upd:.2f}",
                      f"{upd / grpo_update:.2f}x", f"{(t_rollout + upd) / (t_rollout + grpo_update):.2f}x",
                      f"{(n_prompt + n_resp) / (upd - teach - ref):.0f}")
    console.print(table)
    console.print("train tokens/s = (prompt + response tokens) / (update time - teacher - reference passes): "
                  "the forward+backward+AdamW throughput of the policy.")
    for tr in trainers.values():
        tr.close()


def _worktree(rev: str) -> Path:
    """A detached worktree of `rev` (reused), with backends/ and skills/ linked where the package maps them."""
    root = Path(__file__).resolve().parents[1]
    sha = subprocess.run(["git", "-C", str(root), "rev-parse", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"agentgym-rev-{sha[:12]}"
    if not (path / "agentgym").is_dir():
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    for name in ("backends", "skills"):
        link = path / "agentgym" / name
        if not link.exists():
            link.symlink_to(path / name, target_is_directory=True)
    return path


def _time(spec: dict, pythonpath: Path, work: Path, tag: str) -> dict:
    worker = Path(__file__).with_name("bench_train_worker.py")
    spec_file = work / f"spec-{tag}.json"
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": str(spec["threads"])}
    res = subprocess.run([sys.executable, str(worker), str(spec_file)], capture_output=True, text=True, env=env)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
    if res.returncode or line is None:
        raise RuntimeError(f"worker {tag} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = json.loads(line[len("RESULT "):])
    if not Path(out["file"]).resolve().is_relative_to(pythonpath.resolve()):
        raise RuntimeError(f"worker {tag} ran {out['file']}, not the code under {pythonpath}")
    return out


def against(args) -> None:
    """This checkout vs `args.against` on one batch and on whole steps, interleaved (see the docstring)."""
    import torch
    import yaml
    from rich.console import Console
    from rich.table import Table

    from agentgym.core.registry import resolve_env_id
    from agentgym.engines.base import SamplingParams
    from agentgym.models.default import ensure_default_model
    from agentgym.rollout.collector import collect
    from agentgym.skills import SkillStore, render_context
    from agentgym.trainer.config import load_config
    from agentgym.trainer.loop import Trainer

    torch.set_num_threads(args.threads)
    console = Console()
    env_kwargs = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.env_opt)}
    model = args.model or str(ensure_default_model(resolve_env_id(args.env), env_kwargs=env_kwargs))
    old_tree = _worktree(args.against)
    here = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="agentgym-bench-against-"))
    base = dict(env=args.env, model=model, tasks_per_step=args.tasks, group_size=args.group_size, eval_episodes=0,
                env_kwargs=env_kwargs, out_dir=str(work / "run"), tensorboard=False, seed=0)
    tr = Trainer(load_config(None, dict(base, backend="grpo")), log=lambda *_: None)
    tasks = tr.sample_tasks(0)
    batch = collect(tr.engine, tr.env_id, tasks, args.group_size,
                    SamplingParams(temperature=1.0, max_new_tokens=tr.cfg.max_new_tokens, seed=0),
                    env_kwargs={**env_kwargs, "split": tr.train_split}, history=tr.cfg.history)
    store = SkillStore.create(env=tr.family, strategy="keyword", k=2, seed=0)
    context_of = {t.task_id: render_context(store.retrieve(t)) for t in tasks}
    samples = [dataclasses.asdict(x) for x in batch.samples]
    (work / "samples.json").write_text(json.dumps({"samples": samples, "context_of": context_of}))
    n_prompt = sum(len(x["prompt_ids"]) for x in samples)
    console.print(f"batch: {len(samples)} turn-samples, {n_prompt} prompt + "
                  f"{sum(len(x['response_ids']) for x in samples)} response tokens; {args.against} at {old_tree}")
    tr.close()
    versions = [(args.against, old_tree, {}), ("this checkout", here, {"bf16": False}),
                ("this checkout, bf16", here, {"bf16": True})]
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    results: dict[tuple[str, str, str], list[float]] = {}
    for rnd in range(args.rounds):
        for backend in names:
            for label, tree, extra in versions:
                cfg = dict(base, backend=backend, **extra)
                spec = {"config": cfg, "mode": "update", "samples": str(work / "samples.json"),
                        "repeats": args.repeats, "threads": args.threads}
                results.setdefault((backend, label, "update"), []).append(
                    _time(spec, tree, work, f"u{rnd}")["update_s"])
                console.print(f"round {rnd + 1} {backend} {label}: update {results[(backend, label, 'update')][-1]:.2f} s")
                if args.steps:
                    spec = {"config": cfg, "mode": "steps", "repeats": args.steps, "threads": args.threads}
                    r = _time(spec, tree, work, f"s{rnd}")
                    results.setdefault((backend, label, "step"), []).append(r["step_s"])
                    results.setdefault((backend, label, "tokens"), []).append(r["response_tokens"])
                    console.print(f"round {rnd + 1} {backend} {label}: step {r['step_s']:.2f} s "
                                  f"({r['response_tokens']:.0f} response tokens)")
    table = Table("backend", "code", "update s (same batch)", "vs old", "whole step s", "vs old",
                  "response tokens / step",
                  title=f"{args.env}: median over {args.rounds} interleaved rounds ({args.threads} thread(s))")
    for backend in names:
        old_u = statistics.median(results[(backend, args.against, "update")])
        old_s = statistics.median(results[(backend, args.against, "step")]) if args.steps else float("nan")
        for label, _, _ in versions:
            u = statistics.median(results[(backend, label, "update")])
            st = statistics.median(results[(backend, label, "step")]) if args.steps else float("nan")
            tok = statistics.median(results[(backend, label, "tokens")]) if args.steps else float("nan")
            table.add_row(backend, label, f"{u:.2f}", f"{old_u / u:.2f}x", f"{st:.2f}", f"{old_s / st:.2f}x", f"{tok:.0f}")
    console.print(table)
    console.print(json.dumps({"/".join(k): v for k, v in results.items()}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

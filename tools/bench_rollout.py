"""Rollout throughput of a policy: generated tokens/s and episodes/min at several batch sizes.

    python tools/bench_rollout.py --env webshop                   # the env's default model (built if needed)
    python tools/bench_rollout.py --env alfworld --model DIR --batches 1 16 64 --threads 1 2
    python tools/bench_rollout.py --env webshop --threads 2 --group-size 8 --decode both --engine-only 64 32

For every (threads, batch) it runs `batch` episodes in lock step through the real collector (HF engine,
T = 1.0, the env's own tasks) and reports generated tokens per second of generation time, episodes per
minute of wall time, and where the time went (generation / env stepping / prompt building). Batch 1 runs
`--min-episodes` episodes one after another so that its numbers average over several episodes.

It also reports the share of generation time spent in prompt passes (the engine times them) and two
bounds on the largest batch. First, generated tokens / prompt-pass seconds: the most it could reach if
decoding cost nothing. Second, with `--engine-only`, that plus the decode cost per token of a full
engine-only batch: the most a continuous-batching engine (every decode step full) could reach. Where
these are under 10x batch 1, no decoder could make these rollouts scale 10x; only fewer prompt tokens
per generated token could. `--decode both` measures the engine's CPU decode path and stock SDPA in the
same run, interleaved rep by rep in alternating order after an unmeasured warm-up, so that neither
profits from drift or from the other's warm caches.
The machine's load average is printed: with two threads, any other busy process on a 2-core machine
slows matmuls 10-100x (docs/cpu-training-notes.md), so compare numbers taken on an idle machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="webshop", help="alfworld | webshop | searchqa | a registered id")
    ap.add_argument("--env-opt", action="append", default=[], help="env option key=value (repeatable)")
    ap.add_argument("--model", default=None, help="model folder (default: the env's default model)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--min-episodes", type=int, default=8, help="episodes per measurement at small batches")
    ap.add_argument("--group-size", type=int, default=1, help="rollouts per task within a batch (GRPO's G)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                    help="engine dtype (the trainer's rollout engine is bf16 by default)")
    ap.add_argument("--decode", default="fast", choices=["fast", "plain", "both"],
                    help="fast: the engine's CPU decode path (cpu_decode.py); plain: stock SDPA + growing cache; "
                         "both: each measurement with both engines, side by side")
    ap.add_argument("--engine-only", type=int, nargs=2, metavar=("PROMPT", "NEW"), default=None,
                    help="also time the bare engine on random prompts of PROMPT tokens generating NEW tokens")
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import yaml
    from rich.console import Console
    from rich.table import Table

    from agentgym.cli.model import _quiet_transformers, resolve_env
    from agentgym.core.registry import make
    from agentgym.engines.base import SamplingParams
    from agentgym.engines.hf import HFEngine
    from agentgym.models.default import ensure_default_model
    from agentgym.rollout.collector import close_pools, collect

    console = Console()
    _quiet_transformers()
    env_id = resolve_env(args.env)
    env_kwargs = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in args.env_opt)}
    path = args.model or ensure_default_model(env_id, env_kwargs=env_kwargs, log=console.print)
    probe = make(env_id, **env_kwargs).unwrapped
    panel = probe.panel()
    probe.close()
    kinds = ["fast", "plain"] if args.decode == "both" else [args.decode]
    engines = {k: HFEngine(path, dtype=args.dtype, seed=0, fast_decode=k == "fast") for k in kinds}
    engine = engines[kinds[0]]
    sp = SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=0)
    # warm up (env construction, index loading, first forward): not part of any measurement
    for e in engines.values():
        collect(e, env_id, [panel[0]], 1, sp, env_kwargs=env_kwargs)
    rows = []
    for threads, b in ((t, b) for t in args.threads for b in args.batches):
        torch.set_num_threads(threads)
        reps = max(1, -(-args.min_episodes // b))
        G = min(args.group_size, b)
        task_sets = [[panel[(r * b + i) % len(panel)] for i in range(max(1, b // G))] for r in range(reps)]
        if len(kinds) > 1:  # unmeasured warm-up: the first kind would otherwise warm caches for the second
            collect(engines[kinds[0]], env_id, task_sets[0], G, sp, env_kwargs=env_kwargs)
        keys = ("episodes", "gen", "env", "prompt", "wall", "tokens", "turns", "won", "prefill", "prompt_tokens")
        agg = {k: dict.fromkeys(keys, 0.0) for k in kinds}
        load = os.getloadavg()[0]
        for r, tasks in enumerate(task_sets):
            for kind in kinds if r % 2 == 0 else kinds[::-1]:  # interleaved, alternating order: no drift bias
                engine, a = engines[kind], agg[kind]
                engine.timings.update(prefill_s=0.0, decode_s=0.0, prompt_tokens=0)
                batch = collect(engine, env_id, tasks, G, sp, env_kwargs=env_kwargs)
                st = batch.stats
                a["episodes"] += st.episodes
                a["gen"] += st.gen_seconds
                a["env"] += st.env_seconds
                a["prompt"] += st.prompt_seconds
                a["wall"] += st.wall_seconds
                a["tokens"] += st.generated_tokens
                a["turns"] += len(batch.samples)
                a["won"] += sum(t.won for t in batch.trajectories)
                a["prefill"] += engine.timings["prefill_s"]
                a["prompt_tokens"] += engine.timings["prompt_tokens"]
        for kind, a in agg.items():
            row = {
                "decode": kind, "threads": threads, "batch": b, "episodes": int(a["episodes"]), "turns": int(a["turns"]),
                "tokens_per_s": a["tokens"] / a["gen"], "episodes_per_min": 60 * a["episodes"] / a["wall"],
                "gen_frac": a["gen"] / a["wall"], "env_frac": a["env"] / a["wall"],
                "prompt_frac": a["prompt"] / a["wall"], "success": a["won"] / a["episodes"],
                "tokens_per_turn": a["tokens"] / max(1, a["turns"]), "load_avg_1m": load,
                "prefill_frac": a["prefill"] / a["gen"],
                "prompt_tokens_per_turn": a["prompt_tokens"] / max(1, a["turns"]),
                # with decoding for free, generation could go no faster than this (prompt passes alone)
                "tokens_per_s_prefill_bound": a["tokens"] / max(1e-9, a["prefill"]),
            }
            rows.append(row)
            console.print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    close_pools()
    if args.engine_only:
        P, N = args.engine_only
        g = torch.Generator().manual_seed(0)
        for e in engines.values():
            e.eos_ids = set()  # exactly N new tokens per row
        for threads, b in ((t, b) for t in args.threads for b in args.batches):
            torch.set_num_threads(threads)
            prompts = torch.randint(10, len(engines[kinds[0]].tokenizer) - 20, (b, P), generator=g).tolist()
            reps = max(1, -(-args.min_episodes // b))
            secs, dec = dict.fromkeys(kinds, 0.0), dict.fromkeys(kinds, 0.0)
            for kind in kinds:  # warm-up
                engines[kind].generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=N, seed=1))
            for r in range(reps):
                for kind in kinds if r % 2 == 0 else kinds[::-1]:
                    engine = engines[kind]
                    engine.timings.update(prefill_s=0.0, decode_s=0.0, prompt_tokens=0)
                    t0 = time.perf_counter()
                    engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=N, seed=r))
                    secs[kind] += time.perf_counter() - t0
                    dec[kind] += engine.timings["decode_s"]
            for kind in kinds:
                row = {"decode": kind, "threads": threads, "batch": b, "engine_only": f"{P}+{N}",
                       "tokens_per_s": reps * b * N / secs[kind], "load_avg_1m": os.getloadavg()[0],
                       # every row decodes all N steps: the decode cost per token of a full batch
                       "decode_s_per_token": dec[kind] / (reps * b * N)}
                rows.append(row)
                console.print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
    table = Table("decode", "threads", "batch", "episodes", "gen tokens/s", "episodes/min", "gen %", "env %", "prompt %",
                  "tok/turn", "prompt tok/turn", "prefill % of gen", "load", title=f"rollout throughput: {env_id}, {engine.model.num_parameters() / 1e6:.2f}M "
                                              f"params, {args.dtype}, T={args.temperature}, G={args.group_size}")
    for r in rows:
        if "engine_only" in r:
            continue
        table.add_row(r["decode"], str(r["threads"]), str(r["batch"]), str(r["episodes"]), f"{r['tokens_per_s']:.0f}",
                      f"{r['episodes_per_min']:.1f}", f"{100 * r['gen_frac']:.0f}", f"{100 * r['env_frac']:.0f}",
                      f"{100 * r['prompt_frac']:.0f}", f"{r['tokens_per_turn']:.1f}",
                      f"{r['prompt_tokens_per_turn']:.0f}", f"{100 * r['prefill_frac']:.0f}", f"{r['load_avg_1m']:.1f}")
    console.print(table)
    for kind in ("rollout", "engine_only"):
        for threads, dec in ((t, d) for t in args.threads for d in kinds):
            by_b = {r["batch"]: r["tokens_per_s"] for r in rows
                    if r["threads"] == threads and r.get("decode", dec) == dec
                    and (("engine_only" in r) == (kind == "engine_only"))}
            if 1 in by_b and max(by_b) > 1:
                top = max(by_b)
                console.print(f"{kind}, {dec} decode, threads {threads}: batch {top} reaches "
                              f"{by_b[top] / by_b[1]:.1f}x the generated tokens/s of batch 1 "
                              f"({by_b[1]:.0f} -> {by_b[top]:.0f})")
                bound = [r["tokens_per_s_prefill_bound"] for r in rows if kind == "rollout" and r["batch"] == top
                         and r["threads"] == threads and r.get("decode") == dec and "engine_only" not in r]
                if bound:
                    console.print(f"  its prompt passes alone cap batch {top} at {bound[0]:.0f} tokens/s = "
                                  f"{bound[0] / by_b[1]:.1f}x batch 1, however fast decoding were")
                    full = [r["decode_s_per_token"] for r in rows if "engine_only" in r and r["batch"] == top
                            and r["threads"] == threads and r.get("decode") == dec]
                    if full:  # continuous batching at best: every decode step with all rows (at a short context)
                        cap = 1 / (1 / bound[0] + full[0])
                        console.print(f"  with every decode step as full as the engine-only batch of {top} "
                                      f"({1e3 * full[0]:.3f} ms/token): at most {cap:.0f} tokens/s = "
                                      f"{cap / by_b[1]:.1f}x batch 1")
    console.print(f"host: {os.cpu_count()} CPUs, torch {torch.__version__}, load average now {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env_id, "model": str(path), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

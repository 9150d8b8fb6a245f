"""Does c+ carry knowledge? Experts and default policies with and without skills, and the teacher's gap.

    python tools/bench_skill_knowledge.py experts                      # all envs, every strategy
    python tools/bench_skill_knowledge.py policy --env alfworld --episodes 300
    python tools/bench_skill_knowledge.py gap --env alfworld --episodes 64
    python tools/bench_skill_knowledge.py all --json results.json

Three measurements, each a table with standard errors (binomial for a rate, paired for a difference):

- `experts`: each env's plain expert (`env.expert_action()`, which does not know the world's hidden
  regularities) against the skill-reading expert (`env.expert_action_with_skills(skills)`), given the
  skills each retrieval strategy picks for the task (keyword, embedding, random, UCB learning online
  from the episodes' outcomes, cold start), under the env's step cap. Experts are deterministic, so each
  task is played once: the cells cover the whole eval panels (and, where those hold fewer than
  `--episodes` tasks, the first train tasks too, marked as such).
- `policy`: the env's default policy at T = 0.4 without skills and with each strategy's skills in front of
  the prompt (the Skill-Prompt view, what the SDAR teacher reads), on `--episodes` tasks spread over each
  eval split (cycling through a smaller panel with new sampling seeds).
- `gap`: on the student's own sampled tokens (T = 1, train split, tasks spread over it, no skills, as in training), the
  teacher-student gap Delta = log pi(y | c+, x) - log pi(y | x) with keyword c+: its mean, the fraction of
  tokens with Delta > 0, and the same at the decisive tokens (ALFWorld: the receptacle of `go to`;
  WebShop: the query of `search[...]` and the clicked option or product; Search-QA: the query).

Seeds, panels and episode counts are fixed by the arguments (defaults: 300 episodes, seed 12345).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from typing import Any

from agentgym.core.demos import expert_episode

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: env name -> (env id, constructor options, eval splits, extra split for small panels)
ENVS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "alfworld": ("agentgym/ALFWorld-v0", {"difficulty": "small"}, ["eval_in_distribution", "eval_out_of_distribution"]),
    "webshop": ("agentgym/WebShop-v0", {}, ["test"]),
    "searchqa": ("agentgym/SearchQA-v0", {}, ["test"]),
}
STRATEGIES = ("keyword", "embedding", "random", "ucb")
#: the decisive part of an action (the argument a skill is about), per env family
DECISIVE: dict[str, re.Pattern[str]] = {
    "alfworld": re.compile(r"go to (?P<d>[a-z]+)"),
    "webshop": re.compile(r"(?:search|click)\[(?P<d>[^\]]+)\]"),
    "searchqa": re.compile(r"<search>(?P<d>.*?)</search>"),
}


def rate_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / max(n, 1))


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of b - a and its standard error (same tasks, same order)."""
    d = [y - x for x, y in zip(a, b, strict=True)]
    n = len(d)
    m = sum(d) / max(n, 1)
    var = sum((x - m) ** 2 for x in d) / max(n - 1, 1)
    return m, math.sqrt(var / max(n, 1))


def _store(env_id: str, strategy: str, seed: int):
    from agentgym.rollout.prompts import family_of
    from agentgym.skills import SkillStore

    return SkillStore.create(env=family_of(env_id), strategy=strategy, k=2, seed=seed)


def expert_tasks(env: Any, splits: list[str], episodes: int) -> list[tuple[str, Any]]:
    """Every task of the eval splits; the first train tasks as well when those are fewer than `episodes`."""
    tasks = [(s, t) for s in splits for t in env.panel(s)]
    if len(tasks) < episodes:
        train = env.panel(env.splits[0])
        tasks += [(env.splits[0], train[i]) for i in range(min(len(train), episodes))]
    return tasks


def play_expert(env: Any, task: Any, skills: list | None) -> tuple[bool, float, int]:
    t = expert_episode(env, task, skills=skills)
    return t.won, t.score, len(t.steps)


def bench_experts(names: list[str], episodes: int, strategies: list[str], seed: int) -> list[dict[str, Any]]:
    import agentgym

    rows = []
    for name in names:
        env_id, kwargs, splits = ENVS[name]
        env = agentgym.make(env_id, **kwargs).unwrapped
        tasks = expert_tasks(env, splits, episodes)
        conds: dict[str, list[tuple[bool, float, int]]] = {}
        t0 = time.perf_counter()
        conds["plain"] = [play_expert(env, t, None) for _, t in tasks]
        for strategy in strategies:
            try:
                store = _store(env_id, strategy, seed)
            except Exception as e:  # embedding without its model: say so, measure the rest
                print(f"{name}: {strategy} retrieval unavailable: {e}", file=sys.stderr)
                continue
            out = []
            for _, t in tasks:
                skills = store.retrieve(t)
                r = play_expert(env, t, skills)
                store.update(t, skills, reward=float(r[0]))
                out.append(r)
            conds[strategy] = out
        env.close()
        for split in [*splits, "eval (all)", *([env.splits[0]] if any(s == env.splits[0] for s, _ in tasks) else [])]:
            idx = [i for i, (s, _) in enumerate(tasks) if s == split or (split == "eval (all)" and s in splits)]
            if not idx or (split == "eval (all)" and len(splits) < 2):
                continue
            base = [float(conds["plain"][i][0]) for i in idx]
            for cond, res in conds.items():
                won = [float(res[i][0]) for i in idx]
                p = sum(won) / len(won)
                d, d_se = paired(base, won)
                rows.append({"env": name, "split": split, "expert": cond, "episodes": len(idx), "success": p,
                             "success_se": rate_se(p, len(idx)), "score": sum(res[i][1] for i in idx) / len(idx),
                             "steps": sum(res[i][2] for i in idx) / len(idx), "minus_plain": d, "minus_plain_se": d_se,
                             "step_cap": env.max_steps, "seconds": time.perf_counter() - t0})
    return rows


def _policy(name: str, model: str | None):
    from agentgym.models.default import ensure_default_model

    env_id, kwargs, _ = ENVS[name]
    return model or str(ensure_default_model(env_id, env_kwargs=kwargs, log=print))


def bench_policy(names: list[str], episodes: int, strategies: list[str], seed: int, temperature: float,
                 model: str | None) -> list[dict[str, Any]]:
    from agentgym.engines.hf import HFEngine
    from agentgym.trainer.evaluate import evaluate

    rows = []
    for name in names:
        env_id, kwargs, splits = ENVS[name]
        path = _policy(name, model)
        engine = HFEngine(path, dtype="bfloat16")
        for split in splits:
            base = None
            for cond in ["none", *strategies]:
                t0 = time.perf_counter()
                try:
                    store = None if cond == "none" else _store(env_id, cond, seed)
                except Exception as e:
                    print(f"{name}: {cond} retrieval unavailable: {e}", file=sys.stderr)
                    continue
                r = evaluate(engine, env_id, env_kwargs=kwargs, split=split, episodes=episodes, temperature=temperature,
                             history=None, with_skills=store is not None, skill_store=store, seed=seed)
                row = {"env": name, "split": split, "skills": cond, "episodes": r.episodes, "temperature": temperature,
                       "success": r.success, "success_se": rate_se(r.success, r.episodes), "score": r.score,
                       "valid_actions": r.valid_action_ratio, "mean_length": r.mean_length, "model": path,
                       "panel": r.panel_fingerprint, "seconds": time.perf_counter() - t0}
                if base is None:
                    base = r
                else:
                    # both cells play the same tasks with the same sampling seeds, but sampled episodes are
                    # not paired outcome by outcome: the difference's SE is that of two independent rates
                    row["minus_none"] = r.success - base.success
                    row["minus_none_se"] = math.hypot(rate_se(r.success, r.episodes), rate_se(base.success, base.episodes))
                    row["score_minus_none"] = r.score - base.score
                rows.append(row)
                print(json.dumps(row))
        engine.close()
    return rows


def _decisive_mask(family: str, tok: Any, response_ids: list[int]) -> list[bool]:
    """Which response tokens overlap the decisive argument of the action."""
    pat = DECISIVE.get(family)
    out = [False] * len(response_ids)
    if pat is None:
        return out
    ends, text = [], ""
    for i in range(len(response_ids)):
        text = tok.decode(response_ids[: i + 1])
        ends.append(len(text))
    m = pat.search(text)
    if not m:
        return out
    lo, hi = m.span("d")
    start = 0
    for i, end in enumerate(ends):
        out[i] = start < hi and end > lo
        start = end
    return out


def bench_gap(names: list[str], episodes: int, seed: int, model: str | None) -> list[dict[str, Any]]:
    import torch

    from agentgym.engines.base import SamplingParams
    from agentgym.engines.hf import HFEngine
    from agentgym.models.load import load_policy
    from agentgym.models.scoring import response_logprobs
    from agentgym.rollout.collector import collect
    from agentgym.rollout.prompts import encode_prompt, family_of
    from agentgym.skills import render_context

    rows = []
    for name in names:
        env_id, kwargs, _ = ENVS[name]
        path = _policy(name, model)
        model_, tok = load_policy(path, dtype=torch.float32)
        model_.eval()
        engine = HFEngine(model_, tokenizer=tok)
        import agentgym

        probe = agentgym.make(env_id, **kwargs).unwrapped
        train = probe.panel(probe.splits[0])
        probe.close()
        n = min(episodes, len(train))
        tasks = [train[i * len(train) // n] for i in range(n)]  # spread over the panel (it may be stored in blocks)
        batch = collect(engine, env_id, tasks, 1, SamplingParams(temperature=1.0, max_new_tokens=48, seed=seed),
                        env_kwargs={**kwargs, "split": probe.splits[0]}, history=None)
        store = _store(env_id, "keyword", seed)
        by_id = {t.task_id: t for t in tasks}
        ctx = {tid: render_context(store.retrieve(t)) for tid, t in by_id.items()}
        samples = batch.samples
        family = family_of(env_id)
        deltas, dec = [], []
        for lo in range(0, len(samples), 32):
            chunk = samples[lo : lo + 32]
            resp = [s.response_ids for s in chunk]
            with torch.no_grad():
                s_lp, _, mask = response_logprobs(model_, [s.prompt_ids for s in chunk], resp, pad_id=tok.pad_token_id)
                t_prompts = [encode_prompt(tok, s.user_text, privileged=ctx[s.task_id]) for s in chunk]
                t_lp, _, _ = response_logprobs(model_, t_prompts, resp, pad_id=tok.pad_token_id)
            for i, s in enumerate(chunk):
                n = int(mask[i].sum())
                d = (t_lp[i, :n] - s_lp[i, :n]).tolist()
                deltas += d
                dm = _decisive_mask(family, tok, s.response_ids)
                dec += [x for x, keep in zip(d, dm, strict=True) if keep]
        engine.close()

        def stats(xs: list[float]) -> dict[str, float]:
            n = max(len(xs), 1)
            m = sum(xs) / n
            sd = math.sqrt(sum((x - m) ** 2 for x in xs) / max(n - 1, 1))
            return {"tokens": len(xs), "mean_gap": m, "mean_gap_se": sd / math.sqrt(n),
                    "frac_positive": sum(x > 0 for x in xs) / n}

        row = {"env": name, "episodes": len(batch.trajectories), "samples": len(samples), "model": path,
               "student_success": batch.success_rate, "all": stats(deltas), "decisive": stats(dec)}
        rows.append(row)
        print(json.dumps(row))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["experts", "policy", "gap", "all"])
    ap.add_argument("--env", nargs="+", default=list(ENVS), choices=list(ENVS))
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="a policy folder instead of the default one (one env)")
    ap.add_argument("--json", default=None, help="write all rows here")
    args = ap.parse_args(argv)
    if args.episodes < 1:
        ap.error("--episodes must be >= 1")
    if args.model and len(args.env) != 1:
        ap.error("--model needs exactly one --env")

    import torch
    from rich.console import Console
    from rich.table import Table

    from agentgym.cli.model import _quiet_transformers

    torch.set_num_threads(args.threads)
    _quiet_transformers()
    console = Console(width=140)
    out: dict[str, Any] = {"args": vars(args)}
    if args.part in ("experts", "all"):
        rows = out["experts"] = bench_experts(args.env, args.episodes, args.strategies, args.seed)
        table = Table("env", "split", "expert", "episodes", "success", "score", "steps", "minus plain",
                      title="experts under the step cap (success ± SE; difference ± paired SE)")
        for r in rows:
            table.add_row(r["env"], r["split"], r["expert"], str(r["episodes"]),
                          f"{r['success']:.3f} ± {r['success_se']:.3f}", f"{r['score']:.3f}", f"{r['steps']:.1f}",
                          "" if r["expert"] == "plain" else f"{r['minus_plain']:+.3f} ± {r['minus_plain_se']:.3f}")
        console.print(table)
    if args.part in ("policy", "all"):
        rows = out["policy"] = bench_policy(args.env, args.episodes, args.strategies, args.seed, args.temperature,
                                            args.model)
        table = Table("env", "split", "skills", "episodes", "success", "score", "valid", "minus none",
                      title=f"default policy at T = {args.temperature:g} (success ± SE)")
        for r in rows:
            diff = "" if "minus_none" not in r else f"{r['minus_none']:+.3f} ± {r['minus_none_se']:.3f}"
            table.add_row(r["env"], r["split"], r["skills"], str(r["episodes"]),
                          f"{r['success']:.3f} ± {r['success_se']:.3f}", f"{r['score']:.3f}",
                          f"{r['valid_actions']:.2f}", diff)
        console.print(table)
    if args.part in ("gap", "all"):
        rows = out["gap"] = bench_gap(args.env, args.episodes, args.seed, args.model)
        table = Table("env", "samples", "tokens", "mean gap", "gap > 0", "decisive tokens", "mean gap (dec.)",
                      "gap > 0 (dec.)", title="teacher - student gap on the student's samples (keyword c+, T = 1)")
        for r in rows:
            a, d = r["all"], r["decisive"]
            table.add_row(r["env"], str(r["samples"]), str(a["tokens"]), f"{a['mean_gap']:+.3f} ± {a['mean_gap_se']:.3f}",
                          f"{a['frac_positive']:.3f}", str(d["tokens"]), f"{d['mean_gap']:+.3f} ± {d['mean_gap_se']:.3f}",
                          f"{d['frac_positive']:.3f}")
        console.print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

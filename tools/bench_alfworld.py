"""Benchmark agentgym/ALFWorld-v0: env steps per second on one core, and expert / random success per panel.

The success tables show both experts: the plain one (no knowledge of where things usually are) and the
one reading the keyword-retrieved skills, each under the difficulty's step cap.

    .venv/bin/python tools/bench_alfworld.py                      # both difficulties, all panels
    .venv/bin/python tools/bench_alfworld.py --difficulty small --train-limit 500 --steps 20000

Throughput counts full `env.step` calls (feedback text, goal check and the admissible-action list in
`info`) with a uniformly random admissible policy, resets included; worlds are generated on first use,
so the figure includes world generation (with its expert check) for every new task reached.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from agentgym.envs.alfworld.env import ALFWorldEnv  # noqa: E402
from agentgym.envs.alfworld.panels import SPLITS  # noqa: E402
from agentgym.envs.alfworld.report import TYPE_ORDER, evaluate, expert_policy, random_policy  # noqa: E402
from agentgym.skills import SkillStore  # noqa: E402

_KEYWORD = SkillStore.create("alfworld", strategy="keyword")


def skilled_expert(env, info, rng) -> str:
    """The expert that reads the keyword-retrieved skills (it knows where things usually are)."""
    return env.expert_action_with_skills(_KEYWORD.retrieve(env.task))

console = Console(width=130)


def throughput(difficulty: str, policy_name: str, n_steps: int, seed: int = 0) -> dict[str, float]:
    env = ALFWorldEnv(difficulty=difficulty)
    t0 = time.perf_counter()
    env.panel()
    panel_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    steps = episodes = wins = 0
    adm_len = 0
    t0 = time.perf_counter()
    while steps < n_steps:
        if policy_name == "expert":
            action = env.expert_action()
        else:
            adm = info["admissible_actions"]
            action = adm[int(rng.integers(len(adm)))]
        _, _, term, trunc, info = env.step(action)
        steps += 1
        adm_len += len(info["admissible_actions"])
        if term or trunc:
            episodes += 1
            wins += info["won"]
            _, info = env.reset(seed=int(rng.integers(1 << 31)))
    dt = time.perf_counter() - t0
    return {"steps_per_s": steps / dt, "episodes": episodes, "episodes_per_s": episodes / dt,
            "success": wins / max(1, episodes), "mean_admissible": adm_len / steps, "panel_s": panel_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--difficulty", nargs="+", default=["full", "small"], choices=["full", "small"])
    ap.add_argument("--steps", type=int, default=20000, help="env steps per throughput measurement")
    ap.add_argument("--train-limit", type=int, default=0, help="evaluate only the first N train tasks (0 = all)")
    ap.add_argument("--skip-success", action="store_true", help="only measure throughput")
    args = ap.parse_args()

    load = os.getloadavg()
    console.print(f"CPU cores visible: {os.cpu_count()}, load average at start: {load[0]:.2f} {load[1]:.2f} "
                  f"{load[2]:.2f}; one process, one thread")

    table = Table("difficulty", "policy", "steps/s", "episodes/s", "episodes", "success", "mean |admissible|",
                  "train panel build s", title="ALFWorld-v0 throughput (one core, admissible actions computed)")
    for diff in args.difficulty:
        for pol in ("random-admissible", "expert"):
            r = throughput(diff, "expert" if pol == "expert" else "random", args.steps)
            table.add_row(diff, pol, f"{r['steps_per_s']:,.0f}", f"{r['episodes_per_s']:,.1f}", str(r["episodes"]),
                          f"{r['success']:.3f}", f"{r['mean_admissible']:.1f}", f"{r['panel_s']:.2f}")
    console.print(table)
    if args.skip_success:
        return

    for diff in args.difficulty:
        table = Table("panel", "task type", "tasks", "plain expert", "plain steps", "expert + skills",
                      "skills steps", "random success",
                      title=f"ALFWorld-v0, difficulty {diff}: success per panel and task type "
                            f"(step cap {ALFWorldEnv(difficulty=diff).max_steps})")
        for split in SPLITS:
            env = ALFWorldEnv(split=split, difficulty=diff)
            tasks = list(env.panel())
            if split == "train" and args.train_limit:
                tasks = tasks[: args.train_limit]
            label = f"{diff} {split}"
            exp = evaluate(env, expert_policy, tasks,
                           progress=lambda it, lb=label: track(it, description=f"{lb} expert", transient=True))
            sk = evaluate(env, skilled_expert, tasks,
                          progress=lambda it, lb=label: track(it, description=f"{lb} skills", transient=True))
            sk_rows = {t: (s, steps) for t, n, s, steps in sk.rows()}
            rnd = evaluate(env, random_policy, tasks, seed=1,
                           progress=lambda it, lb=label: track(it, description=f"{lb} random", transient=True))
            rnd_rows = {t: (n, s) for t, n, s, _ in rnd.rows()}
            for t, n, s, steps in exp.rows():
                if t not in TYPE_ORDER and t != "all":
                    continue
                table.add_row(split, t, str(n), f"{s:.3f}", f"{steps:.1f}", f"{sk_rows[t][0]:.3f}",
                              f"{sk_rows[t][1]:.1f}", f"{rnd_rows[t][1]:.3f}", end_section=(t == "all"))
        console.print(table)


if __name__ == "__main__":
    main()

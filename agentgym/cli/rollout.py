"""`agentgym rollout`: run a policy on an env, print success, write the trajectories (JSONL)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentgym.cli.common import check_split, check_writable, console, finite, make_env
from agentgym.core.errors import AgentGymError


def rollout(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    model: str = typer.Option(None, help="Hugging Face causal-LM directory (default: the env's default policy)"),
    episodes: int = typer.Option(16, min=1, help="episodes (tasks x group size)"),
    group_size: int = typer.Option(1, min=1, help="rollouts per task (same env seed within a group)"),
    split: str = typer.Option(None, help="panel split (default: the env's first split)"),
    temperature: float = typer.Option(1.0, min=0.0, help="sampling temperature (0 = greedy)", callback=finite),
    top_p: float = typer.Option(1.0, min=0.0, max=1.0, help="top-p, in (0, 1]", callback=finite),
    max_new_tokens: int = typer.Option(48, min=1, help="response length cap"),
    with_skills: bool = typer.Option(False, help="show the retrieved skills (c+) to the policy"),
    skill_library: str = typer.Option(None, help="skill library file (YAML or JSON) for --with-skills "
                                      "(default: the env's own, or the packaged one)"),
    engine: str = typer.Option("hf", help="hf | sglang"),
    sglang_url: str = typer.Option(None, help="URL of a running SGLang server (engine sglang)"),
    workers: int = typer.Option(1, min=1, help="threads stepping envs in parallel"),
    threads: int = typer.Option(2, min=1, help="torch threads"),
    seed: int = typer.Option(0, min=0, help="sampling seed (and task order)"),
    out: Path = typer.Option(None, "--out", "-o", help="trajectory JSONL (default runs/rollouts/<env>.jsonl)"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
) -> None:
    """Roll out a policy and report success; the trajectories reload with `agentgym.rollout.samples`."""
    import numpy as np
    from rich.table import Table

    from agentgym.cli.model import _quiet_transformers, parse_env_opts, resolve_env, set_threads
    from agentgym.engines.base import SamplingParams, make_engine
    from agentgym.models.default import ensure_default_model
    from agentgym.rollout.collector import collect

    env_id = resolve_env(env)
    if engine not in ("hf", "sglang"):
        raise AgentGymError(f"unknown engine {engine!r}; valid: hf, sglang")
    try:
        sampling = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    except ValueError as e:
        raise AgentGymError(str(e)) from None
    out = out or Path("runs") / "rollouts" / f"{env_id.split('/')[-1].lower()}.jsonl"
    check_writable(out, "--out")  # before the rollout, whose result would be lost
    probe, env_kwargs = make_env(env_id, parse_env_opts(env_opt))  # before any model: bad options fail fast
    check_split(env_id, split, probe.unwrapped.splits)
    if split:
        env_kwargs["split"] = split
    panel = probe.unwrapped.panel(split)
    probe.close()
    if with_skills:
        from agentgym.skills import SkillStore, render_context
        from agentgym.trainer.config import skill_library_for

        library = skill_library_for(env_id, skill_library, needed_by="--with-skills", how="--skill-library PATH")
        store = SkillStore.from_library(library, strategy="keyword", k=2, seed=seed)
    set_threads(threads)
    _quiet_transformers()
    if model is None:
        path = ensure_default_model(env_id, log=lambda m: console.print(m, markup=False))
    else:
        path = Path(model)
        if not (path / "config.json").is_file():
            raise AgentGymError(f"--model {model} is not a Hugging Face model folder (no config.json)")
    n_tasks = max(1, episodes // group_size)
    order = np.random.default_rng(seed).permutation(len(panel))
    tasks = [panel[int(order[i % len(panel)])] for i in range(n_tasks)]
    if engine == "sglang":
        eng = make_engine("sglang", str(path), url=sglang_url)
    else:
        eng = make_engine("hf", str(path))
    block_fn = None
    if with_skills:
        block_fn = lambda task: render_context(store.retrieve(task))  # noqa: E731
    try:
        with console.status(f"rollout: {n_tasks * group_size} episodes of {env_id}"):
            batch = collect(eng, env_id, tasks, group_size, sampling, env_kwargs=env_kwargs, skill_block_fn=block_fn,
                            max_workers=workers, policy_name=str(path))
    finally:
        eng.close()
    batch.to_jsonl(out)
    st = batch.stats
    samples = batch.samples
    table = Table(show_header=False, title=f"rollout {env_id} ({panel.split}, T={temperature})")
    table.add_row("episodes", str(len(batch.trajectories)))
    table.add_row("success", f"{batch.success_rate:.3f}")
    table.add_row("score", f"{batch.mean_score:.3f}")
    table.add_row("turns / episode", f"{len(samples) / max(1, len(batch.trajectories)):.2f}")
    table.add_row("valid format", f"{sum(s.format_valid for s in samples) / max(1, len(samples)):.3f}")
    table.add_row("valid actions", f"{sum(s.action_valid for s in samples) / max(1, len(samples)):.3f}")
    table.add_row("generated tokens/s", f"{st.tokens_per_second:.0f}")
    table.add_row("time gen / env / total", f"{st.gen_seconds:.1f}s / {st.env_seconds:.1f}s / {st.wall_seconds:.1f}s")
    console.print(table)
    console.print(f"trajectories: {out}", markup=False, soft_wrap=True)

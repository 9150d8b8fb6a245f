"""`agentgym train` and `agentgym eval`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agentgym.cli.common import (
    check_split,
    check_train_config,
    check_writable,
    console,
    finite,
    learning_rate,
    make_env,
    parse_kv,
)
from agentgym.core.errors import AgentGymError


def train(
    backend: str = typer.Option("sdar", help="grpo | grpo_opsd | sdar | opsd | skill_grpo | skill_sd | rlsd | ..."),
    env: str = typer.Option("webshop", help="alfworld | webshop | searchqa | any registered env id"),
    model: str = typer.Option(None, help="Hugging Face causal-LM directory (default: the embedded policy)"),
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of TrainConfig fields"),
    steps: int = typer.Option(None, min=0, help="training steps"),
    tasks_per_step: int = typer.Option(None, min=1, help="tasks per step (B)"),
    group_size: int = typer.Option(None, min=2, help="rollouts per task (G)"),
    lr: float = typer.Option(None, help="learning rate", callback=learning_rate),
    skills: str = typer.Option(None, help="teacher skill retrieval: random | keyword | ucb | embedding"),
    skill_library: str = typer.Option(None, help="skill library file (YAML or JSON, docs/skills.md) for the "
                                      "skill-using backends (default: the env's own, or the packaged one)"),
    eval_episodes: int = typer.Option(None, min=0, help="episodes of the before/after evaluation"),
    seed: int = typer.Option(None, min=0, help="random seed"),
    out: str = typer.Option(None, "--out", "-o", help="run folder (default runs/<env>-<backend>-s<seed>)"),
    resume: bool = typer.Option(False, help="continue from the newest checkpoint in the run folder"),
    bf16: bool = typer.Option(None, help="bf16 autocast for the training forward"),
    deepspeed: bool = typer.Option(None, help="train through a DeepSpeed engine"),
    zero_stage: int = typer.Option(None, min=0, max=3, help="DeepSpeed ZeRO stage"),
    engine: str = typer.Option(None, help="hf | sglang"),
    sglang_url: str = typer.Option(None, help="URL of a running SGLang server (without it, agentgym launches one)"),
    sglang_command: str = typer.Option(None, help="command that launches SGLang's server, e.g. "
                                       "'~/.cache/agentgym/sglang-venv/bin/python -m sglang.launch_server'"),
    sglang_args: str = typer.Option(None, help="extra flags of the launched server, one quoted string "
                                    "(default: the CPU flags without CUDA)"),
    sglang_env: list[str] = typer.Option(None, "--sglang-env", help="environment of the launched server KEY=VALUE "
                                         "(repeatable)"),
    backend_opt: list[str] = typer.Option(None, "--backend-opt", help="backend option key=value (repeatable)"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
    set_: list[str] = typer.Option(None, "--set", help="any TrainConfig field key=value (repeatable)"),
) -> None:
    """Train a policy with an RL / self-distillation backend; evaluates before and after (no skills)."""
    from agentgym.backends import get_backend
    from agentgym.core.registry import known_env_id
    from agentgym.trainer.config import load_config

    overrides = dict(backend=backend, env=env, model=model, steps=steps, tasks_per_step=tasks_per_step,
                     group_size=group_size, lr=lr, skills=skills, skill_library=skill_library,
                     eval_episodes=eval_episodes, seed=seed,
                     out_dir=out, bf16=bf16, deepspeed=deepspeed, zero_stage=zero_stage, engine=engine,
                     sglang_url=sglang_url, sglang_command=sglang_command, sglang_args=sglang_args)
    overrides.update(parse_kv(set_, "--set"))
    if backend_opt:
        overrides["backend_kwargs"] = parse_kv(backend_opt, "--backend-opt")
    if env_opt:
        overrides["env_kwargs"] = parse_kv(env_opt, "--env-opt")
    if sglang_env:  # values stay strings (no YAML: `true` must not become `True`)
        pairs = [item.partition("=") for item in sglang_env]
        bad = next((f"{k}{sep}{v}" for k, sep, v in pairs if not sep or not k.strip()), None)
        if bad is not None:
            raise AgentGymError(f"--sglang-env expects KEY=VALUE, got {bad!r}")
        overrides["sglang_env"] = {k.strip(): v for k, _, v in pairs}
    cfg = load_config(config, overrides)
    get_backend(cfg.backend)  # unknown backend: one line naming the valid ones, before any model is built
    known_env_id(cfg.env)
    if cfg.out_dir == "runs/latest":  # not set by --out or the config file
        cfg.out_dir = f"runs/{cfg.env.split('/')[-1].lower()}-{cfg.backend}-s{cfg.seed}"
    check_writable(cfg.out_dir, "--out", folder=True)
    check_train_config(cfg)  # backend and env options, splits, B vs the panel: all before any model
    from agentgym.trainer.run import run_training

    run_training(cfg, resume=resume, console=console)
    if cfg.deepspeed:  # barrier, destroy the process group, flush, exit (avoids gloo's exit-time aborts)
        from agentgym.distributed import shutdown

        shutdown(0)


def evaluate(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    model: str = typer.Option(None, help="Hugging Face causal-LM directory (default: the embedded policy)"),
    split: str = typer.Option(None, help="panel split (default: the env's eval split)"),
    episodes: int = typer.Option(100, min=1, help="episodes (N tasks spread over the panel)"),
    temperature: float = typer.Option(0.4, min=0.0, help="sampling temperature", callback=finite),
    greedy: bool = typer.Option(False, help="greedy decoding (overrides --temperature)"),
    with_skills: bool = typer.Option(False, help="put retrieved skills in the prompt (Skill-Prompt baseline)"),
    skills: str = typer.Option("keyword", help="retrieval strategy for --with-skills"),
    skill_library: str = typer.Option(None, help="skill library file (YAML or JSON) for --with-skills "
                                      "(default: the env's own, or the packaged one)"),
    seed: int = typer.Option(12345, min=0, help="sampling seed"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
    json_out: Path = typer.Option(None, "--json", help="write the result as JSON here"),
    prompt_style: str = typer.Option("step", help="step | conversation (the episode as one chat; as trained)"),
    system_prompt: str = typer.Option(None, help="a system message first in every prompt (needs a chat template)"),
    max_episode_tokens: int = typer.Option(None, min=1, help="an episode's generated-token budget (default: none)"),
) -> None:
    """Evaluate a policy without skills (by default): success, score, per-task-type table."""
    from agentgym.core.registry import known_env_id
    from agentgym.trainer.config import skill_library_for

    env_id = known_env_id(env)
    if model is not None and not Path(model).is_dir():
        raise AgentGymError(f"--model {model!r} is not a directory (a Hugging Face model folder)")
    if json_out is not None:
        check_writable(json_out, "--json")
    from agentgym.rollout.prompts import PROMPT_STYLES

    if prompt_style not in PROMPT_STYLES:
        raise AgentGymError(f"unknown --prompt-style {prompt_style!r}; valid: {', '.join(PROMPT_STYLES)}")
    probe, env_kwargs = make_env(env_id, parse_kv(env_opt, "--env-opt"))  # before the model: bad options fail fast
    check_split(env_id, split, probe.unwrapped.splits)
    probe.close()
    library = None
    if with_skills:
        from agentgym.skills.retrievers import STRATEGIES

        if skills not in STRATEGIES:
            raise AgentGymError(f"unknown skill retrieval strategy {skills!r}; valid: {', '.join(STRATEGIES)}")
        library = skill_library_for(env_id, skill_library, needed_by="--with-skills", how="--skill-library PATH")
    import torch
    from rich.table import Table

    from agentgym.engines.base import make_engine
    from agentgym.models.default import ensure_default_model, load_policy
    from agentgym.trainer.evaluate import evaluate as run_eval
    # the default policy of the world these env options make, as `agentgym train` picks it
    path = Path(model) if model else ensure_default_model(env_id, env_kwargs=env_kwargs,
                                                          log=lambda m: console.print(m, markup=False))
    policy, tok = load_policy(path, dtype=torch.float32)
    eng = make_engine("hf", policy, tokenizer=tok)
    store = None
    if library is not None:
        from agentgym.skills import SkillStore

        store = SkillStore.from_library(library, strategy=skills, k=2, seed=0)
    ctx = getattr(policy.config, "max_position_embeddings", None)
    max_new_tokens = 48  # the trainer's default response cap
    try:
        res = run_eval(eng, env_id, env_kwargs=env_kwargs, split=split, episodes=episodes,
                       temperature=0.0 if greedy else temperature, history=None, with_skills=with_skills,
                       skill_store=store, seed=seed, max_new_tokens=max_new_tokens,
                       max_prompt_tokens=int(ctx) - max_new_tokens if ctx else None, prompt_style=prompt_style,
                       system_prompt=system_prompt, max_episode_tokens=max_episode_tokens)
    finally:
        eng.close()
    t = Table("task type", "episodes", "success", "score",
              title=f"{env_id} [{res.split}] {res.episodes} episodes, T={res.temperature}, "
                    f"{'with' if with_skills else 'no'} skills, model {path.name}")
    for k, v in res.per_type.items():
        t.add_row(k, str(v["episodes"]), f"{v['success']:.3f}", f"{v['score']:.3f}")
    t.add_row("all", str(res.episodes), f"{res.success:.3f}", f"{res.score:.3f}")
    console.print(t)
    if json_out:
        json_out.write_text(json.dumps(res.to_dict(), indent=1))
        console.print(f"wrote {json_out}")

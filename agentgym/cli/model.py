"""`agentgym init-model` and `agentgym sft`: build the default policy of an env without any hub."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

from agentgym.cli.common import check_writable, console, finite, learning_rate, make_env, parse_kv
from agentgym.core.errors import AgentGymError


def resolve_env(env: str) -> str:
    """A short name (an alias of an env profile) to its registered id; checks the id exists."""
    from agentgym.core.registry import known_env_id

    return known_env_id(env)


def parse_env_opts(items: list[str] | None) -> dict:
    return parse_kv(items, "--env-opt")


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _quiet_transformers() -> None:
    from agentgym.models.load import quiet_transformers

    quiet_transformers()


def init_model(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    out: Path = typer.Option(None, "--out", "-o", help="model folder (default models/<env>-init)"),
    vocab_size: int = typer.Option(None, min=300, help="BPE vocabulary size (default: per env)"),
    hidden_size: int = typer.Option(128, min=8, help="hidden size"),
    layers: int = typer.Option(2, min=1, help="transformer layers"),
    heads: int = typer.Option(4, min=1, help="attention heads"),
    kv_heads: int = typer.Option(2, min=1, help="key/value heads"),
    intermediate_size: int = typer.Option(512, min=8, help="MLP size"),
    demos: int = typer.Option(300, min=1, help="expert episodes whose text trains the tokenizer"),
    seed: int = typer.Option(0, min=0, help="seed (demos and weight init)"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
) -> None:
    """Train a byte-level BPE tokenizer on the env's own text and create a fresh small Qwen2 model."""
    from agentgym.core.recipe import ModelSize
    from agentgym.models.build import init_model_dir
    from agentgym.models.default import default_config

    env_id = resolve_env(env)
    if hidden_size % heads or heads % kv_heads:
        raise AgentGymError("hidden size must divide by heads, and heads by kv heads")
    out = out or Path("models") / f"{env_id.split('/')[-1].lower()}-init"
    check_writable(out, "--out", folder=True)
    probe, env_kwargs = make_env(env_id, parse_env_opts(env_opt))  # bad options: one line, before the work
    probe.close()
    _quiet_transformers()
    size = ModelSize(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                     num_key_value_heads=kv_heads, intermediate_size=intermediate_size)
    vocab = vocab_size or default_config(env_id).vocab_size
    with console.status(f"init-model: tokenizer on {demos} expert episodes of {env_id}"):
        path = init_model_dir(env_id, out, vocab_size=vocab, size=size, demos=demos, seed=seed, env_kwargs=env_kwargs)
    info = json.loads((path / "agentgym.json").read_text())
    console.print(f"saved {path}: vocab {info['vocab_size']}, {info['parameters'] / 1e6:.2f}M parameters", markup=False)


def sft(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    out: Path = typer.Option(..., "--out", "-o", help="output model folder"),
    init: Path = typer.Option(None, help="start from this model folder (default: run init-model first)"),
    demos: int = typer.Option(None, min=1, help="expert episodes (default: per env)"),
    noise: float = typer.Option(None, min=0.0, max=1.0, help="per-step probability of a random action in demos",
                                callback=finite),
    skill_fraction: float = typer.Option(None, min=0.0, max=1.0, help="fraction of demos with the skill block",
                                         callback=finite),
    epochs: int = typer.Option(None, min=1, help="epochs"),
    batch_size: int = typer.Option(None, min=1, help="batch size"),
    lr: float = typer.Option(None, help="peak learning rate", callback=learning_rate),
    bf16: bool = typer.Option(None, help="bf16 autocast (default on)"),
    copy_warmup_steps: int = typer.Option(None, min=0, help="synthetic copy-task steps before the demos "
                                          "(default per env: WebShop and Search-QA 1500)"),
    seed: int = typer.Option(None, min=0, help="seed"),
    think: bool = typer.Option(None, help="train on the experts' thoughts as the <think> text (default off; "
                               "WebShop's experts explain their option clicks)"),
    decisive_demos: int = typer.Option(None, min=0, help="extra expert episodes of which only the steps the "
                                       "expert explains are trained (default 0)"),
    decisive_ids: bool = typer.Option(None, help="count clicks on a product id (an atomic argument) among the "
                                      "decisive steps too (default off)"),
    bracket_space: bool = typer.Option(None, help="write the demos' actions as click[ x] so that the argument "
                                       "is tokenized as the page writes it (default off)"),
    threads: int = typer.Option(2, min=1, help="torch threads"),
    eval_episodes: int = typer.Option(0, min=0, help="then evaluate on the eval split (T=0.4), 0 = skip"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
) -> None:
    """Warm-start a policy on noisy expert demonstrations (part of them with the skill block): one SFT
    stage (the recipe's first; `build-model` runs all of them)."""
    from dataclasses import replace

    from agentgym.models.default import build_default_model, default_config, single_stage

    env_id = resolve_env(env)
    check_writable(out, "--out", folder=True)
    if init is not None and not (init / "config.json").is_file():
        raise AgentGymError(f"--init {init} is not a model folder (no config.json)")
    probe, env_kwargs = make_env(env_id, parse_env_opts(env_opt))  # bad options: one line, before the work
    probe.close()
    set_threads(threads)
    _quiet_transformers()
    cfg = single_stage(default_config(env_id, demos=demos, noise=noise, skill_fraction=skill_fraction, epochs=epochs,
                                      batch_size=batch_size, lr=lr, bf16=bf16, seed=seed,
                                      copy_warmup_steps=copy_warmup_steps, think=think,
                                      decisive_demos=decisive_demos, bracket_space=bracket_space,
                                      decisive_ids=decisive_ids))
    if env_opt:
        cfg = replace(cfg, sft=replace(cfg.sft, env_kwargs={**cfg.sft.env_kwargs, **env_kwargs}))
    metrics = build_default_model(cfg, out, log=lambda m: console.print(m, markup=False), progress=True,
                                  init_dir=init)
    console.print(f"sft done in {metrics['total_seconds']:.0f}s -> {out}", markup=False)
    if eval_episodes:
        _eval_table(env_id, out, eval_episodes, cfg.sft.env_kwargs)


def build_model(
    env: str = typer.Option(..., help="alfworld | webshop | searchqa | any registered env id"),
    out: Path = typer.Option(None, "--out", "-o", help="model folder (default: the default-model cache, "
                             "replacing the shipped copy there)"),
    threads: int = typer.Option(2, min=1, help="torch threads"),
    eval_episodes: int = typer.Option(0, min=0, help="then evaluate on the eval split (T=0.4), 0 = skip"),
    env_opt: list[str] = typer.Option(None, "--env-opt", help="env constructor option key=value (repeatable)"),
) -> None:
    """Build the env's default policy from its recipe (every SFT stage), not from the shipped weights.

    Resumable: finished stages are kept next to the output (`<out>.stages/`), and the same command
    after a kill goes on from the last of them."""
    from agentgym.models.default import build_default_model, default_config, ensure_default_model

    env_id = resolve_env(env)
    if out is not None:
        check_writable(out, "--out", folder=True)
    probe, env_kwargs = make_env(env_id, parse_env_opts(env_opt))
    probe.close()
    set_threads(threads)
    _quiet_transformers()
    cfg = default_config(env_id, env_kwargs)

    def say(m: str) -> None:
        console.print(m, markup=False)

    if out is None:
        path = ensure_default_model(env_id, config=cfg, log=say, progress=True, rebuild=True)
    else:
        path = out
        tmp = out.with_name(out.name + ".partial")
        stages = out.with_name(out.name + ".stages")
        shutil.rmtree(tmp, ignore_errors=True)
        build_default_model(cfg, tmp, log=say, progress=True, stage_dir=stages)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        shutil.rmtree(stages, ignore_errors=True)
    console.print(f"built {env_id}'s default recipe ({len(cfg.all_stages)} stage(s)) -> {path}", markup=False)
    if eval_episodes:
        _eval_table(env_id, path, eval_episodes, cfg.sft.env_kwargs)


def _eval_table(env_id: str, model_dir: Path, episodes: int, env_kwargs: dict) -> None:
    from rich.table import Table

    from agentgym.engines.hf import HFEngine
    from agentgym.trainer.evaluate import evaluate

    eng = HFEngine(model_dir)
    table = Table("skills in prompt", "success", "score", "valid actions", title=f"{env_id} (T=0.4)")
    store = None
    try:
        from agentgym.skills import SkillStore
        from agentgym.trainer.config import skill_library_for

        store = SkillStore.from_library(skill_library_for(env_id), strategy="keyword", k=2)
    except Exception:  # an env without a skill library: the table has the no-skills row only
        pass
    for with_skills in (False, True):
        if with_skills and store is None:
            continue
        r = evaluate(eng, env_id, env_kwargs=env_kwargs, episodes=episodes, temperature=0.4,
                     with_skills=with_skills, skill_store=store)
        table.add_row("yes" if with_skills else "no", f"{r.success:.3f}", f"{r.score:.3f}", f"{r.valid_action_ratio:.3f}")
    console.print(table)

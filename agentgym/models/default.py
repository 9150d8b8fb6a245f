"""The default policy of an env: built on first use (tokenizer + init + SFT), then cached.

    path = ensure_default_model("agentgym/WebShop-v0")     # builds once, minutes on 2 cores
    model, tok = load_policy(path)

The cache folder is `cache_dir("models", "<env>-<hash>")`; the hash covers the whole
`DefaultModelConfig`, the prompt-template version, this builder's version and the train panel's
fingerprint, so a change to any of them builds a new model instead of silently reusing a stale one.
A build runs in a temporary folder (`<final>.tmp<pid>`) that is renamed into place when complete,
under a file lock (two processes asking at once build it once). A temporary folder whose build holds
no lock any more (killed with -9) is removed by the next build in the same cache.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentgym.models.config import DefaultModelConfig, ModelSize, SFTConfig
from agentgym.models.load import load_policy, load_tokenizer

__all__ = ["BUILDER_VERSION", "default_config", "ensure_default_model", "build_default_model", "load_policy",
           "load_tokenizer"]

#: Bump when the build recipe changes in a way the config does not capture.
BUILDER_VERSION = "1"

#: Per-family recipes, sized so a fresh build takes a few minutes on 2 cores (see docs/policies.md).
FAMILY_DEFAULTS: dict[str, DefaultModelConfig] = {
    # Half the demos carry c+ and are played by the skill-reading expert with the same noise as the rest:
    # the policy can gain from c+ only what the skills say (where objects usually are, which label a
    # word means, which query reaches the fact), not a cleaner style of play. The copy warm-up lets the
    # from-scratch model copy strings from the prompt: receptacle names out of c+ (ALFWorld), queries,
    # product ids and option labels (WebShop), names and passage words (Search-QA); without it it
    # invents them (docs/policies.md).
    "alfworld": DefaultModelConfig("", vocab_size=1024, sft=SFTConfig(
        demos=1500, epochs=3, noise=0.1, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)),
    "webshop": DefaultModelConfig("", vocab_size=2048, sft=SFTConfig(
        demos=1000, epochs=3, noise=0.1, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)),
    # Search-QA's noisy actions are malformed answers: at noise 0.1 the policy kept writing them (valid
    # actions 0.53, success 0.01); noise 0.03 on 2000 demos: valid 0.91, success 0.13 (docs/policies.md)
    "searchqa": DefaultModelConfig("", vocab_size=2048, sft=SFTConfig(
        demos=2000, epochs=3, noise=0.03, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)),
    "generic": DefaultModelConfig("", vocab_size=1024, sft=SFTConfig(demos=500, epochs=3)),
}


def default_config(env_id: str, env_kwargs: dict[str, Any] | None = None, **sft_overrides: Any) -> DefaultModelConfig:
    """The recipe for `env_id`'s default model (family defaults), with optional SFT overrides.

    `env_kwargs` are the env constructor options the policy will be trained and evaluated with
    (e.g. `{"difficulty": "small"}`); the demos are played with them (the split is the SFT's own)."""
    from agentgym.rollout.prompts import family_of

    base = FAMILY_DEFAULTS.get(family_of(env_id), FAMILY_DEFAULTS["generic"])
    sft = base.sft.with_(**sft_overrides)
    if env_kwargs:
        kw = {k: v for k, v in env_kwargs.items() if k != "split"}
        sft = replace(sft, env_kwargs={**sft.env_kwargs, **kw})
    return replace(base, env_id=env_id, sft=sft)


def _slug(env_id: str) -> str:
    s = env_id.split("/")[-1].split(":")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s).lower() or "env"


def _panel_fingerprint(env_id: str, cfg: DefaultModelConfig) -> str:
    from agentgym.core.registry import make

    kw = dict(cfg.sft.env_kwargs)
    if cfg.sft.split:
        kw["split"] = cfg.sft.split
    env = make(env_id, **kw)
    try:
        return env.unwrapped.panel().fingerprint
    finally:
        env.close()


def model_key(cfg: DefaultModelConfig) -> str:
    from agentgym.rollout.prompts import TEMPLATE_VERSION, family_of, template

    tpl = template(family_of(cfg.env_id))
    return cfg.key({"templates": TEMPLATE_VERSION, "builder": BUILDER_VERSION,
                    "panel": _panel_fingerprint(cfg.env_id, cfg),
                    "prompt": [tpl.history, tpl.max_obs_chars, tpl.max_hist_chars, tpl.max_admissible]})


def build_default_model(cfg: DefaultModelConfig, out_dir: str | Path, *, log: Callable[[str], None] | None = None,
                        progress: bool = True, init_dir: str | Path | None = None) -> dict[str, Any]:
    """Demos -> tokenizer + fresh model (unless `init_dir` is given) -> SFT, saved to `out_dir`.

    The expert demos are played once: the first `tokenizer_demos` of them also train the tokenizer.
    Returns the build metrics (also saved in `agentgym.json`)."""
    import torch
    from transformers.utils import logging as hf_logging

    from agentgym.models.build import base_texts, init_model, save_model_dir
    from agentgym.models.sft import demo_stats, demo_texts, generate_demos, render_examples, train_sft
    from agentgym.models.tokenizer import SPECIAL_TOKENS, train_tokenizer
    from agentgym.rollout.prompts import family_of

    hf_logging.disable_progress_bar()
    say = log or (lambda m: None)
    family = family_of(cfg.env_id)
    out = Path(out_dir)
    t0 = time.perf_counter()
    with _progress(progress) as prog:
        say(f"demos: {cfg.sft.demos} expert episodes of {cfg.env_id} (noise {cfg.sft.noise}, "
            f"skill block in {cfg.sft.skill_fraction:.0%})")
        task = prog.add_task("expert demos", total=cfg.sft.demos) if prog else None
        demos = generate_demos(cfg.env_id, cfg.sft, progress=(lambda k: prog.advance(task, k)) if prog else None)
        t_demos = time.perf_counter() - t0
        if init_dir is None:
            t1 = time.perf_counter()
            texts = base_texts(family) + demo_texts(family, demos[: cfg.tokenizer_demos])
            tok = train_tokenizer(texts, vocab_size=cfg.vocab_size, atomic=atomic_strings(family, demos))
            model = init_model(tok, cfg.size, seed=cfg.sft.seed)
            say(f"init-model: BPE vocabulary {len(tok)} from {min(cfg.tokenizer_demos, len(demos))} demos, "
                f"Qwen2 {cfg.size.num_hidden_layers}x{cfg.size.hidden_size}")
            t_init = time.perf_counter() - t1
        else:
            model, tok = load_policy(init_dir, dtype=torch.float32)
            t_init = 0.0
        examples = render_examples(family, demos, tok, cfg.sft.max_prompt_tokens)
        dstats = demo_stats(demos, examples)
        n_params = sum(p.numel() for p in model.parameters())
        say(f"sft: {dstats['examples']} examples, prompts {dstats['prompt_tokens_mean']:.0f} tokens on average, "
            f"demo success {dstats['demo_success']:.2f}; {n_params / 1e6:.2f}M parameters, {cfg.sft.epochs} epochs, "
            f"{torch.get_num_threads()} thread(s)")
        task2 = prog.add_task("sft", total=None) if prog else None

        def on_step(step: int, total: int, loss: float) -> None:
            if prog:
                prog.update(task2, completed=step, total=total, description=f"sft loss {loss:.3f}")

        m = train_sft(model, examples, cfg.sft, pad_id=tok.pad_token_id, on_step=on_step,
                      copy_vocab=range(len(SPECIAL_TOKENS), len(tok)))
    metrics = {"demo_seconds": t_demos, "init_seconds": t_init, "train": m, "demos": dstats,
               "parameters": n_params, "vocab_size": len(tok), "threads": torch.get_num_threads(),
               "total_seconds": time.perf_counter() - t0}
    meta = {"stage": "sft", "env_id": cfg.env_id, "config": cfg.to_dict(), "metrics": metrics,
            "builder": BUILDER_VERSION}
    save_model_dir(model, tok, out, meta)
    say(f"sft: loss {m['first_loss']:.3f} -> {m['final_loss']:.3f} in {m['seconds']:.0f}s "
        f"({m['tokens_per_second']:.0f} tokens/s); total {metrics['total_seconds']:.0f}s; saved {out}")
    return metrics


def atomic_strings(family: str, demos: list) -> set[str]:
    """Every string of the demos' text that the family's template marks as atomic (copied verbatim)."""
    import re

    from agentgym.models.sft import demo_texts
    from agentgym.rollout.prompts import template

    pat = template(family).atomic
    if not pat:
        return set()
    rx = re.compile(pat)
    return {m for text in demo_texts(family, demos) for m in rx.findall(text)}


class _progress:
    """A rich progress bar, or nothing (tests, non-interactive builds)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.prog = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.prog.__enter__()
        return self.prog

    def __exit__(self, *exc):
        if self.prog is not None:
            self.prog.__exit__(*exc)


def ensure_default_model(env_id: str, *, env_kwargs: dict[str, Any] | None = None,
                         config: DefaultModelConfig | None = None, log: Callable[[str], None] | None = None,
                         progress: bool = True, rebuild: bool = False, isolated: bool = False) -> Path:
    """The cached default model directory for `env_id` (built with `env_kwargs`), building it if needed.

    `isolated=True` builds in a child process: a trainer that builds its policy on first use then does
    not carry the build's memory (demo envs, SFT allocations) into training."""
    from agentgym.paths import cache_dir

    cfg = config or default_config(env_id, env_kwargs)
    if cfg.env_id != env_id:
        cfg = replace(cfg, env_id=env_id)
    root = cache_dir("models")
    final = root / f"{_slug(env_id)}-{model_key(cfg)}"
    if not rebuild and (final / "agentgym.json").is_file():
        return final
    if isolated:
        import multiprocessing as mp

        proc = mp.get_context("spawn").Process(target=_build_child, args=(env_id, cfg, progress, rebuild),
                                               name="agentgym-build-default-model")
        proc.start()
        proc.join()
        if proc.exitcode != _UNKNOWN_IN_CHILD:  # else: registered in this process only (a script): build here
            if proc.exitcode != 0 or not (final / "agentgym.json").is_file():
                raise RuntimeError(f"building the default model for {env_id} failed (exit code {proc.exitcode})")
            return final
    sweep_stale_builds(root)
    lock_path = root / f".{final.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not rebuild and (final / "agentgym.json").is_file():  # built by another process meanwhile
                return final
            (log or (lambda m: None))(f"building the default model for {env_id} (cached in {final})")
            tmp = final.with_name(final.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                build_default_model(cfg, tmp, log=log, progress=progress)
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final


_UNKNOWN_IN_CHILD = 3
_TMP_RE = re.compile(r"^(?P<final>.+)\.tmp\d+$")


def sweep_stale_builds(root: Path) -> list[Path]:
    """Remove `<final>.tmp<pid>` folders that no build is writing; returns them.

    Every build of `<final>` holds an exclusive flock on `.<final>.lock` while its temporary folder
    exists, and the kernel drops the lock when the process dies however it dies. So a folder whose
    lock can be taken without waiting is a leftover: safe across hosts too, unlike a pid check."""
    removed = []
    for tmp in sorted(Path(root).iterdir()) if Path(root).is_dir() else ():
        m = _TMP_RE.match(tmp.name)
        if not m or not tmp.is_dir():
            continue
        with open(Path(root) / f".{m.group('final')}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live build holds it
                continue
            try:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
                    removed.append(tmp)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return removed


def _build_child(env_id: str, cfg: DefaultModelConfig, progress: bool, rebuild: bool) -> None:
    from agentgym.cli.common import console
    from agentgym.cli.model import _quiet_transformers
    from agentgym.core.errors import UnknownEnvError

    _quiet_transformers()
    try:
        ensure_default_model(env_id, config=cfg, log=lambda m: console.print(m, markup=False, highlight=False),
                             progress=progress, rebuild=rebuild)
    except UnknownEnvError:  # raised by the first env construction, before any building
        raise SystemExit(_UNKNOWN_IN_CHILD) from None


def model_info(path: str | Path) -> dict[str, Any]:
    """What `agentgym.json` says about how a model directory was made ({} for foreign models)."""
    p = Path(path) / "agentgym.json"
    return json.loads(p.read_text()) if p.is_file() else {}


__all__ += ["DefaultModelConfig", "ModelSize", "SFTConfig", "model_info", "model_key"]

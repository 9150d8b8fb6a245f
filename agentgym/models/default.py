"""The default policy of an env: shipped with the package for the built-in envs, otherwise built on
first use (tokenizer + init + SFT stages), then cached.

    path = ensure_default_model("agentgym/WebShop-v0")     # the shipped build, or minutes-hours on 2 cores
    model, tok = load_policy(path)

The cache folder is `cache_dir("models", "<env>-<hash>")`; the hash covers the whole
`DefaultModelConfig`, the prompt-template version, this builder's version and the train panel's
fingerprint, so a change to any of them builds a new model instead of silently reusing a stale one.
The package ships the built-in envs' recipes already built (`shipped/<env>-<hash>/`, bfloat16): a
cache miss whose name a shipped folder has is a copy, not a build, and a recipe, prompt or panel change
that the shipped weights were not built with misses them by construction.
A build runs in a temporary folder (`<final>.tmp<pid>`) that is renamed into place when complete,
under a file lock (two processes asking at once build it once); each finished stage but the last is
kept in `<final>.stages/` so a killed multi-stage build resumes there. A temporary folder whose build
holds no lock any more (killed with -9) is removed by the next build in the same cache.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers.utils import logging as hf_logging

from agentgym.core.errors import UnknownEnvError, moved_names
from agentgym.core.profile import TEMPLATE_VERSION
from agentgym.core.recipe import DefaultModelConfig
from agentgym.core.registry import family_of, make, profile_of, template
from agentgym.models.build import base_texts, init_model, save_model_dir
from agentgym.models.load import load_policy, load_tokenizer, quiet_transformers
from agentgym.models.sft import demo_stats, demo_texts, generate_demos, render_examples, train_sft
from agentgym.models.tokenizer import SPECIAL_TOKENS, train_tokenizer
from agentgym.paths import cache_dir

__all__ = ["BUILDER_VERSION", "default_config", "ensure_default_model", "build_default_model", "load_policy",
           "load_tokenizer"]

#: Bump when the build recipe changes in a way the config does not capture.
BUILDER_VERSION = "1"

def default_config(env_id: str, env_kwargs: dict[str, Any] | None = None, **sft_overrides: Any) -> DefaultModelConfig:
    """The recipe for `env_id`'s default model (its profile's `model_recipe`), with optional SFT overrides.

    `env_kwargs` are the env constructor options the policy will be trained and evaluated with
    (e.g. `{"difficulty": "small"}`); the demos are played with them (the split is the SFT's own)."""
    base = profile_of(env_id).model_recipe
    sft, stages = base.sft.with_(**sft_overrides), base.stages
    if env_kwargs:
        kw = {k: v for k, v in env_kwargs.items() if k != "split"}
        sft = replace(sft, env_kwargs={**sft.env_kwargs, **kw})
        stages = tuple(replace(st, env_kwargs={**st.env_kwargs, **kw}) for st in stages)
    return replace(base, env_id=env_id, sft=sft, stages=stages)


def single_stage(cfg: DefaultModelConfig) -> DefaultModelConfig:
    """`cfg` with its first stage only (what one `agentgym sft` command runs)."""
    return replace(cfg, stages=())


def _slug(env_id: str) -> str:
    s = env_id.split("/")[-1].split(":")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s).lower() or "env"


def _panel_fingerprint(env_id: str, cfg: DefaultModelConfig) -> str:
    kw = dict(cfg.sft.env_kwargs)
    if cfg.sft.split:
        kw["split"] = cfg.sft.split
    env = make(env_id, **kw)
    try:
        return env.unwrapped.panel().fingerprint
    finally:
        env.close()


def model_key(cfg: DefaultModelConfig) -> str:
    tpl = profile_of(cfg.env_id).template
    return cfg.key({"templates": TEMPLATE_VERSION, "builder": BUILDER_VERSION,
                    "panel": _panel_fingerprint(cfg.env_id, cfg),
                    "prompt": [tpl.history, tpl.max_obs_chars, tpl.max_hist_chars, tpl.max_admissible]})


def stage_key(cfg: DefaultModelConfig, stage: int) -> str:
    """The key of the recipe's first `stage + 1` stages: a saved stage is reused only by the same prefix."""
    return replace(cfg, stages=cfg.stages[:stage]).key({"builder": BUILDER_VERSION})


def _saved_stage(stage_dir: Path | None, cfg: DefaultModelConfig) -> tuple[int, list[dict[str, Any]]]:
    """The last stage of this recipe saved under `stage_dir` (-1 if none) and the metrics up to it."""
    if stage_dir is None:
        return -1, []
    for i in range(len(cfg.all_stages) - 2, -1, -1):
        info = model_info(stage_dir / f"stage{i}")
        if info.get("stage_key") == stage_key(cfg, i) and (stage_dir / f"stage{i}" / "config.json").is_file():
            return i, list(info.get("metrics", {}).get("stages", []))
    return -1, []


def build_default_model(cfg: DefaultModelConfig, out_dir: str | Path, *, log: Callable[[str], None] | None = None,
                        progress: bool = True, init_dir: str | Path | None = None,
                        stage_dir: str | Path | None = None) -> dict[str, Any]:
    """Demos -> tokenizer + fresh model (unless `init_dir` is given) -> SFT, then each continuation
    stage of `cfg.stages` on its own fresh demos; saved to `out_dir`.

    The first stage's demos are played once: the first `tokenizer_demos` of them also train the
    tokenizer. With `stage_dir`, every finished stage but the last is saved there and a rerun of the
    same recipe resumes after the last saved one (a multi-hour build killed at stage 3 keeps stages 1-2).
    Returns the build metrics (also saved in `agentgym.json`, one entry per stage under "stages")."""
    hf_logging.disable_progress_bar()
    say = log or (lambda m: None)
    family = family_of(cfg.env_id)
    out = Path(out_dir)
    sdir = Path(stage_dir) if stage_dir is not None else None
    stages = cfg.all_stages
    t0 = time.perf_counter()
    done, history = _saved_stage(sdir, cfg)
    model = tok = None
    if done >= 0:
        model, tok = load_policy(sdir / f"stage{done}", dtype=torch.float32)
        say(f"resuming after stage {done + 1} of {len(stages)} (saved in {sdir / f'stage{done}'})")
    with _progress(progress) as prog:
        for i in range(done + 1, len(stages)):
            st = stages[i]
            t_stage = time.perf_counter()
            name = f"stage {i + 1}/{len(stages)}: " if len(stages) > 1 else ""
            extra = f" + {st.decisive_demos} for their decisive steps" if st.decisive_demos else ""
            say(f"{name}demos: {st.demos}{extra} expert episodes of {cfg.env_id} (noise {st.noise}, "
                f"skill block in {st.skill_fraction:.0%}, seed {st.seed})")
            task = prog.add_task("expert demos", total=st.demos + st.decisive_demos) if prog else None
            demos = generate_demos(cfg.env_id, st, progress=(lambda k, t=task: prog.advance(t, k)) if prog else None)
            t_demos = time.perf_counter() - t_stage
            t_init = 0.0
            if model is None and init_dir is None:
                t1 = time.perf_counter()
                texts = base_texts(family) + demo_texts(family, demos[: cfg.tokenizer_demos], think=st.think)
                tok = train_tokenizer(texts, vocab_size=cfg.vocab_size, atomic=atomic_strings(family, demos))
                model = init_model(tok, cfg.size, seed=st.seed)
                say(f"init-model: BPE vocabulary {len(tok)} from {min(cfg.tokenizer_demos, len(demos))} demos, "
                    f"Qwen2 {cfg.size.num_hidden_layers}x{cfg.size.hidden_size}")
                t_init = time.perf_counter() - t1
            elif model is None:
                model, tok = load_policy(init_dir, dtype=torch.float32)
            examples = render_examples(family, demos, tok, st.max_prompt_tokens, think=st.think,
                                       decisive_ids=st.decisive_ids)
            dstats = demo_stats(demos, examples)
            n_params = sum(p.numel() for p in model.parameters())
            say(f"{name}sft: {dstats['examples']} examples, prompts {dstats['prompt_tokens_mean']:.0f} tokens on "
                f"average, demo success {dstats['demo_success']:.2f}; {n_params / 1e6:.2f}M parameters, "
                f"{st.epochs} epochs at lr {st.lr:g}, {torch.get_num_threads()} thread(s)")
            task2 = prog.add_task("sft", total=None) if prog else None

            def on_step(step: int, total: int, loss: float, t=task2) -> None:
                if prog:
                    prog.update(t, completed=step, total=total, description=f"sft loss {loss:.3f}")

            m = train_sft(model, examples, st, pad_id=tok.pad_token_id, on_step=on_step,
                          copy_vocab=range(len(SPECIAL_TOKENS), len(tok)))
            history.append({"stage": i + 1, "demo_seconds": t_demos, "init_seconds": t_init, "train": m,
                            "demos": dstats, "threads": torch.get_num_threads(),
                            "seconds": time.perf_counter() - t_stage})
            say(f"{name}sft: loss {m['first_loss']:.3f} -> {m['final_loss']:.3f} in {m['seconds']:.0f}s "
                f"({m['tokens_per_second']:.0f} tokens/s)")
            if sdir is not None and i < len(stages) - 1:
                save_model_dir(model, tok, sdir / f"stage{i}", {
                    "stage": f"sft stage {i + 1} of {len(stages)}", "env_id": cfg.env_id,
                    "stage_key": stage_key(cfg, i), "metrics": {"stages": history}, "builder": BUILDER_VERSION})
    last = history[-1]
    metrics = {"demo_seconds": last["demo_seconds"], "init_seconds": history[0]["init_seconds"],
               "train": last["train"], "demos": last["demos"],
               "parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tok),
               "threads": torch.get_num_threads(), "total_seconds": sum(h["seconds"] for h in history),
               "this_run_seconds": time.perf_counter() - t0, "stages": history}
    meta = {"stage": "sft", "env_id": cfg.env_id, "config": cfg.to_dict(), "metrics": metrics,
            "builder": BUILDER_VERSION}
    if init_dir is not None:  # provenance: which folder this one continued
        meta["init"] = str(Path(init_dir).resolve())
    save_model_dir(model, tok, out, meta)
    say(f"built in {metrics['total_seconds']:.0f}s ({len(stages)} stage(s)); saved {out}")
    return metrics


def atomic_strings(family: str, demos: list) -> set[str]:
    """Every string of the demos' text that the family's template marks as atomic (copied verbatim)."""
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
    cfg = config or default_config(env_id, env_kwargs)
    if cfg.env_id != env_id:
        cfg = replace(cfg, env_id=env_id)
    root = cache_dir("models")
    final = root / f"{_slug(env_id)}-{model_key(cfg)}"
    if not rebuild and (final / "agentgym.json").is_file():
        return final
    if not rebuild and shipped_model(final.name) is not None:
        return _install_shipped(final, log)
    if isolated:
        proc = mp.get_context("spawn").Process(target=_build_child, args=(env_id, cfg, progress, rebuild),
                                               name="agentgym-build-default-model")
        proc.start()
        proc.join()
        if proc.exitcode != _UNKNOWN_IN_CHILD:  # else: registered in this process only (a script): build here
            if proc.exitcode != 0 or not (final / "agentgym.json").is_file():
                raise RuntimeError(f"building the default model for {env_id} failed (exit code {proc.exitcode})")
            return final
    sweep_stale_builds(root)
    stages = final.with_name(final.name + ".stages")  # finished stages: a killed build resumes

    def build(tmp: Path) -> None:
        (log or (lambda m: None))(f"building the default model for {env_id} (cached in {final})")
        build_default_model(cfg, tmp, log=log, progress=progress, stage_dir=stages)

    if _publish(final, build, overwrite=rebuild):
        shutil.rmtree(stages, ignore_errors=True)
    return final


def _publish(final: Path, fill: Callable[[Path], None], *, overwrite: bool = False) -> bool:
    """Write a model folder at `final` atomically under its lock: `fill(tmp)` writes `<final>.tmp<pid>`,
    which is renamed into place. Unless `overwrite`, a folder another process finished meanwhile is kept
    (and nothing is written). Returns whether this call wrote it."""
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not overwrite and (final / "agentgym.json").is_file():
                return False
            tmp = final.with_name(final.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                fill(tmp)
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: The built-in default models, built by their recipes and stored in bfloat16 (docs/policies.md).
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
#: Files a model folder needs; the shipped copy holds exactly these.
MODEL_FILES = ("agentgym.json", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "chat_template.jinja")


def shipped_model(name: str) -> Path | None:
    """The shipped folder for the cache name `<env>-<key>`, if the package has one."""
    p = SHIPPED_DIR / name
    return p if all((p / f).is_file() for f in ("agentgym.json", "config.json", "model.safetensors")) else None


def _install_shipped(final: Path, log: Callable[[str], None] | None) -> Path:
    """Copy the shipped folder into the cache (atomically, under the build lock): the cache stays the
    one place a default model is read from, and a user may rebuild it there with `rebuild=True`."""
    src = shipped_model(final.name)
    assert src is not None
    _publish(final, lambda tmp: shutil.copytree(src, tmp))
    (log or (lambda m: None))(f"default model for {model_info(final).get('env_id', final.name)}: the shipped build "
                              f"of its recipe ({final})")
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
    quiet_transformers()
    try:
        ensure_default_model(env_id, config=cfg, log=lambda m: print(m, flush=True),
                             progress=progress, rebuild=rebuild)
    except UnknownEnvError:  # raised by the first env construction, before any building
        raise SystemExit(_UNKNOWN_IN_CHILD) from None


def model_info(path: str | Path) -> dict[str, Any]:
    """What `agentgym.json` says about how a model directory was made ({} for foreign models)."""
    p = Path(path) / "agentgym.json"
    return json.loads(p.read_text()) if p.is_file() else {}


__all__ += ["DefaultModelConfig", "model_info", "model_key", "shipped_model", "single_stage",
            "stage_key"]


__getattr__ = moved_names(__name__, {
    "FAMILY_DEFAULTS": "the env profile's model_recipe: agentgym.profile_of(env).model_recipe",
    "ModelSize": "agentgym.core.recipe.ModelSize", "SFTConfig": "agentgym.core.recipe.SFTConfig",
})

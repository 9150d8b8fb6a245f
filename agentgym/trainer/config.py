"""Typed training configuration: defaults for the embedded CPU policy, a YAML file, CLI overrides.

Defaults follow docs/method.md where the paper's values transfer (G = 8, clip 0.2, dual clip 3, KL 0.01,
entropy 0.001, beta 5, lambda 0.01, rollout temperature 1.0, validation temperature 0.4) and
docs/cpu-training-notes.md where they do not (a tiny model needs lr ~1e-4 with warmup, not 1e-6; a few
tasks per step; a small step budget).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import re
import shlex
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from agentgym.backends.base import AGGREGATIONS
from agentgym.core.errors import AgentGymError, moved_names
from agentgym.core.registry import profile_of, resolve_env_id
from agentgym.rollout.prompts import PROMPT_STYLES
from agentgym.skills.library import SkillLibrary
from agentgym.skills.retrievers import STRATEGIES as SKILL_STRATEGIES

#: The range of every numeric TrainConfig field: (check, what the message says). `None` values (per-env
#: defaults) are not checked; non-finite floats are already refused by `coerce_value`.
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "steps": (lambda v: v >= 0, ">= 0"),
    "tasks_per_step": (lambda v: v >= 1, ">= 1"),
    "group_size": (lambda v: v >= 2, ">= 2 (GRPO normalizes rewards within a group)"),
    "temperature": (lambda v: v >= 0, ">= 0"),
    "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "max_new_tokens": (lambda v: v >= 1, ">= 1"),
    "min_new_tokens": (lambda v: v >= 0, ">= 0"),
    "history": (lambda v: v >= 0, ">= 0 (past turns in the prompt)"),
    "max_episode_tokens": (lambda v: v >= 1, ">= 1 (generated tokens per episode), or unset for no budget"),
    "env_step_timeout_s": (lambda v: v > 0, "a positive number of seconds"),
    "reward_scale": (lambda v: v > 0, "> 0"),
    "invalid_penalty": (lambda v: v >= 0, ">= 0"),
    "kl_coef": (lambda v: v >= 0, ">= 0"),
    "lr": (lambda v: 0 < v < 1, "in (0, 1)"),
    "warmup_steps": (lambda v: v >= 0, ">= 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "grad_clip": (lambda v: v >= 0, ">= 0 (0 disables clipping)"),
    "micro_batch_size": (lambda v: v >= 1, ">= 1"),
    "ppo_epochs": (lambda v: v >= 1, ">= 1"),
    "ppo_mini_batches": (lambda v: v >= 1, ">= 1"),
    "tis_cap": (lambda v: v == 0 or v >= 1, "0 (off) or >= 1 (the cap of the importance weight)"),
    "skills_k": (lambda v: v >= 0, ">= 0"),
    "eval_episodes": (lambda v: v >= 0, ">= 0"),
    "eval_temperature": (lambda v: v >= 0, ">= 0"),
    "eval_every": (lambda v: v >= 0, ">= 0 (0: only before and after training)"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "checkpoint_every": (lambda v: v >= 0, ">= 0 (0 and 1: every step; the last step is always checkpointed)"),
    "keep_checkpoints": (lambda v: v >= 0, ">= 0 (0 keeps all)"),
    "zero_stage": (lambda v: v in (0, 1, 2, 3), "0-3"),
    "sglang_startup_timeout_s": (lambda v: v > 0, "a positive number of seconds"),
    "lora_rank": (lambda v: v >= 0, ">= 0 (0: no LoRA, full fine-tuning)"),
    "lora_alpha": (lambda v: v > 0, "> 0"),
    "lora_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
}

#: Flags the SGLang launcher sets itself (agentgym/engines/sglang.py); sglang_args must not repeat them.
#: ppo_epochs x ppo_mini_batches past this is refused: later updates would train on a stale batch
MAX_UPDATES_PER_BATCH = 16
_SGLANG_OWN_FLAGS = ("--model-path", "--host", "--port")


@dataclass
class TrainConfig:
    # what
    env: str = "webshop"
    backend: str = "sdar"
    model: str | None = None  # HF causal-LM directory; None = the embedded default policy for the env
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    # rollouts
    steps: int = 20
    tasks_per_step: int = 4
    group_size: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    #: EOS and the closing tags cannot end a response before this many tokens (0: off); benchmarks use
    #: it for fixed-length responses, as transformers' and SGLang's `min_new_tokens`
    min_new_tokens: int = 0
    history: int | None = None  # None: the env profile's (4 ALFWorld and Search-QA, 2 WebShop and generic)
    # prompts for instruct models (docs/training.md, "Prompts for instruct models"); the defaults are the
    # prompts the default policies were trained on
    #: "step": each turn one fresh user message (task, last `history` turns, now); "conversation": the
    #: episode as one chat, turn k's prompt the chat template of the messages so far (history unused)
    prompt_style: str = "step"
    system_prompt: str | None = None  # a system message first in every prompt (student and teacher)
    #: generated tokens an episode may spend over all its turns; past it the episode ends as a failure
    max_episode_tokens: int | None = None
    #: time limit of one env reset/step; past it that episode ends as an env fault (docs/training.md)
    env_step_timeout_s: float = 60.0
    #: drop the groups whose episodes all won or all lost before the update (logged as
    #: groups_filtered_frac); off by default, as in the paper. SDAR's distillation term would lose their
    #: tokens too, so it is meant for the GRPO-family backends.
    filter_groups: bool = False
    train_split: str | None = None  # None: the env's first split
    # reward; None: the env profile's (R = 10 * won for ALFWorld and WebShop, 1 * won otherwise; penalty 0.1,
    # 0.01 for Search-QA; KL 0.01, 0.001 for Search-QA)
    reward_scale: float | None = None
    invalid_penalty: float | None = None
    kl_coef: float | None = None
    # optimisation
    lr: float = 1e-4
    warmup_steps: int = 5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    micro_batch_size: int = 16  # samples per forward/backward chunk (memory, not maths): 16 peaked 0.8 GB lower than 64 and ran as fast
    #: PPO updates per rollout batch = ppo_epochs x ppo_mini_batches (1 x 1, the paper's: one update,
    #: ratio 1, the clip never acts). With more, old log-probs come from one no-grad pass of the
    #: sampling weights before the first update and the clip bounds how far later updates move.
    ppo_epochs: int = 1
    ppo_mini_batches: int = 1
    #: truncated importance sampling: weight each token's policy-gradient term by
    #: min(pi_trainer / pi_engine, tis_cap) for the engine-trainer mismatch; 0 = off
    tis_cap: float = 0.0
    loss_agg: str = "token-mean"  # token-mean | seq-mean-token-mean | seq-mean-token-sum (backends/base.py)
    bf16: bool = True  # bf16 autocast in the training and scoring forwards (CPU and GPU); master weights fp32
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # memory: activation checkpointing and LoRA (docs/training.md, "LoRA and gradient checkpointing")
    gradient_checkpointing: bool = False  # recompute each layer's activations in backward (same gradients, less memory)
    #: LoRA adapters through peft (`pip install 'agentgym[lora]'`): the rank of B @ A; 0 = off (full fine-tuning)
    lora_rank: int = 0
    lora_alpha: float = 16.0  # the adapter's scale is lora_alpha / lora_rank
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"  # peft's all linear layers but the head, or names: "q_proj,v_proj"
    # skills (teacher context c+)
    skills: str = "keyword"  # random | keyword | ucb | embedding
    skills_k: int = 2
    #: a skill library file (YAML or JSON, docs/skills.md) for the backends that use skills; None: the
    #: one of the env's profile (the built-in envs' own, or what a third-party env registered)
    skill_library: str | None = None
    # evaluation (no skills unless asked)
    eval_split: str | None = None  # None: the env's last split
    eval_episodes: int = 64
    eval_temperature: float = 0.4
    eval_every: int = 0  # 0: only before and after training
    # bookkeeping
    seed: int = 0
    out_dir: str = "runs/latest"
    checkpoint_every: int = 5
    keep_checkpoints: int = 2
    tensorboard: bool = True
    wandb: bool = False
    # scale
    deepspeed: bool = False
    zero_stage: int = 0
    engine: str = "hf"  # hf | sglang
    sglang_url: str | None = None  # a running server; None with engine sglang: agentgym launches one
    #: the launched server's command before its flags, shell-style (None: `python -m sglang.launch_server`
    #: of this interpreter; SGLang usually lives in another venv, e.g. the rig's, docs/training.md)
    sglang_command: str | None = None
    #: its extra flags, shell-style (None: the CPU flags on a machine without CUDA, none on GPU;
    #: --sleep-on-idle is always added)
    sglang_args: str | None = None
    sglang_env: dict[str, str] = field(default_factory=dict)  # added to its environment
    sglang_startup_timeout_s: float = 600.0

    def resolved(self) -> TrainConfig:
        """Fill the per-env defaults (reward scale, penalty, history, KL coefficient); a value the user
        gave is kept as is."""
        c = dataclasses.replace(self)
        per_env = profile_of(c.env).training_defaults()
        if c.reward_scale is None:
            c.reward_scale = per_env["reward_scale"]
        if c.invalid_penalty is None:
            c.invalid_penalty = per_env["invalid_penalty"]
        if c.history is None:
            c.history = per_env["history"]
        if c.kl_coef is None:
            c.kl_coef = per_env["kl_coef"]
        return c

    def validate(self) -> None:
        """Every field's type and range, so that a bad value is one clear line before any work starts."""
        hints = typing.get_type_hints(TrainConfig)
        for f in fields(self):
            coerce_value(f.name, getattr(self, f.name), hints[f.name])  # raises on a value of the wrong type
        for name, (ok, want) in _RANGES.items():
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise AgentGymError(f"{name} must be {want}, got {value!r}")
        if not self.env.strip():
            raise AgentGymError("env must not be empty")
        if not self.out_dir.strip():
            raise AgentGymError("out_dir must not be empty")
        if self.zero_stage and not self.deepspeed:
            raise AgentGymError("--zero-stage needs --deepspeed")
        if self.engine not in ("hf", "sglang"):
            raise AgentGymError(f"unknown engine {self.engine!r}; valid: hf, sglang")
        if self.sglang_url is not None and not self.sglang_url.startswith(("http://", "https://")):
            raise AgentGymError(f"sglang_url must be an http(s):// URL, got {self.sglang_url!r}")
        self._validate_sglang_launch()
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise AgentGymError(f"unknown device {self.device!r}; valid: auto, cpu, cuda, cuda:N, mps")
        if self.min_new_tokens > self.max_new_tokens:
            raise AgentGymError(f"min_new_tokens ({self.min_new_tokens}) must not exceed max_new_tokens "
                                f"({self.max_new_tokens})")
        if self.loss_agg not in AGGREGATIONS:
            raise AgentGymError(f"unknown loss_agg {self.loss_agg!r}; valid: {', '.join(AGGREGATIONS)}")
        if self.ppo_epochs * self.ppo_mini_batches > MAX_UPDATES_PER_BATCH:
            raise AgentGymError(f"ppo_epochs x ppo_mini_batches = {self.ppo_epochs * self.ppo_mini_batches} updates per "
                                f"rollout batch; past {MAX_UPDATES_PER_BATCH} the batch is too stale (off-policy) for "
                                "the clip to bound: sample more often instead")
        if self.skills not in SKILL_STRATEGIES:
            raise AgentGymError(f"unknown skill retrieval strategy {self.skills!r}; valid: {', '.join(SKILL_STRATEGIES)}")
        self._validate_lora()
        if self.model is not None and not Path(self.model).is_dir():
            raise AgentGymError(f"--model {self.model!r} is not a directory (a Hugging Face model folder)")
        if self.skill_library is not None and not Path(self.skill_library).expanduser().is_file():
            raise AgentGymError(f"skill_library {self.skill_library!r} is not a file (a YAML or JSON skill library, "
                                "docs/skills.md)")
        self._validate_prompts()

    def _validate_prompts(self) -> None:
        """A known prompt style, a system prompt with text in it, and, where the model folder is known, a
        chat template for the options that render chats (checked here, before any model is loaded)."""
        if self.prompt_style not in PROMPT_STYLES:
            raise AgentGymError(f"unknown prompt_style {self.prompt_style!r}; valid: {', '.join(PROMPT_STYLES)}")
        if self.system_prompt is not None and not self.system_prompt.strip():
            raise AgentGymError("system_prompt is empty; leave it unset for no system message")
        if self.model is None or (self.prompt_style == "step" and self.system_prompt is None):
            return
        if not _has_chat_template(Path(self.model)):
            what = f"prompt_style {self.prompt_style}" if self.prompt_style != "step" else "system_prompt"
            raise AgentGymError(f"{what} renders prompts through the tokenizer's chat template, and the tokenizer in "
                                f"{self.model} has none (no chat_template in tokenizer_config.json, no "
                                "chat_template.jinja); use an instruct model's folder")

    def _validate_lora(self) -> None:
        """Target names that are names, and peft present, before a default policy is built for nothing."""
        if not self.lora_target_modules.strip() or not all(n.strip() for n in self.lora_target_modules.split(",")):
            raise AgentGymError(f"lora_target_modules must be 'all-linear' or comma-separated module names (e.g. "
                                f"q_proj,v_proj), got {self.lora_target_modules!r}")
        if self.lora_rank > 0 and importlib.util.find_spec("peft") is None:
            raise AgentGymError("lora_rank > 0 needs peft, which is not installed: pip install 'agentgym[lora]'")

    def _validate_sglang_launch(self) -> None:
        """The launch fields: only with engine sglang and no URL, parseable, free of the flags the
        launcher sets itself, environment names that are names."""
        given = [n for n in ("sglang_command", "sglang_args") if getattr(self, n) is not None]
        given += ["sglang_env"] if self.sglang_env else []
        if given and self.engine != "sglang":
            raise AgentGymError(f"{given[0]} launches an SGLang server; it needs engine sglang (--engine sglang)")
        if given and self.sglang_url is not None:
            raise AgentGymError(f"{given[0]} launches an SGLang server, sglang_url uses a running one: set only one")
        for name in ("sglang_command", "sglang_args"):
            text = getattr(self, name)
            if text is None:
                continue
            try:
                words = shlex.split(text)
            except ValueError as e:
                raise AgentGymError(f"{name} is not a shell-style command line ({e}): {text!r}") from None
            if name == "sglang_command" and not words:
                raise AgentGymError("sglang_command is empty; e.g. '~/.cache/agentgym/sglang-venv/bin/python -m "
                                    "sglang.launch_server'")
            own = [w for w in words if w.split("=")[0] in _SGLANG_OWN_FLAGS]
            if own:
                raise AgentGymError(f"{name} sets {own[0].split('=')[0]}, which agentgym sets itself; leave it out")
        bad = [k for k in self.sglang_env if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        if bad:
            raise AgentGymError(f"sglang_env key {bad[0]!r} is not an environment variable name")

    def prompt_options(self) -> dict[str, Any]:
        """The prompt arguments of `collect` and `evaluate`, so training and evaluation prompt alike."""
        return {"prompt_style": self.prompt_style, "system_prompt": self.system_prompt,
                "max_episode_tokens": self.max_episode_tokens}

    def sglang_launch(self) -> dict[str, Any]:
        """The SGLangEngine arguments that launch a server as this config says (none for a URL)."""
        if self.sglang_url is not None:
            return {}
        out: dict[str, Any] = {"server_env": dict(self.sglang_env), "startup_timeout": self.sglang_startup_timeout_s}
        if self.sglang_command is not None:
            out["launch_cmd"] = [os.path.expanduser(w) for w in shlex.split(self.sglang_command)]
        if self.sglang_args is not None:
            out["server_args"] = tuple(shlex.split(self.sglang_args))
        return out

    def check_panel(self, split: str, panel_size: int) -> None:
        """Tasks of a step are drawn without replacement from the train panel, so B cannot exceed it."""
        if self.tasks_per_step > panel_size:
            raise AgentGymError(f"tasks_per_step {self.tasks_per_step} is larger than the {split!r} panel of "
                                f"{self.env} ({panel_size} tasks); tasks of a step are drawn without replacement")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _has_chat_template(folder: Path) -> bool:
    """Whether a model folder's tokenizer files hold a chat template (read from the files, so that a bad
    option is refused before the model loads; an unreadable config is left to the tokenizer loader)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    return isinstance(cfg, dict) and bool(cfg.get("chat_template"))


#: How a training run is given a skill library (the end of `skill_library_for`'s error line).
TRAIN_SKILL_LIBRARY_HOW = "--skill-library PATH (--set skill_library=PATH, or skill_library in a config file)"


def skill_library_for(env: str, path: str | Path | None = None, *, needed_by: str = "this run",
                      how: str = "--skill-library PATH") -> SkillLibrary:
    """The skill library a skill-using run on `env` reads: `path` when given, else the one of the env's
    profile (a file, or a library object). An env with none (a third-party env that declared none) is
    one line saying how to give one; a file is parsed safely (no code runs)."""
    env_id = resolve_env_id(env)
    given = path if path is not None else profile_of(env_id).skill_library
    if isinstance(given, SkillLibrary):
        return given
    if given is not None:
        p = Path(given).expanduser()
        if not p.is_file():
            what = "is a folder, not a library file" if p.is_dir() else "does not exist"
            raise AgentGymError(f"skill library {str(p)!r} {what} (a YAML or JSON file, docs/skills.md)")
        return SkillLibrary.from_file(p)
    raise AgentGymError(f"env {env_id} has no skill library, and {needed_by} needs one: give a YAML or JSON skill "
                        f"library with {how}, or register the env with skill_library=PATH or a profile that names "
                        "one (docs/custom-envs.md)")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults <- YAML file <- overrides (only keys that are set). Unknown keys, values of the wrong type
    and values out of range are an error naming the key."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_config_file(Path(path))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    hints = typing.get_type_hints(TrainConfig)
    unknown = sorted(str(k) for k in set(data) - set(hints))
    if unknown:
        raise AgentGymError(f"unknown config key(s) {', '.join(unknown)}; valid: {', '.join(sorted(hints))}")
    cfg = TrainConfig(**{k: coerce_value(k, v, hints[k]) for k, v in data.items()})
    cfg.validate()
    return cfg


def _read_config_file(p: Path) -> dict[str, Any]:
    """The mapping in a YAML config file; unreadable, non-UTF-8 or non-YAML files are one-line errors."""
    if not p.is_file():
        raise AgentGymError(f"config file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise AgentGymError(f"cannot read config file {p}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise AgentGymError(f"config file {p} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                            f"{e.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise AgentGymError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise AgentGymError(f"config file {p} must hold a mapping of options")
    return data


def coerce_value(key: str, value: Any, hint: Any) -> Any:
    """`value` as the annotated type `hint`, strictly, or an AgentGymError naming `key`.

    Values come from YAML and command lines: `1e-4` arrives as a string (YAML 1.1), and `1.5` for an int
    field or `[1, 2]` for a number must be refused, not truncated or passed on to fail deep in a run.
    ints take integral numbers only; floats must be finite; bools take true/false only; strs take
    scalars; dicts and lists are checked element-wise. Annotations not handled here pass the value on."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce_value(key, value, arg)
            except AgentGymError:
                continue
        raise AgentGymError(f"{key} expects {_describe(hint)}, got {_show(value)}")
    base = origin or hint
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif base is int:
        num = _number(value)
        if isinstance(num, int):
            return num
        if isinstance(num, float) and math.isfinite(num) and num.is_integer():
            return int(num)
    elif base is float:
        num = _number(value)
        if num is not None:
            if not math.isfinite(num):
                raise AgentGymError(f"{key} must be a finite number, got {_show(value)}")
            return float(num)
    elif base is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(base, type) and issubclass(base, Path):
        if isinstance(value, (str, Path)):
            return Path(value)
    elif base is dict:
        if isinstance(value, dict):
            kt, vt = args if len(args) == 2 else (Any, Any)
            return {coerce_value(f"{key} key", k, kt): coerce_value(f"{key}.{k}", v, vt) for k, v in value.items()}
    elif base in (list, tuple):
        if isinstance(value, (list, tuple)):
            et = args[0] if args else Any
            items = [coerce_value(f"{key}[{i}]", v, et) for i, v in enumerate(value)]
            return items if base is list else tuple(items)
    else:
        return value
    raise AgentGymError(f"{key} expects {_describe(hint)}, got {_show(value)}")


def _number(value: Any) -> int | float | None:
    """An int or float from a number or a numeric string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                continue
    return None


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping",
          list: "a list", tuple: "a list", type(None): "null"}


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    base = typing.get_origin(hint) or hint
    if isinstance(base, type) and issubclass(base, Path):
        return "a path"
    return _NAMES.get(base, getattr(base, "__name__", str(base)))


def _show(value: Any) -> str:
    """A short repr of a user's value, with its type when the repr alone could mislead ('1' vs 1)."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})" if not isinstance(value, (int, float, str)) or isinstance(value, bool) else text


def config_json(cfg: TrainConfig) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


__getattr__ = moved_names(__name__, {  # replaced by the env profiles
    "ENV_REWARD": "the env profile: agentgym.profile_of(env).reward_scale, .invalid_penalty, .kl_coef",
    "ENV_ALIASES": "agentgym.core.registry.aliases()",
    "env_family": "agentgym.core.registry.family_of",
    "env_defaults": "agentgym.profile_of(env).training_defaults()",
})

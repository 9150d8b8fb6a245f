"""Typed training configuration: defaults for the embedded CPU policy, a YAML file, CLI overrides.

Defaults follow docs/method.md where the paper's values transfer (G = 8, clip 0.2, dual clip 3, KL 0.01,
entropy 0.001, beta 5, lambda 0.01, rollout temperature 1.0, validation temperature 0.4) and
cpu-training-notes.md where they do not (a tiny model needs lr ~1e-4 with warmup, not 1e-6; a few
tasks per step; a small step budget).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from agentgym.core.errors import AgentGymError

#: Episode reward per env family: R = scale * won (method.md section 3), and the invalid-action penalty.
ENV_REWARD = {
    "alfworld": {"reward_scale": 10.0, "invalid_penalty": 0.1, "history": 4, "kl_coef": 0.01},
    "webshop": {"reward_scale": 10.0, "invalid_penalty": 0.1, "history": 2, "kl_coef": 0.01},
    "searchqa": {"reward_scale": 1.0, "invalid_penalty": 0.01, "history": 4, "kl_coef": 0.001},
}


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
    history: int | None = None  # None: per env (2 ALFWorld/WebShop, 4 Search-QA)
    train_split: str | None = None  # None: the env's first split
    # reward
    reward_scale: float | None = None
    invalid_penalty: float | None = None
    kl_coef: float | None = None  # None: per env (0.01; 0.001 for Search-QA)
    # optimisation
    lr: float = 1e-4
    warmup_steps: int = 5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    micro_batch_size: int = 16  # samples per forward/backward chunk (memory, not maths): 16 peaked 0.8 GB lower than 64 and ran as fast
    bf16: bool = True  # bf16 autocast in the training and scoring forwards (CPU and GPU); master weights fp32
    device: str = "auto"  # auto | cpu | cuda
    # skills (teacher context c+)
    skills: str = "keyword"  # random | keyword | ucb | embedding
    skills_k: int = 2
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
    sglang_url: str | None = None

    def resolved(self) -> TrainConfig:
        """Fill the per-env defaults (reward scale, penalty, history, KL coefficient)."""
        c = dataclasses.replace(self)
        fam = env_family(c.env)
        per_env = ENV_REWARD.get(fam, {"reward_scale": 1.0, "invalid_penalty": 0.1, "history": 2, "kl_coef": 0.01})
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
        if self.steps < 0 or self.tasks_per_step < 1 or self.group_size < 1:
            raise AgentGymError("steps must be >= 0, tasks_per_step and group_size >= 1")
        if self.group_size < 2:
            raise AgentGymError("group_size must be >= 2: GRPO normalizes rewards within a group")
        if not 0 < self.lr < 1:
            raise AgentGymError(f"lr must be in (0, 1), got {self.lr}")
        if self.temperature < 0 or self.eval_temperature < 0:
            raise AgentGymError("temperatures must be >= 0")
        if self.zero_stage not in (0, 1, 2, 3):
            raise AgentGymError(f"zero_stage must be 0-3, got {self.zero_stage}")
        if self.zero_stage and not self.deepspeed:
            raise AgentGymError("--zero-stage needs --deepspeed")
        if self.engine not in ("hf", "sglang"):
            raise AgentGymError(f"unknown engine {self.engine!r}; valid: hf, sglang")
        if self.model is not None and not Path(self.model).is_dir():
            raise AgentGymError(f"--model {self.model!r} is not a directory (a Hugging Face model folder)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def env_family(env: str) -> str:
    """'webshop', 'agentgym/WebShop-v0', 'agentgym/WebShop-Browser-v0' -> 'webshop'."""
    name = env.split("/")[-1].split("-")[0].lower()
    return {"alfworld": "alfworld", "webshop": "webshop", "searchqa": "searchqa"}.get(name, name)


#: Short env names accepted on the command line.
ENV_ALIASES = {
    "alfworld": "agentgym/ALFWorld-v0",
    "webshop": "agentgym/WebShop-v0",
    "webshop-browser": "agentgym/WebShop-Browser-v0",
    "searchqa": "agentgym/SearchQA-v0",
}


def resolve_env_id(env: str) -> str:
    return ENV_ALIASES.get(env.lower(), env)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults <- YAML file <- overrides (only keys that are set). Unknown keys are an error."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise AgentGymError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise AgentGymError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from e
        if not isinstance(data, dict):
            raise AgentGymError(f"config file {p} must hold a mapping of options")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    types = {f.name: str(f.type) for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise AgentGymError(f"unknown config key(s) {', '.join(unknown)}; valid: {', '.join(sorted(types))}")
    cfg = TrainConfig(**{k: _coerce(k, v, types[k]) for k, v in data.items()})
    cfg.validate()
    return cfg


def _coerce(key: str, value: Any, type_name: str) -> Any:
    """YAML reads `1e-4` (no dot) as a string: numeric fields get numbers, or a clear error."""
    base = type_name.split(" ")[0]
    if base not in ("int", "float") or not isinstance(value, str):
        return value
    try:
        num = float(value)
    except ValueError:
        raise AgentGymError(f"config key {key} expects a number ({base}), got {value!r}") from None
    return int(num) if base == "int" and num.is_integer() else num


def config_json(cfg: TrainConfig) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)

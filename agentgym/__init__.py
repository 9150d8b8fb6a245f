"""agentgym: multi-turn text environments, a skill store and RL / self-distillation backends (SDAR)."""

import os as _os

# oneDNN caches a kernel per matmul shape; with bf16 autocast and length-bucketed batches that cache
# held ~0.5 GB on the default policy's SFT. A small cache measured the same speed (agentgym.runtime).
_os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")

from agentgym import envs  # noqa: F401  (importing it registers the built-in envs)
from agentgym.core.checker import check_text_env
from agentgym.core.env import ADMISSIBLE, INFO_KEYS, ExpertAction, TextEnv, Transition
from agentgym.core.errors import AgentGymError, UnknownEnvError
from agentgym.core.profile import EnvProfile, Template
from agentgym.core.registry import env_ids, make, profile_of, register
from agentgym.core.task import Panel, ProtocolCard, Task

__version__ = "0.1.0"
__all__ = [
    "ADMISSIBLE",
    "INFO_KEYS",
    "AgentGymError",
    "EnvProfile",
    "ExpertAction",
    "Panel",
    "ProtocolCard",
    "Task",
    "Template",
    "TextEnv",
    "Transition",
    "UnknownEnvError",
    "check_text_env",
    "env_ids",
    "make",
    "profile_of",
    "register",
]

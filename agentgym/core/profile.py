"""What agentgym knows about an env beyond the Env contract: its profile, one record per env.

An env is prompted, rewarded and warm-started by values that belong to the env, not to the trainer:

    profile = EnvProfile(family="guess", template=Template("guess", 3, ("action",), "Reply ..."),
                         reward_scale=1.0, skill_library=Path(__file__).with_name("guess.yaml"))
    agentgym.register("example/GuessNumber-v0", "guess_env:GuessNumberEnv", profile=profile)

The env's package declares it and registers it with the env (the built-in ones in
`agentgym/envs/<env>/profile.py`); the trainer, the collector, evaluation, the skill store, the
default-model builder and the CLI all read it through `agentgym.core.registry.profile_of`, so that no
per-env table lives anywhere else. An env registered without one gets `GENERIC`.

The profile is data only: the template's observation cleaner is the one callable in it, and the skill
library is a path (read when a run needs it) or an already loaded `agentgym.skills.SkillLibrary`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentgym.core.recipe import DefaultModelConfig, SFTConfig

#: Bump when a template's wording changes: cached default models are keyed by it.
TEMPLATE_VERSION = "v2"


@dataclass(frozen=True)
class Template:
    """How one env family is prompted and how its answers look (agentgym.rollout.prompts renders it)."""

    family: str
    history: int  # H: how many past observation/action pairs the prompt shows
    tags: tuple[str, ...]  # answer tags the env accepts: ("action",) or ("search", "answer")
    format_line: str
    show_admissible: bool = True
    max_obs_chars: int = 1500  # the current observation is cut beyond this (keeps the beginning)
    max_hist_chars: int = 300  # observations in the history are cut harder
    max_admissible: int = 60
    #: drops what the prompt already says elsewhere (the instruction, protocol boilerplate); (obs, instruction)
    clean: Callable[[str, str], str] | None = None
    #: a regex for ids the policy must copy verbatim (WebShop product ids): the default model's tokenizer
    #: makes every such string of its training text one token, so copying it is a one-token pointer
    atomic: str | None = None
    max_instruction_chars: int = 1000  # the Task line (real instructions: under 200 characters)
    max_action_chars: int = 200  # each listed admissible action and each past action in the history
    max_actions_chars: int = 4000  # the whole "Actions:" line; later actions are dropped, "..." shown

    @property
    def stop(self) -> list[str]:
        """Closing tags that end a response (the engine stops generating on them)."""
        return [f"</{t}>" for t in self.tags]


#: The recipe of an env that declares none: 500 noisy expert demos, a 1,024-token BPE, 3 SFT epochs.
GENERIC_RECIPE = DefaultModelConfig("", vocab_size=1024, sft=SFTConfig(demos=500, epochs=3))


@dataclass(frozen=True)
class EnvProfile:
    """Everything per-env that is not the env's behaviour. Defaults are the generic env's.

    `reward_scale`: R = scale * won (docs/method.md, section 3). `invalid_penalty`: subtracted from a
    turn's advantage when its action was invalid. `kl_coef`: the reference-KL coefficient of backends that
    have one. The prompt history H is the template's (`history`), what a run shows when `history` is
    unset. `model_recipe`: how the default policy is built when no `--model` is given (its `env_id` is
    filled in per env). `rollout_workers`: threads stepping this env's episodes (more for slow envs such
    as a real browser). `aliases`: short names the CLI accepts for the env ids registered with it.
    """

    family: str
    template: Template
    reward_scale: float = 1.0
    invalid_penalty: float = 0.1
    kl_coef: float = 0.01
    skill_library: str | os.PathLike[str] | Any | None = None
    model_recipe: DefaultModelConfig = field(default=GENERIC_RECIPE)
    rollout_workers: int = 1
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.template.family != self.family:
            raise ValueError(f"profile {self.family!r} has the template of family {self.template.family!r}")
        if self.reward_scale <= 0 or self.invalid_penalty < 0 or self.kl_coef < 0 or self.rollout_workers < 1:
            raise ValueError(f"profile {self.family!r}: reward_scale must be > 0, invalid_penalty and kl_coef "
                             ">= 0, rollout_workers >= 1")

    @property
    def history(self) -> int:
        return self.template.history

    def training_defaults(self) -> dict[str, Any]:
        """The TrainConfig fields this profile fills when a run leaves them unset."""
        return {"reward_scale": self.reward_scale, "invalid_penalty": self.invalid_penalty,
                "kl_coef": self.kl_coef, "history": self.history}


GENERIC_TEMPLATE = Template("generic", 2, ("action",), "Reply <think>...</think><action>your action</action>")
GENERIC = EnvProfile("generic", GENERIC_TEMPLATE)

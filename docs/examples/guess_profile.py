"""GuessNumber with its own profile: prompt template, rewards, skill library, rollout threads, a short name."""

from pathlib import Path

import agentgym
from agentgym import EnvProfile, Template

PROFILE = EnvProfile(
    family="guess",
    template=Template(
        family="guess",
        history=3,  # past turns in the prompt: the default of every run on this env
        tags=("action",),
        format_line="Reply <think>...</think><action>guess N</action>",
        show_admissible=False,  # twenty "guess N" actions say nothing the format line does not
    ),
    reward_scale=1.0,  # R = reward_scale * won
    invalid_penalty=0.1,  # taken off the advantage of a turn whose action was invalid
    kl_coef=0.01,  # for the backends with a reference KL
    skill_library=Path(__file__).with_name("guessnumber.yaml"),  # for the backends that use skills
    rollout_workers=1,  # threads stepping episodes: more for a slow env
    aliases=("guess",),  # agentgym train --env guess
)

agentgym.register("example/GuessNumberProfiled-v0", "guess_env:GuessNumberEnv", high=20, profile=PROFILE)

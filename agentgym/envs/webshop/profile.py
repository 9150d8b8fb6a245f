"""WebShop's profile (text and browser mode): how its turns are prompted, rewarded and warm-started."""

import dataclasses
import re
from pathlib import Path

from agentgym.core.profile import EnvProfile, Template
from agentgym.core.recipe import DefaultModelConfig, ModelSize, SFTConfig

_ASIN = re.compile(r"\bB0[0-9A-Z]{8}\b")


def clean_observation(obs: str, instruction: str) -> str:
    """WebShop pages repeat "WebShop [SEP] Instruction: [SEP] <instruction> [SEP]": the Task line has it."""
    obs = re.sub(r"^\s*WebShop\s*\[SEP\]\s*", "", obs)
    if instruction:
        obs = obs.replace(f"Instruction: [SEP] {instruction} [SEP] ", "").replace(f"Instruction: [SEP] {instruction}", "")
    # product ids are shown upper case but clicked lower case: show them as they are clicked
    return _ASIN.sub(lambda m: m.group(0).lower(), obs).strip()


# Half the demos carry c+ (the skill-reading expert, same noise): what c+ can add is which option label
# an instruction's word means. The copy warm-up teaches copying queries, product ids and labels from the
# prompt. 4 layers: with 2 the same stages played 0.120 without skills, with 4 0.230 (docs/policies.md).
_SFT = SFTConfig(demos=1000, epochs=3, noise=0.1, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)

PROFILE = EnvProfile(
    family="webshop",
    template=Template("webshop", 2, ("action",), "Reply <think>...</think><action>search[query] or click[item]</action>",
                      max_obs_chars=1500, max_hist_chars=120, clean=clean_observation, atomic=r"\bb0[0-9a-z]{8}\b"),
    reward_scale=10.0, invalid_penalty=0.1, kl_coef=0.01,
    skill_library=Path(__file__).with_name("skills.yaml"),
    model_recipe=DefaultModelConfig("", vocab_size=2048, size=ModelSize(num_hidden_layers=4), sft=_SFT,
                                    stages=(_SFT.with_(epochs=3, lr=1e-3, seed=1, copy_warmup_steps=0),)),
    aliases=("webshop",),
)

#: Browser mode: the same pages through Chromium, so the same prompts, rewards and policy.
BROWSER_PROFILE = dataclasses.replace(PROFILE, aliases=("webshop-browser",))

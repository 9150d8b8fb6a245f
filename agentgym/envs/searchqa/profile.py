"""Search-QA's profile: how its turns are prompted, rewarded and warm-started (`agentgym.core.profile`)."""

from pathlib import Path

from agentgym.core.profile import EnvProfile, Template
from agentgym.core.recipe import DefaultModelConfig, SFTConfig


def clean_observation(obs: str, instruction: str) -> str:
    """The first observation is Search-R1's protocol paragraph + the question: keep the question only
    (the format line says how to search and answer)."""
    i = obs.rfind("Question:")
    if i > 0 and "<search>" in obs[:i]:
        return obs[i:].strip()
    return obs


# Search-QA's noisy actions are malformed answers: at noise 0.1 the policy kept writing them (valid actions
# 0.53, success 0.01); noise 0.03 on 2000 demos: valid 0.91, success 0.13 (docs/policies.md). Half the
# demos carry c+: the query words the skills name; the copy warm-up teaches copying names and passage words.
_SFT = SFTConfig(demos=2000, epochs=3, noise=0.03, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)


def _continue(epochs: int, lr: float, seed: int) -> SFTConfig:
    return _SFT.with_(epochs=epochs, lr=lr, seed=seed, copy_warmup_steps=0)


PROFILE = EnvProfile(
    family="searchqa",
    template=Template("searchqa", 4, ("search", "answer"),
                      "Reply <think>...</think> then <search>query</search> or <answer>answer</answer>",
                      show_admissible=False, max_obs_chars=1200, max_hist_chars=400, clean=clean_observation),
    # Search-R1's reward is exact match in {0, 1}; its KL coefficient 0.001 (docs/method.md)
    reward_scale=1.0, invalid_penalty=0.01, kl_coef=0.001,
    skill_library=Path(__file__).with_name("skills.yaml"),
    model_recipe=DefaultModelConfig("", vocab_size=2048, sft=_SFT, stages=(
        _continue(3, 1e-3, 1), _continue(3, 7e-4, 2), _continue(3, 5e-4, 3))),
    aliases=("searchqa", "search-qa"),
)

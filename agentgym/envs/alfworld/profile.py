"""ALFWorld's profile: how its turns are prompted, rewarded and warm-started (`agentgym.core.profile`)."""

from pathlib import Path

from agentgym.core.profile import EnvProfile, Template
from agentgym.core.recipe import DefaultModelConfig, ModelSize, SFTConfig

# Half the demos carry c+ and are played by the skill-reading expert with the same noise as the rest: the
# policy can gain from c+ only what the skills say (where objects usually are), not a cleaner style of
# play. The copy warm-up lets the from-scratch model copy receptacle names out of c+; without it it
# invents them. The continuation stages fit what 3 epochs leave underfitted. 4 layers and 9 epochs:
# 2 layers / 3 epochs played 0.007 without skills and +0.14 with them (docs/policies.md).
_SFT = SFTConfig(demos=1500, epochs=3, noise=0.1, skill_fraction=0.5, skill_noise_scale=1.0, copy_warmup_steps=1500)


def _continue(epochs: int, lr: float, seed: int) -> SFTConfig:
    """A continuation stage: the first stage's recipe on fresh demos (its own seed), no copy warm-up."""
    return _SFT.with_(epochs=epochs, lr=lr, seed=seed, copy_warmup_steps=0)


PROFILE = EnvProfile(
    family="alfworld",
    # H = 4 (the paper: 2): a search through a dozen receptacles needs to see where it has been, and a
    # small memoryless policy loops between two places with H = 2 (docs/policies.md)
    template=Template("alfworld", 4, ("action",), "Reply <think>...</think><action>one action from the list</action>"),
    reward_scale=10.0, invalid_penalty=0.1, kl_coef=0.01,  # R = 10 * won (docs/method.md, section 3)
    skill_library=Path(__file__).with_name("skills.yaml"),
    model_recipe=DefaultModelConfig("", vocab_size=1024, size=ModelSize(num_hidden_layers=4), sft=_SFT, stages=(
        _continue(2, 1e-3, 1), _continue(2, 7e-4, 2), _continue(2, 5e-4, 3))),
    aliases=("alfworld",),
)

"""Moved: the default-policy recipe types live in `agentgym.core.recipe` (env profiles declare recipes, and
the envs sit below the models). This name still imports them, with a deprecation warning."""

import warnings

from agentgym.core.recipe import DefaultModelConfig, ModelSize, SFTConfig

warnings.warn("agentgym.models.config is now agentgym.core.recipe", FutureWarning, stacklevel=2)

__all__ = ["DefaultModelConfig", "ModelSize", "SFTConfig"]

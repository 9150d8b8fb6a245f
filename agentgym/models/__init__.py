"""The default policy: a tokenizer trained on the env's text, a small Qwen2, SFT on expert demos.

`ensure_default_model(env_id)` builds and caches it; `load_policy(path)` loads it or any other
Hugging Face causal-LM directory (`--model PATH`). Importing this package loads torch and
transformers; the CLI imports it only inside the commands that need a model.
"""

from agentgym.core.recipe import DefaultModelConfig, ModelSize, SFTConfig
from agentgym.models.default import ensure_default_model, load_policy

__all__ = ["DefaultModelConfig", "ModelSize", "SFTConfig", "ensure_default_model", "load_policy"]

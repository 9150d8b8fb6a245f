"""Tiny policies for the tests: a tokenizer trained on the toy env and a Qwen2 of a few thousand weights."""

from __future__ import annotations

from pathlib import Path

from agentgym.core.recipe import ModelSize
from fakes.toy_env import register_toy

TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)


def build_tiny(out: Path, size: ModelSize = TINY, seed: int = 0, vocab_size: int = 500, demos: int = 40) -> Path:
    """A freshly initialised tiny model directory (tokenizer trained on toy-env text)."""
    from agentgym.models.build import init_model_dir

    return init_model_dir(register_toy(), out, vocab_size=vocab_size, size=size, demos=demos, seed=seed)


def sample_prompts(tok) -> list[list[int]]:
    """Four encoded turn prompts of different lengths (with and without history or admissible actions)."""
    from agentgym.rollout.prompts import build_user_text, encode_prompt

    texts = [
        build_user_text("generic", "put the apple on the table", [], "You see 4 drawers and a table.", ["open drawer 1"]),
        build_user_text("generic", "put the key on the table", [("o", "open drawer 2")], "Drawer 2 is open.", None),
        "hi",
        "Task: put the mug on the table\nNow: Drawer 4 is open. You see a mug.",
    ]
    return [encode_prompt(tok, t) for t in texts]

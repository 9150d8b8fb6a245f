"""Build the default policy without any hub: a tokenizer from the env's own text, a fresh small Qwen2.

`init_model_dir(env_id, out_dir)` is what `agentgym init-model` runs:
1. play the env's expert (with the SFT noise) on its train panel and render every turn exactly as the
   policy will see it (prompt templates, admissible actions, skill blocks, responses);
2. train a byte-level BPE on that text (plus the templates and the skill library);
3. create a randomly initialised Qwen2 model of `ModelSize` and save both as an ordinary Hugging Face
   directory that `AutoModelForCausalLM` / `AutoTokenizer` load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

from agentgym.core.demos import expert_demos
from agentgym.core.recipe import ModelSize
from agentgym.core.registry import families, family_of, make, template
from agentgym.models.tokenizer import ENDOFTEXT, IM_END, train_tokenizer
from agentgym.rollout.prompts import format_response, trajectory_turns
from agentgym.skills import SkillLibrary, render_context


def init_model(tokenizer: Any, size: ModelSize | None = None, seed: int = 0):
    """A randomly initialised `Qwen2ForCausalLM` sized for `tokenizer` (sdpa attention)."""
    size = size or ModelSize()
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    eot = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        num_key_value_heads=size.num_key_value_heads,
        intermediate_size=size.intermediate_size,
        max_position_embeddings=size.max_position_embeddings,
        rope_theta=size.rope_theta,
        tie_word_embeddings=size.tie_word_embeddings,
        bos_token_id=eot,
        eos_token_id=im_end,
        pad_token_id=eot,
        use_cache=True,
    )
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot)
    return model


def save_model_dir(model: Any, tokenizer: Any, out_dir: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save model + tokenizer (+ `agentgym.json` with how it was made) as a Hugging Face directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    if meta is not None:
        (out / "agentgym.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    return out


def corpus_from_env(env_id: str, *, demos: int = 300, noise: float = 0.1, seed: int = 0,
                    env_kwargs: dict[str, Any] | None = None, skills: bool = True) -> Iterator[str]:
    """Every text the policy will read or write on `env_id`: rendered prompts, responses, skills."""
    family = family_of(env_id)
    yield from base_texts(family, skills)
    env = make(env_id, **(env_kwargs or {}))
    try:
        for traj in expert_demos(env.unwrapped, demos, noise=noise, seed=seed, env_id=env_id):
            for text, step in trajectory_turns(family, traj):
                yield text
                yield format_response(family, step.action)
            yield traj.final_observation
    finally:
        env.close()


def _skill_texts(family: str) -> Iterator[str]:
    """The skill library's rendered text (one c+ line per skill), when the skill store has one."""
    try:
        lib = SkillLibrary.load(family)
    except Exception:  # no library for this env (or no skill store installed): nothing to add
        return
    skills = list(lib)
    for i in range(0, len(skills), 2):
        yield render_context(skills[i: i + 2])


def base_texts(family: str, skills: bool = True) -> list[str]:
    """Texts every tokenizer of a family sees: the templates' format lines and the skill library."""
    out = [p.template.format_line for p in families().values()]
    if skills:
        out += list(_skill_texts(family))
    return out


def init_model_dir(env_id: str, out_dir: str | Path, *, vocab_size: int = 2048, size: ModelSize | None = None,
                   demos: int = 300, noise: float = 0.1, seed: int = 0, env_kwargs: dict[str, Any] | None = None,
                   extra_texts: list[str] | None = None) -> Path:
    """Tokenizer trained on the env's text + a fresh Qwen2, saved to `out_dir`. Returns the directory."""
    texts = list(corpus_from_env(env_id, demos=demos, noise=noise, seed=seed, env_kwargs=env_kwargs))
    texts += list(extra_texts or [])
    pat = template(family_of(env_id)).atomic
    atomic = {m for t in texts for m in re.findall(pat, t)} if pat else set()
    tok = train_tokenizer(texts, vocab_size=vocab_size, atomic=atomic)
    model = init_model(tok, size, seed=seed)
    meta = {
        "stage": "init",
        "env_id": env_id,
        "vocab_size": len(tok),
        "size": (size or ModelSize()).__dict__,
        "tokenizer_demos": demos,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return save_model_dir(model, tok, out_dir, meta)

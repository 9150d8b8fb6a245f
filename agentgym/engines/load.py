"""Load any Hugging Face causal-LM directory as a policy (the default model or `--model PATH`).

This lives in the engines layer because the engines load policies and tokenizers themselves (`hf`
runs the model, `sglang` encodes with its tokenizer); `agentgym.models.load` re-exports every name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from agentgym.core.errors import AgentGymError

DTYPES = ("float32", "bfloat16", "float16")
#: Files that hold a tokenizer's vocabulary (fast, BPE, WordPiece); also any `*.model` (SentencePiece)
#: or `*.tiktoken` file. Without one, AutoTokenizer builds an empty tokenizer that encodes text to [].
VOCAB_FILES = ("tokenizer.json", "vocab.json", "vocab.txt")
VOCAB_SUFFIXES = (".model", ".tiktoken")


def torch_dtype(dtype: Any):
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.float32
    if dtype not in DTYPES:
        raise AgentGymError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def is_model_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "config.json").is_file()


def has_vocab_files(path: str | Path) -> bool:
    """Whether a local folder holds a tokenizer vocabulary (see `VOCAB_FILES`)."""
    p = Path(path)
    return any((p / f).is_file() for f in VOCAB_FILES) or any(
        f.is_file() and f.suffix in VOCAB_SUFFIXES for f in p.iterdir()
    )


def load_tokenizer(path: str | Path):
    """The directory's tokenizer via `AutoTokenizer` (offline), with a pad token guaranteed.

    A folder without vocabulary files is refused up front: AutoTokenizer would otherwise build an
    empty tokenizer from config.json, which then fails later as "no chat template" or encodes every
    prompt to nothing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if Path(path).is_dir() and not has_vocab_files(path):
        raise AgentGymError(
            f"no tokenizer files in {path} (expected tokenizer.json, vocab.json + merges.txt, vocab.txt, or a "
            "*.model / *.tiktoken file); copy them from where the model came from"
        )
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:  # missing folder, unreadable or inconsistent tokenizer files
        raise AgentGymError(f"cannot load the tokenizer in {path}: {str(e).splitlines()[0][:300]}") from None
    if not tok("a", add_special_tokens=False)["input_ids"]:
        raise AgentGymError(f"the tokenizer in {path} has an empty vocabulary (it encodes text to no tokens)")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if getattr(tok, "chat_template", None) is None:
        raise AgentGymError(f"the tokenizer in {path} has no chat template; agentgym prompts need one")
    return tok


def load_policy(path: str | Path, dtype: Any = "float32") -> tuple[Any, Any]:
    """`(model, tokenizer)` from a Hugging Face model directory, on CPU, in eval mode, sdpa attention.

    Any causal LM that `AutoModelForCausalLM` can load works (the built default model, a Qwen2.5 /
    Qwen3 checkout, a differently sized local model). Nothing is downloaded: the path must exist.
    """
    if not is_model_dir(path):
        raise AgentGymError(f"not a Hugging Face model directory (no config.json): {path}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype(dtype), attn_implementation="sdpa")
    model.eval()
    return model, tok


def stop_token_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """Token ids that end a response: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids: set[int] = set()
    if tokenizer is not None and tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gc = getattr(model, "generation_config", None)
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(e) for e in eos)
    return ids


def body_and_head(model: Any) -> tuple[Any, Any]:
    """(decoder returning hidden states, output head) of a transformers causal LM, or (None, None) when
    the model does not expose them. Losses that need logits at a few positions only run the decoder once
    and the vocabulary-wide head only there (SFT's response loss, the trainer's scoring)."""
    inner = getattr(model, "module", model)  # DeepSpeed / DDP wrappers
    get_dec, get_head = getattr(inner, "get_decoder", None), getattr(inner, "get_output_embeddings", None)
    if get_dec is None or get_head is None:
        return None, None
    try:
        body, head = get_dec(), get_head()
    except Exception:
        return None, None
    if body is None or head is None or body is inner:
        return None, None
    return body, head


def quiet_transformers() -> None:
    """No progress bars and only errors from transformers (model loading in CLI commands and child builds)."""
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

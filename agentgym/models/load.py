"""Load any Hugging Face causal-LM directory as a policy (the default model or `--model PATH`).

The code is `agentgym.engines.load` (the engines load policies too, and the engines layer sits below
the models layer, docs/architecture.md); every name stays importable from here.
"""

from agentgym.engines.load import (
    DTYPES,
    VOCAB_FILES,
    VOCAB_SUFFIXES,
    body_and_head,
    has_vocab_files,
    is_model_dir,
    load_policy,
    load_tokenizer,
    quiet_transformers,
    stop_token_ids,
    torch_dtype,
)

__all__ = ["DTYPES", "VOCAB_FILES", "VOCAB_SUFFIXES", "body_and_head", "has_vocab_files", "is_model_dir", "load_policy",
           "load_tokenizer", "quiet_transformers", "stop_token_ids", "torch_dtype"]

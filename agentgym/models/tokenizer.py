"""A byte-level BPE tokenizer trained on an env's own text, shaped like Qwen2's.

Why Qwen2's shape: a model directory whose `config.json` says `model_type: qwen2` makes
`AutoTokenizer` rebuild the tokenizer as `Qwen2Tokenizer`, which installs Qwen's normalizer (NFC),
pre-tokenizer (its split regex, then ByteLevel without its own regex) and ByteLevel decoder around the
saved vocabulary and merges. Training with exactly those components means the ids we train on are the
ids any later `AutoTokenizer.from_pretrained(dir)` produces (tested in tests/test_models.py).

The response tags (`<think>`, `<action>`, ...) are added as single, non-special tokens: responses get
shorter, the engine can stop on one token id, and `decode(..., skip_special_tokens=True)` keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

#: Chat special tokens, in id order 0, 1, 2 (Qwen's names, so Qwen tooling recognises them).
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
#: Response-format tags: one token each.
TAG_TOKENS = (
    "<think>", "</think>", "<action>", "</action>", "<search>", "</search>",
    "<answer>", "</answer>", "<information>", "</information>",
)
#: Qwen2's pre-tokenizer split regex (same string as transformers' Qwen2Tokenizer).
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
#: ChatML without a default system prompt (prompts stay short; a system turn is used when given).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _backend(vocab_size: int, texts: Iterable[str], min_frequency: int):
    tok = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                        byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2,
                    atomic: Iterable[str] = ()):
    """Train the BPE on `texts` and wrap it as a `PreTrainedTokenizerFast` with the chat template.

    `vocab_size` counts the 256 byte symbols and the special tokens; the tag tokens and the `atomic`
    strings (ids the policy copies verbatim, each made a single token) come on top.
    """
    backend = _backend(vocab_size, texts, min_frequency)
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    extra = sorted(set(atomic) - set(TAG_TOKENS))
    if extra:
        backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        additional_special_tokens=[IM_START],
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 16,
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def save_tokenizer(tok, out_dir: str | Path) -> None:
    """Save so that `AutoTokenizer.from_pretrained(out_dir)` rebuilds the same ids (also as Qwen2Tokenizer)."""
    tok.save_pretrained(str(out_dir))

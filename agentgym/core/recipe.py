"""The recipe of a default policy (its size and how it is warm-started), as data: an env profile
(`agentgym.core.profile`) declares its env's recipe, and `agentgym.models.default` builds it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class ModelSize:
    """A small Qwen2 architecture. The default (about 0.5M parameters plus the embedding) is the size the
    CPU prototype measured: two layers, sdpa attention, tied embeddings."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True


#: SFTConfig fields added after recipes were first cached, with the value that leaves a recipe as it was
_LATER_FIELDS: dict[str, Any] = {"think": False, "decisive_demos": 0, "bracket_space": False, "decisive_ids": False}


@dataclass(frozen=True)
class SFTConfig:
    """Supervised warm-start on noisy expert demonstrations (loss on response tokens only).

    `noise` is the per-step probability of a random (plausible) action in a demo, so the policy is
    competent but far from perfect; `skill_fraction` of the episodes carry the c+ skill block in front
    of the prompt so that the policy learns to read privileged context.
    """

    demos: int = 1000
    noise: float = 0.2
    skill_fraction: float = 0.3
    skill_noise_scale: float = 0.0  # noise of the skill-block episodes = noise * this (clean play with c+)
    #: share of the skill-block episodes whose c+ is retrieved at random instead of by keyword
    skill_mismatch: float = 0.0
    epochs: int = 3
    batch_size: int = 16  # small batches, many steps: measured better than 64 at equal tokens
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_frac: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    #: weight of an extra next-token loss on the prompt tokens (0 = response tokens only, the default):
    #: language-model signal on the env's text at no extra forward cost, an option for experiments.
    prompt_loss_weight: float = 0.0
    #: induction warm-up: steps of a synthetic "copy this random span" task before the demos, and the
    #: share of copy batches mixed into the demo epochs (0 = off). A from-scratch model does not learn to
    #: copy strings from the prompt (search queries, product ids, answers) from a few thousand demos;
    #: after ~1,000 copy steps it can (measured: docs/policies.md).
    copy_warmup_steps: int = 0
    copy_mix: float = 0.1
    copy_max_span: int = 16  # longest random span to copy (from 4 tokens up)
    #: train on the experts' thoughts (`ExpertAction.think`, recorded in `Step.think`) as the responses'
    #: `<think>` text, where the expert gives one; off, every demo response has an empty think block
    think: bool = False
    #: extra expert episodes (after `demos`, same skill mix and noise) of which only the decisive steps
    #: are trained: those the expert explains with a thought (WebShop: the option clicks). More examples
    #: of the step that reading c+ changes, each in its full page context, without more of the rest.
    #: An env whose expert gives no thoughts (only WebShop's does) gets no examples from them.
    decisive_demos: int = 0
    #: count the clicks on an argument the template marks atomic (WebShop's product ids on a results
    #: page) among the decisive steps too: which product to open is the other step a thin policy gets wrong
    decisive_ids: bool = False
    #: write the demos' bracketed actions as `click[ black]` (a space after the bracket; the envs read
    #: both alike). The Qwen2 pre-tokenizer glues a bracket to the next word, so `click[black]` holds a
    #: token `[black` that no page or instruction contains, while ` black` is the page's own token: with
    #: the space, an action's argument can be copied from the context instead of learned pair by pair.
    #: Arguments the template marks atomic (WebShop's product ids, one token each) are left unspaced.
    bracket_space: bool = False
    bf16: bool = True
    seed: int = 0
    max_prompt_tokens: int = 1024
    split: str | None = None  # default: the env's first split (train)
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def with_(self, **kw: Any) -> SFTConfig:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """The fields as recorded in a model folder and keyed: fields added after recipes were first
        cached appear only when set, so that recipes without them keep their cache folders."""
        d = asdict(self)
        for name, off in _LATER_FIELDS.items():
            if d.get(name) == off:
                d.pop(name)
        return d


@dataclass(frozen=True)
class DefaultModelConfig:
    """Everything that determines the cached default model; its hash names the cache folder.

    `sft` is the first warm-start stage (on the fresh model, with the copy warm-up); `stages` are the
    continuation stages after it, each an SFT run on its own fresh demos (its own seed) with its own
    learning rate: the measured recipes need 6-9 epochs, and a fresh demo set per stage trains better
    than repeating one (docs/policies.md)."""

    env_id: str
    vocab_size: int = 2048
    tokenizer_demos: int = 300
    size: ModelSize = field(default_factory=ModelSize)
    sft: SFTConfig = field(default_factory=SFTConfig)
    stages: tuple[SFTConfig, ...] = ()

    @property
    def all_stages(self) -> tuple[SFTConfig, ...]:
        return (self.sft, *self.stages)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sft"] = self.sft.to_dict()
        if not self.stages:  # one-stage recipes keep the keys (cache folders) they had before stages existed
            d.pop("stages")
        else:
            d["stages"] = [s.to_dict() for s in self.stages]
        return d

    def key(self, extra: dict[str, Any] | None = None) -> str:
        blob = json.dumps({"cfg": self.to_dict(), "extra": extra or {}}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

"""What every backend shares: the token batch it sees, the `Backend` contract, token-mean, finiteness.

A backend turns padded per-token quantities of the sampled responses into one scalar loss:

    loss, metrics = backend.loss(batch, step)

It sees token tensors only (no env, no tokenizer, no model): `batch.logp[i, t]` is
log pi_theta(y_t | x_i, y_<t) of the t-th response token of turn-sample i, computed by the trainer
with gradient; `mask[i, t]` marks real (non-padding) response tokens.

Token-mean, the aggregation of every term (docs/method.md, section 3):

    token-mean(x) = sum_{i,t} mask[i,t] * x[i,t] / D,     D = sum_{i,t} mask[i,t]   (by default)

`TokenBatch.denom` replaces D when the batch is one micro-batch of a larger (possibly multi-process)
batch, so that summing micro-batch gradients gives the token-mean over the whole batch
(see `agentgym.distributed.token_mean_denominator`).

Two other aggregations peers expose (`TokenBatch.agg`, the trainer's `loss_agg`), with S the number
of turn-samples (`TokenBatch.seq_denom` replaces it for a micro-batch) and T_i the tokens of sample i:

    seq-mean-token-mean(x) = sum_i ( sum_t mask x / T_i ) / S      every turn weighs the same
    seq-mean-token-sum(x)  = sum_i   sum_t mask x         / S      long turns weigh more (no length bias
                                                                   against long answers, Dr. GRPO's point)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from agentgym.core.errors import AgentGymError

#: The loss aggregations `TokenBatch.mean` knows; token-mean is the paper's.
AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


@dataclass
class TokenBatch:
    """Padded [N, T] response-token tensors of N turn-samples (T = longest response).

    logp:         log pi_theta(y_t), current policy, WITH gradient.
    old_logp:     log pi_old(y_t), the policy that sampled the batch (no gradient).
    mask:         1 on valid response tokens, 0 on padding (bool or float).
    advantages:   [N] per-sample advantage (broadcast to all tokens of the turn) or [N, T] per token.
    ref_logp:     log pi_ref(y_t), frozen initial policy (needed when kl_coef > 0).
    teacher_logp: log pi_theta(y_t | c+, x, y_<t), the same weights given the privileged skills.
    entropy:      per-token entropy of pi_theta(. | x, y_<t) over the vocabulary, WITH gradient.
    denom:        token-mean denominator D; None = the number of valid tokens in this batch.
    agg:          how `mean` aggregates a per-token term (`AGGREGATIONS`).
    seq_denom:    the sequence-mean denominator S of the seq-mean modes; None = the samples here.
    is_weight:    per-token truncated importance weight of the policy-gradient term (the trainer's
                  sampling-policy log-prob against the engine's), or None for no correction.
    """

    logp: Tensor
    old_logp: Tensor
    mask: Tensor
    advantages: Tensor
    ref_logp: Tensor | None = None
    teacher_logp: Tensor | None = None
    entropy: Tensor | None = None
    denom: float | None = None
    agg: str = "token-mean"
    seq_denom: float | None = None
    is_weight: Tensor | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.logp.shape)
        if self.logp.dim() != 2:
            raise ValueError(f"TokenBatch.logp must be [N, T], got {shape}")
        if self.agg not in AGGREGATIONS:
            raise ValueError(f"TokenBatch.agg must be one of {', '.join(AGGREGATIONS)}, got {self.agg!r}")
        for name in ("old_logp", "mask", "ref_logp", "teacher_logp", "entropy", "is_weight"):
            t = getattr(self, name)
            if t is not None and tuple(t.shape) != shape:
                raise ValueError(f"TokenBatch.{name} has shape {tuple(t.shape)}, expected {shape}")
        adv = tuple(self.advantages.shape)
        if adv not in ((shape[0],), shape):
            raise ValueError(f"TokenBatch.advantages has shape {adv}, expected ({shape[0]},) or {shape}")
        for name in ("denom", "seq_denom"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"TokenBatch.{name} must be > 0, got {v}")

    @property
    def fmask(self) -> Tensor:
        """The mask as floats in the dtype of logp."""
        return self.mask.to(self.logp.dtype)

    @property
    def n_tokens(self) -> int:
        """Valid response tokens in this batch."""
        return int(self.mask.sum().item())

    @property
    def n_seqs(self) -> int:
        """Turn-samples with at least one valid token in this batch."""
        return int(self.mask.bool().any(dim=1).sum().item())

    def mean(self, x: Tensor) -> Tensor:
        """`x` [N, T] aggregated as `agg` says, with this batch's (micro-batch) denominators."""
        if self.agg == "token-mean":
            return masked_mean(x, self.mask, self.denom)
        m = self.mask.bool()
        per_seq = torch.where(m, x, torch.zeros_like(x)).sum(dim=1)
        if self.agg == "seq-mean-token-mean":
            per_seq = per_seq / m.sum(dim=1).clamp_min(1).to(x.dtype)
        s = float(self.seq_denom) if self.seq_denom is not None else float(max(self.n_seqs, 1))
        return per_seq.sum() / s

    def plain_mean(self, loss: Tensor) -> float:
        """The loss as a plain mean over THIS batch (undoing `denom` / `seq_denom`), for logging.

        Every term is aggregated with the same denominator, so rescaling by denom / n is exact.
        Metrics are then all plain means, combined over micro-batches and ranks by token weight.
        """
        value = float(loss.detach())
        if self.agg == "token-mean":
            d, n = self.denom, self.n_tokens
        else:
            d, n = self.seq_denom, self.n_seqs
        return value * d / n if (d is not None and n) else value

    def token_advantages(self) -> Tensor:
        """Advantages as [N, T]: a per-sample advantage is broadcast to every token of its turn."""
        adv = self.advantages.to(self.logp.dtype)
        return adv.unsqueeze(1).expand_as(self.logp) if adv.dim() == 1 else adv


def masked_mean(x: Tensor, mask: Tensor, denom: float | None = None) -> Tensor:
    """token-mean(x) = sum(mask * x) / D, D = `denom` or sum(mask) (at least 1, so an empty batch gives 0).

    Padding is dropped with `where`, not multiplied by 0, so a non-finite value there cannot leak in.
    """
    m = mask.bool()
    d = m.sum().clamp_min(1).to(x.dtype) if denom is None else torch.tensor(float(denom), dtype=x.dtype)
    return torch.where(m, x, torch.zeros_like(x)).sum() / d


def stat_mean(x: Tensor, mask: Tensor) -> float:
    """Plain mean over valid tokens for logging (ignores `denom`); 0.0 on an empty mask."""
    m = mask.bool()
    return float(x.detach()[m].float().mean().item()) if bool(m.any()) else 0.0


def is_finite(loss: Tensor, metrics: dict[str, float] | None = None) -> bool:
    """True when the loss and every metric are finite numbers.

    Why: one NaN/inf loss back-propagated once poisons the weights (and Adam's moments) for good.
    The trainer checks each micro-batch before `backward`; where any rank's check fails
    (`agentgym.distributed.all_ranks_true`), every rank back-propagates `zero_loss(batch)` instead, so
    the collectives stay aligned and the bad micro-batch contributes nothing.
    """
    return not nonfinite_keys(loss, metrics)


def zero_loss(batch: TokenBatch) -> Tensor:
    """0.0 on the same graph as `batch.logp`: the stand-in for a non-finite micro-batch loss.

    Its backward reaches the same parameters with zero gradient, so under DeepSpeed every rank still
    runs the same collectives, and the micro-batch adds nothing to the step.
    """
    m = batch.mask.bool()
    return torch.where(m, batch.logp, torch.zeros_like(batch.logp)).sum() * 0.0


def nonfinite_keys(loss: Tensor, metrics: dict[str, float] | None = None) -> list[str]:
    """Names of the non-finite values ('loss' and/or metric keys), for the log line of a skipped step."""
    bad = [] if bool(torch.isfinite(loss.detach()).all()) else ["loss"]
    for k, v in (metrics or {}).items():
        if not math.isfinite(float(v)):
            bad.append(k)
    return bad


@dataclass(frozen=True)
class BackendConfig:
    """Base of the typed configs; subclasses hold the paper's defaults as field defaults."""

    def replace(self, **overrides: Any) -> BackendConfig:
        """A copy with some fields changed; an unknown field is a user error naming the valid ones.

        String values (from a command line) are converted to the field's type: "0.5", "3", "true".
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise AgentGymError(
                f"unknown option(s) {', '.join(unknown)} for {type(self).__name__}; "
                f"valid: {', '.join(sorted(fields))}"
            )
        typed = {k: _coerce(k, v, type(getattr(self, k))) for k, v in overrides.items()}
        return dataclasses.replace(self, **typed)


def _coerce(name: str, value: Any, kind: type) -> Any:
    """A command-line string as the field's type (bool/int/float/str); other values pass through."""
    if not isinstance(value, str) or kind is str:
        return value
    try:
        if kind is bool:
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise AgentGymError(f"option {name}={value!r} is not a valid {kind.__name__}") from None


class Backend:
    """A training objective: a name, what it needs from the trainer, advantages and a loss.

    Declared needs, read by the trainer before it scores a batch:
      needs_teacher:        fill `TokenBatch.teacher_logp` (a teacher pass with the skills, no grad);
      needs_ref:            fill `TokenBatch.ref_logp` (reference-policy pass, no grad);
      needs_entropy:        fill `TokenBatch.entropy` (per-token entropy with grad);
      student_sees_skills:  put the skills into the student's own training prompts.
    """

    name: ClassVar[str] = "base"
    config_cls: ClassVar[type[BackendConfig]] = BackendConfig
    student_sees_skills: ClassVar[bool] = False

    def __init__(self, config: BackendConfig | None = None, **overrides: Any) -> None:
        cfg = config if config is not None else self.config_cls()
        if not isinstance(cfg, self.config_cls):
            raise TypeError(f"{type(self).__name__} takes a {self.config_cls.__name__}, got {type(cfg).__name__}")
        self.config = cfg.replace(**overrides) if overrides else cfg

    @property
    def needs_teacher(self) -> bool:
        return False

    @property
    def needs_ref(self) -> bool:
        return False

    @property
    def needs_entropy(self) -> bool:
        return False

    @property
    def needs_skills(self) -> bool:
        """Whether the trainer must build a skill store (and so find the env a skill library): the
        teacher's c+ or the student's own prompts use skills."""
        return self.needs_teacher or self.student_sees_skills

    def advantages(self, rewards: Any, action_valid: Any, group_ids: Any) -> Tensor:
        """Per-turn-sample advantages [N] from episode rewards, action validity and group ids."""
        raise NotImplementedError

    def loss(self, batch: TokenBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        """Scalar loss (with grad through batch.logp / batch.entropy) and float metrics."""
        raise NotImplementedError

    def check_batch(self, batch: TokenBatch) -> None:
        """Fail early, with the missing field's name, when the trainer did not fill a declared need."""
        for flag, field in (
            (self.needs_teacher, "teacher_logp"),
            (self.needs_ref, "ref_logp"),
            (self.needs_entropy, "entropy"),
        ):
            if flag and getattr(batch, field) is None:
                raise ValueError(f"backend {self.name!r} needs TokenBatch.{field}, which is None")

    def describe(self) -> str:
        """One line for logs: name, needs and the config."""
        needs = [n for n in ("teacher", "ref", "entropy") if getattr(self, f"needs_{n}")]
        skills = ", student sees skills" if self.student_sees_skills else ""
        return f"{self.name} (needs: {', '.join(needs) or 'nothing'}{skills}) {self.config}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

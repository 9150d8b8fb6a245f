"""RLSD: no extra loss; the teacher reshapes the GRPO advantage per token (docs/method.md, section 5).

    Delta_t = sg[logp_T(y_t) - logp_theta(y_t)]
    A_t     = A * ( (1 - lam) + lam * clip( exp(sign(A) * Delta_t), 0.8, 1.2 ) )
    lam     = 0.5 * max(0, 1 - step / 100)            (decayed linearly to 0 over 100 steps)

then the GRPO loss (grpo.py) with A_t in place of A: tokens the teacher endorses get up to 20% more
credit in successful turns (A > 0) and, through sign(A), up to 20% less blame in failed ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import TokenBatch, stat_mean
from .grpo import GRPO, GRPOConfig, grpo_objective


@dataclass(frozen=True)
class RLSDConfig(GRPOConfig):
    lam: float = 0.5  # initial mixing weight of the teacher factor
    lam_decay_steps: int = 100  # lam reaches 0 after this many steps (linear)
    weight_min: float = 0.8  # clip range of exp(sign(A) * Delta)
    weight_max: float = 1.2


def rlsd_lambda(step: int, lam0: float = 0.5, decay_steps: int = 100) -> float:
    """lam(step) = lam0 * max(0, 1 - step / decay_steps)."""
    if decay_steps <= 0:
        return 0.0
    return lam0 * max(0.0, 1.0 - step / decay_steps)


def rlsd_token_advantages(
    adv: Tensor, delta: Tensor, lam: float, weight_min: float = 0.8, weight_max: float = 1.2
) -> Tensor:
    """A_t = A * ((1 - lam) + lam * clip(exp(sign(A) * Delta_t), min, max)); adv [N, T], delta [N, T]."""
    w = torch.exp(torch.sign(adv) * delta.detach()).clamp(weight_min, weight_max)
    return adv * ((1.0 - lam) + lam * w)


class RLSD(GRPO):
    """GRPO with teacher-reweighted token advantages."""

    name = "rlsd"
    config_cls = RLSDConfig
    config: RLSDConfig

    @property
    def needs_teacher(self) -> bool:
        return True

    def loss(self, batch: TokenBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        self.check_batch(batch)
        assert batch.teacher_logp is not None
        cfg = self.config
        lam = rlsd_lambda(step, cfg.lam, cfg.lam_decay_steps)
        delta = (batch.teacher_logp - batch.logp).detach()
        adv_t = rlsd_token_advantages(batch.token_advantages(), delta, lam, cfg.weight_min, cfg.weight_max)
        loss, metrics = grpo_objective(batch, cfg, adv_t=adv_t)
        metrics.update(
            rlsd_lambda=lam,
            gap_mean=stat_mean(delta, batch.mask),
            gap_neg_frac=stat_mean((delta < 0).float(), batch.mask),
            loss=batch.plain_mean(loss),
        )
        return loss, metrics

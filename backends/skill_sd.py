"""Skill-SD: GRPO + a k3 distillation penalty toward the skill-conditioned teacher (docs/method.md, section 5).

    l_t  = logp_theta(y_t) - sg[logp_T(y_t)]
    k3_t = exp(-l_t) - 1 + l_t                               (>= 0, = 0 where student and teacher agree)
    L    = L_GRPO + 0.001 * token-mean( sg[rho_t] * k3_t ),   rho_t = exp(logp_theta - logp_old)

Our reading: rho_t is an importance weight (detached, as the log-ratio clamp of grpo.py); the gradient
flows through k3 only: dk3/dlogp_theta = 1 - exp(-l_t), which pulls logp_theta toward logp_T from both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import TokenBatch, stat_mean
from .grpo import GRPO, LOG_RATIO_CLAMP, GRPOConfig, grpo_objective


@dataclass(frozen=True)
class SkillSDConfig(GRPOConfig):
    sd_coef: float = 0.001  # weight of the k3 distillation term


def k3_to_teacher(logp: Tensor, teacher_logp: Tensor) -> Tensor:
    """k3_t = exp(-l) - 1 + l, l = logp_theta - sg[logp_T] (l clamped to +-20 so exp stays finite)."""
    l = (logp - teacher_logp.detach()).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)  # noqa: E741
    return torch.exp(-l) - 1.0 + l


class SkillSD(GRPO):
    """GRPO plus a small ratio-weighted k3 pull toward the teacher."""

    name = "skill_sd"
    config_cls = SkillSDConfig
    config: SkillSDConfig

    @property
    def needs_teacher(self) -> bool:
        return True

    def loss(self, batch: TokenBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        self.check_batch(batch)
        assert batch.teacher_logp is not None
        loss, metrics = grpo_objective(batch, self.config)
        rho = torch.exp((batch.logp - batch.old_logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)).detach()
        sd_t = rho * k3_to_teacher(batch.logp, batch.teacher_logp)
        loss = loss + self.config.sd_coef * batch.mean(sd_t)
        delta = (batch.teacher_logp - batch.logp).detach()
        metrics.update(
            sd_loss=stat_mean(sd_t, batch.mask),
            gap_mean=stat_mean(delta, batch.mask),
            gap_neg_frac=stat_mean((delta < 0).float(), batch.mask),
            loss=batch.plain_mean(loss),
        )
        return loss, metrics

"""SDAR: GRPO + a gated on-policy self-distillation term (docs/method.md, section 4).

Teacher = the same weights given the privileged skills c+, scoring the student's own sampled tokens:

    Delta_t = sg[logp_T(y_t) - logp_theta(y_t)]            teacher-student gap (detached)
    g_t     = sigmoid(beta * Delta_t)                       gap gate, beta = 5 (detached)
    L_SD    = token-mean( g_t * (sg[logp_T(y_t)] - logp_theta(y_t)) )
    L       = L_GRPO (pg + 0.01 KL - 0.001 H, grpo.py) + lambda * L_SD,      lambda = 0.01

The GRPO advantage is untouched. Gradient of the reference form: dL/dlogp_theta(y_t) = -lambda g_t / D,
gated self-imitation (always raises the sampled token, more where the teacher agrees).

Option `signed=True`, the sampled-token reverse-KL (on-policy distillation) form:

    L_SD,t  = g_t * sg[-Delta_t] * (1 + logp_theta - sg[logp_theta])
    value   = g_t * (logp_theta - logp_T)   (gated reverse-KL estimate),  gradient = -lambda g_t Delta_t / D

which also lowers tokens the teacher rejects (Delta < 0).

Other gates the paper studies. Their exact formulas were not available to us; THIS IS OUR READING:

    entropy gate  g_t = sigmoid(beta_h * (h_t - tau_h))     distil where the student is uncertain
    soft-OR       g_t = 1 - (1 - g_gap)(1 - g_ent)

with h_t the student's (detached) token entropy; beta_h = 5 and tau_h = 1 nat are our defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from agentgym.core.errors import AgentGymError

from .base import TokenBatch, stat_mean
from .grpo import GRPO, GRPOConfig, grpo_objective

GATES = ("gap", "entropy", "softor")


@dataclass(frozen=True)
class SDARConfig(GRPOConfig):
    """Paper defaults: lambda = 0.01, beta = 5, gap gate, reference gradient form."""

    sd_coef: float = 0.01  # lambda, weight of L_SD
    beta: float = 5.0  # gap-gate sharpness; 0 makes every gate 0.5 (GRPO+OPSD)
    gate: str = "gap"  # gap | entropy | softor
    signed: bool = False  # False: reference form g*(sg[logp_T] - logp); True: signed reverse-KL form
    entropy_beta: float = 5.0  # beta_h of the entropy gate (our choice)
    entropy_tau: float = 1.0  # tau_h of the entropy gate, nats (our choice)
    pg_coef: float = 1.0  # weight of the policy-gradient term; 0 = OPSD

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise AgentGymError(f"unknown gate {self.gate!r}; valid: {', '.join(GATES)}")


def gap_gate(delta: Tensor, beta: float) -> Tensor:
    """g = sigmoid(beta * Delta): above 0.5 exactly where the teacher likes the token more than the student."""
    return torch.sigmoid(beta * delta)


def entropy_gate(entropy: Tensor, beta_h: float, tau_h: float) -> Tensor:
    """g = sigmoid(beta_h * (h - tau_h)) (our reading): open where the student is uncertain."""
    return torch.sigmoid(beta_h * (entropy - tau_h))


def softor_gate(g_gap: Tensor, g_ent: Tensor) -> Tensor:
    """g = 1 - (1 - g_gap)(1 - g_ent) (our reading): open when either gate is."""
    return 1.0 - (1.0 - g_gap) * (1.0 - g_ent)


def sd_token_loss(logp: Tensor, teacher_logp: Tensor, gate: Tensor, signed: bool = False) -> Tensor:
    """Per-token L_SD: reference form g (sg[logp_T] - logp), or signed form g sg[-Delta] (1 + logp - sg[logp])."""
    gate, teacher_logp = gate.detach(), teacher_logp.detach()
    if not signed:
        return gate * (teacher_logp - logp)
    neg_delta = logp.detach() - teacher_logp  # = -Delta
    return gate * neg_delta * (1.0 + logp - logp.detach())


def make_gate(batch: TokenBatch, cfg: SDARConfig) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """(gate, Delta, parts): the configured gate over [N, T], the gap, and the component gates."""
    assert batch.teacher_logp is not None
    delta = (batch.teacher_logp - batch.logp).detach()
    parts: dict[str, Tensor] = {}
    if cfg.gate in ("gap", "softor"):
        parts["gate_gap"] = gap_gate(delta, cfg.beta)
    if cfg.gate in ("entropy", "softor"):
        assert batch.entropy is not None
        parts["gate_ent"] = entropy_gate(batch.entropy.detach(), cfg.entropy_beta, cfg.entropy_tau)
    if cfg.gate == "softor":
        gate = softor_gate(parts["gate_gap"], parts["gate_ent"])
    else:
        gate = next(iter(parts.values()))
    return gate, delta, parts


def sdar_objective(batch: TokenBatch, cfg: SDARConfig) -> tuple[Tensor, dict[str, float]]:
    """L = pg_coef * L_pg + kl_coef * KL - entropy_coef * H + lambda * L_SD."""
    loss, metrics = grpo_objective(batch, cfg, pg_coef=cfg.pg_coef)
    assert batch.teacher_logp is not None
    gate, delta, parts = make_gate(batch, cfg)
    sd_t = sd_token_loss(batch.logp, batch.teacher_logp, gate, cfg.signed)
    loss = loss + cfg.sd_coef * batch.mean(sd_t)
    mask = batch.mask
    metrics.update(
        sd_loss=stat_mean(sd_t, mask),
        gate_mean=stat_mean(gate, mask),
        gate_active_ratio=stat_mean((gate > 0.5).float(), mask),
        gap_mean=stat_mean(delta, mask),
        gap_neg_frac=stat_mean((delta < 0).float(), mask),
    )
    if cfg.gate == "softor":
        metrics.update({f"{k}_mean": stat_mean(v, mask) for k, v in parts.items()})
    return loss, metrics


class SDAR(GRPO):
    """GRPO + lambda * gated self-distillation toward the skill-conditioned teacher."""

    name = "sdar"
    config_cls = SDARConfig
    config: SDARConfig

    @property
    def needs_teacher(self) -> bool:
        return True

    @property
    def needs_entropy(self) -> bool:
        return self.config.entropy_coef > 0 or self.config.gate in ("entropy", "softor")

    def loss(self, batch: TokenBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        self.check_batch(batch)
        loss, metrics = sdar_objective(batch, self.config)
        metrics["loss"] = batch.plain_mean(loss)
        return loss, metrics


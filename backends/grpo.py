"""GRPO, the backbone of every backend here (docs/method.md, section 3).

Turn-sample reward and group-normalized advantage (group = the G rollouts of one task):

    r = R - c_inv * 1[action invalid]                       R: episode reward, c_inv = 0.1
    A = (r - mean_group(r)) / (std_group(r) + 1e-6)        over ALL turn-samples of the group's G episodes

A is broadcast to every response token of the turn. Dual-clip PPO surrogate, rho_t = exp(logp - logp_old):

    l_t = max(-A rho_t, -A clip(rho_t, 1 - 0.2, 1 + 0.2))
    l_t = min(l_t, -3.0 A)                                   only where A < 0 (dual clip)

k3 KL to the reference, d_t = logp_ref - logp:  kl_t = clamp(exp(d_t) - d_t - 1, -10, 10)

    L_GRPO = token-mean(l_t) + 0.01 * token-mean(kl_t) - 0.001 * token-mean(h_t)

token-mean is over the valid response tokens of the batch (see base.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .base import Backend, BackendConfig, TokenBatch, stat_mean

# exp() of a log-ratio beyond +-20 is numerically meaningless and can overflow (then 0 * inf = NaN in
# backward); both the PPO ratio and the k3 estimator clamp the log-ratio first.
LOG_RATIO_CLAMP = 20.0


@dataclass(frozen=True)
class GRPOConfig(BackendConfig):
    """Paper defaults (ALFWorld/WebShop). Search-QA: kl_coef=0.001, invalid_penalty=0.01."""

    clip_eps: float = 0.2  # PPO clip: rho in [1 - eps, 1 + eps]
    dual_clip: float = 3.0  # dual-clip bound c for A < 0: l_t <= -c A
    kl_coef: float = 0.01  # weight of the k3 KL to the reference policy
    kl_clamp: float = 10.0  # k3 values clamped to [-kl_clamp, kl_clamp]
    entropy_coef: float = 0.001  # entropy bonus
    invalid_penalty: float = 0.1  # c_inv: subtracted from the reward of a turn whose action was invalid
    adv_eps: float = 1e-6  # A = (r - mean) / (std + adv_eps)


def _as_tensor(x: Any, dtype: torch.dtype) -> Tensor:
    return x.detach().to(dtype).flatten() if isinstance(x, Tensor) else torch.as_tensor(list(x), dtype=dtype)


def group_advantages(
    rewards: Sequence[float] | Tensor,
    action_valid: Sequence[bool] | Tensor,
    group_ids: Sequence[Hashable] | Tensor,
    invalid_penalty: float = 0.1,
    eps: float = 1e-6,
) -> Tensor:
    """A[i] = (r_i - mean_g r) / (std_g r + eps), r_i = R_i - c_inv * 1[invalid_i], per group g.

    One entry per turn-sample; `rewards` holds the episode reward R of the sample's episode (repeated
    on every turn). std is the unbiased sample std (torch.std, as the reference implementation).
    A group with a single sample has no baseline: its advantage is 0.
    """
    r = _as_tensor(rewards, torch.float32)
    valid = _as_tensor(action_valid, torch.bool)
    gids = group_ids.tolist() if isinstance(group_ids, Tensor) else list(group_ids)
    if not (len(r) == len(valid) == len(gids)):
        raise ValueError(f"lengths differ: rewards {len(r)}, action_valid {len(valid)}, group_ids {len(gids)}")
    r = r - invalid_penalty * (~valid).float()
    index: dict[Hashable, int] = {}
    g = torch.tensor([index.setdefault(k, len(index)) for k in gids], dtype=torch.long)
    adv = torch.zeros_like(r)
    for j in range(len(index)):
        members = g == j
        rg = r[members]
        if rg.numel() > 1:
            adv[members] = (rg - rg.mean()) / (rg.std() + eps)
    return adv


def dual_clip_pg(
    logp: Tensor, old_logp: Tensor, adv: Tensor, clip_eps: float = 0.2, dual_clip: float = 3.0
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-token dual-clip PPO loss l_t [N, T] and the tensors its metrics come from."""
    ratio = torch.exp((logp - old_logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    l_clip = torch.maximum(unclipped, clipped)
    l_dual = torch.minimum(l_clip, -adv * dual_clip)
    loss_t = torch.where(adv < 0, l_dual, l_clip)
    info = {
        "ratio": ratio.detach(),
        "clipped": (clipped > unclipped).detach(),  # the clamped branch won: no gradient
        "dual_clipped": ((adv < 0) & (-adv * dual_clip < l_clip)).detach(),
    }
    return loss_t, info


def k3_kl(logp: Tensor, ref_logp: Tensor, clamp: float = 10.0) -> Tensor:
    """kl_t = clamp(exp(d) - d - 1, -clamp, clamp), d = ref_logp - logp (d itself clamped to +-20)."""
    d = (ref_logp - logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return (torch.exp(d) - d - 1.0).clamp(-clamp, clamp)


def grpo_objective(
    batch: TokenBatch, cfg: GRPOConfig, adv_t: Tensor | None = None, pg_coef: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    """L = pg_coef * token-mean(l_t) + kl_coef * token-mean(kl_t) - entropy_coef * token-mean(h_t).

    `adv_t` [N, T] replaces the batch's advantages (RLSD reshapes them per token); `pg_coef` = 0 drops
    the policy-gradient term (OPSD).
    """
    mask = batch.mask
    adv_t = batch.token_advantages() if adv_t is None else adv_t
    pg_t, pg_info = dual_clip_pg(batch.logp, batch.old_logp, adv_t.detach(), cfg.clip_eps, cfg.dual_clip)
    if batch.is_weight is not None:  # truncated importance sampling: engine-sampled tokens, trainer's policy
        pg_t = pg_t * batch.is_weight.detach()
    loss = batch.mean(pg_t) * pg_coef  # pg_coef = 0 keeps the graph, adds nothing
    m = mask.bool()
    ratio = pg_info["ratio"][m]
    metrics: dict[str, float] = {
        "pg_loss": stat_mean(pg_t, mask),
        "clip_frac": stat_mean(pg_info["clipped"].float(), mask),
        "dual_clip_frac": stat_mean(pg_info["dual_clipped"].float(), mask),
        "ratio_mean": float(ratio.mean()) if ratio.numel() else 1.0,
        "ratio_min": float(ratio.min()) if ratio.numel() else 1.0,
        "ratio_max": float(ratio.max()) if ratio.numel() else 1.0,
        "approx_kl_old": stat_mean(0.5 * (batch.logp.detach() - batch.old_logp) ** 2, mask),
        "adv_mean": stat_mean(adv_t, mask),
        "n_tokens": float(m.sum()),
    }
    if batch.ref_logp is not None:
        kl_t = k3_kl(batch.logp, batch.ref_logp, cfg.kl_clamp)
        if cfg.kl_coef:
            loss = loss + cfg.kl_coef * batch.mean(kl_t)
        metrics["kl"] = stat_mean(kl_t, mask)
    if batch.entropy is not None:
        if cfg.entropy_coef:
            loss = loss - cfg.entropy_coef * batch.mean(batch.entropy)
        metrics["entropy"] = stat_mean(batch.entropy, mask)
    return loss, metrics


class GRPO(Backend):
    """Group-normalized episode advantage, dual-clip PPO, k3 KL to the reference, entropy bonus."""

    name = "grpo"
    config_cls = GRPOConfig
    config: GRPOConfig

    @property
    def needs_ref(self) -> bool:
        return self.config.kl_coef > 0

    @property
    def needs_entropy(self) -> bool:
        return self.config.entropy_coef > 0

    def advantages(self, rewards: Any, action_valid: Any, group_ids: Any) -> Tensor:
        return group_advantages(rewards, action_valid, group_ids, self.config.invalid_penalty, self.config.adv_eps)

    def loss(self, batch: TokenBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        self.check_batch(batch)
        loss, metrics = grpo_objective(batch, self.config)
        metrics["loss"] = batch.plain_mean(loss)
        return loss, metrics

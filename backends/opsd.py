"""OPSD: pure on-policy self-distillation, no policy-gradient term (docs/method.md, section 5).

SDAR with the GRPO policy-gradient term switched off; KL to the reference and entropy bonus kept:

    L = 0.01 * token-mean(kl_t) - 0.001 * token-mean(h_t) + lambda * token-mean( g_t * (sg[logp_T] - logp_theta) )

with the SDAR gap gate g_t = sigmoid(5 * Delta_t). The paper reports that it collapses (no reward signal).
"""

from __future__ import annotations

from dataclasses import dataclass

from .sdar import SDAR, SDARConfig


@dataclass(frozen=True)
class OPSDConfig(SDARConfig):
    pg_coef: float = 0.0  # no policy-gradient term: rewards never reach the loss


class OPSD(SDAR):
    """SDAR without the RL term."""

    name = "opsd"
    config_cls = OPSDConfig

"""GRPO+OPSD: uniform, ungated self-distillation added to GRPO (docs/method.md, section 5).

The SDAR loss with beta = 0, so every gate is sigmoid(0) = 0.5:

    L = L_GRPO + lambda * token-mean( 0.5 * (sg[logp_T(y_t)] - logp_theta(y_t)) ),     lambda = 0.01
"""

from __future__ import annotations

from dataclasses import dataclass

from .sdar import SDAR, SDARConfig


@dataclass(frozen=True)
class GRPOOPSDConfig(SDARConfig):
    beta: float = 0.0  # g = sigmoid(0 * Delta) = 0.5 on every token


class GRPOOPSD(SDAR):
    """SDAR with the gate flattened to 0.5: distil every token alike."""

    name = "grpo_opsd"
    config_cls = GRPOOPSDConfig

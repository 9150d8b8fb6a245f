"""Issue 18: PPO epochs and mini-batches, truncated importance sampling, and the loss aggregations.

The aggregations are checked against hand computations; the update options through real training
steps of a tiny policy on ALFWorld (small)."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from agentgym.backends.base import TokenBatch
from agentgym.backends.grpo import GRPO
from agentgym.core.recipe import ModelSize
from agentgym.trainer.config import load_config
from agentgym.trainer.loop import Trainer, tis_weights

ENV = "agentgym/ALFWorld-Small-v0"
TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)
COMMON = dict(env=ENV, backend="grpo", tasks_per_step=2, group_size=4, eval_episodes=0, max_new_tokens=24,
              env_kwargs={"max_steps": 4}, warmup_steps=0, lr=1e-2, steps=1, tensorboard=False)

# two turn-samples: 3 tokens and 1 token
X = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def _batch(x: torch.Tensor = X, mask: torch.Tensor = MASK, **kw) -> TokenBatch:
    return TokenBatch(logp=x, old_logp=x, mask=mask, advantages=torch.zeros(x.shape[0]), **kw)


@pytest.mark.parametrize(("agg", "want"), [
    ("token-mean", (1 + 2 + 3 + 10) / 4),  # every token weighs the same
    ("seq-mean-token-mean", ((1 + 2 + 3) / 3 + 10 / 1) / 2),  # every turn weighs the same
    ("seq-mean-token-sum", ((1 + 2 + 3) + 10) / 2),  # token sums, averaged over turns
])
def test_each_aggregation_matches_its_hand_computation(agg, want):
    assert float(_batch(agg=agg).mean(X)) == pytest.approx(want)


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_micro_batches_with_the_batch_denominators_sum_to_the_whole_batch(agg):
    """The trainer splits a batch into micro-batches and sums their gradients: with the whole batch's
    denominators (`denom` tokens, `seq_denom` samples) the sum is the whole batch's aggregate."""
    whole = float(_batch(agg=agg).mean(X))
    parts = sum(float(_batch(X[i : i + 1], MASK[i : i + 1], agg=agg, denom=4.0, seq_denom=2.0).mean(X[i : i + 1]))
                for i in range(2))
    assert parts == pytest.approx(whole)


@pytest.mark.parametrize(("agg", "want"), [
    ("token-mean", -(3 * 1.0 + 1 * -1.0) / 4),
    ("seq-mean-token-mean", -(1.0 + -1.0) / 2),
    ("seq-mean-token-sum", -(3 * 1.0 + 1 * -1.0) / 2),
])
def test_the_grpo_loss_aggregates_as_asked(agg, want):
    """At ratio 1 the clipped surrogate is -A per token: A = +1 on the 3-token turn, -1 on the 1-token one."""
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    b = TokenBatch(logp=logp, old_logp=logp.detach(), mask=MASK, advantages=torch.tensor([1.0, -1.0]), agg=agg)
    loss, m = GRPO(kl_coef=0.0, entropy_coef=0.0).loss(b, 0)
    assert float(loss.detach()) == pytest.approx(want)
    assert m["loss"] == pytest.approx(want)  # one batch: the logged plain mean is the loss


def test_truncated_importance_weights_are_the_capped_ratio_to_the_engine():
    old = torch.tensor([[-1.0, -2.0, -0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    chunk = [SimpleNamespace(old_logprobs=[-1.5, -0.5])]  # engine: token 0 less likely, token 1 much more
    w = tis_weights(old, mask, chunk, cap=2.0)
    assert w[0, 0] == pytest.approx(math.exp(0.5))  # exp(-1 - -1.5)
    assert w[0, 1] == pytest.approx(math.exp(-1.5))  # below 1: not capped from below
    assert w[0, 2] == 1.0  # padding
    assert float(tis_weights(torch.tensor([[0.0]]), torch.ones(1, 1), [SimpleNamespace(old_logprobs=[-5.0])], 2.0)) == 2.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from agentgym.models.build import init_model_dir

    return init_model_dir(ENV, tmp_path_factory.mktemp("tiny") / "policy", vocab_size=400, size=TINY, demos=20)


def _step(tiny_model, tmp_path, **over) -> tuple[dict, dict[str, torch.Tensor]]:
    cfg = load_config(None, dict(COMMON, model=str(tiny_model), out_dir=str(tmp_path / "run"), **over))
    tr = Trainer(cfg)
    try:
        m = tr.step()
        return m, {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
    finally:
        tr.close()


def test_one_update_per_batch_keeps_the_ratio_at_one(tiny_model, tmp_path):
    m, _ = _step(tiny_model, tmp_path)
    assert m["ratio_min"] == m["ratio_max"] == 1.0 and m["clip_frac"] == 0.0
    assert "ppo_updates" not in m


def test_more_epochs_let_the_clip_act_and_change_the_update(tiny_model, tmp_path):
    one, w1 = _step(tiny_model, tmp_path / "a")
    m, w = _step(tiny_model, tmp_path / "b", ppo_epochs=3, ppo_mini_batches=2)
    assert m["ppo_updates"] == 6
    # later updates see weights the batch was not sampled from: the ratio leaves 1 and the clip acts
    assert m["ratio_max"] > 1.0 or m["ratio_min"] < 1.0
    assert m["clip_frac"] > 0.0
    assert any(not torch.equal(w1[k], w[k]) for k in w)
    assert m["samples"] == one["samples"]  # the same rollouts (same seed), trained on differently


def test_tis_weights_reach_the_loss_and_are_logged(tiny_model, tmp_path):
    m, _ = _step(tiny_model, tmp_path, tis_cap=2.0)
    assert 0.0 < m["tis_weight_mean"] <= 2.0 and 0.0 <= m["tis_capped_frac"] <= 1.0
    # the HF engine samples from the very weights the trainer holds: the weights are ~1 (bf16 noise)
    assert m["tis_weight_mean"] == pytest.approx(1.0, abs=0.05)


def test_seq_mean_aggregation_trains(tiny_model, tmp_path):
    m, _ = _step(tiny_model, tmp_path, loss_agg="seq-mean-token-sum")
    assert math.isfinite(m["loss"]) and m["skipped"] is False


@pytest.mark.parametrize(("opt", "msg"), [
    ("loss_agg=sum", "unknown loss_agg 'sum'; valid: token-mean, seq-mean-token-mean, seq-mean-token-sum"),
    ("ppo_epochs=0", "ppo_epochs must be >= 1"),
    ("ppo_epochs=5", "20 updates per rollout batch; past 16 the batch is too stale"),
    ("tis_cap=0.5", "tis_cap must be 0 (off) or >= 1"),
])
def test_bad_update_options_are_one_clear_line(opt, msg):
    extra = ["--set", "ppo_mini_batches=4"] if opt == "ppo_epochs=5" else []
    r = subprocess.run([sys.executable, "-m", "agentgym", "train", "--env", "alfworld", "--steps", "1", "--set", opt,
                        *extra], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert msg in r.stderr and "Traceback" not in r.stderr

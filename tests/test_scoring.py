"""The trainer's response log-probabilities: the head-only-at-responses path equals a plain forward."""

from __future__ import annotations

import pytest
import torch
from fakes.tiny import build_tiny

from agentgym.trainer.scoring import response_logprobs


class NoDecoder(torch.nn.Module):
    """A causal LM that exposes only `forward(...).logits` (the fallback path)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from agentgym.models.load import load_policy

    m, _ = load_policy(build_tiny(tmp_path_factory.mktemp("tiny")), dtype=torch.float32)
    return m.eval()


@torch.no_grad()
def reference(model, prompt, response):
    """log p(response token j | prompt, response[:j]) from one unpadded forward of one sample."""
    ids = torch.tensor([list(prompt) + list(response)])
    logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return [float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(response)]


def test_ragged_batch_matches_one_sample_forwards_and_the_full_logits_path(model):
    g = torch.Generator().manual_seed(0)
    V = model.config.vocab_size
    prompts = [torch.randint(3, V, (n,), generator=g).tolist() for n in (5, 17, 9)]
    responses = [torch.randint(3, V, (n,), generator=g).tolist() for n in (4, 1, 7)]
    with torch.no_grad():
        logp, ent, mask = response_logprobs(model, prompts, responses, with_entropy=True)
        logp_full, ent_full, _ = response_logprobs(NoDecoder(model), prompts, responses, with_entropy=True)
    assert mask.sum(-1).tolist() == [4.0, 1.0, 7.0]
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        assert logp[i, : len(r)].tolist() == pytest.approx(reference(model, p, r), abs=1e-5)
        assert float(logp[i, len(r):].abs().sum()) == 0.0  # padding is masked out
    assert torch.allclose(logp, logp_full, atol=1e-5) and torch.allclose(ent, ent_full, atol=1e-5)


def test_gradients_flow_to_the_weights(model):
    logp, _, mask = response_logprobs(model, [[5, 6, 7]], [[8, 9]])
    (logp * mask).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    model.zero_grad(set_to_none=True)

"""The trainer's response log-probabilities: the head-only-at-responses path equals a plain forward."""

from __future__ import annotations

import pytest
import torch
from fakes.tiny import build_tiny

from agentgym.models.scoring import response_logprobs


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


def _grouped_batch(model, seed: int = 1):
    """Two tasks x three rollouts (shared prompts, ragged responses, one of length 1) plus one sample of
    its own: the shape of a turn-0 GRPO batch."""
    g = torch.Generator().manual_seed(seed)
    V = model.config.vocab_size
    a, b, c = (torch.randint(3, V, (n,), generator=g).tolist() for n in (21, 13, 8))
    prompts = [a, a, a, b, b, b, c]
    responses = [torch.randint(3, V, (n,), generator=g).tolist() for n in (6, 1, 9, 4, 4, 7, 5)]
    return prompts, responses


@pytest.mark.parametrize("bf16", [False, True])
def test_shared_prompt_pass_equals_the_per_sample_forward_in_values_and_gradients(model, bf16):
    """Each distinct prompt run once (its KV cache repeated per sample) gives the log-probs, entropies and
    weight gradients of the plain per-sample forward: to 1e-5 in float32, to bf16 rounding with autocast."""
    from agentgym.models.scoring import shared_prompts

    prompts, responses = _grouped_batch(model)
    assert shared_prompts(prompts) == [0, 0, 0, 1, 1, 1, 2]
    model.train()
    out = {}
    for share in (False, True):
        model.zero_grad(set_to_none=True)
        logp, ent, mask = response_logprobs(model, prompts, responses, with_entropy=True, bf16=bf16, share_prompts=share)
        ((logp * mask).sum() + 0.1 * (ent * mask).sum()).backward()
        out[share] = (logp.detach(), ent.detach(), mask, {n: p.grad.clone() for n, p in model.named_parameters()})
    model.eval()
    model.zero_grad(set_to_none=True)
    tol = 2e-2 if bf16 else 1e-5
    assert torch.equal(out[True][2], out[False][2])
    assert torch.allclose(out[True][0], out[False][0], atol=tol) and torch.allclose(out[True][1], out[False][1], atol=tol)
    for name, g_plain in out[False][3].items():
        g_shared = out[True][3][name]
        assert torch.allclose(g_shared, g_plain, atol=tol * max(1.0, float(g_plain.abs().max())), rtol=tol), name
    if not bf16:  # and the plain values are the one-sample forwards
        for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
            assert out[True][0][i, : len(r)].tolist() == pytest.approx(reference(model, p, r), abs=1e-5)


def test_prompts_are_shared_only_when_it_saves_work():
    from agentgym.models.scoring import shared_prompts

    assert shared_prompts([[1, 2], [3, 4], [5, 6]]) is None  # all distinct
    assert shared_prompts([[1] * 10, [1] * 10, [2] * 30]) is None  # distinct tokens 40 of 50 > 75%
    assert shared_prompts([[1] * 10] * 4) == [0, 0, 0, 0]

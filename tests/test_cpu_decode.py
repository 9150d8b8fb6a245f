"""The HF engine's CPU decode path: one-query attention and a preallocated KV cache, both exact."""

from __future__ import annotations

import pytest
import torch
from fakes.tiny import build_tiny, sample_prompts
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from agentgym.engines import cpu_decode
from agentgym.engines.base import SamplingParams
from agentgym.engines.hf import HFEngine


class _Attn(torch.nn.Module):
    num_key_value_groups = 2
    is_causal = True


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("mask_kind", ["none", "bool", "float"])
def test_one_query_attention_equals_sdpa(dtype, tol, mask_kind):
    g = torch.Generator().manual_seed(0)
    b, kv, heads, length, d = 5, 2, 4, 37, 16
    q = torch.randn(b, heads, 1, d, generator=g).to(dtype)
    k = torch.randn(b, kv, length, d, generator=g).to(dtype)
    v = torch.randn(b, kv, length, d, generator=g).to(dtype)
    keep = torch.ones(b, 1, 1, length, dtype=torch.bool)
    keep[0, ..., :9] = False  # left padding of different lengths
    keep[3, ..., :20] = False
    mask = {"none": None, "bool": keep,
            "float": torch.zeros(b, 1, 1, length, dtype=dtype).masked_fill(~keep, torch.finfo(dtype).min)}[mask_kind]
    ref, _ = sdpa_attention_forward(_Attn(), q, k, v, mask, scaling=d**-0.5)
    out, _ = cpu_decode._decode_attention(_Attn(), q, k, v, mask, scaling=d**-0.5)
    assert out.shape == ref.shape == (b, 1, heads, d) and out.dtype == dtype
    assert (out.float() - ref.float()).abs().max().item() < tol
    # a float32 cache under a bf16 model: the output keeps the query's dtype
    out32, _ = cpu_decode._decode_attention(_Attn(), q, k.float(), v.float(), mask, scaling=d**-0.5)
    assert out32.dtype == dtype and (out32.float() - ref.float()).abs().max().item() < tol


def test_preallocated_layer_matches_a_growing_cache():
    g = torch.Generator().manual_seed(1)
    k0, v0 = torch.randn(3, 2, 5, 4, generator=g), torch.randn(3, 2, 5, 4, generator=g)
    ref = DynamicLayer()
    ref.update(k0, v0)
    pre = cpu_decode.PreallocatedLayer(k0, v0, extra=2)
    for n_new in (1, 1, 1, 3):  # past the spare room twice: the buffer grows
        k, v = torch.randn(3, 2, n_new, 4, generator=g), torch.randn(3, 2, n_new, 4, generator=g)
        rk, rv = ref.update(k, v)
        pk, pv = pre.update(k, v)
        assert torch.equal(rk, pk) and torch.equal(rv, pv)
        assert pre.get_seq_length() == ref.get_seq_length()
    keep = torch.tensor([2, 0])
    ref.batch_select_indices(keep)
    pre.batch_select_indices(keep)
    k, v = torch.randn(2, 2, 1, 4, generator=g), torch.randn(2, 2, 1, 4, generator=g)
    assert all(torch.equal(a, b) for a, b in zip(ref.update(k, v), pre.update(k, v), strict=True))
    pre.crop(-4)
    assert pre.get_seq_length() == ref.get_seq_length() - 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("dec") / "m", seed=5)


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-5), ("bfloat16", 0.1)])
def test_fast_and_plain_engines_agree(model_dir, dtype, tol):
    fast = HFEngine(model_dir, dtype=dtype, fast_decode=True)
    plain = HFEngine(model_dir, dtype=dtype, fast_decode=False)
    assert fast.fast_decode and fast.model.config._attn_implementation == cpu_decode.DECODE_ATTENTION
    assert not plain.fast_decode and plain.model.config._attn_implementation == "sdpa"
    prompts = sample_prompts(fast.tokenizer)
    prompts = prompts + [p[: len(p) // 2] for p in prompts]  # eight lengths: padding and rows leaving early
    sp = SamplingParams(temperature=0, max_new_tokens=24)
    a, b = fast.generate(prompts, sp), plain.generate(prompts, sp)
    if dtype == "float32":
        assert [g.token_ids for g in a] == [g.token_ids for g in b]
    for x, y in zip(a, b, strict=True):
        n = next((i for i, (s, t) in enumerate(zip(x.token_ids, y.token_ids, strict=False)) if s != t), len(x.token_ids))
        assert x.logprobs[:n] == pytest.approx(y.logprobs[:n], abs=tol)  # equal up to where bf16 ties diverge


def test_switched_model_trains_like_sdpa(model_dir):
    """The switch is model-wide (an in-process engine shares the trainer's module): full-sequence forwards and
    their gradients go through SDPA unchanged."""
    from agentgym.models.load import load_policy

    m_fast, tok = load_policy(model_dir)
    m_ref, _ = load_policy(model_dir)
    assert cpu_decode.use_decode_attention(m_fast)
    ids = torch.tensor([sample_prompts(tok)[0]])
    for m in (m_fast, m_ref):
        m.zero_grad()
        m(ids, labels=ids).loss.backward()
    for (n, p), (_, r) in zip(m_fast.named_parameters(), m_ref.named_parameters(), strict=True):
        assert torch.allclose(p.grad, r.grad, atol=1e-6), n


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-5), ("bfloat16", 0.1)])
def test_lean_decode_step_matches_the_models_own_step(model_dir, dtype, tol):
    """The lean Qwen2 step (fused weights, no module dispatch) against the model's own decode step: same
    greedy tokens in float32 and the same log-probs (to bf16 rounding in bfloat16), with padding and rows
    leaving early; the returned log-probs still equal a separate forward pass."""
    lean = HFEngine(model_dir, dtype=dtype)
    own = HFEngine(model_dir, dtype=dtype, lean_decode=False)
    prompts = sample_prompts(lean.tokenizer)
    prompts = prompts + [p[: len(p) // 2] for p in prompts]
    sp = SamplingParams(temperature=0, max_new_tokens=24)
    a, b = lean.generate(prompts, sp), own.generate(prompts, sp)
    assert lean._lean_step is not None and own._lean_step is None  # the lean path did run
    if dtype == "float32":
        assert [g.token_ids for g in a] == [g.token_ids for g in b]
        with torch.no_grad():
            for p, g in zip(prompts, a, strict=True):
                logp = torch.log_softmax(lean.model(torch.tensor([p + g.token_ids])).logits[0].float(), -1)
                ref = [logp[len(p) - 1 + i, t].item() for i, t in enumerate(g.token_ids)]
                assert g.logprobs == pytest.approx(ref, abs=2e-5)
    for x, y in zip(a, b, strict=True):
        n = next((i for i, (s, t) in enumerate(zip(x.token_ids, y.token_ids, strict=False)) if s != t), len(x.token_ids))
        assert x.logprobs[:n] == pytest.approx(y.logprobs[:n], abs=tol)


def test_lean_decode_sees_in_place_weight_updates(model_dir):
    """An in-process trainer changes the shared module in place (an optimizer step, or `p.data.copy_`,
    which bumps no version counter): the next `generate` decodes with the new weights."""
    from agentgym.models.load import load_policy

    model, tok = load_policy(model_dir)
    eng = HFEngine(model, tokenizer=tok)
    prompt = sample_prompts(tok)[0]
    sp = SamplingParams(temperature=0, max_new_tokens=8)
    eng.generate([prompt], sp)
    assert eng._lean_step is not None
    for change in ("mul_", "data.copy_"):
        with torch.no_grad():
            for p in model.parameters():
                if change == "mul_":
                    p.mul_(1.5)
                else:
                    p.data.copy_(p.data * 0.8)
        g = eng.generate([prompt], sp)[0]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + g.token_ids])).logits[0].float(), -1)
        ref = [logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(g.token_ids)]
        assert g.logprobs == pytest.approx(ref, abs=2e-5), change


def test_lean_decode_refuses_what_it_does_not_compute():
    """`build` returns None (the model's own step runs) for biased MLPs, models past the size bound and
    dropout in train mode; a plain tiny Qwen2 qualifies."""
    from fakes.tiny import TINY

    from agentgym.engines import lean_decode
    from agentgym.models.build import init_model
    from agentgym.models.tokenizer import train_tokenizer

    tok = train_tokenizer(["a b c d e f g h"] * 20, vocab_size=300)
    model = init_model(tok, TINY).eval()
    assert lean_decode.LeanQwen2.build(model) is not None
    biased = init_model(tok, TINY).eval()
    biased.model.layers[0].mlp.up_proj.bias = torch.nn.Parameter(torch.zeros(TINY.intermediate_size))
    assert lean_decode.LeanQwen2.build(biased) is None
    drop = init_model(tok, TINY)
    drop.config.attention_dropout = 0.1
    assert lean_decode.LeanQwen2.build(drop.train()) is None and lean_decode.LeanQwen2.build(drop.eval()) is not None
    old = lean_decode.LEAN_MAX_PARAMS
    try:
        lean_decode.LEAN_MAX_PARAMS = 10
        assert lean_decode.LeanQwen2.build(model) is None
    finally:
        lean_decode.LEAN_MAX_PARAMS = old

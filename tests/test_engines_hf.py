"""The in-process HF engine: exact logprobs, stop strings, left padding, sampling, weight updates."""

from __future__ import annotations

import pytest
import torch
from fakes.tiny import build_tiny, sample_prompts

from agentgym.engines.base import Generation, SamplingParams, make_engine
from agentgym.engines.hf import HFEngine


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("hf") / "m", seed=3)


@pytest.fixture(scope="module")
def engine(model_dir):
    return HFEngine(model_dir, seed=0)


@pytest.fixture(scope="module")
def prompts(engine):
    return sample_prompts(engine.tokenizer)


def forward_logprobs(model, prompt: list[int], response: list[int]) -> list[float]:
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + response])).logits[0].float(), -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(response)]


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0), (1.5, 1.0)])
def test_logprobs_equal_a_separate_forward_pass(engine, prompts, temperature, top_p):
    gens = engine.generate(prompts, SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=12, seed=1))
    assert len(gens) == len(prompts)
    for p, g in zip(prompts, gens, strict=True):
        assert len(g.token_ids) == len(g.logprobs) >= 1
        ref = forward_logprobs(engine.model, p, g.token_ids)
        # raw-model logprobs at temperature 1 regardless of the sampling temperature (the trainer's view)
        assert g.logprobs == pytest.approx(ref, abs=2e-5)


@pytest.mark.parametrize("prefill_tokens", [8192, 60])  # one prompt pass, or length buckets merged
def test_left_padding_batched_equals_one_by_one(model_dir, prompts, prefill_tokens):
    engine = HFEngine(model_dir, prefill_tokens=prefill_tokens)
    many = prompts + [p[: len(p) // 2] + p[-3:] for p in prompts]  # eight different lengths
    for sp in (SamplingParams(temperature=0, max_new_tokens=16), SamplingParams(temperature=1.0, max_new_tokens=16)):
        batched = engine.generate(many, sp)
        for p, b in zip(many, batched, strict=True):
            single = engine.generate([p], sp)[0] if sp.greedy else None
            if single is not None:
                assert b.token_ids == single.token_ids
                assert b.logprobs == pytest.approx(single.logprobs, abs=2e-5)
                assert b.finish_reason == single.finish_reason
            assert b.logprobs == pytest.approx(forward_logprobs(engine.model, p, b.token_ids), abs=2e-5)


def test_stop_strings_end_the_response_including_the_tag(engine, prompts):
    sp = SamplingParams(temperature=1.0, max_new_tokens=16, seed=3)  # seeded: the same draws each call
    free = engine.generate([prompts[0]], sp)[0]
    assert free.finish_reason in ("length", "eos")
    tok = engine.tokenizer
    # a stop string that appears first at token k (single token, then spanning two tokens)
    for k in range(2, len(free.token_ids)):
        single = tok.decode([free.token_ids[k]])
        two = tok.decode(free.token_ids[k - 1: k + 1])
        before = tok.decode(free.token_ids[:k])
        if single.strip() and single not in before and two not in before:
            break
    else:
        pytest.fail("sampled output repeats itself; no unique stop string")
    for stop in (single, two):
        g = engine.generate([prompts[0]], SamplingParams(temperature=1.0, max_new_tokens=16, seed=3, stop=(stop,)))[0]
        assert g.finish_reason == "stop"
        assert g.token_ids == free.token_ids[: k + 1]
        assert g.text.endswith(stop) or stop in g.text


def test_eos_ends_the_response(engine, prompts):
    free = engine.generate([prompts[1]], SamplingParams(temperature=0, max_new_tokens=10))[0]
    saved = set(engine.eos_ids)
    try:
        engine.eos_ids = saved | {free.token_ids[2]}
        g = engine.generate([prompts[1]], SamplingParams(temperature=0, max_new_tokens=10))[0]
    finally:
        engine.eos_ids = saved
    first = free.token_ids.index(free.token_ids[2])
    assert g.finish_reason == "eos" and g.token_ids == free.token_ids[: first + 1]


def test_length_cap_and_mixed_finishing_rows(engine, prompts):
    """Rows that finish early leave the batch; the others continue unchanged."""
    sp = SamplingParams(temperature=0, max_new_tokens=9)
    solo = [engine.generate([p], sp)[0] for p in prompts]
    saved = set(engine.eos_ids)
    try:
        engine.eos_ids = saved | {solo[0].token_ids[1]}
        mixed = engine.generate(prompts, sp)
        alone = [engine.generate([p], sp)[0] for p in prompts]
    finally:
        engine.eos_ids = saved
    for m, a in zip(mixed, alone, strict=True):
        assert m.token_ids == a.token_ids and m.finish_reason == a.finish_reason
    assert len(mixed[0].token_ids) <= 2 and mixed[0].finish_reason == "eos"
    assert all(len(g.token_ids) <= 9 for g in mixed)


def test_identical_prompts_are_encoded_once_and_sampled_independently(engine, prompts):
    group = [prompts[0]] * 6 + [prompts[1]] * 2  # a GRPO turn 0: G copies of each task's prompt
    calls = []
    orig = engine._prefill
    engine._prefill = lambda ps, dev: calls.append(len(ps)) or orig(ps, dev)
    try:
        gens = engine.generate(group, SamplingParams(temperature=1.0, max_new_tokens=8, seed=2))
        greedy = engine.generate(group, SamplingParams(temperature=0, max_new_tokens=8))
    finally:
        engine._prefill = orig
    assert calls == [2, 2]
    assert len({tuple(g.token_ids) for g in gens[:6]}) > 1  # rows sample independently
    for p, g in zip(group, gens, strict=True):
        assert g.logprobs == pytest.approx(forward_logprobs(engine.model, p, g.token_ids), abs=2e-5)
    solo = engine.generate([prompts[0]], SamplingParams(temperature=0, max_new_tokens=8))[0]
    assert all(g.token_ids == solo.token_ids for g in greedy[:6])


def test_sampling_is_seeded_and_top_p_tiny_is_greedy(engine, prompts):
    a = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=10, seed=5))
    b = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=10, seed=5))
    c = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=10, seed=6))
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]
    greedy = engine.generate(prompts, SamplingParams(temperature=0, max_new_tokens=10))
    nucleus = engine.generate(prompts, SamplingParams(temperature=1.0, top_p=1e-6, max_new_tokens=10, seed=7))
    assert [g.token_ids for g in greedy] == [g.token_ids for g in nucleus]


def test_sampled_tokens_follow_the_tempered_distribution(engine, prompts):
    """First-token frequencies over many draws match softmax(logits / T) (a loose chi-square check)."""
    p = prompts[2]
    T = 2.0
    gens = engine.generate([p] * 400, SamplingParams(temperature=T, max_new_tokens=1, seed=11))
    with torch.no_grad():
        probs = torch.softmax(engine.model(torch.tensor([p])).logits[0, -1].float() / T, -1)
    top = probs.topk(3).indices.tolist()
    for t in top:
        freq = sum(g.token_ids[0] == t for g in gens) / len(gens)
        assert abs(freq - probs[t].item()) < 4 * (probs[t].item() * (1 - probs[t].item()) / len(gens)) ** 0.5 + 0.01


def test_weight_updates_change_outputs(model_dir, prompts):
    eng = HFEngine(model_dir)
    sp = SamplingParams(temperature=0, max_new_tokens=8)
    before = eng.generate(prompts, sp)
    sd = {k: v.clone() for k, v in eng.model.state_dict().items()}
    noisy = {k: v + 0.5 * torch.randn_like(v) for k, v in sd.items()}
    eng.update_weights(noisy)
    after = eng.generate(prompts, sp)
    assert [g.token_ids for g in after] != [g.token_ids for g in before]
    for p, g in zip(prompts, after, strict=True):  # logprobs follow the new weights
        assert g.logprobs == pytest.approx(forward_logprobs(eng.model, p, g.token_ids), abs=2e-5)
    eng.update_weights(model_dir)  # from a model directory: back to the original outputs exactly
    assert [g.token_ids for g in eng.generate(prompts, sp)] == [g.token_ids for g in before]
    with pytest.raises(ValueError):
        eng.update_weights({"nope": torch.zeros(1)})


def test_engine_shares_a_given_module(model_dir, prompts):
    from agentgym.models.load import load_policy

    model, tok = load_policy(model_dir)
    eng = make_engine("hf", model, tokenizer=tok)
    assert eng.model is model
    sp = SamplingParams(temperature=0, max_new_tokens=6)
    before = eng.generate(prompts[:1], sp)[0]
    with torch.no_grad():  # a trainer's in-place update reaches the engine without any sync
        for prm in model.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    eng.update_weights(model)  # a no-op for the engine's own module
    assert eng.generate(prompts[:1], sp)[0].token_ids != before.token_ids


def test_generation_and_sampling_params_validate():
    with pytest.raises(ValueError):
        Generation([1, 2], [0.0], "x", "stop")
    with pytest.raises(ValueError):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError):
        make_engine("vllm", "x")


def test_bf16_engine_runs_and_is_close(model_dir, prompts):
    from agentgym.models.load import load_policy

    fp32, tok = load_policy(model_dir)
    copy_eng = HFEngine(fp32, tok, dtype="bfloat16")
    assert copy_eng.model is not fp32 and next(fp32.parameters()).dtype == torch.float32  # caller's module untouched
    eng = HFEngine(model_dir, dtype="bfloat16")
    g = eng.generate(prompts[:2], SamplingParams(temperature=1.0, max_new_tokens=6, seed=0))
    assert all(len(x.token_ids) == len(x.logprobs) > 0 for x in g)
    ref = forward_logprobs(eng.model, prompts[0], g[0].token_ids)
    assert g[0].logprobs == pytest.approx(ref, abs=0.1)


def test_min_new_tokens_keeps_eos_and_stops_from_ending_early(engine, prompts):
    """Before `min_new_tokens`, EOS and single-token stops are masked out of sampling and no stop ends the
    response; the log-probs stay the raw model's. Made strict by declaring two of the free output's
    tokens EOS: without the floor the response ends at the first of them."""
    sp = SamplingParams(temperature=0, max_new_tokens=12)
    free = engine.generate([prompts[1]], sp)[0]
    saved = set(engine.eos_ids)
    try:
        engine.eos_ids = saved | {free.token_ids[1]}
        early = engine.generate([prompts[1]], sp)[0]
        floored = engine.generate([prompts[1]], SamplingParams(temperature=0, max_new_tokens=12, min_new_tokens=12))[0]
        sampled = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=12, min_new_tokens=12, seed=2))
    finally:
        engine.eos_ids = saved
    assert early.finish_reason == "eos" and len(early.token_ids) == free.token_ids.index(free.token_ids[1]) + 1
    assert len(floored.token_ids) == 12 and floored.finish_reason == "length"
    assert free.token_ids[1] not in floored.token_ids[:12]  # masked, never sampled before the floor
    assert floored.logprobs == pytest.approx(forward_logprobs(engine.model, prompts[1], floored.token_ids), abs=2e-5)
    assert all(len(g.token_ids) == 12 for g in sampled)


def test_min_new_tokens_must_fit_the_cap():
    with pytest.raises(ValueError, match="min_new_tokens"):
        SamplingParams(max_new_tokens=8, min_new_tokens=9)


def test_sample_rows_draws_from_the_given_weights():
    """The CDF sampler: frequencies match the weights (unnormalised, zeros included) within 5 binomial
    standard errors over 40k draws, a zero weight is never drawn, and a seeded generator repeats."""
    from agentgym.engines.hf import sample_rows

    w = torch.tensor([[0.0, 2.0, 1.0, 0.0, 5.0, 2.0], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_rows(w, g) for _ in range(40_000)])
    p = w[0] / w[0].sum()
    freq = torch.bincount(draws[:, 0], minlength=6).double() / len(draws)
    se = (p * (1 - p) / len(draws)).sqrt().double()
    assert torch.all((freq - p.double()).abs() <= 5 * se + 1e-12)
    assert freq[0] == 0 and freq[3] == 0 and torch.all(draws[:, 1] == 0)
    a = sample_rows(w, torch.Generator().manual_seed(7))
    b = sample_rows(w, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_sample_rows_refuses_a_row_without_weight():
    from agentgym.engines.hf import sample_rows

    g = torch.Generator().manual_seed(0)
    for bad in (torch.zeros(1, 4), torch.tensor([[0.5, float("nan"), 0.5, 0.0]])):
        with pytest.raises(ValueError, match="cannot sample"):
            sample_rows(bad, g)

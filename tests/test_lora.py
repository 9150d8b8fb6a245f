"""LoRA (through peft) and activation checkpointing in the trainer (issue 18).

Only the adapters train and reach the optimizer; the HF engine, a ZeRO-3-style generation copy and an
SGLang server all sample base + adapter; every policy that leaves the trainer is merged, a plain HF
folder that loads without peft; the reference is the base policy; a LoRA run killed with SIGKILL
resumes bit-identically; without peft, with bad options or on a model without checkpointing support
the answer is one line. Checkpointing recomputes the decoder layers and leaves the gradients as they
were. Tiny local models throughout (tests/fakes/tiny.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fakes.resume import learning_curve, run_killed_and_resumed
from fakes.sglang_server import FakeSGLangServer
from fakes.tiny import build_tiny, sample_prompts
from fakes.toy_env import register_toy
from safetensors.torch import load_file

from agentgym.cli import main
from agentgym.core.errors import AgentGymError
from agentgym.core.recipe import ModelSize
from agentgym.engines.base import SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.models.load import load_policy
from agentgym.models.lora import LoraSettings, add_lora, enable_gradient_checkpointing, has_lora
from agentgym.models.scoring import response_logprobs
from agentgym.trainer.config import load_config
from agentgym.trainer.loop import Trainer

GREEDY = SamplingParams(temperature=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("toy") / "m")


def _cfg(model: Path, out: Path, **kw):
    base = dict(env=register_toy(), backend="grpo", model=str(model), steps=1, tasks_per_step=2, group_size=2,
                eval_episodes=0, max_new_tokens=16, warmup_steps=1, lr=1e-2, tensorboard=False, out_dir=str(out),
                lora_rank=4)
    return load_config(None, {**base, **kw})


def _perturb(model: torch.nn.Module, seed: int = 0) -> None:
    """Large random adapter weights: base + adapter is then far from the base, beyond any float error."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def _logp(model, prompts, responses) -> torch.Tensor:
    with torch.no_grad():
        return response_logprobs(model, prompts, responses, bf16=False)[0]


def _gen(engine, prompts) -> tuple[list[list[int]], list[list[float]]]:
    out = engine.generate(prompts, GREEDY)
    return [g.token_ids for g in out], [g.logprobs for g in out]


def _engine_matches(model, prompts, ids, lps) -> bool:
    """The engine's log-probs of its greedy tokens are those of `model`'s own forward over them."""
    ref = _logp(model, prompts, ids)
    return all(torch.allclose(torch.tensor(lp), ref[i, : len(lp)], atol=1e-4) for i, lp in enumerate(lps))


def test_only_the_adapter_trains_and_the_hf_engine_samples_it(toy_model, tmp_path):
    tr = Trainer(_cfg(toy_model, tmp_path / "run"), log=lambda m: None)
    try:
        adapter = {n for n, _ in tr.model.named_parameters() if "lora_" in n}
        assert adapter and {n for n, p in tr.model.named_parameters() if p.requires_grad} == adapter
        in_optimizer = {id(p) for g in tr.learner.optimizer.param_groups for p in g["params"]}
        assert in_optimizer == {id(p) for n, p in tr.model.named_parameters() if n in adapter}
        # the reference (KL) is the base policy; the teacher pass and the engine use the trained module itself
        init = load_file(str(toy_model / "model.safetensors"))
        assert tr.ref_model is not None and not has_lora(tr.ref_model)
        assert all(torch.equal(v, init[k]) for k, v in tr.ref_model.state_dict().items() if k in init)
        assert tr.learner.model is tr.model and tr.engine.model is tr.model

        before = {k: v.clone() for k, v in tr.model.state_dict().items()}
        m = tr.step()
        assert m["skipped"] is False
        after = tr.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before if "lora_" not in k), "a base weight moved"
        assert any(not torch.equal(before[k], after[k]) for k in adapter), "the adapter did not train"

        prompts = sample_prompts(tr.tokenizer)
        ids, lps = _gen(tr.engine, prompts)
        assert _engine_matches(tr.model, prompts, ids, lps)
        _perturb(tr.model)  # what many steps would do; the shared module needs no sync, the call is a no-op
        tr._sync_engine()
        ids2, lps2 = _gen(tr.engine, prompts)
        assert _engine_matches(tr.model, prompts, ids2, lps2), "the engine did not sample base + adapter"
        assert (ids2, lps2) != (ids, lps)
        assert not torch.allclose(_logp(tr.ref_model, prompts, ids2), _logp(tr.model, prompts, ids2), atol=1e-2)
    finally:
        tr.close()


def test_every_policy_that_leaves_the_trainer_is_merged_and_loads_without_peft(toy_model, tmp_path, monkeypatch):
    tr = Trainer(_cfg(toy_model, tmp_path / "run"), log=lambda m: None)
    try:
        tr.step()
        _perturb(tr.model)
        tr.steps_done = 1
        policy = tr.save_checkpoint() / "policy"  # the last step's checkpoint is the run's final policy
        tr._save_policy(tmp_path / "sync")  # what an SGLang server is sent after every step
        prompts = sample_prompts(tr.tokenizer)
        ids, _ = _gen(tr.engine, prompts)
        trained = _logp(tr.model, prompts, ids)

        saved = load_file(str(policy / "model.safetensors"))
        assert not [k for k in saved if "lora_" in k or "base_layer" in k]
        init = load_file(str(toy_model / "model.safetensors"))  # (+ the tied head, as full fine-tuning saves it)
        assert set(init) <= set(saved) <= set(init) | {"lm_head.weight"}
        assert not (policy / "adapter_config.json").exists()
        synced = load_file(str(tmp_path / "sync" / "model.safetensors"))
        assert all(torch.equal(saved[k], synced[k]) for k in saved)

        monkeypatch.setitem(sys.modules, "peft", None)  # `agentgym eval --model DIR` without peft
        plain, _ = load_policy(policy)
        assert not has_lora(plain)
        assert torch.allclose(_logp(plain, prompts, ids), trained, atol=1e-5)

        # the ZeRO-3 path: a plain generation copy of the base, sent merged weights after every step
        copy_model, _ = load_policy(toy_model)
        tr.gen_model, tr.engine = copy_model, HFEngine(copy_model, tokenizer=tr.tokenizer)
        tr._sync_engine()
        assert torch.allclose(_logp(copy_model, prompts, ids), trained, atol=1e-5)
        assert _engine_matches(copy_model, prompts, *_gen(tr.engine, prompts))
    finally:
        tr.close()


def test_an_sglang_server_is_sent_the_merged_weights(toy_model, tmp_path):
    with FakeSGLangServer(str(toy_model)) as srv:
        tr = Trainer(_cfg(toy_model, tmp_path / "run", engine="sglang", sglang_url=srv.url), log=lambda m: None)
        try:
            _perturb(tr.model)
            tr._sync_engine()
            prompts = sample_prompts(tr.tokenizer)
            ids, lps = _gen(tr.engine, prompts)
            assert ids == _gen(HFEngine(tr.model, tokenizer=tr.tokenizer), prompts)[0]
            assert _engine_matches(tr.model, prompts, ids, lps)
        finally:
            tr.close()


def test_a_resumed_lora_trainer_holds_the_adapter_and_refuses_other_lora_options(toy_model, tmp_path):
    run = tmp_path / "run"
    tr = Trainer(_cfg(toy_model, run), log=lambda m: None)
    tr.step()
    tr.steps_done = 1
    ckpt = tr.save_checkpoint()
    adapter = {n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad}
    moments = [s["exp_avg"].clone() for s in tr.learner.optimizer.state.values()]
    tr.close()
    assert load_file(str(ckpt / "adapter.safetensors")).keys() == adapter.keys()

    tr = Trainer(_cfg(toy_model, run), log=lambda m: None)
    assert tr.resume() and tr.steps_done == 1
    assert all(torch.equal(p, adapter[n]) for n, p in tr.model.named_parameters() if p.requires_grad)
    assert all(torch.equal(a, s["exp_avg"]) for a, s in zip(moments, tr.learner.optimizer.state.values(), strict=True))
    tr.close()
    for options, message in (({"lora_rank": 0}, "is a LoRA run; resume it with --set lora_rank=4"),
                             ({"lora_rank": 8}, "is a LoRA run"), ({"lora_alpha": 32.0}, "--set lora_alpha=16.0"),
                             ({"lora_target_modules": "q_proj"}, "--set lora_target_modules=all-linear")):
        tr = Trainer(_cfg(toy_model, run, **options), log=lambda m: None)
        with pytest.raises(AgentGymError, match=message):
            tr.resume()
        tr.close()
    assert (run / "checkpoints" / "step_000001").is_dir(), "a refusal is not a torn checkpoint"
    full = tmp_path / "full"
    tr = Trainer(_cfg(toy_model, full, lora_rank=0), log=lambda m: None)
    tr.steps_done = 1
    tr.save_checkpoint()
    tr.close()
    tr = Trainer(_cfg(toy_model, full), log=lambda m: None)
    with pytest.raises(AgentGymError, match="is a full fine-tuning run; resume it with lora_rank=0"):
        tr.resume()
    tr.close()


# ---- a killed LoRA run resumes bit-identically (the LoRA twin of test_trainer's kill -9 test) ----------
ENV = "agentgym/ALFWorld-Small-v0"
TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)


@pytest.fixture(scope="module")
def alf_model(tmp_path_factory) -> Path:
    from agentgym.models.build import init_model_dir

    return init_model_dir(ENV, tmp_path_factory.mktemp("tiny") / "policy", vocab_size=400, size=TINY, demos=20)


def _train_cmd(model: Path, out: Path, *extra: str) -> list[str]:
    """LoRA with dropout and activation checkpointing: the recompute must replay the dropout masks."""
    return [sys.executable, "-m", "agentgym", "train", "--env", ENV, "--backend", "sdar", "--model", str(model),
            "--steps", "4", "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "0", "--lr", "1e-2",
            "--env-opt", "max_steps=4", "--set", "max_new_tokens=24", "--set", "checkpoint_every=1",
            "--set", "warmup_steps=1", "--set", "tensorboard=false", "--set", "lora_rank=8",
            "--set", "lora_dropout=0.1", "--set", "gradient_checkpointing=true", "--out", str(out), *extra]


@pytest.mark.slow  # ~50 s: the full fine-tuning kill -9 test stays in the default suite
def test_a_killed_lora_run_resumes_bit_identically(alf_model, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    full = subprocess.run(_train_cmd(alf_model, a), capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    run_killed_and_resumed(lambda *extra: _train_cmd(alf_model, b, *extra), b)
    last = Path("checkpoints") / "step_000004"
    for name in ("adapter.safetensors", "policy/model.safetensors"):
        wa, wb = load_file(str(a / last / name)), load_file(str(b / last / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), f"{name}: resumed run ended elsewhere"
    init, merged = load_file(str(alf_model / "model.safetensors")), load_file(str(a / last / "policy/model.safetensors"))
    assert set(init) <= set(merged) and any(not torch.equal(init[k], merged[k]) for k in init), "nothing trained"
    assert learning_curve(a) == learning_curve(b)


@pytest.mark.slow
def test_a_zero3_lora_run_saves_merged_weights(alf_model, tmp_path):
    """DeepSpeed ZeRO-3 (one process): the adapters are partitioned like every parameter, so the merge
    runs on the gathered module; the generation copy is sent the merged weights after every step."""
    out = tmp_path / "ds"
    cmd = _train_cmd(alf_model, out, "--deepspeed", "--zero-stage", "3")
    cmd[cmd.index("--steps") + 1] = "2"
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    last = out / "checkpoints" / "step_000002"
    merged, adapter = load_file(str(last / "policy" / "model.safetensors")), load_file(str(last / "adapter.safetensors"))
    init = load_file(str(alf_model / "model.safetensors"))
    layers = sorted({k.split(".lora_")[0] for k in adapter})
    assert layers and set(init) <= set(merged) and not [k for k in merged if "lora_" in k or "base_layer" in k]
    for name in layers:  # W + (alpha / r) B A, with the run's lora_alpha 16 and rank 8
        delta = adapter[f"{name}.lora_B.default.weight"] @ adapter[f"{name}.lora_A.default.weight"] * (16 / 8)
        assert delta.abs().max() > 0 and torch.allclose(merged[f"{name}.weight"], init[f"{name}.weight"] + delta, atol=1e-6)
    gaps = [json.loads(x)["engine_logp_gap"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(gaps) == 2 and max(gaps) < 0.05  # the copy samples what the trainer scores


# ---- activation checkpointing -------------------------------------------------------------------------
def _backward(model_dir: Path, *, lora: bool, ckpt: bool) -> tuple[dict[str, torch.Tensor], int, int]:
    """(gradients, MLP calls, activation bytes kept for backward) of one fp32 forward + backward through
    the trainer's scoring path."""
    model, tok = load_policy(model_dir)
    if lora:
        add_lora(model, LoraSettings(4, dropout=0.1))
        _perturb(model)  # B = 0 at init would leave A without gradient
    if ckpt:
        enable_gradient_checkpointing(model)
    calls, kept = [0], [0]
    # a pre-hook: the recompute stops as soon as backward has what it needs, before the MLP returns
    model.model.layers[0].mlp.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept[0] += t.numel() * t.element_size()
        return t

    model.train()
    prompts = sample_prompts(tok)
    torch.manual_seed(0)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logp, _, mask = response_logprobs(model, prompts, [p[-6:] for p in prompts], bf16=False)
    (logp.sum() / mask.sum()).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}, calls[0], kept[0]


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_gradient_checkpointing_recomputes_the_layers_and_keeps_the_gradients(toy_model, lora):
    """Through the trainer's own forward (`response_logprobs`, which calls the decoder body directly):
    with checkpointing the forward keeps a fraction of the activations and the layer runs again in
    backward, and the fp32 gradients are those without it (LoRA with dropout: the recompute replays
    the same dropout masks)."""
    plain, plain_calls, plain_kept = _backward(toy_model, lora=lora, ckpt=False)
    ckpt, ckpt_calls, ckpt_kept = _backward(toy_model, lora=lora, ckpt=True)
    assert (plain_calls, ckpt_calls) == (1, 2), "checkpointing did not act on the scoring path"
    assert ckpt_kept < 0.5 * plain_kept, (ckpt_kept, plain_kept)
    assert plain.keys() == ckpt.keys() and all("lora_" in n for n in ckpt) == lora
    for n, g in plain.items():
        assert torch.allclose(g, ckpt[n], rtol=1e-6, atol=1e-9), n


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def _one_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("agentgym: warning:")]
    assert code not in (0, None) and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("agentgym: error: "), err
    return lines[0]


def _cli_train(model: Path, out: Path, *sets: str) -> list[str]:
    argv = ["train", "--env", register_toy(), "--backend", "grpo", "--model", str(model), "--steps", "0",
            "--eval-episodes", "0", "--out", str(out)]
    for s in ("tensorboard=false", *sets):
        argv += ["--set", s]
    return argv


def test_a_model_without_checkpointing_support_is_one_line(toy_model, tmp_path, capsys, monkeypatch):
    from transformers.models.qwen2.modeling_qwen2 import Qwen2ForCausalLM

    monkeypatch.setattr(Qwen2ForCausalLM, "supports_gradient_checkpointing", False)
    line = _one_line(*_run_cli(_cli_train(toy_model, tmp_path / "run", "gradient_checkpointing=true"), capsys))
    assert "Qwen2ForCausalLM does not support activation checkpointing; set gradient_checkpointing=false" in line


# ---- options, and peft missing -------------------------------------------------------------------------
def test_set_lora_rank_on_the_command_line(toy_model, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(_cli_train(toy_model, out, "lora_rank=8", "lora_target_modules=q_proj,v_proj"))
    assert e.value.code in (0, None)
    saved = load_config(out / "config.yaml")
    assert (saved.lora_rank, saved.lora_target_modules) == (8, "q_proj,v_proj")


@pytest.mark.parametrize("setting, message", [
    ("lora_rank=-1", "lora_rank must be >= 0"),
    ("lora_rank=1.5", "lora_rank expects an integer"),
    ("lora_alpha=0", "lora_alpha must be > 0"),
    ("lora_dropout=1", r"lora_dropout must be in \[0, 1\)"),
    ("lora_dropout=-0.1", r"lora_dropout must be in \[0, 1\)"),
    ("lora_target_modules=q_proj,,v_proj", "lora_target_modules must be 'all-linear' or comma-separated"),
    ("gradient_checkpointing=maybe", "gradient_checkpointing expects true or false"),
])
def test_bad_lora_options_are_one_line(toy_model, tmp_path, capsys, setting, message):
    import re

    assert re.search(message, _one_line(*_run_cli(_cli_train(toy_model, tmp_path / "run", setting), capsys)))


def test_the_adapter_init_is_seeded_and_leaves_the_global_rng_alone(toy_model):
    """Two runs of one config start from the same adapter (a resumed run is compared with one that was
    never stopped), whatever the global RNG went through before."""
    def adapter(seed: int) -> dict[str, torch.Tensor]:
        model, _ = load_policy(toy_model)
        torch.rand(int(torch.randint(1, 100, (1,))))  # the global RNG in some other state
        state = torch.get_rng_state()
        add_lora(model, LoraSettings(4), seed=seed)
        assert torch.equal(torch.get_rng_state(), state)
        return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    first, again, other = adapter(0), adapter(0), adapter(1)
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert any(not torch.equal(first[n], other[n]) for n in first)


@pytest.mark.filterwarnings("ignore:Model has `tie_word_embeddings=True`")  # peft's, before the refusal
def test_lora_targets_that_cannot_be_merged_are_refused(toy_model):
    for targets, message in (("no_such_layer", "lora_target_modules 'no_such_layer': "),
                             ("embed_tokens", r"embed_tokens \(Embedding\) is not a linear layer")):
        model, _ = load_policy(toy_model)
        with pytest.raises(AgentGymError, match=message) as e:
            add_lora(model, LoraSettings(4, target_modules=targets))
        assert "\n" not in str(e.value)


def test_without_peft_lora_is_one_line_naming_the_extra(toy_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # what `import peft` meets when it is not installed
    line = _one_line(*_run_cli(_cli_train(toy_model, tmp_path / "run", "lora_rank=8"), capsys))
    assert "lora_rank > 0 needs peft" in line and "pip install 'agentgym[lora]'" in line
    model, _ = load_policy(toy_model)
    with pytest.raises(AgentGymError, match=r"pip install 'agentgym\[lora\]'"):
        add_lora(model, LoraSettings(8))
    assert load_config(None, {"lora_rank": 0}).lora_rank == 0  # full fine-tuning needs no peft

"""Opt-in (marker `sglang`, `make test-sglang`): the SGLang path against a real SGLang 0.5.23 server.

agentgym launches each server itself on 127.0.0.1 with the rig's interpreter (tools/sglang_rig.sh builds
it under ~/.cache/agentgym; $AGENTGYM_SGLANG_PYTHON overrides), with the CPU flags and --sleep-on-idle,
and closes it at the end. Covers what the fake cannot prove (issue 20): batches, stop tags, T != 1
log-probs, disk, folder and tensor weight sync, kill and restart with the synced weights and the
tokenizer, the flags a CPU server runs with, and a 2-step training run through a launched server.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
import torch
from fakes.tiny import build_tiny, sample_prompts

from agentgym.engines.base import SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.engines.sglang import SGLangEngine
from agentgym.models.load import load_policy

pytestmark = pytest.mark.sglang

RIG = Path(os.environ.get("AGENTGYM_SGLANG_PYTHON") or "~/.cache/agentgym/sglang-venv/bin/python").expanduser()
LAUNCH = [str(RIG), "-m", "sglang.launch_server"]
ENV = "agentgym/ALFWorld-Small-v0"


@pytest.fixture(scope="module", autouse=True)
def rig():
    if not RIG.is_file():
        pytest.skip(f"no SGLang rig at {RIG}: build it with tools/sglang_rig.sh (make test-sglang does)")


@pytest.fixture(scope="module")
def own_tmp(tmp_path_factory):
    """The module's temporary folder, to check that nothing agentgym-sglang-* is left behind."""
    d = tmp_path_factory.mktemp("tmp")
    before, tempfile.tempdir = tempfile.tempdir, str(d)
    yield d
    tempfile.tempdir = before


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("real") / "m", seed=5)


@pytest.fixture(scope="module")
def other_dir(model_dir, tmp_path_factory) -> Path:
    """The same model with other weights (same tokenizer and shapes)."""
    out = tmp_path_factory.mktemp("other") / "m"
    shutil.copytree(model_dir, out)
    model, _ = load_policy(out)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():  # the tied embedding / LM head is one parameter: it stays tied
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def engine(model_dir, own_tmp):
    eng = SGLangEngine(model_dir, launch_cmd=LAUNCH, startup_timeout=300, timeout=120)
    yield eng
    eng.close()
    assert list(own_tmp.iterdir()) == []  # its log and weight folders are gone


@pytest.fixture(scope="module")
def prompts(model_dir):
    from agentgym.models.load import load_tokenizer

    p = sample_prompts(load_tokenizer(model_dir))
    return p + [x[: max(2, len(x) // 2)] for x in p]  # a batch of 8, different lengths


def forward_logprobs(model, prompt, response):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + response])).logits[0].float(), -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(response)]


def _same_as_hf(eng, hf, prompts, sp):
    a, b = eng.generate(prompts, sp), hf.generate(prompts, sp)
    return [(g.token_ids, g.finish_reason) for g in a] == [(g.token_ids, g.finish_reason) for g in b]


def test_the_server_runs_with_the_cpu_flags_and_sleeps_when_idle(engine, prompts):
    info = engine.server_info
    assert info["device"] == "cpu" and info["sleep_on_idle"] is True
    assert engine.seeds_honoured is False
    with pytest.warns(UserWarning, match="ignores sampling seeds"):
        engine.generate(prompts[:1], SamplingParams(temperature=1.0, max_new_tokens=2, seed=1))
    pgid = engine.server.proc.pid

    def cpu_seconds() -> float:
        total = 0
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == pgid:  # the process group of the launched server
                    total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    time.sleep(2)
    c0 = cpu_seconds()
    time.sleep(4)
    idle = cpu_seconds() - c0
    print(f"idle server CPU: {idle:.2f} s in 4 s")
    assert idle < 0.8  # without --sleep-on-idle: about 4 s (one core spinning)


def test_batches_greedy_ids_and_logprobs_equal_transformers(engine, model_dir, prompts):
    hf = HFEngine(model_dir)
    greedy = SamplingParams(temperature=0, max_new_tokens=12)
    a, b = engine.generate(prompts, greedy), hf.generate(prompts, greedy)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    worst = max(abs(x - y) for g, h in zip(a, b, strict=True) for x, y in zip(g.logprobs, h.logprobs, strict=True))
    print(f"greedy logprob max |sglang - hf|: {worst:.2e}")
    assert worst < 1e-4
    model = hf.model
    for temperature in (1.0, 0.6):  # the launcher sets SGLANG_RETURN_ORIGINAL_LOGPROB: raw log-probs at any T
        for p, g in zip(prompts, engine.generate(prompts, SamplingParams(temperature=temperature, max_new_tokens=10)),
                        strict=True):
            assert g.logprobs == pytest.approx(forward_logprobs(model, p, g.token_ids), abs=1e-4)


def test_stop_tags_are_kept_and_match_transformers(engine, model_dir, prompts):
    hf = HFEngine(model_dir)
    tok = hf.tokenizer
    free = hf.generate(prompts, SamplingParams(temperature=0, max_new_tokens=12))
    stop = next(tok.decode([t]) for g in free for t in g.token_ids if tok.decode([t]))
    sp = SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))
    gens = engine.generate(prompts, sp)
    assert any(g.finish_reason == "stop" for g in gens)
    assert all(stop in g.text for g in gens if g.finish_reason == "stop")  # the closing tag stays
    assert _same_as_hf(engine, hf, prompts, sp)


def test_weight_sync_from_disk_a_folder_and_by_tensor(engine, model_dir, other_dir, prompts):
    original, _ = load_policy(model_dir)
    other, _ = load_policy(other_dir)
    hf_orig, hf_other = HFEngine(original), HFEngine(other)
    greedy = SamplingParams(temperature=0, max_new_tokens=10)
    assert not _same_as_hf(hf_orig, hf_other, prompts, greedy)  # the two weights are told apart
    assert not _same_as_hf(engine, hf_other, prompts, greedy)
    engine.update_weights(other_dir)  # /update_weights_from_disk
    assert _same_as_hf(engine, hf_other, prompts, greedy)
    engine.update_weights(original.state_dict())  # a tied state dict through a folder
    assert _same_as_hf(engine, hf_orig, prompts, greedy)
    engine.update_weights(other)  # an nn.Module through the same folder (SameFileError before)
    assert _same_as_hf(engine, hf_other, prompts, greedy)
    engine.tensor_sync = True
    try:
        t0 = time.perf_counter()
        engine.update_weights(original)  # begin/end session, file_system sharing
        print(f"tensor sync: {time.perf_counter() - t0:.2f} s")
        assert _same_as_hf(engine, hf_orig, prompts, greedy)
        engine.update_weights(other.state_dict())
        assert _same_as_hf(engine, hf_other, prompts, greedy)
    finally:
        engine.tensor_sync = False


def test_a_running_server_given_by_url(engine, model_dir, other_dir, prompts):
    """`--sglang-url`: a client of a server it did not launch syncs weights and leaves it running."""
    import warnings

    greedy = SamplingParams(temperature=0, max_new_tokens=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CPU server with --sleep-on-idle: nothing to warn about
        client = SGLangEngine(model_dir, url=engine.url)
    assert client.server is None and client.seeds_honoured is False
    client.update_weights(other_dir)
    assert _same_as_hf(client, HFEngine(other_dir), prompts, greedy)
    client.update_weights(model_dir)
    assert _same_as_hf(client, HFEngine(model_dir), prompts, greedy)
    client.close()
    assert engine.server.alive()


def test_a_killed_server_comes_back_with_the_synced_weights_and_tokenizer(engine, other_dir, prompts):
    """The weights last sent by tensor (in memory only) are written with the tokenizer and served again."""
    other, _ = load_policy(other_dir)
    hf = HFEngine(other)
    tok = hf.tokenizer
    engine.tensor_sync = True
    try:
        engine.update_weights(other)
    finally:
        engine.tensor_sync = False
    free = hf.generate(prompts, SamplingParams(temperature=0, max_new_tokens=12))
    stop = next(tok.decode([t]) for g in free for t in g.token_ids if tok.decode([t]))
    sp = SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))
    os.killpg(engine.server.proc.pid, signal.SIGKILL)
    engine.server.proc.wait(timeout=30)
    restarts = engine.restarts
    t0 = time.perf_counter()
    gens = engine.generate(prompts, sp)
    print(f"restart and generate: {time.perf_counter() - t0:.1f} s")
    assert engine.restarts == restarts + 1 and engine.server.alive()
    assert any(g.finish_reason == "stop" for g in gens)
    assert _same_as_hf(engine, hf, prompts, sp)


def test_a_two_step_training_run_through_a_launched_server(tmp_path, monkeypatch):
    from agentgym.core.recipe import ModelSize
    from agentgym.models.build import init_model_dir
    from agentgym.trainer.config import load_config
    from agentgym.trainer.run import run_training

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    size = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                     intermediate_size=64, max_position_embeddings=1024)
    model = init_model_dir(ENV, tmp_path / "policy", vocab_size=400, size=size, demos=20)
    cfg = load_config(None, dict(env=ENV, backend="grpo", model=str(model), steps=2, tasks_per_step=2, group_size=2,
                                 eval_episodes=2, max_new_tokens=16, env_kwargs={"max_steps": 3}, warmup_steps=1,
                                 lr=1e-3, tensorboard=False, out_dir=str(tmp_path / "run"), engine="sglang",
                                 sglang_command=" ".join(LAUNCH), sglang_startup_timeout_s=300))
    t0 = time.perf_counter()
    summary = run_training(cfg)
    print(f"2-step run with a launched server: {time.perf_counter() - t0:.0f} s")
    import json

    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and summary["after"]["episodes"] == 2
    print("engine_logp_gap per step:", [m["engine_logp_gap"] for m in lines])
    assert all(m["engine_logp_gap"] < 0.05 for m in lines)  # the server always held the trainer's weights
    assert list((tmp_path / "tmp").iterdir()) == []

"""The trainer with an SGLang engine (issue 20): the starting and resumed weights reach the server before
the first rollout, the engine-trainer gap of sampled-token log-probs is logged every step and warns past
a threshold, and the launch options (TrainConfig, CLI) are checked up front and end in one clear line.

Against the faithful fake of tests/fakes/sglang_server.py; the real-server versions are in
test_sglang_real.py (opt-in, `make test-sglang`)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
from fakes.sglang_server import FakeSGLangServer
from safetensors.torch import load_file, save_file

from agentgym.core.errors import AgentGymError
from agentgym.core.recipe import ModelSize
from agentgym.engines.base import SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.trainer.config import TrainConfig, load_config
from agentgym.trainer.loop import ENGINE_LOGP_GAP_WARN, Trainer

ENV = "agentgym/ALFWorld-Small-v0"
TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)
COMMON = dict(env=ENV, backend="grpo", tasks_per_step=2, group_size=2, eval_episodes=0, max_new_tokens=16,
              env_kwargs={"max_steps": 3}, warmup_steps=1, lr=1e-3, tensorboard=False)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from agentgym.models.build import init_model_dir

    return init_model_dir(ENV, tmp_path_factory.mktemp("tiny") / "policy", vocab_size=400, size=TINY, demos=20)


@pytest.fixture(scope="module")
def stale_model(tiny_model, tmp_path_factory) -> Path:
    """The same model (tokenizer, config) with other weights: what a server started elsewhere holds."""
    out = tmp_path_factory.mktemp("stale") / "policy"
    shutil.copytree(tiny_model, out)
    gen = torch.Generator().manual_seed(1)
    sd = {k: torch.randn(v.shape, generator=gen) * 0.5 for k, v in load_file(str(tiny_model / "model.safetensors")).items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _greedy(engine, prompts):
    return [g.token_ids for g in engine.generate(prompts, SamplingParams(temperature=0, max_new_tokens=8))]


def _prompts(tok) -> list[list[int]]:
    from agentgym.rollout.prompts import encode_prompt

    return [encode_prompt(tok, "Task: put the apple on the table\nNow: You see a drawer."), encode_prompt(tok, "hi")]


def test_the_starting_weights_reach_a_url_server_and_the_gap_is_small(tiny_model, stale_model, tmp_path):
    """Item 4: a --sglang-url server holding other weights served the before-eval and all of step 1
    (sampled-token log-probs 17.5 nats from the trainer's) and nothing said so."""
    with FakeSGLangServer(str(stale_model)) as srv:
        cfg = load_config(None, dict(COMMON, model=str(tiny_model), steps=1, out_dir=str(tmp_path / "run"),
                                     engine="sglang", sglang_url=srv.url))
        trainer = Trainer(cfg, log=lambda m: None)
        try:
            prompts = _prompts(trainer.tokenizer)
            assert _greedy(trainer.engine, prompts) == _greedy(HFEngine(trainer.model, tokenizer=trainer.tokenizer), prompts)
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                m = trainer.step()
        finally:
            trainer.close()
    assert 0 <= m["engine_logp_gap"] < 0.05  # float32 server vs the bf16-autocast training forward


def test_a_stale_engine_is_measured_and_warned_about(tiny_model, stale_model, tmp_path):
    """The gap metric itself: an engine that samples from other weights is nats away, and warns."""
    with FakeSGLangServer(str(tiny_model)) as srv:
        cfg = load_config(None, dict(COMMON, model=str(tiny_model), steps=1, out_dir=str(tmp_path / "run"),
                                     engine="sglang", sglang_url=srv.url))
        trainer = Trainer(cfg, log=lambda m: None)
        try:
            trainer.engine.update_weights(stale_model)  # someone else's weights, behind the trainer's back
            with pytest.warns(UserWarning, match="nats per token from the trainer's"):
                m = trainer.step()
        finally:
            trainer.close()
    assert m["engine_logp_gap"] > ENGINE_LOGP_GAP_WARN


def test_the_hf_engine_logs_a_small_gap(tiny_model, tmp_path):
    cfg = load_config(None, dict(COMMON, model=str(tiny_model), steps=1, out_dir=str(tmp_path / "run")))
    trainer = Trainer(cfg, log=lambda m: None)
    try:
        m = trainer.step()
    finally:
        trainer.close()
    assert 0 <= m["engine_logp_gap"] < 0.05


def test_a_resumed_run_pushes_the_checkpoint_weights(tiny_model, stale_model, tmp_path):
    """Item 4, resume: the server still holds the starting (or someone else's) weights."""
    from agentgym.trainer.run import run_training

    run = tmp_path / "run"
    with FakeSGLangServer(str(tiny_model)) as srv:
        cfg = load_config(None, dict(COMMON, model=str(tiny_model), steps=2, out_dir=str(run), engine="sglang",
                                     sglang_url=srv.url, checkpoint_every=1))
        run_training(cfg)
        cfg2 = load_config(None, dict(COMMON, model=str(tiny_model), steps=3, out_dir=str(run), engine="sglang",
                                      sglang_url=srv.url, checkpoint_every=1))
        trainer = Trainer(cfg2, log=lambda m: None)
        try:
            trainer.engine.update_weights(stale_model)
            assert trainer.resume() and trainer.steps_done == 2
            prompts = _prompts(trainer.tokenizer)
            trained = HFEngine(trainer.model, tokenizer=trainer.tokenizer)
            assert _greedy(trainer.engine, prompts) == _greedy(trained, prompts)
            m = trainer.step()
        finally:
            trainer.close()
    assert m["engine_logp_gap"] < 0.05


# ---- launch options (item 5) ------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"sglang_command": "python -m sglang.launch_server"}, "needs engine sglang"),
    ({"engine": "sglang", "sglang_url": "http://127.0.0.1:1", "sglang_args": "--device cpu"}, "set only one"),
    ({"engine": "sglang", "sglang_command": ""}, "sglang_command is empty"),
    ({"engine": "sglang", "sglang_command": "python 'unclosed"}, "not a shell-style command line"),
    ({"engine": "sglang", "sglang_args": "--port 3000"}, "sets --port, which agentgym sets itself"),
    ({"engine": "sglang", "sglang_args": "--model-path=/x"}, "sets --model-path"),
    ({"engine": "sglang", "sglang_env": {"NOT A NAME": "1"}}, "not an environment variable name"),
    ({"engine": "sglang", "sglang_startup_timeout_s": 0}, "sglang_startup_timeout_s must be a positive"),
    ({"engine": "sglang", "sglang_env": ["A=1"]}, "sglang_env expects a mapping"),
])
def test_bad_launch_options_are_one_clear_error(fields, message):
    with pytest.raises(AgentGymError, match=message):
        load_config(None, fields)


def test_launch_options_become_engine_arguments():
    cfg = load_config(None, {"engine": "sglang", "sglang_command": "~/venv/bin/python -m sglang.launch_server",
                             "sglang_args": "--device cpu --dtype 'float32'", "sglang_env": {"A": 1},
                             "sglang_startup_timeout_s": 90})
    got = cfg.sglang_launch()
    assert got["launch_cmd"] == [str(Path.home() / "venv/bin/python"), "-m", "sglang.launch_server"]
    assert got["server_args"] == ("--device", "cpu", "--dtype", "float32")
    assert got["server_env"] == {"A": "1"} and got["startup_timeout"] == 90.0
    assert "launch_cmd" not in TrainConfig(engine="sglang").sglang_launch()  # the default command
    assert TrainConfig(engine="sglang", sglang_url="http://h:1").sglang_launch() == {}


def _run_cli(argv, capsys):
    from agentgym.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_train_without_sglang_is_one_line_naming_what_to_set(tiny_model, tmp_path, monkeypatch, capsys):
    """Item 5: `agentgym train --engine sglang` with no URL ran this interpreter's `-m sglang.launch_server`
    (no SGLang here): one line that names sglang_command / sglang_url, no traceback, no folders left."""
    import tempfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    base = ["train", "--env", ENV, "--backend", "grpo", "--model", str(tiny_model), "--steps", "1",
            "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "0", "--out", str(tmp_path / "run"),
            "--engine", "sglang"]
    for extra, want in (([], "No module named"),
                        (["--sglang-command", "/no/such/python -m sglang.launch_server"], "cannot run")):
        code, err = _run_cli(base + extra + ["--sglang-args", "--device cpu", "--sglang-env", "X=1"], capsys)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and "Traceback" not in err and len(lines) == 1, err
        assert want in lines[0] and "--sglang-command" in lines[0] and "--sglang-url" in lines[0], lines[0]
    code, err = _run_cli(base + ["--sglang-env", "novalue"], capsys)
    assert code == 2 and "--sglang-env expects KEY=VALUE" in err
    assert list((tmp_path / "tmp").iterdir()) == []

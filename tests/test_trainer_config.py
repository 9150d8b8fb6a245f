"""Training configuration: defaults per env, YAML + overrides, validation; CLI errors are one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentgym.core.errors import AgentGymError
from agentgym.core.registry import family_of, resolve_env_id
from agentgym.trainer.config import TrainConfig, load_config


def test_per_env_defaults_follow_the_method():
    web = TrainConfig(env="webshop").resolved()
    assert (web.reward_scale, web.invalid_penalty, web.history, web.kl_coef) == (10.0, 0.1, 2, 0.01)
    sq = TrainConfig(env="agentgym/SearchQA-v0").resolved()
    assert (sq.reward_scale, sq.invalid_penalty, sq.history, sq.kl_coef) == (1.0, 0.01, 4, 0.001)
    assert TrainConfig(env="alfworld", history=3).resolved().history == 3
    assert family_of("agentgym/WebShop-Browser-v0") == "webshop"
    assert resolve_env_id("webshop-browser") == "agentgym/WebShop-Browser-v0"
    assert resolve_env_id("ALFWorld") == "agentgym/ALFWorld-v0"


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("steps: 7\nlr: 3.0e-5\nbackend_kwargs: {beta: 2.0}\n")
    cfg = load_config(f, {"steps": 9, "seed": None})
    assert (cfg.steps, cfg.lr, cfg.backend_kwargs, cfg.seed) == (9, 3e-5, {"beta": 2.0}, 0)


@pytest.mark.parametrize(
    "text, match",
    [("stepz: 3\n", "unknown config key"), ("[1, 2]\n", "mapping"), ("a: [\n", "not valid YAML")],
)
def test_bad_config_files(tmp_path, text, match):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(AgentGymError, match=match):
        load_config(f)


@pytest.mark.parametrize(
    "over, match",
    [({"group_size": 1}, "group_size"), ({"lr": 2.0}, "lr"), ({"zero_stage": 2}, "needs --deepspeed"),
     ({"engine": "vllm"}, "unknown engine"), ({"model": "/no/such/dir"}, "not a directory"),
     ({"min_new_tokens": 49}, "must not exceed max_new_tokens"), ({"min_new_tokens": -1}, "min_new_tokens")],
)
def test_validation(over, match):
    with pytest.raises(AgentGymError, match=match):
        load_config(None, over)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, expect",
    [
        (["train", "--backend", "nope"], "unknown backend 'nope'"),
        (["train", "--env", "nope"], "unknown env 'nope'"),
        (["train", "--model", "/no/such/dir"], "not a directory"),
        (["train", "--config", "/no/such.yaml"], "config file not found"),
        (["train", "--set", "bogus=1"], "unknown config key(s) bogus"),
        (["train", "--set", "novalue"], "--set expects key=value"),
        (["train", "--group-size", "1"], "--group-size"),
        (["eval", "--env", "nope"], "unknown env 'nope'"),
        (["eval", "--env", "webshop", "--model", "/no/such/dir"], "not a directory"),
    ],
)
def test_cli_train_eval_user_errors(args, expect):
    p = _cli(*args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert expect in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_numbers_written_without_a_dot_are_numbers(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lr: 1e-3\nsteps: '4'\n")
    cfg = load_config(f)
    assert cfg.lr == 1e-3 and cfg.steps == 4
    with pytest.raises(AgentGymError, match="lr expects a number"):
        load_config(None, {"lr": "fast"})

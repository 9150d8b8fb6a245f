"""Every bad CLI argument is one line on stderr and a non-zero exit, before any work (issue 16, item 5).

The invocations are the CLI matrix of tools/fuzz_inputs.py (its `fast` cases, which fail in validation);
here they run in-process through `agentgym.cli.main`, so an uncaught exception fails the test with its
traceback. The few that need a real model or a network port run at the end.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from agentgym.cli import main
from agentgym.core.errors import AgentGymError
from agentgym.trainer.config import TrainConfig, coerce_value, load_config

ROOT = Path(__file__).resolve().parents[1]


def _load_tool():
    spec = importlib.util.spec_from_file_location("fuzz_inputs", ROOT / "tools" / "fuzz_inputs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_inputs"] = mod
    spec.loader.exec_module(mod)
    return mod


TOOL = _load_tool()
FAST = [c for c in TOOL.CASES if c.fast]


@pytest.fixture(scope="module")
def slots(tmp_path_factory) -> dict[str, str]:
    """{files}: the bad files; {model}: a folder that looks like a model (the cases fail before loading it)."""
    d = tmp_path_factory.mktemp("bad-input")
    TOOL.write_fixtures(d / "files")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text("{}")
    return {"files": str(d / "files"), "model": str(d / "model")}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def _assert_one_error_line(code: int, err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("agentgym: warning:")]
    assert code not in (0, None), f"silent acceptance: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("agentgym: error: "), err


@pytest.mark.parametrize("case", FAST, ids=[c.name for c in FAST])
def test_bad_invocation(case, slots, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # default outputs (runs/...) stay in the test's folder
    argv = TOOL.fill(case.args, {**slots, "tmp": str(tmp_path)})
    code, _, err = _run(argv, capsys)
    if case.expect == "error":
        _assert_one_error_line(code, err)
    else:  # warn: done, with one warning line per damaged file
        assert code == 0, err
        assert err.strip() and all(ln.startswith("agentgym: warning: ") for ln in err.strip().splitlines()), err


# ---- the causes, one by one ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, hint, expect",
    [("1e3", int, 1000), (2.0, int, 2), ("7", int, 7), ("1e-4", float, 1e-4), (3, float, 3.0), ("true", bool, True),
     (False, bool, False), (12, str, "12"), (None, int | None, None), ({"a": 1}, dict, {"a": 1})],
)
def test_coerce_value_accepts_what_yaml_and_command_lines_give(value, hint, expect):
    assert coerce_value("k", value, hint) == expect


@pytest.mark.parametrize(
    "value, hint, match",
    [(1.5, int, "expects an integer"), ([1, 2], int, "expects an integer"), (True, int, "expects an integer"),
     ("abc", int, "expects an integer"), (float("nan"), float, "finite"), ("inf", float, "finite"),
     ([1], float, "expects a number"), (1, bool, "true or false"), ("yes", bool, "true or false"),
     (["a"], str, "expects a string"), (True, str, "expects a string"), (5, dict, "expects a mapping"),
     (1.5, int | None, "an integer or null")],
)
def test_coerce_value_refuses_the_wrong_type(value, hint, match):
    with pytest.raises(AgentGymError, match=match):
        coerce_value("k", value, hint)


def test_float_for_an_int_field_is_refused_not_rounded():
    with pytest.raises(AgentGymError, match="steps expects an integer, got 1.5"):
        load_config(None, {"steps": 1.5})  # used to run 2 steps


@pytest.mark.parametrize(
    "field, value",
    [("micro_batch_size", 0), ("temperature", math.nan), ("keep_checkpoints", -1), ("warmup_steps", -1),
     ("checkpoint_every", -1), ("history", -1), ("eval_episodes", -1), ("top_p", 0.0), ("max_new_tokens", 0),
     ("weight_decay", -1.0), ("grad_clip", -1.0), ("seed", -1), ("eval_every", -1), ("skills_k", -1),
     ("reward_scale", 0.0), ("kl_coef", -0.1), ("invalid_penalty", -1.0), ("device", "tpu"), ("skills", "bogus"),
     ("steps", [1, 2]), ("bf16", "maybe")],
)
def test_validate_covers_every_field(field, value):
    """A config built in code (not through load_config) is checked as strictly."""
    cfg = TrainConfig(env="alfworld")
    setattr(cfg, field, value)
    with pytest.raises(AgentGymError, match=field if field not in ("device", "skills") else "unknown"):
        cfg.validate()


def test_defaults_validate():
    TrainConfig().validate()
    for env in ("alfworld", "webshop", "searchqa"):
        TrainConfig(env=env).resolved().validate()


def test_tasks_per_step_larger_than_the_panel_names_the_panel():
    with pytest.raises(AgentGymError, match=r"tasks_per_step 10 is larger than the 'train' panel .* \(5 tasks\)"):
        TrainConfig(tasks_per_step=10).check_panel("train", 5)
    TrainConfig(tasks_per_step=5).check_panel("train", 5)


def test_config_file_not_utf8_is_one_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_bytes("steps: 2  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(AgentGymError, match="not UTF-8"):
        load_config(f)


def test_make_env_types_options_and_wraps_constructor_errors():
    from agentgym.cli.common import make_env

    env, kwargs = make_env("agentgym/ALFWorld-v0", {"max_steps": "7"})
    assert kwargs == {"max_steps": 7} and env.unwrapped.max_steps == 7
    env.close()
    with pytest.raises(AgentGymError, match="bad env option for agentgym/ALFWorld-v0: max_steps must be >= 1"):
        make_env("agentgym/ALFWorld-v0", {"max_steps": 0})
    with pytest.raises(AgentGymError, match="max_steps expects an integer"):
        make_env("agentgym/ALFWorld-v0", {"max_steps": 1.5})  # used to be truncated to 1
    with pytest.raises(AgentGymError, match="not a gymnasium.Env subclass"):
        make_env("collections:OrderedDict")


def test_rollout_checks_its_output_before_rolling_out(slots, tmp_path, monkeypatch, capsys):
    import agentgym.rollout.collector as collector

    monkeypatch.setattr(collector, "collect", lambda *a, **k: pytest.fail("the rollout ran"))
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["rollout", "--env", "alfworld", "--model", slots["model"], "--out", "/proc/nope/x.jsonl"],
                        capsys)
    _assert_one_error_line(code, err)
    assert "/proc/nope/x.jsonl cannot be written" in err


def test_check_writable_creates_nothing(tmp_path):
    from agentgym.cli.common import check_writable

    target = tmp_path / "a" / "b" / "x.jsonl"
    assert check_writable(target, "--out") == target
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AgentGymError, match="is a folder"):
        check_writable(tmp_path, "--out")
    (tmp_path / "f").write_text("x")
    with pytest.raises(AgentGymError, match="is not a folder"):
        check_writable(tmp_path / "f" / "x.jsonl", "--out")
    with pytest.raises(AgentGymError, match="exists and is not a folder"):
        check_writable(tmp_path / "f", "--out", folder=True)


def test_plot_skips_malformed_lines_and_says_which(slots, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [json.dumps({"step": s, "success": 0.1 * s}) for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_bytes(("\n".join([rows[0], "[1, 2]", rows[1], '{"step": "x"}', rows[2]]) + "\n")
                                        .encode() + b'{"step": 4, "n": "caf\xe9"}\n')
    code, out, err = _run(["plot", str(run), "--out", str(tmp_path / "p.png")], capsys)
    assert code == 0 and (tmp_path / "p.png").is_file()
    assert err.strip().splitlines() == [f"agentgym: warning: {run / 'metrics.jsonl'}: skipped 3 malformed line(s) "
                                        "(line 2, 4, 6)"]


def test_plot_of_well_formed_runs_says_nothing(slots, tmp_path, capsys):
    code, _, err = _run(["plot", f"{slots['files']}/run_ok", "--out", str(tmp_path / "p.png")], capsys)
    assert code == 0 and err == ""


# ---- cases that need a real (tiny) model: an engine error is a user error --------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from fakes.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "m")


@pytest.mark.parametrize("cmd", ["rollout", "train"])
def test_dead_sglang_server_is_one_line(cmd, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = {"rollout": ["rollout", "--env", "alfworld", "--episodes", "1", "--out", str(tmp_path / "r.jsonl")],
            "train": ["train", "--env", "alfworld", "--backend", "grpo", "--steps", "1", "--tasks-per-step", "2",
                      "--group-size", "2", "--eval-episodes", "0", "--out", str(tmp_path / "run")]}[cmd]
    code, _, err = _run([*argv, "--model", str(tiny), "--engine", "sglang", "--sglang-url", "http://127.0.0.1:1"],
                        capsys)
    _assert_one_error_line(code, err)
    assert "no healthy SGLang server at http://127.0.0.1:1" in err

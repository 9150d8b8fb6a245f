"""The trainer end to end on ALFWorld (small) with a tiny policy: metrics, checkpoints, NaN safety,
resume after kill -9 (bit-identical on CPU), and a 2-process DeepSpeed run against 1 process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fakes.resume import learning_curve, run_killed_and_resumed
from fakes.tiny import build_tiny
from fakes.toy_env import register_toy
from rich.console import Console
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agentgym.core.recipe import ModelSize
from agentgym.trainer.config import load_config
from agentgym.trainer.run import run_training

ENV = "agentgym/ALFWorld-Small-v0"
TINY = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 intermediate_size=64, max_position_embeddings=1024)
COMMON = dict(env=ENV, tasks_per_step=2, group_size=2, eval_episodes=0, max_new_tokens=24,
              env_kwargs={"max_steps": 4}, warmup_steps=1, lr=1e-3)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from agentgym.models.build import init_model_dir

    return init_model_dir(ENV, tmp_path_factory.mktemp("tiny") / "policy", vocab_size=400, size=TINY, demos=20)


def _weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / f"step_{step:06d}" / "policy" / "model.safetensors"))


def test_sdar_steps_write_metrics_checkpoints_and_change_weights(tiny_model, tmp_path):
    from agentgym.trainer.run import run_training

    cfg = load_config(None, dict(COMMON, backend="sdar", model=str(tiny_model), steps=2, out_dir=str(tmp_path / "run"),
                                 eval_episodes=2, checkpoint_every=1, keep_checkpoints=1))
    summary = run_training(cfg)
    run = tmp_path / "run"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for key in ("success", "score", "episode_length", "valid_action_ratio", "loss", "kl", "entropy",
                "gate_mean", "gate_active_ratio", "gap_mean", "gap_neg_frac", "time_teacher"):
        assert key in lines[0], key
    assert 0.0 <= lines[0]["gate_mean"] <= 1.0 and lines[0]["time_teacher"] > 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002"]  # keep_checkpoints=1
    init = load_file(str(tiny_model / "model.safetensors"))
    after = _weights(run, 2)
    assert any(not torch.equal(init[k], after[k]) for k in init), "training did not change the weights"
    assert summary["before"]["episodes"] == 2 and summary["after"]["episodes"] == 2
    assert (run / "config.yaml").is_file() and any((run / "tensorboard").iterdir())
    c = summary["change"]  # after - before with its 95% interval, and the learning-curve picture
    assert c["diff"] == pytest.approx(summary["after"]["success"] - summary["before"]["success"])
    assert c["lo"] <= c["diff"] <= c["hi"] and c["significant"] == (c["lo"] > 0 or c["hi"] < 0)
    assert summary["curves"] == str(run / "curves.png") and (run / "curves.png").stat().st_size > 10_000


def test_the_before_after_change_and_its_interval():
    from agentgym.trainer.evaluate import EvalResult, change

    def res(p, n):
        return EvalResult("e", "test", n, 0.4, False, p, p, 1.0, 1.0)

    c = change(res(0.2, 300), res(0.3, 300))  # se = sqrt(.2*.8/300 + .3*.7/300) = 0.03512
    assert c.diff == pytest.approx(0.1) and c.se == pytest.approx(0.035119, abs=1e-5)
    assert (c.lo, c.hi) == (pytest.approx(0.1 - 1.96 * 0.035119, abs=1e-4), pytest.approx(0.1 + 1.96 * 0.035119, abs=1e-4))
    assert c.significant and "significant at the 5% level" in c.line()
    small = change(res(0.2, 30), res(0.3, 30))  # the same difference on 30 episodes: noise
    assert not small.significant and "not significant" in small.line()
    assert change(res(0.5, 300), res(0.38, 300)).significant  # a significant drop is one too


def test_eval_points_join_the_learning_curve(tmp_path):
    from agentgym.plots import collect_groups

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "success": 0.1 * s}) + "\n" for s in (1, 2, 3)))
    (run / "eval_before.json").write_text(json.dumps({"success": 0.2}))
    (run / "eval_after.json").write_text(json.dumps({"success": 0.35}))
    rows = collect_groups([run])[0].runs[0].rows
    assert [(r["step"], r["eval_success"]) for r in rows if "eval_success" in r] == [(0, 0.2), (3, 0.35)]


def test_a_torn_newest_checkpoint_falls_back_and_foreign_weights_are_a_clear_error(tiny_model, tmp_path):
    from agentgym.core.errors import AgentGymError
    from agentgym.trainer.loop import Trainer

    run = tmp_path / "run"
    cfg = load_config(None, dict(COMMON, backend="grpo", model=str(tiny_model), steps=2, out_dir=str(run),
                                 checkpoint_every=1, keep_checkpoints=2))
    tr = Trainer(cfg)
    for _ in range(2):
        tr.step()
        tr.save_checkpoint()
    tr.close()
    newest = run / "checkpoints" / "step_000002" / "policy" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # torn after it was marked complete
    tr = Trainer(cfg)
    with pytest.warns(UserWarning, match="step_000002 is unreadable"):
        assert tr.resume()
    assert tr.steps_done == 1
    assert (run / "checkpoints" / "step_000002.torn").is_dir(), "the torn checkpoint is set aside, not pruned as newest"
    tr.close()
    tr = Trainer(load_config(None, dict(COMMON, backend="sdar", model=str(tiny_model), steps=2, out_dir=str(run))))
    with pytest.raises(AgentGymError, match="is a grpo run"):
        tr.resume()
    tr.close()
    other = tmp_path / "other"  # the same vocabulary, another width: a checkpoint of another architecture
    from agentgym.models.build import init_model_dir

    init_model_dir(ENV, other, vocab_size=400, size=ModelSize(hidden_size=48, num_hidden_layers=1,
                   num_attention_heads=2, num_key_value_heads=1, intermediate_size=64), demos=20)
    tr = Trainer(load_config(None, dict(COMMON, backend="grpo", model=str(other), steps=2, out_dir=str(run))))
    with pytest.raises(AgentGymError, match="another architecture"):
        tr.resume()
    tr.close()


def test_a_run_folder_in_use_is_refused(tiny_model, tmp_path):
    import fcntl

    from agentgym.core.errors import AgentGymError
    from agentgym.trainer.run import run_training

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "w") as held:  # what a running `agentgym train --out run` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(AgentGymError, match="in use by another agentgym run"):
            run_training(load_config(None, dict(COMMON, backend="grpo", model=str(tiny_model), steps=1,
                                                out_dir=str(run))))
    assert not (run / "metrics.jsonl").exists() and not (run / "config.yaml").exists()


def test_a_resumed_run_logs_each_step_once_to_tensorboard(tmp_path):
    """Issue 16 item 11: steps between the last checkpoint and the interruption were shown twice."""
    run = tmp_path / "run"  # the toy env and its tiny policy: the same loop, a few times faster than ALFWorld
    cfg = load_config(None, dict(COMMON, env=register_toy(), env_kwargs={}, backend="grpo", steps=3, out_dir=str(run),
                                 model=str(build_tiny(tmp_path / "m")), checkpoint_every=2, keep_checkpoints=2,
                                 tensorboard=True))
    run_training(cfg, console=Console(file=io.StringIO()))
    shutil.rmtree(run / "checkpoints" / "step_000003")  # interrupted after step 3 was logged, before its checkpoint
    run_training(cfg, resume=True, console=Console(file=io.StringIO()))
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/success")] == [1, 2, 3]
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_nan_loss_skips_the_update(tiny_model, tmp_path):
    from agentgym.trainer.loop import Trainer

    cfg = load_config(None, dict(COMMON, backend="grpo", model=str(tiny_model), steps=1, out_dir=str(tmp_path / "run")))
    tr = Trainer(cfg)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    real_loss = tr.backend.loss
    tr.backend.loss = lambda batch, step: (lambda lm: (lm[0] * float("nan"), lm[1]))(real_loss(batch, step))
    with pytest.warns(UserWarning, match="non-finite"):
        m = tr.step()
    assert m["skipped"] is True
    assert all(torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    tr.backend.loss = real_loss
    m = tr.step()
    assert m["skipped"] is False and all(torch.isfinite(v).all() for v in tr.model.state_dict().values())
    tr.close()


def _train_cmd(model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agentgym", "train", "--env", ENV, "--backend", "sdar", "--model", str(model),
            "--steps", "4", "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "0", "--lr", "1e-3",
            "--env-opt", "max_steps=4", "--set", "max_new_tokens=24", "--set", "checkpoint_every=1",
            "--set", "warmup_steps=1", "--set", "tensorboard=false", "--out", str(out), *extra]


def test_resume_after_kill_9_matches_an_uninterrupted_run(tiny_model, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    full = subprocess.run(_train_cmd(tiny_model, a), capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    run_killed_and_resumed(lambda *extra: _train_cmd(tiny_model, b, *extra), b)
    wa, wb = _weights(a, 4), _weights(b, 4)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), "resumed run ended elsewhere"
    assert learning_curve(a) == learning_curve(b)


@pytest.mark.slow
def test_deepspeed_two_processes_match_one_process(tiny_model, tmp_path):
    """Same global batch (2 tasks x 2 rollouts), greedy rollouts so both runs see identical samples; fp32
    (bf16 autocast rounds differently when the batch is split, which this exact comparison would see)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    extra = ["--set", "temperature=0", "--steps", "2", "--no-bf16"]
    one = subprocess.run(_train_cmd(tiny_model, tmp_path / "one", *extra), capture_output=True, text=True, env=env,
                         timeout=900)
    assert one.returncode == 0, one.stderr[-3000:]
    from agentgym.distributed import free_port

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "agentgym", *_train_cmd(tiny_model, tmp_path / "two", *extra, "--deepspeed", "--zero-stage", "2")[3:]]
    two = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    w1, w2 = _weights(tmp_path / "one", 2), _weights(tmp_path / "two", 2)
    init = load_file(str(tiny_model / "model.safetensors"))
    moved = max((w1[k] - init[k]).abs().max().item() for k in init)
    diff = max((w1[k] - w2[k]).abs().max().item() for k in init)
    assert moved > 1e-4, "the runs did not train"
    assert diff < 1e-4 * max(1.0, moved / 1e-2), f"2-process run differs by {diff} (weights moved {moved})"


def test_filter_groups_drops_groups_whose_episodes_all_end_alike(tiny_model, tmp_path):
    from agentgym.rollout.samples import TurnSample
    from agentgym.trainer.loop import drop_uniform_groups

    def ts(g, e, won):
        return TurnSample([1], [2], [0.0], "u", f"t{g}", "x", g, e, 0, won=won)

    samples = [ts(0, 0, False), ts(0, 1, False), ts(1, 2, True), ts(1, 3, False), ts(1, 3, False),
               ts(2, 4, True), ts(2, 5, True)]
    kept, frac = drop_uniform_groups(samples)
    assert {s.group_id for s in kept} == {1} and len(kept) == 3 and frac == pytest.approx(2 / 3)
    assert drop_uniform_groups([]) == ([], 0.0)
    # in a run: the fraction is logged each step, and a step whose groups are all uniform is skipped
    cfg = load_config(None, dict(COMMON, backend="grpo", model=str(tiny_model), steps=2, out_dir=str(tmp_path / "r"),
                                 filter_groups=True))
    run_training(cfg, console=Console(file=io.StringIO()))
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= m["groups_filtered_frac"] <= 1.0 for m in lines)
    assert all(m["skipped"] for m in lines if m["groups_filtered_frac"] == 1.0)


def test_micro_batch_order_groups_equal_prompts_and_lengths():
    """`by_length`: prompts by length with equal prompts adjacent whatever their response lengths, so a
    group's rollouts meet in one micro-batch (where scoring runs their prompt once); a permutation."""
    from types import SimpleNamespace

    from agentgym.trainer.loop import by_length

    def s(prompt, n):
        return SimpleNamespace(prompt_ids=prompt, response_ids=[0] * n)

    a, b, c = [1] * 5, [2] * 5, [3] * 9
    samples = [s(a, 3), s(c, 1), s(b, 7), s(a, 9), s(b, 1), s(a, 1), s(c, 4)]
    order = by_length(samples, range(len(samples)))
    assert sorted(order) == list(range(len(samples)))
    prompts = [tuple(samples[i].prompt_ids) for i in order]
    assert prompts == [tuple(a)] * 3 + [tuple(b)] * 2 + [tuple(c)] * 2
    assert [len(samples[i].response_ids) for i in order[:3]] == [1, 3, 9]


def test_a_trainer_is_given_its_policy_and_its_step_does_the_whole_step(tiny_model, tmp_path, monkeypatch):
    """Constructing a Trainer never builds a model (no policy: one clear line, before any work); the
    default policy is resolved before it (`default_policy`); `Trainer.step()` advances the counter and
    the history itself."""
    from agentgym.core.errors import AgentGymError
    from agentgym.models import default
    from agentgym.trainer import loop, run
    from agentgym.trainer.loop import Trainer

    def no_build(*a, **k):
        raise AssertionError("a model was built")

    monkeypatch.setattr(default, "ensure_default_model", no_build)
    assert not hasattr(loop, "ensure_default_model")
    cfg = load_config(None, dict(COMMON, backend="sdar", steps=2, out_dir=str(tmp_path / "run")))
    with pytest.raises(AgentGymError, match="a Trainer needs a policy to start from"):
        Trainer(cfg, log=lambda _m: None)
    assert run.default_policy(load_config(None, dict(COMMON, model=str(tiny_model)))) == tiny_model
    calls = []
    monkeypatch.setattr(run, "ensure_default_model", lambda env_id, **kw: calls.append(env_id) or tiny_model)
    policy = run.default_policy(cfg)
    assert policy == tiny_model and calls == [ENV]
    tr = Trainer(cfg, log=lambda _m: None, policy=policy)
    try:
        assert tr.init_model_path == tiny_model and (tr.steps_done, tr.history) == (0, [])
        m1 = tr.step()
        m2 = tr.step()
        assert (tr.steps_done, [m["step"] for m in tr.history]) == (2, [1, 2]) and tr.history == [m1, m2]
        assert tr.skills.stats.retrievals == 2 * cfg.tasks_per_step  # c+ retrieved for every task of both steps
    finally:
        tr.close()


def test_the_old_names_say_what_replaced_them(tiny_model, tmp_path):
    import importlib
    import sys

    from agentgym.core.errors import AgentGymError
    from agentgym.core.recipe import ModelSize as Moved
    from agentgym.trainer.loop import Trainer

    sys.modules.pop("agentgym.models.config", None)
    with pytest.warns(FutureWarning, match="agentgym.core.recipe"):
        old = importlib.import_module("agentgym.models.config")
    assert old.ModelSize is Moved
    tr = Trainer(load_config(None, dict(COMMON, backend="grpo", model=str(tiny_model), out_dir=str(tmp_path / "r"))))
    try:
        with pytest.raises(AgentGymError, match=r"is now Trainer.step\(\)"):
            tr.train_step()
        assert tr.steps_done == 0
    finally:
        tr.close()

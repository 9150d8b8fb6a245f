"""An env fault costs one episode (issue 16, item 2): a raising, garbage-returning or hanging env ends
that episode, counted and logged with its task id; the batch, the evaluation, `agentgym rollout` and
the training run go on; a step where most episodes fail stops the run with one clear error. And a
verbose env cannot overflow the model's context in training (item 9)."""

from __future__ import annotations

import io
import json
import time

import pytest
from fakes.faulty_env import FaultyToyEnv, VerboseToyEnv, register_faulty, reset_counts
from fakes.tiny import build_tiny
from fakes.toy_env import ToyFetchEnv
from rich.console import Console

import agentgym
from agentgym.cli import main
from agentgym.core.errors import AgentGymError
from agentgym.core.trajectory import read_jsonl
from agentgym.engines.base import Engine, Generation, SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.rollout.collector import EnvPool, collect
from agentgym.rollout.samples import samples_from_trajectories
from agentgym.trainer import loop
from agentgym.trainer.config import load_config
from agentgym.trainer.evaluate import evaluate
from agentgym.trainer.loop import Trainer
from agentgym.trainer.run import run_training

SP = SamplingParams(temperature=1.0, max_new_tokens=8, seed=0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("fault") / "m", seed=1)


@pytest.fixture(scope="module")
def engine(model_dir):
    return HFEngine(model_dir, seed=0)


@pytest.fixture(scope="module")
def tasks():
    return list(ToyFetchEnv().panel("train"))[:3]


@pytest.fixture(autouse=True)
def _fresh_counts():
    reset_counts()


class Expert(Engine):
    """Plays the toy expert's action read from the prompt's action list (wins within the step cap)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompt_ids, sampling):
        out = []
        for p in prompt_ids:
            line = next(x for x in self.tokenizer.decode(p).splitlines() if x.startswith("Actions:"))
            acts = line[len("Actions: "):].split(" | ")
            pick = next((a for a in acts if a.startswith(("put", "take"))), acts[0])
            ids = self.tokenizer(f"<think></think><action>{pick}</action>", add_special_tokens=False)["input_ids"]
            out.append(Generation(ids, [0.0] * len(ids), self.tokenizer.decode(ids), "stop"))
        return out

    def update_weights(self, weights):
        pass


def _pool(**kw) -> EnvPool:
    return EnvPool(FaultyToyEnv, kw)


@pytest.mark.parametrize("mode,kind,words", [
    ("raise", "step", "RuntimeError: env exploded"),
    ("nonstr", "step", "observation, not a str"),
    ("reset", "reset", "RuntimeError: cannot set up"),
])
def test_one_faulting_episode_ends_alone(engine, tasks, mode, kind, words):
    pool = _pool(mode=mode, faults=1, key=mode)
    lines: list[str] = []
    batch = collect(Expert(engine.tokenizer), pool, tasks, 2, SP, log=lines.append)
    pool.close()
    assert len(batch.trajectories) == 6 and batch.stats.env_failures == 1 and batch.stats.env_timeouts == 0
    (f,) = batch.failures
    assert f.kind == kind and words in f.error and f.task_id == tasks[0].task_id and f.episode_id == 0
    assert len(lines) == 1 and tasks[0].task_id in lines[0] and words in lines[0]
    lost = batch.trajectories[0]
    assert not lost.won and words in lost.meta["env_error"]
    assert lost.steps == []  # the faulting call is not recorded as a step
    assert all(s.episode_id != 0 for s in batch.samples)  # never trained on
    assert all(t.won for t in batch.trajectories[1:])  # every other episode played to the end
    assert {s.episode_id for s in batch.samples} == {1, 2, 3, 4, 5}


def test_a_fault_after_some_turns_keeps_the_record_but_not_the_samples(engine, tasks, tmp_path):
    pool = _pool(mode="raise", faults=1, at_step=2, key="late")
    batch = collect(Expert(engine.tokenizer), pool, tasks[:1], 2, SP, log=lambda _m: None)
    pool.close()
    lost = batch.trajectories[0]
    assert len(lost.steps) == 1 and lost.meta["env_error"].startswith("step: RuntimeError")
    assert batch.failures[0].turn == 1
    path = tmp_path / "r.jsonl"
    batch.to_jsonl(path)
    rebuilt = samples_from_trajectories(list(read_jsonl(path)), engine.tokenizer)
    assert [(s.episode_id, s.turn) for s in rebuilt] == [(s.episode_id, s.turn) for s in batch.samples]


def test_a_hanging_step_times_out_and_its_env_leaves_the_pool(engine, tasks):
    pool = _pool(mode="hang", faults=1, hang_s=3.0, key="hang")
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="1 of 4 episodes ended by an env fault"):
        batch = collect(Expert(engine.tokenizer), pool, tasks[:2], 2, SP, step_timeout_s=0.4)
    assert time.perf_counter() - t0 < 2.5, "the hung step held the batch up"
    assert batch.stats.env_failures == batch.stats.env_timeouts == 1
    assert batch.failures[0].kind == "timeout" and "0.4 s" in batch.failures[0].error
    hung = batch.trajectories[0]
    assert hung.meta["env_error"].startswith("timeout")
    assert sum(t.won for t in batch.trajectories) == 3
    assert len(pool.envs) == 3, "the hung env must never be handed out again"
    again = collect(Expert(engine.tokenizer), pool, tasks[:2], 2, SP, step_timeout_s=0.4)  # a fresh env takes its place
    assert again.stats.env_failures == 0 and again.success_rate == 1.0
    pool.close()


def test_the_first_call_on_a_fresh_env_gets_time_for_setup(engine, tasks):
    pool = _pool(mode="hang", faults=1, hang_s=0.6, at_step=1, key="grace")
    batch = collect(Expert(engine.tokenizer), pool, tasks[:1], 1, SP, step_timeout_s=0.3, log=lambda _m: None)
    assert batch.stats.env_timeouts == 1  # the reset warmed the env: its first step has the plain limit
    pool.close()
    pool = EnvPool(FaultyToyEnv, {"mode": "reset", "faults": 0})
    slow = pool.take(1)[0]
    real = slow.reset
    slow.reset = lambda **kw: (time.sleep(0.6), real(**kw))[1]
    batch = collect(Expert(engine.tokenizer), pool, tasks[:1], 1, SP, step_timeout_s=0.3)
    assert batch.stats.env_failures == 0 and batch.success_rate == 1.0  # a slow first reset is setup
    pool.close()


def test_evaluate_counts_a_faulting_episode_as_a_failure(engine):
    faulty, _ = register_faulty()
    res = evaluate(Expert(engine.tokenizer), faulty, env_kwargs={"mode": "raise", "faults": 2, "key": "eval"},
                   episodes=4, log=lambda _m: None)
    assert res.episodes == 4 and res.env_failures == 2 and res.success == 0.5


def test_cli_rollout_survives_a_faulting_env(model_dir, tmp_path, capsys):
    faulty, _ = register_faulty()
    out = tmp_path / "r.jsonl"
    with pytest.warns(UserWarning, match="episodes ended by an env fault"), pytest.raises(SystemExit) as e:
        main(["rollout", "--env", faulty, "--model", str(model_dir), "--episodes", "4", "--group-size", "2",
              "--max-new-tokens", "8", "--threads", "1", "--out", str(out), "--env-opt", "mode=raise",
              "--env-opt", "faults=1", "--env-opt", "key=cli"])
    assert e.value.code == 0, capsys.readouterr()
    trajs = list(read_jsonl(out))
    assert len(trajs) == 4 and sum(bool(t.meta.get("env_error")) for t in trajs) == 1


# ---- the trainer ----------------------------------------------------------------------------------
COMMON = dict(tasks_per_step=2, group_size=3, eval_episodes=0, max_new_tokens=8, warmup_steps=1, lr=1e-3,
              backend="grpo", tensorboard=False)


def test_training_goes_on_past_an_env_fault_and_logs_it(model_dir, tmp_path):
    faulty, _ = register_faulty()
    buf = io.StringIO()
    cfg = load_config(None, dict(COMMON, env=faulty, model=str(model_dir), steps=2, out_dir=str(tmp_path / "run"),
                                 env_kwargs={"mode": "raise", "faults": 1, "key": "train"}))
    summary = run_training(cfg, console=Console(file=buf, width=300))
    assert summary["steps"] == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["env_failures"] for r in rows] == [1, 0] and rows[0]["episodes"] == 6
    (line,) = rows[0]["env_errors"]
    assert "RuntimeError: env exploded" in line and "task toy/train/" in line
    assert line in buf.getvalue().replace("\n", "")  # the run log names the task and the error
    assert rows[0]["samples_dropped"] == 0 and rows[0]["skipped"] is False  # 2 episodes left in that group


def test_a_group_left_with_one_episode_is_not_trained_on(model_dir, tmp_path):
    faulty, _ = register_faulty()
    cfg = load_config(None, dict(COMMON, env=faulty, model=str(model_dir), steps=1, group_size=2,
                                 out_dir=str(tmp_path / "run"), env_kwargs={"mode": "raise", "faults": 1, "key": "grp"}))
    tr = Trainer(cfg, log=lambda _m: None)
    seen: dict[str, set] = {}
    real = tr.update

    def spy(samples, context_of, step):
        seen["groups"], seen["episodes"] = {s.group_id for s in samples}, {s.episode_id for s in samples}
        return real(samples, context_of, step)

    tr.update = spy
    m = tr.step()
    tr.close()
    # episode 0 failed: its group (0) keeps only episode 1, which has no baseline, so only group 1 trains
    assert m["env_failures"] == 1 and m["samples_dropped"] > 0 and m["skipped"] is False
    assert seen == {"groups": {1}, "episodes": {2, 3}}


def test_a_step_where_most_episodes_fail_stops_the_run_with_one_line(model_dir, tmp_path):
    faulty, _ = register_faulty()
    cfg = load_config(None, dict(COMMON, env=faulty, model=str(model_dir), steps=1, out_dir=str(tmp_path / "run"),
                                 env_kwargs={"mode": "raise", "key": "all"}))
    tr = Trainer(cfg, log=lambda _m: None)
    with pytest.raises(AgentGymError, match=r"step 1: 6 of 6 episodes failed in the env .*RuntimeError: env exploded"):
        tr.step()
    tr.close()


def test_env_step_timeout_is_validated():
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(AgentGymError, match="env_step_timeout_s"):
            load_config(None, {"env_step_timeout_s": bad})
    assert load_config(None, {"env_step_timeout_s": "5"}).env_step_timeout_s == 5


def test_training_on_a_verbose_env_cuts_prompts_and_counts_them(model_dir, tmp_path):
    """Issue 16 item 9 in the trainer: student and teacher prompts fit the context; the metric counts."""
    register_faulty()
    verbose = "test/ALFWorld-VerboseToy-v0"
    if verbose not in agentgym.env_ids():
        agentgym.register(verbose, VerboseToyEnv)
    # registered without a profile, the env is generic whatever its id says: SDAR's teacher is given ALFWorld's
    # skills as c+ through a library file, as a third-party env would be
    alfworld_skills = agentgym.profile_of("alfworld").skill_library
    cfg = load_config(None, dict(COMMON, env=verbose, backend="sdar", model=str(model_dir), steps=1,
                                 out_dir=str(tmp_path / "run"), env_kwargs={"max_steps": 2},
                                 skill_library=str(alfworld_skills)))
    tr = Trainer(cfg, log=lambda _m: None)
    cap = tr.model.config.max_position_embeddings - cfg.max_new_tokens
    assert tr.max_prompt_tokens == cap
    seen: list[int] = []
    real = loop.response_logprobs

    def spy(model, prompts, responses, **kw):
        seen.extend(len(p) for p in prompts)
        return real(model, prompts, responses, **kw)

    loop.response_logprobs = spy
    try:
        m = tr.step()
    finally:
        loop.response_logprobs = real
        tr.close()
    assert m["prompt_truncated"] == m["samples"] > 0 and m["skipped"] is False
    assert len(seen) == 3 * m["samples"] and max(seen) <= cap  # student, reference, teacher (c+ in front)


def test_an_interrupted_collect_never_runs_its_queued_env_calls_later(monkeypatch):
    """Ctrl-C while waiting for env calls: calls still queued are cancelled (a later collect must not find
    a worker stepping a pooled env behind its back), and the running one is abandoned."""
    import threading
    import time

    from agentgym.rollout import collector

    calls = collector._EnvCalls(1)
    release, ran = threading.Event(), []

    def interrupted_wait(self, jobs, results):
        while jobs[0].worker is None:  # the first call is running, the second one queued behind it
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(collector._EnvCalls, "_wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        calls.run([(lambda: release.wait(5), None, None), (lambda: ran.append("queued call"), None, None)])
    release.set()
    time.sleep(0.3)
    assert ran == []
    monkeypatch.undo()  # the pool still works afterwards
    assert [o.value for o in calls.run([(lambda: 7, 1.0, None)])] == [7]

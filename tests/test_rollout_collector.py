"""The lock-step collector: groups, one generate per turn, dropped episodes, samples, JSONL round trip."""

from __future__ import annotations

import warnings

import pytest
from fakes.faulty_env import register_faulty
from fakes.tiny import build_tiny
from fakes.toy_env import ToyFetchEnv, register_toy

import agentgym.rollout.collector as col
from agentgym.core.trajectory import read_jsonl
from agentgym.engines.base import Engine, Generation, SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.rollout.collector import EnvPool, collect
from agentgym.rollout.prompts import encode_prompt
from agentgym.rollout.samples import replay, samples_from_trajectories


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return HFEngine(build_tiny(tmp_path_factory.mktemp("col") / "m", seed=1), seed=0)


@pytest.fixture(scope="module")
def tasks():
    return list(ToyFetchEnv().panel("train"))[:3]


class Recording(Engine):
    """Wraps an engine and records every generate call (the lock-step invariants are about calls)."""

    def __init__(self, inner: Engine):
        self.inner, self.tokenizer, self.calls = inner, inner.tokenizer, []

    def generate(self, prompt_ids, sampling):
        self.calls.append((list(prompt_ids), sampling))
        return self.inner.generate(prompt_ids, sampling)

    def update_weights(self, weights):
        self.inner.update_weights(weights)


class Scripted(Engine):
    """Answers every prompt with the toy expert's action (read from the prompt), or with fixed text."""

    def __init__(self, tokenizer, fixed: str | None = None):
        self.tokenizer, self.fixed = tokenizer, fixed

    def generate(self, prompt_ids, sampling):
        out = []
        for p in prompt_ids:
            text = self.fixed or self._expert(self.tokenizer.decode(p))
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(Generation(ids, [0.0] * len(ids), self.tokenizer.decode(ids), "stop"))
        return out

    @staticmethod
    def _expert(prompt: str) -> str:
        acts = next(line for line in prompt.splitlines() if line.startswith("Actions:"))[len("Actions: "):].split(" | ")
        pick = next((a for a in acts if a.startswith("put")), None) or next((a for a in acts if a.startswith("take")), None)
        return f"<think></think><action>{pick or acts[0]}</action>"

    def update_weights(self, weights):
        pass


def test_lock_step_invariants(engine, tasks):
    env_id = register_toy()
    rec = Recording(engine)
    G = 4
    batch = collect(rec, env_id, tasks, G, SamplingParams(temperature=1.0, max_new_tokens=10, seed=0))
    trajs = batch.trajectories
    assert len(trajs) == len(tasks) * G
    # groups: same task and same env seed within a group, ids 0..B-1
    for b, task in enumerate(tasks):
        group = [t for t in trajs if t.meta["group_id"] == b]
        assert len(group) == G and {t.task["task_id"] for t in group} == {task.task_id}
        assert len({t.seed for t in group}) == 1 and group[0].seed == task.seed
    # one generate call per turn, for exactly the episodes still running at that turn
    lengths = [len(t.steps) for t in trajs]
    assert len(rec.calls) == max(lengths) == batch.stats.turns
    for k, (prompts, _sp) in enumerate(rec.calls):
        assert len(prompts) == sum(n > k for n in lengths)
    assert [len(p) for p, _ in rec.calls] == sorted((len(p) for p, _ in rec.calls), reverse=True)
    # samples: one per turn of each episode, none after an episode ended
    assert len(batch.samples) == sum(lengths)
    for t in trajs:
        mine = [s for s in batch.samples if s.episode_id == t.meta["episode_id"]]
        assert [s.turn for s in mine] == list(range(len(t.steps)))
        assert all(s.episode_reward == t.total_return and s.won == t.won and s.episode_length == len(t.steps) for s in mine)
        assert t.terminated or t.truncated
    # each sample's prompt ids are exactly encode_prompt(user_text); logprobs line up with response ids
    for s in batch.samples[:10]:
        assert s.prompt_ids == encode_prompt(engine.tokenizer, s.user_text)
        assert len(s.response_ids) == len(s.old_logprobs) > 0
    # the collector filled in the family's closing tag and varied the seed per turn
    assert rec.calls[0][1].stop == ("</action>",)
    assert len({sp.seed for _, sp in rec.calls}) == len(rec.calls)
    st = batch.stats
    assert st.generated_tokens == sum(len(s.response_ids) for s in batch.samples) and st.gen_seconds > 0


def test_scripted_expert_policy_wins_and_rewards_flow(engine, tasks):
    env_id = register_toy()
    batch = collect(Scripted(engine.tokenizer), env_id, tasks, 2, SamplingParams())
    # the scripted policy opens drawers in list order, takes and puts: it wins within the step cap
    assert batch.success_rate > 0
    for s in batch.samples:
        assert s.format_valid and s.action_valid
    won = [t for t in batch.trajectories if t.won]
    assert all(t.total_return == 1.0 and t.steps[-1].reward == 1.0 for t in won)


def test_invalid_format_is_flagged_and_fed_back(engine, tasks):
    env_id = register_toy()
    batch = collect(Scripted(engine.tokenizer, fixed="I think I will open drawer 1"), env_id, tasks[:1], 2,
                    SamplingParams(), max_turns=2)
    assert all(not s.format_valid and not s.action_valid for s in batch.samples)
    t = batch.trajectories[0]
    assert t.truncated and len(t.steps) == 2 and t.steps[0].observation != t.steps[1].observation
    assert t.steps[1].observation == "Nothing happens."  # the env's own feedback on the raw text


def test_skill_block_reaches_the_student_prompt_only_as_prefix(engine, tasks):
    env_id = register_toy()
    rec = Recording(engine)
    block = "[Privileged Skill Information]\n- look in the usual drawer first\n\n"
    batch = collect(rec, env_id, tasks[:2], 2, SamplingParams(max_new_tokens=6, seed=1),
                    skill_block_fn=lambda task: block if task.task_type == tasks[0].task_type else None)
    for s in batch.samples:
        assert "[Privileged" not in s.user_text
        assert s.prompt_ids == encode_prompt(engine.tokenizer, s.user_text, privileged=s.prefix)
        assert (s.prefix == block) == (s.task_type == tasks[0].task_type)


def test_parallel_env_stepping_gives_the_same_episodes(engine, tasks):
    env_id = register_toy()
    sp = SamplingParams(temperature=1.0, max_new_tokens=10, seed=3)
    serial = collect(engine, env_id, tasks, 2, sp)
    pool = EnvPool(ToyFetchEnv, {"step_delay": 0.001})
    parallel = collect(engine, pool, tasks, 2, sp, max_workers=4)
    pool.close()
    assert [t.to_dict()["steps"] for t in serial.trajectories] == [t.to_dict()["steps"] for t in parallel.trajectories]


def test_jsonl_export_reload_and_replay(engine, tasks, tmp_path):
    env_id = register_toy()
    batch = collect(engine, env_id, tasks, 2, SamplingParams(temperature=1.0, max_new_tokens=10, seed=4),
                    skill_block_fn=lambda t: "[Privileged Skill Information]\n- x\n\n")
    path = tmp_path / "roll.jsonl"
    assert batch.to_jsonl(path) == len(batch.trajectories)
    back = list(read_jsonl(path))
    assert [t.to_dict() for t in back] == [t.to_dict() for t in batch.trajectories]
    rebuilt = samples_from_trajectories(back, engine.tokenizer)
    assert len(rebuilt) == len(batch.samples)
    for a, b in zip(rebuilt, batch.samples, strict=True):
        assert (a.prompt_ids, a.response_ids, a.user_text, a.group_id, a.episode_id, a.turn) == \
               (b.prompt_ids, b.response_ids, b.user_text, b.group_id, b.episode_id, b.turn)
        assert a.old_logprobs == pytest.approx(b.old_logprobs)
        assert (a.won, a.action_valid, a.format_valid, a.episode_reward) == (b.won, b.action_valid, b.format_valid, b.episode_reward)
    res = replay(back, ToyFetchEnv)
    assert res.ok, res.mismatches
    tampered = back[0]
    tampered.steps[0].reward = 5.0
    assert not replay([tampered], ToyFetchEnv).ok


def test_collect_with_no_tasks_and_env_factories(engine):
    empty = collect(engine, ToyFetchEnv, [], 4, SamplingParams())
    assert empty.samples == [] and empty.trajectories == []
    t = list(ToyFetchEnv(split="test").panel())[:1]
    b = collect(engine, ToyFetchEnv, t, 1, SamplingParams(max_new_tokens=4), env_kwargs={"split": "test"}, max_turns=1)
    assert b.trajectories[0].split == "test" and len(b.samples) == 1


def test_prompts_are_capped_at_the_context_and_counted(engine, tasks, tmp_path, monkeypatch):
    """Issue 16 item 9: a verbose env's prompt is cut to the context minus the response cap."""
    _, verbose = register_faulty()
    monkeypatch.setattr(col, "_warned_truncation", False)
    rec = Recording(engine)
    rec.model = engine.model  # the context length is read from the engine's model
    sp = SamplingParams(temperature=1.0, max_new_tokens=16, seed=0)
    cap = engine.model.config.max_position_embeddings - 16
    with pytest.warns(UserWarning, match="prompt_truncated, warned once"):
        batch = collect(rec, verbose, tasks[:1], 2, sp, max_turns=2)
    full = encode_prompt(engine.tokenizer, batch.samples[0].user_text)
    assert len(full) > cap, "the test env must overflow the tiny model's context"
    assert all(len(p) <= cap for prompts, _ in rec.calls for p in prompts)
    assert batch.stats.prompt_truncated == len(batch.samples) == 4
    assert all(s.prompt_ids[-8:] == full[-8:] for s in batch.samples[:1])  # the tail (assistant header) is kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per process, counted every time
        again = collect(rec, verbose, tasks[:1], 2, sp, max_turns=1)
    assert again.stats.prompt_truncated == 2
    path = tmp_path / "v.jsonl"
    batch.to_jsonl(path)
    rebuilt = samples_from_trajectories(list(read_jsonl(path)), engine.tokenizer)
    assert [s.prompt_ids for s in rebuilt] == [s.prompt_ids for s in batch.samples]  # the reload cuts alike


def test_cli_rollout_prints_success_and_writes_trajectories(engine, tmp_path, capsys):
    from agentgym.cli import main

    env_id = register_toy()
    model_dir = engine.model.name_or_path
    out = tmp_path / "r.jsonl"
    with pytest.raises(SystemExit) as e:
        main(["rollout", "--env", env_id, "--model", str(model_dir), "--episodes", "4", "--group-size", "2",
              "--max-new-tokens", "8", "--threads", "1", "--out", str(out)])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "success" in text and str(out.name) in text
    assert len(list(read_jsonl(out))) == 4
    with pytest.raises(SystemExit) as e:
        main(["rollout", "--env", env_id, "--model", str(tmp_path / "nope")])
    assert e.value.code == 2

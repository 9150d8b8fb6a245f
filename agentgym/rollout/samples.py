"""What a rollout produces: token-level turn-samples for training, whole trajectories for the record.

One turn of one episode is one `TurnSample` (the unit the trainer's loss works on). The trajectories
are written in the one JSONL schema of `agentgym.core.trajectory` (with the optional rollout fields), and
`samples_from_trajectories` rebuilds the exact turn-samples from such a file: the prompt ids are
re-encoded from the recorded observations with the same template, so export -> reload is lossless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.core.trajectory import Trajectory, read_jsonl, write_jsonl
from agentgym.rollout.prompts import encode_prompt, fit_prompt, trajectory_turns


@dataclass
class TurnSample:
    """One turn of one episode.

    - `prompt_ids` = `encode_prompt(tokenizer, user_text, privileged=prefix)`; `prefix` is the skill block
      the *student* saw (Skill-GRPO style runs), else None. A teacher prompt is
      `encode_prompt(tokenizer, user_text, privileged=c_plus)`: same user text, same response ids.
      With prompt style "conversation" (or a system prompt) `user_text` is a `prompts.ChatPrompt`: the
      latest user message as a str, carrying the chat so far, so that the same call gives the teacher
      the student's conversation with c+ added.
    - `response_ids` / `old_logprobs`: the sampled tokens and their raw-model log-probabilities.
    - `episode_reward`: the env return of the whole episode (sum of rewards); `won`, `score` likewise
      per episode. `turn_reward` is this turn's own env reward.
    - `format_valid`: the response followed the answer format; `action_valid`: the env accepted the
      action *and* the format was valid (what the invalid-action penalty uses).
    """

    prompt_ids: list[int]
    response_ids: list[int]
    old_logprobs: list[float]
    user_text: str
    task_id: str
    task_type: str
    group_id: int
    episode_id: int
    turn: int
    episode_reward: float = 0.0
    won: bool = False
    score: float = 0.0
    action_valid: bool = True
    format_valid: bool = True
    turn_reward: float = 0.0
    prefix: str | None = None
    response_text: str = ""
    action: str = ""
    finish_reason: str = ""
    episode_length: int = 0


@dataclass
class EpisodeFailure:
    """One episode ended by its env, not by the policy: `reset` or `step` raised, returned something
    that is not (str observation, finite reward, dict info), or ran past the per-call time limit.

    `kind` is "reset", "step" or "timeout"; `turn` the turn it happened at (0 for a reset)."""

    task_id: str
    episode_id: int
    group_id: int
    turn: int
    kind: str
    error: str

    def line(self) -> str:
        """The run-log line: which task, where, and the error."""
        where = "reset" if self.kind == "reset" else f"turn {self.turn}"
        what = "timed out" if self.kind == "timeout" else "failed"
        return (f"env fault: task {self.task_id} (episode {self.episode_id}, {where}) {what}: {self.error}; "
                "that episode ended and is not trained on")


@dataclass
class RolloutStats:
    """Where the time went, how much was generated, and what went wrong (env faults, cut prompts)."""

    episodes: int = 0
    env_failures: int = 0  # episodes ended by an env fault (timeouts included)
    env_timeouts: int = 0  # of those, the ones whose reset/step ran past the time limit
    prompt_truncated: int = 0  # prompts cut to fit the model's context (see prompts.fit_prompt)
    #: conversation turns whose prompt does not continue the previous turn's prompt + sampled response
    #: token for token (a template that rewrites past turns, e.g. Qwen3 dropping <think>; see collector)
    prompt_mismatch: int = 0
    episodes_over_budget: int = 0  # episodes ended by max_episode_tokens (failures, meta token_budget_exceeded)
    turns: int = 0
    generate_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    gen_seconds: float = 0.0
    env_seconds: float = 0.0
    prompt_seconds: float = 0.0  # building and encoding prompts
    wall_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.gen_seconds if self.gen_seconds > 0 else 0.0

    @property
    def episodes_per_minute(self) -> float:
        return 60.0 * self.episodes / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        d = dict(self.__dict__)
        d["tokens_per_second"] = self.tokens_per_second
        d["episodes_per_minute"] = self.episodes_per_minute
        return d


@dataclass
class RolloutBatch:
    """What `collect` returns. `samples` hold only episodes that ended normally; an episode ended by an
    env fault keeps its trajectory (lost, `meta["env_error"]` says why) and is listed in `failures`."""

    samples: list[TurnSample] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)
    stats: RolloutStats = field(default_factory=RolloutStats)
    failures: list[EpisodeFailure] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        n = len(self.trajectories)
        return sum(t.won for t in self.trajectories) / n if n else 0.0

    @property
    def mean_score(self) -> float:
        n = len(self.trajectories)
        return sum(t.score for t in self.trajectories) / n if n else 0.0

    def to_jsonl(self, path: str | Path) -> int:
        """Write the trajectories (with the rollout fields) as JSONL; returns the number written."""
        return write_jsonl(self.trajectories, path)


def samples_from_trajectories(trajectories: Iterable[Trajectory], tokenizer: Any) -> list[TurnSample]:
    """Rebuild the turn-samples of recorded model rollouts (records need `response_ids` + `meta`).

    Episodes ended by an env fault (`meta["env_error"]`) give no samples, as in the rollout itself, and
    prompts are cut to the recorded `meta["max_prompt_tokens"]` the same way, so the reload is exact.
    A record of a conversation-style run (`meta["prompt_style"]`, `meta["system_prompt"]`) rebuilds its
    chat from the recorded observations and response texts."""
    out: list[TurnSample] = []
    for ti, traj in enumerate(trajectories):
        meta = traj.meta or {}
        if meta.get("env_error"):
            continue
        cap = meta.get("max_prompt_tokens")
        family = meta.get("family", "generic")
        prefix = meta.get("prefix")
        turns = trajectory_turns(family, traj, history=int(meta.get("history", 2)), prompt_style=meta.get("prompt_style", "step"),
                                 system_prompt=meta.get("system_prompt"), max_tokens=cap)
        for k, (user_text, s) in enumerate(turns):
            if s.response_ids is None:
                raise ValueError(f"trajectory {ti} step {k} has no response_ids (not a model rollout record)")
            fmt = True if s.format_valid is None else bool(s.format_valid)
            out.append(TurnSample(
                prompt_ids=fit_prompt(encode_prompt(tokenizer, user_text, privileged=prefix), cap, tokenizer),
                response_ids=list(s.response_ids),
                old_logprobs=list(s.logprobs or [0.0] * len(s.response_ids)),
                user_text=user_text,
                task_id=str(traj.task.get("task_id", "")),
                task_type=str(traj.task.get("task_type", "")),
                group_id=int(meta.get("group_id", ti)),
                episode_id=int(meta.get("episode_id", ti)),
                turn=k,
                episode_reward=traj.total_return,
                won=traj.won,
                score=traj.score,
                action_valid=bool(s.action_valid) and fmt,
                format_valid=fmt,
                turn_reward=s.reward,
                prefix=prefix,
                response_text=s.response or "",
                action=s.action,
                episode_length=len(traj.steps),
            ))
    return out


def load_rollouts(path: str | Path, tokenizer: Any = None) -> tuple[list[Trajectory], list[TurnSample]]:
    """Trajectories from a rollout JSONL, and their turn-samples when a tokenizer is given."""
    trajs = list(read_jsonl(path))
    return trajs, (samples_from_trajectories(trajs, tokenizer) if tokenizer is not None else [])


@dataclass
class ReplayResult:
    episodes: int = 0
    matched: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.matched == self.episodes


def replay(trajectories: Sequence[Trajectory], env_factory: Any) -> ReplayResult:
    """Re-run every recorded action on a fresh env (same task, same seed) and check that observations,
    rewards, validity and the outcome come out the same: the record is a faithful log of the episode."""
    res = ReplayResult()
    for ti, traj in enumerate(trajectories):
        env = env_factory() if callable(env_factory) else env_factory
        res.episodes += 1
        problems: list[str] = []
        obs, info = env.reset(seed=traj.seed, options={"task": traj.task})
        for k, s in enumerate(traj.steps):
            if obs != s.observation:
                problems.append(f"step {k}: observation differs")
                break
            obs, r, term, trunc, info = env.step(s.action)
            if abs(float(r) - s.reward) > 1e-9 or bool(info["action_valid"]) != bool(s.action_valid):
                problems.append(f"step {k}: reward/validity differs")
                break
        # an episode ended by its token budget is a failure whatever the env said of its last step
        won_ok = bool(info["won"]) == traj.won or bool((traj.meta or {}).get("token_budget_exceeded"))
        if not problems and (obs != traj.final_observation or not won_ok):
            problems.append("final observation/outcome differs")
        if problems:
            res.mismatches.append(f"trajectory {ti} ({traj.task.get('task_id')}): {problems[0]}")
        else:
            res.matched += 1
        if callable(env_factory):
            env.close()
    return res

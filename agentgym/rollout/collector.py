"""The multi-turn collector: B tasks x G rollouts in lock step, one batched generate per turn.

    batch = collect(engine, "agentgym/WebShop-v0", tasks, group_size=8, sampling=SamplingParams(...),
                    env_kwargs={"split": "train"}, skill_block_fn=None, history=None, max_workers=1)

Every turn: the prompts of all live episodes are built (template of the env family, last H turns,
admissible actions) and encoded, generated in *one* `engine.generate` call, parsed, and the envs are
stepped (on `max_workers` env threads, default the env profile's `rollout_workers`; more for slow envs
such as the browser). Episodes that
ended leave the batch, so later turns cost only what is still running. The G rollouts of a task form
a group: their envs are reset with the same seed, so they face the same task instance.

Envs are kept in a pool between calls (an env per live episode), because building some envs (an index,
a browser) costs far more than a reset.

Fault isolation: an env fault costs one episode, never the batch. Every `reset` and `step` runs on a
worker thread (long-lived daemon threads, `_EnvCalls`) under a time limit (`step_timeout_s`; the first
call on a fresh env instance gets `FIRST_CALL_GRACE` times that, for one-time setup such as starting a
browser or loading an index). A call that raises, returns something that is not (str observation,
finite number as reward, dict info, a list of str as admissible actions), or runs past the limit
ends that episode: it is listed in `RolloutBatch.failures` and counted in `stats.env_failures`
(`env_timeouts`), its trajectory is kept with `won=False` and `meta["env_error"]`, and its turn-samples
are dropped (a half-played episode has no outcome to learn from). A timed-out env is taken out of the
pool (its state is unknown and its call may still be running; its worker closes it when the call
returns, and a fresh worker takes the free slot), so nothing later waits on it. Whether a step with
many faults goes on is the caller's decision (the trainer stops when most of a step's episodes fail).

Prompt bounds: the encoded prompt is cut to the model's context minus the response cap
(`prompts.fit_prompt`; `max_prompt_tokens`), counted in `stats.prompt_truncated`, warned about once.

Prompt styles (`prompt_style`): "step" (the default) prompts each turn afresh with the family's template;
"conversation" prompts the episode as one chat, system (`system_prompt`), user (task + first observation),
assistant (response 1), user (observation 2), ..., so turn k's prompt is the chat template of the
messages so far with the generation prompt. A conversation too long for `max_prompt_tokens` loses its
oldest turns first (`prompts.encode_chat`). Each turn is still one turn-sample. A turn whose prompt does not
continue the previous turn's prompt and sampled response token for token (Qwen3's template drops past
`<think>` text; a response that re-tokenizes differently) is counted in `stats.prompt_mismatch` and
warned about once, naming the cause when the template is one that drops past thoughts.

Token budget (`max_episode_tokens`): an episode whose generated tokens pass it ends after that turn, as a
failure (`won=False`, `meta["token_budget_exceeded"]`), counted in `stats.episodes_over_budget`.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import queue
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentgym.core.env import ADMISSIBLE
from agentgym.core.errors import AgentGymError
from agentgym.core.registry import make, profile_of, template
from agentgym.core.task import Task
from agentgym.core.trajectory import Step, Trajectory
from agentgym.engines.base import Engine, SamplingParams
from agentgym.rollout.parser import parse_response
from agentgym.rollout.prompts import (
    PROMPT_STYLES,
    ChatPrompt,
    EpisodePrompts,
    context_length,
    drops_past_think,
    encode_chat,
    encode_prompt,
    fit_prompt,
    has_chat_template,
)
from agentgym.rollout.samples import EpisodeFailure, RolloutBatch, RolloutStats, TurnSample

#: Default time limit of one env `reset` or `step`, in seconds (TrainConfig.env_step_timeout_s).
STEP_TIMEOUT_S = 60.0
#: The first call on a fresh env instance may take this many times the limit (one-time setup).
FIRST_CALL_GRACE = 10.0


class EnvPool:
    """Reusable env instances for one (env id or factory, kwargs). `take(n)` returns n envs."""

    def __init__(self, env: str | Callable[[], Any], env_kwargs: dict[str, Any] | None = None):
        self.spec = env
        self.env_kwargs = dict(env_kwargs or {})
        self.envs: list[Any] = []
        self.warm: set[int] = set()  # ids of pooled envs that answered a call (past one-time setup)

    def _make(self):
        if callable(self.spec):
            return self.spec(**self.env_kwargs) if self.env_kwargs else self.spec()

        return make(self.spec, **self.env_kwargs)

    def take(self, n: int) -> list[Any]:
        while len(self.envs) < n:
            self.envs.append(self._make())
        return self.envs[:n]

    def discard(self, env: Any) -> None:
        """Take an env out of the pool (a hung one); the next `take` builds a fresh one in its place."""
        self.envs = [e for e in self.envs if e is not env]
        self.warm.discard(id(env))

    def close(self) -> None:
        for e in self.envs:
            with contextlib.suppress(Exception):
                e.close()
        self.envs.clear()
        self.warm.clear()


_POOLS: dict[tuple, EnvPool] = {}


def _pool_for(env: str | Callable[[], Any] | EnvPool, env_kwargs: dict[str, Any]) -> EnvPool:
    if isinstance(env, EnvPool):
        return env
    try:
        key = (env if isinstance(env, str) else id(env), tuple(sorted((k, repr(v)) for k, v in env_kwargs.items())))
    except Exception:
        return EnvPool(env, env_kwargs)
    if key not in _POOLS:
        _POOLS[key] = EnvPool(env, env_kwargs)
    return _POOLS[key]


def close_pools() -> None:
    """Close every pooled env (called at interpreter exit; call it yourself to free browsers early)."""
    for p in _POOLS.values():
        p.close()
    _POOLS.clear()


atexit.register(close_pools)


class EnvFault(Exception):
    """An env broke its contract (a non-string observation, a malformed step result)."""


@dataclass
class _Outcome:
    value: Any = None
    error: str | None = None  # "TypeName: message" of what the call raised
    timed_out: bool = False


class _Job:
    def __init__(self, index: int, fn: Callable[[], Any], limit: float | None, results: queue.SimpleQueue,
                 on_abandon: Callable[[], None] | None):
        self.index, self.fn, self.limit, self.results, self.on_abandon = index, fn, limit, results, on_abandon
        self.lock = threading.Lock()
        self.finished = self.abandoned = self.cancelled = False
        self.worker: _Worker | None = None


class _Worker(threading.Thread):
    """A daemon thread that runs env calls from a shared queue until it is told to stop or retired.

    Daemon, so that a call that never returns cannot keep the process alive at exit; long-lived, so
    that env code bound to its calling thread (a JVM attachment) sees the same few threads every step."""

    def __init__(self, jobs: queue.SimpleQueue):
        super().__init__(name="agentgym-env", daemon=True)
        self.jobs = jobs
        self.retired = False

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            with job.lock:
                if job.cancelled:  # its caller was interrupted before this job started: never run it
                    continue
                job.worker = self
            job.results.put(("start", job.index, time.monotonic()))
            try:
                out = _Outcome(value=job.fn())
            except BaseException as e:  # an env calling sys.exit is a fault of that episode too
                out = _Outcome(error=_describe(e))
            with job.lock:
                job.finished = True
                abandoned = job.abandoned
            if abandoned:  # the caller gave up on it: clean up here, where the call ran, and leave
                if job.on_abandon is not None:
                    with contextlib.suppress(Exception):
                        job.on_abandon()
                return
            job.results.put(("done", job.index, out))
            if self.retired:
                return


class _EnvCalls:
    """Env calls on `workers` threads, each under its own time limit (see the module docstring).

    A call past its limit is abandoned: its worker is retired (it ends when the call returns) and a new
    worker takes its slot, so a hung env never blocks the calls after it."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads = [self._spawn() for _ in range(self.workers)]

    def _spawn(self) -> _Worker:
        w = _Worker(self.jobs)
        w.start()
        return w

    def run(self, calls: Sequence[tuple[Callable[[], Any], float | None, Callable[[], None] | None]]) -> list[_Outcome]:
        """Run (fn, limit seconds or None, on_abandon) calls; one `_Outcome` each, in order."""
        results: queue.SimpleQueue = queue.SimpleQueue()
        jobs = [_Job(i, fn, limit, results, on_abandon) for i, (fn, limit, on_abandon) in enumerate(calls)]
        for j in jobs:
            self.jobs.put(j)
        try:
            return self._wait(jobs, results)
        except BaseException:  # interrupted (Ctrl-C): no queued job may run later on a pooled env
            started = []
            for j in jobs:  # cancel them all first: abandoning spawns a worker that would take the next one
                with j.lock:
                    j.cancelled = True
                    if j.worker is not None:
                        started.append(j)
            for j in started:
                self._abandon(j)
            raise

    def _wait(self, jobs: list[_Job], results: queue.SimpleQueue) -> list[_Outcome]:
        out: list[_Outcome | None] = [None] * len(jobs)
        deadlines: dict[int, float] = {}
        left = len(jobs)
        while left:
            wait = max(0.0, min(deadlines.values()) - time.monotonic()) if deadlines else None
            try:
                kind, i, payload = results.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic()
                for i in [k for k, d in deadlines.items() if d <= now]:
                    if self._abandon(jobs[i]):
                        out[i] = _Outcome(timed_out=True, error=f"no answer within {jobs[i].limit:g} s")
                        left -= 1
                    del deadlines[i]
                continue
            if out[i] is not None:
                continue
            if kind == "start":
                if jobs[i].limit is not None:
                    deadlines[i] = payload + jobs[i].limit
            else:
                out[i] = payload
                deadlines.pop(i, None)
                left -= 1
        return [o for o in out if o is not None]

    def _abandon(self, job: _Job) -> bool:
        """Give up on a running call; False when it finished meanwhile (its result is then on its way)."""
        with job.lock:
            if job.finished:
                return False
            job.abandoned = True
        with self.lock:
            if job.worker is not None:
                job.worker.retired = True
                self.threads = [t for t in self.threads if t is not job.worker]
            self.threads.append(self._spawn())
        return True


_CALLERS: dict[int, _EnvCalls] = {}
_CALLERS_LOCK = threading.Lock()


def _callers(workers: int) -> _EnvCalls:
    """The process's env-call threads for a worker count (kept: threads are reused across steps)."""
    with _CALLERS_LOCK:
        if workers not in _CALLERS:
            _CALLERS[workers] = _EnvCalls(workers)
        return _CALLERS[workers]


def _describe(e: BaseException) -> str:
    """An exception as one short line for the run log: "TypeName: first line of the message"."""
    msg = str(e).strip().splitlines()
    text = f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _check_info(info: Any, what: str) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise EnvFault(f"{what} returned a {type(info).__name__} info, not a dict")
    adm = info.get(ADMISSIBLE)
    if adm is not None and not (isinstance(adm, (list, tuple)) and all(isinstance(a, str) for a in adm)):
        raise EnvFault(f"{what} returned {ADMISSIBLE} that is not a list of str")
    return info


def _checked_reset(env: Any, seed: int, task: Task) -> tuple[str, dict[str, Any]]:
    res = env.reset(seed=seed, options={"task": task})
    if not (isinstance(res, tuple) and len(res) == 2):
        raise EnvFault(f"reset returned {type(res).__name__}, not (observation, info)")
    obs, info = res
    if not isinstance(obs, str):
        raise EnvFault(f"reset returned a {type(obs).__name__} observation, not a str")
    return obs, _check_info(info, "reset")


def _checked_step(env: Any, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
    res = env.step(action)
    if not (isinstance(res, tuple) and len(res) == 5):
        raise EnvFault(f"step returned {type(res).__name__}, not (observation, reward, terminated, truncated, info)")
    obs, reward, term, trunc, info = res
    if not isinstance(obs, str):
        raise EnvFault(f"step returned a {type(obs).__name__} observation, not a str")
    try:
        reward = float(reward)
    except (TypeError, ValueError):
        raise EnvFault(f"step returned a {type(reward).__name__} reward, not a number") from None
    if not math.isfinite(reward):
        raise EnvFault(f"step returned a non-finite reward ({reward})")
    return obs, reward, bool(term), bool(trunc), _check_info(info, "step")


_warned_truncation = False


def _warn_truncated(n: int, cap: int, log: Callable[[str], None] | None, chat: bool = False) -> None:
    """Say once per process that prompts are being cut (the count goes to the metrics every time)."""
    global _warned_truncation
    if _warned_truncation:
        return
    _warned_truncation = True
    how = "oldest turns left out first, then head and tail kept" if chat else "head and tail kept"
    msg = (f"{n} prompt(s) longer than the model's context allows ({cap} tokens after the response cap) were cut "
           f"({how}); counted as prompt_truncated, warned once")
    if log is not None:
        log(msg)
    else:
        warnings.warn(msg, stacklevel=3)


_warned_mismatch = False


def _warn_mismatch(n: int, tokenizer: Any, log: Callable[[str], None] | None) -> None:
    """Say once per process that conversation prompts do not continue the tokens sampled before (the
    count goes to the metrics every time), naming the cause when the template drops past thoughts."""
    global _warned_mismatch
    if _warned_mismatch:
        return
    _warned_mismatch = True
    cause = ("the chat template drops the <think> text of past assistant turns (Qwen3-style), so later prompts "
             "show earlier responses without their thoughts" if drops_past_think(tokenizer) else
             "past responses re-tokenize differently inside the chat template, or the template rewrites past turns")
    msg = (f"{n} conversation prompt(s) do not continue the previous turn's prompt and sampled response token for "
           f"token: {cause}. Each turn still trains on exactly the prompt it was sampled from (the teacher on the "
           "same chat), but that context is not what the model produced; counted as prompt_mismatch, warned once")
    if log is not None:
        log(msg)
    else:
        warnings.warn(msg, stacklevel=3)


@dataclass
class _Episode:
    episode_id: int
    group_id: int
    task: Task
    seed: int
    env: Any
    prefix: str | None
    obs: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    prompts: EpisodePrompts | None = None  # its turns' prompts (set once the reset gave the first observation)
    traj: Trajectory | None = None
    samples: list[TurnSample] = field(default_factory=list)
    done: bool = False
    error: EpisodeFailure | None = None
    last_seq: list[int] | None = None  # last turn's prompt + response ids, when that prompt was not cut
    gen_tokens: int = 0  # generated tokens so far (max_episode_tokens)
    over_budget: bool = False


def _env_id_of(env: Any, spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    s = getattr(env, "spec", None)
    return getattr(s, "id", None) or type(getattr(env, "unwrapped", env)).__name__


def collect(
    engine: Engine,
    env: str | Callable[[], Any] | EnvPool,
    tasks: Sequence[Task],
    group_size: int,
    sampling: SamplingParams,
    *,
    env_kwargs: dict[str, Any] | None = None,
    skill_block_fn: Callable[[Task], str | None] | None = None,
    history: int | None = None,
    max_workers: int | None = None,
    max_turns: int | None = None,
    seed: int | None = None,
    family: str | None = None,
    policy_name: str = "model",
    step_timeout_s: float | None = STEP_TIMEOUT_S,
    max_prompt_tokens: int | None = None,
    log: Callable[[str], None] | None = None,
    prompt_style: str = "step",
    system_prompt: str | None = None,
    max_episode_tokens: int | None = None,
) -> RolloutBatch:
    """Roll out `group_size` episodes of every task, all in lock step. See the module docstring.

    - `env`: a registered env id, a factory (called with `**env_kwargs`), or an `EnvPool`.
    - `skill_block_fn(task)`: a block the *student* sees in front of every prompt of that task's
      episodes (Skill-GRPO style); None for ordinary rollouts. It is called once per task.
    - `history`: H, the number of past turns in the prompt (default: the family's template).
    - `seed`: env reset seed of group b is `seed + b`; default: the task's own seed.
    - `sampling.stop` empty means "the family's closing tags"; `sampling.seed` (if set) is varied per
      turn so that turns do not reuse the same random stream.
    - `max_turns`: an extra cap on top of the env's own step cap.
    - `step_timeout_s`: time limit of one env reset/step (None: none); past it the episode ends as a fault.
    - `max_prompt_tokens`: prompt ids are cut to this (`fit_prompt`); default the engine's context length
      minus `sampling.max_new_tokens`, no cap when the engine does not tell its context.
    - `log`: where env-fault lines and the one truncation warning go (default: one `warnings.warn`
      summing up the faults of this call).
    - `prompt_style`: "step" or "conversation"; `system_prompt`: a system message first in every prompt
      (None: none); `max_episode_tokens`: the episode's generated-token budget (None: none). See the
      module docstring; both non-default options need a tokenizer with a chat template.
    """
    if step_timeout_s is not None and not (step_timeout_s > 0 and math.isfinite(step_timeout_s)):
        raise ValueError(f"step_timeout_s must be a positive number of seconds or None, got {step_timeout_s!r}")
    if prompt_style not in PROMPT_STYLES:
        raise AgentGymError(f"unknown prompt_style {prompt_style!r}; valid: {', '.join(PROMPT_STYLES)}")
    if (prompt_style != "step" or system_prompt) and not has_chat_template(engine.tokenizer):
        what = f"prompt_style {prompt_style}" if prompt_style != "step" else "system_prompt"
        raise AgentGymError(f"the tokenizer has no chat template; {what} renders prompts through one")
    if max_episode_tokens is not None and max_episode_tokens < 1:
        raise ValueError(f"max_episode_tokens must be >= 1 or None, got {max_episode_tokens!r}")
    chat = prompt_style == "conversation"
    t_start = time.perf_counter()
    env_kwargs = dict(env_kwargs or {})
    pool = _pool_for(env, env_kwargs)
    n_eps = len(tasks) * group_size
    envs = pool.take(n_eps)
    profile = profile_of(envs[0] if envs else env)
    fam = family or profile.family
    tpl = template(fam)
    H = tpl.history if history is None else int(history)
    if not sampling.stop:
        sampling = replace(sampling, stop=tuple(tpl.stop))
    tok = engine.tokenizer
    if max_prompt_tokens is None:
        ctx = context_length(engine)
        max_prompt_tokens = max(1, ctx - sampling.max_new_tokens) if ctx is not None else None
    env_id = _env_id_of(envs[0], env if not isinstance(env, EnvPool) else env.spec) if envs else str(env)
    stats = RolloutStats(episodes=n_eps)
    # the profile's threads; an env class's own `rollout_workers` attribute (the older way) still counts
    own = getattr(getattr(envs[0], "unwrapped", envs[0]), "rollout_workers", None) if envs else None
    workers = max_workers if max_workers is not None else int(own or profile.rollout_workers)
    calls = _callers(workers)
    failures: list[EpisodeFailure] = []

    def limit_for(e: Any) -> float | None:
        if step_timeout_s is None:
            return None
        return step_timeout_s if id(e) in pool.warm else step_timeout_s * FIRST_CALL_GRACE

    def fail(ep: _Episode, kind: str, error: str, turn: int) -> None:
        ep.error = EpisodeFailure(ep.task.task_id, ep.episode_id, ep.group_id, turn, kind, error)
        ep.done = True
        failures.append(ep.error)
        stats.env_failures += 1
        stats.env_timeouts += kind == "timeout"
        if log is not None:
            log(ep.error.line())

    def run_calls(eps: Sequence[_Episode], make_fn: Callable[[_Episode], Callable[[], Any]], kind: str,
                  turn: int) -> list[Any]:
        """One call per episode on the env threads; an episode whose call fails is ended (None)."""
        t0 = time.perf_counter()
        # a hung env's worker closes it once the call returns (closing it under a running call is unsafe)
        jobs = [(make_fn(ep), limit_for(ep.env), getattr(ep.env, "close", None)) for ep in eps]
        outs = calls.run(jobs)
        stats.env_seconds += time.perf_counter() - t0
        values: list[Any] = []
        for ep, out, job in zip(eps, outs, jobs, strict=True):
            if out.timed_out:
                pool.discard(ep.env)  # its state is unknown and its call may still run: never reused
                fail(ep, "timeout", f"{kind} gave no answer within {job[1]:g} s", turn)
                values.append(None)
            elif out.error is not None:
                fail(ep, kind, out.error, turn)
                values.append(None)
            else:
                pool.warm.add(id(ep.env))
                values.append(out.value)
        return values

    # ---- reset every episode (same seed within a group) -----------------------------------------
    episodes: list[_Episode] = []
    for b, task in enumerate(tasks):
        prefix = skill_block_fn(task) if skill_block_fn is not None else None
        prefix = prefix or None
        reset_seed = (seed + b) if seed is not None else int(task.seed)
        for g in range(group_size):
            k = b * group_size + g
            episodes.append(_Episode(k, b, task, reset_seed, envs[k], prefix))

    for ep in episodes:
        split = getattr(getattr(ep.env, "unwrapped", ep.env), "split", env_kwargs.get("split", ""))
        ep.traj = Trajectory(env_id=env_id, split=split, policy=policy_name, task=ep.task.to_dict(), seed=ep.seed,
                             meta={"family": fam, "history": H, "prefix": ep.prefix, "group_id": ep.group_id,
                                   "episode_id": ep.episode_id, "max_prompt_tokens": max_prompt_tokens})
        # only what differs from the defaults, so default records stay as they were
        ep.traj.meta.update({k: v for k, v in (("prompt_style", prompt_style if chat else None),
                                                ("system_prompt", system_prompt),
                                                ("max_episode_tokens", max_episode_tokens)) if v is not None})
    reset_results = run_calls(episodes, lambda ep: (lambda e=ep: _checked_reset(e.env, e.seed, e.task)), "reset", 0)
    for ep, res in zip(episodes, reset_results, strict=True):
        if res is not None:
            ep.obs, ep.info = res
            ep.prompts = EpisodePrompts(fam, ep.task.instruction or ep.info.get("instruction", ""), history=H,
                                        prompt_style=prompt_style, system_prompt=system_prompt,
                                        max_tokens=max_prompt_tokens)

    # ---- lock-step turns ------------------------------------------------------------------------
    live = [ep for ep in episodes if not ep.done]
    turn = 0
    while live and (max_turns is None or turn < max_turns):
        t0 = time.perf_counter()
        texts = [ep.prompts.prompt(ep.obs, ep.info.get(ADMISSIBLE)) for ep in live]
        prompts = []
        cut_now: list[bool] = []
        for text, ep in zip(texts, live, strict=True):
            dropped = 0
            if isinstance(text, ChatPrompt):
                ids, dropped = encode_chat(tok, text.messages, ep.prefix, text.max_tokens)
            else:
                ids = encode_prompt(tok, text, privileged=ep.prefix)
            cut = dropped > 0
            if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
                ids = fit_prompt(ids, max_prompt_tokens, tok)
                cut = True
            stats.prompt_truncated += cut
            if chat and ep.last_seq is not None and not cut and ids[:len(ep.last_seq)] != ep.last_seq:
                stats.prompt_mismatch += 1
            cut_now.append(cut)
            prompts.append(ids)
        stats.prompt_seconds += time.perf_counter() - t0
        sp = sampling if sampling.seed is None else replace(sampling, seed=sampling.seed * 1_000_003 + turn)
        t0 = time.perf_counter()
        gens = engine.generate(prompts, sp)
        stats.gen_seconds += time.perf_counter() - t0
        stats.generate_calls += 1
        stats.prompt_tokens += sum(len(p) for p in prompts)
        stats.generated_tokens += sum(len(g.token_ids) for g in gens)
        parsed = [parse_response(fam, g.text) for g in gens]
        actions = {ep.episode_id: pa.action for ep, pa in zip(live, parsed, strict=True)}
        results = run_calls(live, lambda ep, acts=actions: (lambda e=ep: _checked_step(e.env, acts[e.episode_id])),
                            "step", turn)

        still: list[_Episode] = []
        for ep, text, prompt, gen, pa, res, cut in zip(live, texts, prompts, gens, parsed, results, cut_now,
                                                       strict=True):
            if res is None:  # an env fault ended this episode (see `fail`)
                continue
            if chat:
                ep.last_seq = None if cut else list(prompt) + list(gen.token_ids)
            ep.gen_tokens += len(gen.token_ids)
            if max_episode_tokens is not None and ep.gen_tokens > max_episode_tokens:
                ep.over_budget = True
            obs2, reward, term, trunc, info2 = res
            env_valid = bool(info2.get("action_valid", True))
            assert ep.traj is not None
            ep.traj.steps.append(Step(
                observation=ep.obs, action=pa.action, reward=float(reward), action_valid=env_valid,
                admissible_actions=ep.info.get(ADMISSIBLE), response=gen.text, format_valid=pa.valid_format,
                response_ids=list(gen.token_ids), logprobs=[float(x) for x in gen.logprobs],
            ))
            ep.samples.append(TurnSample(
                prompt_ids=prompt, response_ids=list(gen.token_ids), old_logprobs=list(gen.logprobs), user_text=text,
                task_id=ep.task.task_id, task_type=ep.task.task_type, group_id=ep.group_id, episode_id=ep.episode_id,
                turn=turn, action_valid=env_valid and pa.valid_format, format_valid=pa.valid_format,
                turn_reward=float(reward), prefix=ep.prefix, response_text=gen.text, action=pa.action,
                finish_reason=gen.finish_reason,
            ))
            ep.prompts.acted(ep.obs, pa.action, gen.text)
            ep.obs, ep.info = obs2, info2
            if term or trunc or ep.over_budget:
                ep.done = True
                ep.traj.terminated, ep.traj.truncated = bool(term), bool(trunc) or (ep.over_budget and not term)
            else:
                still.append(ep)
        live = still
        turn += 1
        stats.turns += 1
    if stats.prompt_truncated and max_prompt_tokens is not None:
        _warn_truncated(stats.prompt_truncated, max_prompt_tokens, log, chat)
    if stats.prompt_mismatch:
        _warn_mismatch(stats.prompt_mismatch, tok, log)

    # ---- finish episodes ------------------------------------------------------------------------
    batch = RolloutBatch(stats=stats, failures=failures)
    for ep in episodes:
        assert ep.traj is not None
        batch.trajectories.append(ep.traj)
        if ep.error is not None:  # lost to an env fault: recorded as a failure, never trained on
            ep.traj.truncated, ep.traj.won, ep.traj.score = True, False, 0.0
            ep.traj.final_observation = ep.obs
            ep.traj.meta["env_error"] = f"{ep.error.kind}: {ep.error.error}"
            continue
        if not ep.done:  # stopped by max_turns
            ep.traj.truncated = True
        ep.traj.final_observation = ep.obs
        ep.traj.won = bool(ep.info.get("won", False))
        ep.traj.score = float(ep.info.get("score", 0.0))
        if ep.over_budget:  # past its token budget: a failure, whatever its last step did
            ep.traj.won, ep.traj.score = False, 0.0
            ep.traj.meta["token_budget_exceeded"] = True
            ep.traj.meta["generated_tokens"] = ep.gen_tokens
            stats.episodes_over_budget += 1
        ret = ep.traj.total_return
        for s in ep.samples:
            s.episode_reward, s.won, s.score, s.episode_length = ret, ep.traj.won, ep.traj.score, len(ep.samples)
        batch.samples.extend(ep.samples)
    if failures and log is None:
        warnings.warn(f"{len(failures)} of {n_eps} episodes ended by an env fault ({failures[0].line()})", stacklevel=2)
    stats.wall_seconds = time.perf_counter() - t_start
    return batch

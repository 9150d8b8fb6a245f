"""Hostile and careless input, measured: fuzz the built-in envs and run the CLI bad-input matrix (issue 16).

    python tools/fuzz_inputs.py                          # both parts: 10,000 actions per env + the CLI matrix
    python tools/fuzz_inputs.py --only env --actions 2000 --envs alfworld,searchqa
    python tools/fuzz_inputs.py --only cli --cases 'train*' --jobs 2
    python tools/fuzz_inputs.py --list                   # the CLI cases, without running them

Env part: each env gets N actions, a mix of admissible actions, mutated ones, env-format templates with
junk inside, unicode junk, huge strings, empty strings and non-strings; garbage (the last four) must come
back with `action_valid=False`, and nothing may raise. Then bad resets (unknown task ids, options of the
wrong type, task dicts missing fields): a refusal must be an `AgentGymError` (one clear line) that leaves
the env in its previous episode; an accepted reset must play on without raising.

CLI part: every case is a bad invocation run as `python -m agentgym ...` in a scratch folder, bounded by a
timeout. A bad argument must give a non-zero exit and exactly one `agentgym: error: ...` line on stderr (no
traceback; one-line warnings may precede it); `warn` cases must succeed with one `agentgym: warning: ...`
line per problem. Exit 0 on a bad argument is a silent acceptance.

Exit code 1 when any exception, traceback, silent acceptance, half-reset, garbage marked valid or timeout
was seen; `--json PATH` writes every count and failure for scripts and tests.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
ENVS = {"alfworld": "agentgym/ALFWorld-v0", "webshop": "agentgym/WebShop-v0", "searchqa": "agentgym/SearchQA-v0"}
#: Action kinds that are garbage in every env: each must be marked action_valid=False.
GARBAGE = ("unicode", "huge", "empty", "nonstr")
TRACEBACK = "Traceback (most recent call last)"
console = Console(width=None if sys.stdout.isatty() else 150)


# ==== env fuzzing =====================================================================================
JUNK_CHARS = ("\x00", "\x07", "\x1b[31m", "\u200b", "\u202e", "\ufeff", "\ud800", "\udfff", "\U0001f600", "\u0301",
              "\u4e2d", "\u0627", "\n", "\r\n", "\t", "\\", "'", '"', "{}", "%s", "${x}", "\u2028", "\x7f", "\U0010ffff")
TEMPLATES = {
    "alfworld": ("go to {x}", "take {x} from {x}", "put {x} in/on {x}", "open {x}", "use {x}", "heat {x} with {x}",
                 "examine {x}", "inventory", "look", "{x} 1"),
    "webshop": ("search[{x}]", "click[{x}]", "click[buy now]", "click[< prev]", "click[next >]", "click[back to search]",
                "search[]", "click[]", "search[{x}", "{x}]"),
    "searchqa": ("<search>{x}</search>", "<answer>{x}</answer>", "<search></search>", "<answer></answer>",
                 "<think>{x}</think><search>{x}</search>", "<search>{x}", "{x}</answer>", "<answer>{x}</answer>" * 3,
                 "<information>{x}</information>", "<search><answer>{x}</answer></search>"),
}


class ActionGen:
    """A seeded stream of (kind, action) pairs; `info` of the last step supplies the admissible actions."""

    KINDS = (("admissible", 30), ("mutated", 20), ("template", 20), ("unicode", 10), ("huge", 2), ("empty", 8),
             ("nonstr", 3), ("ascii", 7))

    def __init__(self, family: str, seed: int):
        self.family, self.rng = family, random.Random(seed)
        self.kinds = [k for k, _ in self.KINDS]
        self.weights = [w for _, w in self.KINDS]

    def words(self, n: int) -> str:
        return " ".join("".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(self.rng.randint(1, 9)))
                        for _ in range(n))

    def junk(self, n: int) -> str:
        return "".join(self.rng.choice(JUNK_CHARS) for _ in range(n))

    def admissible(self, info: dict[str, Any]) -> list[str]:
        return list(info.get("admissible_actions") or info.get("available_actions") or [])

    def template(self) -> str:
        fill = self.rng.choice((lambda: self.words(self.rng.randint(1, 6)), lambda: self.junk(self.rng.randint(1, 8)),
                                lambda: "", lambda: self.words(2000)))
        return self.rng.choice(TEMPLATES[self.family]).replace("{x}", fill())

    def mutate(self, a: str) -> str:
        ops = (lambda s: s.upper(), lambda s: s[: self.rng.randint(0, len(s))], lambda s: s + self.junk(3),
               lambda s: self.junk(2) + s, lambda s: "  " + s + "  ", lambda s: s.replace(" ", "  "),
               lambda s: s[::-1], lambda s: s * 3, lambda s: s.replace(" ", "\u00a0"),
               lambda s: "".join(c for c in s if self.rng.random() > 0.15), lambda s: s + "\n" + self.words(3))
        return self.rng.choice(ops)(a)

    def next(self, info: dict[str, Any]) -> tuple[str, Any]:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        adm = self.admissible(info)
        if kind in ("admissible", "mutated") and not adm:
            kind = "template"
        if kind == "admissible":
            return kind, self.rng.choice(adm)
        if kind == "mutated":
            return kind, self.mutate(self.rng.choice(adm))
        if kind == "template":
            return kind, self.template()
        if kind == "unicode":
            return kind, self.junk(self.rng.randint(1, 40))
        if kind == "huge":  # past any env's max_action_length (64 Ki characters)
            return kind, self.rng.choice(("x", "ab ", "\u4e2d", " ")) * self.rng.randint(70_000, 300_000)
        if kind == "empty":
            return kind, self.rng.choice(("", " ", "\n", "\t\t", "   \r\n "))
        if kind == "nonstr":
            return kind, self.rng.choice((None, 0, 1.5, b"look", ["look"], {"a": 1}, object()))
        return kind, self.words(self.rng.randint(1, 12))  # plain ascii words: no validity requirement


@dataclass
class EnvReport:
    env: str
    steps: int = 0
    step_exceptions: int = 0
    garbage: int = 0
    garbage_valid: int = 0
    contract: int = 0  # observation not a str, reward not finite, info keys missing
    episodes: int = 0
    resets: int = 0
    reset_refused: int = 0  # AgentGymError: the clean refusal
    reset_accepted: int = 0
    reset_exceptions: int = 0  # a refusal that is not an AgentGymError
    half_reset: int = 0  # after a refusal the env is not in its previous episode
    after_reset_exceptions: int = 0  # a step after a refused or accepted bad reset raised
    seconds: float = 0.0
    accepted: list[str] = field(default_factory=list)  # names of the bad resets the env played
    failures: list[str] = field(default_factory=list)

    @property
    def exceptions(self) -> int:
        return self.step_exceptions + self.reset_exceptions + self.after_reset_exceptions

    @property
    def bad(self) -> int:
        return self.exceptions + self.garbage_valid + self.contract + self.half_reset

    def fail(self, what: str) -> None:
        if len(self.failures) < 40:
            self.failures.append(what[:300])


def _short(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 70 else f"{r[:60]}...({len(r)} chars)"


def _check_step(rep: EnvReport, out: tuple, action: Any) -> None:
    from agentgym.core.env import INFO_KEYS

    obs, reward, term, trunc, info = out
    problems = []
    if not isinstance(obs, str):
        problems.append(f"observation is {type(obs).__name__}")
    if not isinstance(reward, (int, float)) or not math.isfinite(reward):
        problems.append(f"reward {reward!r}")
    if not isinstance(term, bool) or not isinstance(trunc, bool):
        problems.append("terminated/truncated not bools")
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        problems.append(f"info lacks {', '.join(missing)}")
    if problems:
        rep.contract += 1
        rep.fail(f"step {_short(action)}: {'; '.join(problems)}")


def fuzz_steps(env, family: str, rep: EnvReport, n: int, seed: int) -> None:
    gen = ActionGen(family, seed)
    obs, info = env.reset(seed=seed)
    rep.episodes += 1
    for i in range(n):
        kind, action = gen.next(info)
        rep.steps += 1
        try:
            out = env.step(action)
        except Exception as e:
            rep.step_exceptions += 1
            rep.fail(f"step [{kind}] {_short(action)} raised {type(e).__name__}: {e}")
            obs, info = env.reset(seed=seed + i + 1)
            rep.episodes += 1
            continue
        _check_step(rep, out, action)
        info = out[4]
        if kind in GARBAGE:
            rep.garbage += 1
            if info.get("action_valid"):
                rep.garbage_valid += 1
                rep.fail(f"garbage [{kind}] {_short(action)} was marked action_valid=True")
        if out[2] or out[3]:
            obs, info = env.reset(seed=seed + i + 1)
            rep.episodes += 1


def bad_resets(env, family: str) -> list[tuple[str, Any, Any]]:
    """(name, seed, options) of bad resets, generic ones and the env's own task dict with fields cut."""
    real = env.unwrapped.panel()[0].to_dict()
    foreign = ({"task_id": "q1", "task_type": "nq", "instruction": "who?", "data": {"golden_answers": ["x"]}}
               if family != "searchqa" else
               {"task_id": "alfworld/x", "task_type": "pick", "instruction": "put a mug", "data": {"room": "kitchen"}})
    cases: list[tuple[str, Any, Any]] = [
        ("unknown task id", None, {"task": "zzz-no-such-task"}),
        ("huge task id", None, {"task": "x" * 100_000}),
        ("task a float", None, {"task": 1.5}),
        ("task a bool", None, {"task": True}),
        ("task a list", None, {"task": ["a"]}),
        ("task bytes", None, {"task": b"x"}),
        ("task a set", None, {"task": {1, 2}}),
        ("options a string", None, "task"),
        ("options a list", None, ["task"]),
        ("options an int", None, 5),
        ("unknown option key", None, {"tsak": 0}),
        ("task dict empty", None, {"task": {}}),
        ("task dict with only task_id", None, {"task": {"task_id": "x"}}),
        ("task dict of wrong types", None, {"task": {"task_id": 5, "task_type": None, "instruction": ["x"]}}),
        ("task dict, data not a dict", None, {"task": {**real, "data": "zzz"}}),
        ("task dict without data", None, {"task": {**real, "data": {}}}),
        ("task of another env", None, {"task": foreign}),
        ("seed negative", -1, None),
        ("seed a string", "abc", None),
        ("seed a float", 1.5, None),
        ("seed huge", 2**80, None),
        ("task index huge", None, {"task": 10**30}),
        ("task index negative", None, {"task": -1}),
    ]
    for key in list(real.get("data") or {})[:8]:
        data = {k: v for k, v in real["data"].items() if k != key}
        cases.append((f"task dict without data[{key!r}]", None, {"task": {**real, "task_id": "cut", "data": data}}))
        for bad in (None, 12345, ["x"]):
            cases.append((f"task dict with data[{key!r}]={bad!r}", None,
                          {"task": {**real, "task_id": "typed", "data": {**real["data"], key: bad}}}))
    return cases


def _probe_action(env, family: str, info: dict[str, Any]) -> str:
    adm = list(info.get("admissible_actions") or info.get("available_actions") or [])
    return adm[0] if adm else {"searchqa": "<search>founded</search>", "webshop": "search[shirt]"}.get(family, "look")


def fuzz_resets(env, family: str, rep: EnvReport, seed: int) -> None:
    import gymnasium as gym

    from agentgym.core.errors import AgentGymError

    gen = ActionGen(family, seed + 7)
    for i, (name, s, options) in enumerate(bad_resets(env, family)):
        rep.resets += 1
        _, info = env.reset(seed=seed + i)
        before = info["task_id"]
        info = env.step(_probe_action(env, family, info))[4]  # an episode in progress
        try:
            _, info2 = env.reset(seed=s, options=options)
        except AgentGymError:
            rep.reset_refused += 1
            refused = True
        except Exception as e:
            rep.reset_exceptions += 1
            rep.fail(f"reset [{name}] raised {type(e).__name__} (not an AgentGymError): {str(e)[:120]}")
            refused = True
        else:
            rep.reset_accepted += 1
            rep.accepted.append(name)
            refused = False
        if refused:  # the env must still be in its previous episode (or demand a reset)
            try:
                info3 = env.step(_probe_action(env, family, info))[4]
            except gym.error.ResetNeeded:
                continue
            except Exception as e:
                rep.after_reset_exceptions += 1
                rep.fail(f"step after refused reset [{name}] raised {type(e).__name__}: {str(e)[:120]}")
                continue
            if info3.get("task_id") != before:
                rep.half_reset += 1
                rep.fail(f"after refused reset [{name}] the env reports task {str(info3.get('task_id'))[:40]!r}, "
                         f"not its previous {before!r} (half-reset)")
            continue
        info = info2
        finish = {"searchqa": "<answer>1833</answer>", "webshop": "click[buy now]"}.get(family)
        for k in range(10):  # an accepted task must play on, to the end where it can be ended
            action = finish if (finish and k == 9) else gen.next(info)[1]
            try:
                _, _, term, trunc, info = env.step(action)
            except Exception as e:
                rep.after_reset_exceptions += 1
                rep.fail(f"reset [{name}] was accepted, then step {_short(action)} raised {type(e).__name__}: "
                         f"{str(e)[:120]}")
                break
            if term or trunc:
                break


def run_env_fuzz(names: list[str], actions: int, seed: int, resets: bool = True) -> list[EnvReport]:
    import agentgym

    reports = []
    for name in names:
        rep = EnvReport(name)
        t0 = time.perf_counter()
        with console.status(f"fuzzing {name}: building the env"):
            env = agentgym.make(ENVS[name])
            env.reset(seed=seed)
        with console.status(f"fuzzing {name}: {actions} actions" + (" and bad resets" if resets else "")):
            fuzz_steps(env, name, rep, actions, seed)
            if resets:
                fuzz_resets(env, name, rep, seed)
        env.close()
        rep.seconds = time.perf_counter() - t0
        reports.append(rep)
    return reports


def env_table(reports: list[EnvReport]) -> Table:
    t = Table("env", "steps", "step exceptions", "garbage", "garbage valid", "contract", "bad resets", "refused",
              "accepted", "reset exceptions", "half-reset", "exceptions after reset", "seconds",
              title="env fuzzing (garbage = unicode, huge, empty, non-str actions)")
    for r in reports:
        red = lambda n: f"[red]{n}[/red]" if n else "0"  # noqa: E731
        t.add_row(r.env, str(r.steps), red(r.step_exceptions), str(r.garbage), red(r.garbage_valid), red(r.contract),
                  str(r.resets), str(r.reset_refused), str(r.reset_accepted), red(r.reset_exceptions),
                  red(r.half_reset), red(r.after_reset_exceptions), f"{r.seconds:.0f}")
    return t


# ==== the CLI bad-input matrix ========================================================================
@dataclass(frozen=True)
class Case:
    """One bad invocation. `expect`: "error" (non-zero exit, one error line) or "warn" (exit 0, warnings).
    `fast`: fails in validation before any model or long build (the tests run these in-process)."""

    name: str
    args: tuple[str, ...]
    expect: str = "error"
    fast: bool = True
    model: bool = False  # needs the tiny model ({model})


def _train(*extra: str, env: str = "alfworld") -> tuple[str, ...]:
    """A train command that would run in seconds if accepted: tiny model, 1 step, no evaluation."""
    return ("train", "--env", env, "--backend", "grpo", "--model", "{model}", "--steps", "1", "--tasks-per-step",
            "2", "--group-size", "2", "--eval-episodes", "0", "--out", "{tmp}/run", "--set", "tensorboard=false",
            "--set", "max_new_tokens=4", *extra)


def _rollout(*extra: str, env: str = "alfworld") -> tuple[str, ...]:
    return ("rollout", "--env", env, "--model", "{model}", "--episodes", "1", "--max-new-tokens", "4",
            "--out", "{tmp}/r.jsonl", *extra)


def _eval(*extra: str, env: str = "alfworld") -> tuple[str, ...]:
    return ("eval", "--env", env, "--model", "{model}", "--episodes", "1", *extra)


def _bench(*extra: str) -> tuple[str, ...]:
    return ("bench", "--env", "alfworld", "--backends", "grpo", "--seeds", "0", "--model", "{model}", "--steps", "1",
            "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "1", "--out", "{tmp}/bench", "--no-plots",
            "--set", "tensorboard=false", *extra)


def _skills(*extra: str) -> tuple[str, ...]:
    return ("skills", "retrieve", "--env", "alfworld", "--instruction", "put a mug on the desk", *extra)


CASES: tuple[Case, ...] = (
    # --set / YAML values of the wrong type
    Case("train --set steps=[1,2]", _train("--set", "steps=[1,2]"), model=True),
    Case("train --set steps=1.5", _train("--set", "steps=1.5"), model=True),
    Case("train --set steps=abc", _train("--set", "steps=abc"), model=True),
    Case("train --set bf16=1", _train("--set", "bf16=1"), model=True),
    Case("train --set tensorboard=maybe", _train("--set", "tensorboard=maybe"), model=True),
    Case("train --set lr=[1]", _train("--set", "lr=[1]"), model=True),
    Case("train --set env_kwargs=5", _train("--set", "env_kwargs=5"), model=True),
    Case("train --set backend_kwargs=[1]", _train("--set", "backend_kwargs=[1]"), model=True),
    Case("train --set model=[a]", ("train", "--env", "alfworld", "--set", "model=[a]")),
    Case("train --set temperature=nan", _train("--set", "temperature=nan"), model=True),
    Case("train --set lr=inf", _train("--set", "lr=inf"), model=True),
    Case("train --set eval_temperature=.inf", _train("--set", "eval_temperature=.inf"), model=True),
    Case("train --set stepz=1", _train("--set", "stepz=1"), model=True),
    Case("train --set steps (no =)", _train("--set", "steps"), model=True),
    Case("train --set steps=[ (bad YAML)", _train("--set", "steps=["), model=True),
    Case("train --config warmup_steps: 1.5", _train("--config", "{files}/float_steps.yaml"), model=True),
    Case("train --config env_kwargs: 5", _train("--config", "{files}/env_kwargs_int.yaml"), model=True),
    Case("train --config non-UTF-8", _train("--config", "{files}/latin1.yaml"), model=True),
    Case("train --config binary", _train("--config", "{files}/binary.yaml"), model=True),
    Case("train --config a list", _train("--config", "{files}/list.yaml"), model=True),
    Case("train --config a folder", _train("--config", "{files}"), model=True),
    Case("train --config int keys", _train("--config", "{files}/int_keys.yaml"), model=True),
    Case("train --backend-opt kl_coef=[1]", _train("--backend-opt", "kl_coef=[1]"), model=True),
    Case("train --backend-opt nope=1", _train("--backend-opt", "nope=1"), model=True),
    # fields TrainConfig.validate did not check
    Case("train micro_batch_size=0", _train("--set", "micro_batch_size=0"), model=True),
    Case("train --tasks-per-step 100000", _train("--tasks-per-step", "100000"), model=True),
    Case("train keep_checkpoints=-1", _train("--set", "keep_checkpoints=-1"), model=True),
    Case("train warmup_steps=-1", _train("--set", "warmup_steps=-1"), model=True),
    Case("train checkpoint_every=-1", _train("--set", "checkpoint_every=-1"), model=True),
    Case("train history=-1", _train("--set", "history=-1"), model=True),
    Case("train eval_episodes=-1", _train("--set", "eval_episodes=-1"), model=True),
    Case("train --eval-episodes -1", _train("--eval-episodes", "-1"), model=True),
    Case("train top_p=0", _train("--set", "top_p=0"), model=True),
    Case("train top_p=1.5", _train("--set", "top_p=1.5"), model=True),
    Case("train max_new_tokens=0", _train("--set", "max_new_tokens=0"), model=True),
    Case("train weight_decay=-1", _train("--set", "weight_decay=-1"), model=True),
    Case("train grad_clip=-1", _train("--set", "grad_clip=-1"), model=True),
    Case("train reward_scale=0", _train("--set", "reward_scale=0"), model=True),
    Case("train kl_coef=-1", _train("--set", "kl_coef=-1"), model=True),
    Case("train invalid_penalty=-1", _train("--set", "invalid_penalty=-1"), model=True),
    Case("train skills_k=-1", _train("--set", "skills_k=-1"), model=True),
    Case("train eval_every=-1", _train("--set", "eval_every=-1"), model=True),
    Case("train --seed -1", _train("--seed", "-1"), model=True),
    Case("train device=tpu", _train("--set", "device=tpu"), model=True),
    Case("train --skills bogus", _train("--skills", "bogus"), model=True),
    Case("train zero_stage=5", _train("--set", "zero_stage=5"), model=True),
    Case("train --lr nan", _train("--lr", "nan"), model=True),
    Case("train --lr 0", _train("--lr", "0"), model=True),
    Case("train --lr 5", _train("--lr", "5"), model=True),
    Case("train train_split=bogus", _train("--set", "train_split=bogus"), model=True),
    Case("train eval_split=bogus", _train("--set", "eval_split=bogus"), model=True),
    Case("train sglang_url=localhost:1", _train("--set", "sglang_url=localhost:1"), model=True),
    Case("train --engine vllm", _train("--engine", "vllm"), model=True),
    # env constructor errors
    Case("train --env-opt max_steps=0", _train("--env-opt", "max_steps=0"), model=True),
    Case("train --env-opt max_steps=1.5", _train("--env-opt", "max_steps=1.5"), model=True),
    Case("train --env-opt max_steps=abc", _train("--env-opt", "max_steps=abc"), model=True),
    Case("train --env-opt difficulty=hard", _train("--env-opt", "difficulty=hard"), model=True),
    Case("train --env-opt nope=1", _train("--env-opt", "nope=1"), model=True),
    Case("train webshop --env-opt num_products=-5", _train("--env-opt", "num_products=-5", env="webshop"), model=True),
    Case("train webshop --env-opt num_products=abc", _train("--env-opt", "num_products=abc", env="webshop"),
         model=True),
    Case("train searchqa --env-opt topk=0", _train("--env-opt", "topk=0", env="searchqa"), model=True),
    Case("train searchqa --env-opt retriever=zzz", _train("--env-opt", "retriever=zzz", env="searchqa"), model=True),
    Case("rollout --env-opt max_steps=0", _rollout("--env-opt", "max_steps=0"), model=True),
    Case("rollout webshop --env-opt num_products=-5", _rollout("--env-opt", "num_products=-5", env="webshop"),
         model=True),
    Case("eval --env-opt max_steps=0", _eval("--env-opt", "max_steps=0"), model=True),
    Case("init-model --env-opt max_steps=0", ("init-model", "--env", "alfworld", "--out", "{tmp}/m", "--env-opt",
                                              "max_steps=0")),
    Case("sft --env-opt max_steps=0", ("sft", "--env", "alfworld", "--out", "{tmp}/m", "--env-opt", "max_steps=0")),
    # engines
    Case("train --engine sglang, dead --sglang-url", _train("--engine", "sglang", "--sglang-url", "http://127.0.0.1:1"),
         fast=False, model=True),
    Case("rollout --engine sglang, dead --sglang-url", _rollout("--engine", "sglang", "--sglang-url",
                                                                "http://127.0.0.1:1"), fast=False, model=True),
    Case("rollout --engine vllm", _rollout("--engine", "vllm"), model=True),
    # output paths, checked before the work
    Case("rollout --out /proc/nope/x.jsonl", _rollout("--out", "/proc/nope/x.jsonl"), model=True),
    Case("rollout --out a folder", _rollout("--out", "{tmp}"), model=True),
    Case("rollout --out under a file", _rollout("--out", "{files}/list.yaml/x.jsonl"), model=True),
    Case("eval --json /proc/nope/x.json", _eval("--json", "/proc/nope/x.json"), model=True),
    Case("envs demos --out /proc/nope", ("envs", "demos", "agentgym/ALFWorld-v0", "--out", "/proc/nope/x.jsonl",
                                         "--episodes", "1")),
    Case("train --out /proc/nope", _train("--out", "/proc/nope/run"), model=True),
    Case("train --out a file", _train("--out", "{files}/list.yaml"), model=True),
    Case("bench --out /proc/nope", _bench("--out", "/proc/nope/b"), model=True),
    Case("plot --out /proc/nope/x.png", ("plot", "{files}/run_ok", "--out", "/proc/nope/x.png")),
    Case("init-model --out /proc/nope", ("init-model", "--env", "alfworld", "--out", "/proc/nope/m")),
    Case("sft --out /proc/nope", ("sft", "--env", "alfworld", "--out", "/proc/nope/m")),
    Case("searchqa expert --out /proc/nope", ("searchqa", "expert", "--retriever", "bm25-py", "--episodes", "1",
                                              "--out", "/proc/nope/x.jsonl")),
    Case("searchqa generate --out /proc/nope", ("searchqa", "generate", "--out", "/proc/nope/d")),
    Case("webshop generate --out /proc/nope", ("webshop", "generate", "--out", "/proc/nope/d", "--num-products", "5")),
    # splits
    Case("eval --split bogus", _eval("--split", "bogus"), model=True),
    Case("rollout --split bogus", _rollout("--split", "bogus"), model=True),
    Case("envs show --split bogus", ("envs", "show", "agentgym/ALFWorld-v0", "--split", "bogus")),
    Case("envs demos --split bogus", ("envs", "demos", "agentgym/ALFWorld-v0", "--out", "{tmp}/d.jsonl",
                                      "--split", "bogus")),
    Case("skills retrieve --split bogus", ("skills", "retrieve", "--env", "alfworld", "--task", "x", "--split",
                                           "bogus")),
    Case("webshop expert --split bogus", ("webshop", "expert", "--split", "bogus", "--search", "bm25")),
    Case("searchqa expert --split bogus", ("searchqa", "expert", "--split", "bogus", "--retriever", "bm25-py")),
    # envs
    Case("envs check collections:OrderedDict", ("envs", "check", "collections:OrderedDict")),
    Case("envs check os:system", ("envs", "check", "os:system")),
    Case("envs check builtins:exit", ("envs", "check", "builtins:exit")),
    Case("envs check nosuchmodule:X", ("envs", "check", "nosuchmodule:X")),
    Case("envs check agentgym/Nope-v0", ("envs", "check", "agentgym/Nope-v0")),
    Case("envs show collections:OrderedDict", ("envs", "show", "collections:OrderedDict")),
    Case("envs show --seed -1", ("envs", "show", "agentgym/ALFWorld-v0", "--seed", "-1")),
    Case("play collections:OrderedDict", ("play", "collections:OrderedDict")),
    Case("play --task zzz", ("play", "agentgym/ALFWorld-v0", "--task", "zzz")),
    Case("envs demos --noise nan", ("envs", "demos", "agentgym/ALFWorld-v0", "--out", "{tmp}/d.jsonl", "--noise",
                                    "nan")),
    # skills
    Case("skills retrieve --option c=abc", _skills("--strategy", "ucb", "--option", "c=abc")),
    Case("skills retrieve --option c=-1", _skills("--strategy", "ucb", "--option", "c=-1")),
    Case("skills retrieve --option bogus=1", _skills("--strategy", "ucb", "--option", "bogus=1")),
    Case("skills retrieve --option k=3", _skills("--strategy", "ucb", "--option", "k=3")),
    Case("skills retrieve --option arms=[1]", _skills("--strategy", "ucb", "--option", "arms=[1]")),
    Case("skills retrieve --option term_weight=x", _skills("--option", "term_weight=x")),
    Case("skills retrieve --strategy bogus", _skills("--strategy", "bogus")),
    Case("skills retrieve --env nope", ("skills", "retrieve", "--env", "nope", "--instruction", "x")),
    Case("skills retrieve --state missing", _skills("--strategy", "ucb", "--state", "/no/such/state.json")),
    Case("skills retrieve --state non-UTF-8", _skills("--strategy", "ucb", "--state", "{files}/latin1.yaml")),
    Case("skills retrieve --state a JSON list", _skills("--strategy", "ucb", "--state", "{files}/list.json")),
    Case("skills hit-rate --option arms=[1]", ("skills", "hit-rate", "--env", "alfworld", "--strategy", "ucb",
                                               "--source", "fixture", "--option", "arms=[1]")),
    # plot
    Case("plot: a metrics line that is a JSON list", ("plot", "{files}/run_list", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: a metrics line with step 'x'", ("plot", "{files}/run_stepstr", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: a metrics line with step null", ("plot", "{files}/run_nullstep", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: a metrics line not UTF-8", ("plot", "{files}/run_latin1", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: a torn last metrics line", ("plot", "{files}/run_torn", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: config.yaml not a mapping", ("plot", "{files}/run_badcfg", "--out", "{tmp}/p.png"), "warn"),
    Case("plot: every metrics line malformed", ("plot", "{files}/run_allbad", "--out", "{tmp}/p.png")),
    Case("plot --out x.txt", ("plot", "{files}/run_ok", "--out", "{tmp}/p.txt")),
    Case("plot: no such folder", ("plot", "/no/such/run", "--out", "{tmp}/p.png")),
    Case("plot --metrics nosuch", ("plot", "{files}/run_ok", "--out", "{tmp}/p.png", "--metrics", "nosuch")),
    # eval / rollout / sft numbers
    Case("eval --temperature nan", _eval("--temperature", "nan"), model=True),
    Case("eval --env nope", ("eval", "--env", "nope")),
    Case("eval --model /no/such/dir", ("eval", "--env", "alfworld", "--model", "/no/such/dir")),
    Case("eval --with-skills --skills bogus", _eval("--with-skills", "--skills", "bogus"), model=True),
    Case("rollout --temperature nan", _rollout("--temperature", "nan"), model=True),
    Case("rollout --top-p 0", _rollout("--top-p", "0"), model=True),
    Case("rollout --top-p inf", _rollout("--top-p", "inf"), model=True),
    Case("rollout --model /no/such/dir", _rollout("--model", "/no/such/dir")),
    Case("rollout --seed -1", _rollout("--seed", "-1"), model=True),
    Case("sft --lr nan", ("sft", "--env", "alfworld", "--out", "{tmp}/m", "--lr", "nan")),
    Case("sft --lr -1", ("sft", "--env", "alfworld", "--out", "{tmp}/m", "--lr", "-1")),
    Case("sft --noise nan", ("sft", "--env", "alfworld", "--out", "{tmp}/m", "--noise", "nan")),
    Case("sft --init /no/such/dir", ("sft", "--env", "alfworld", "--out", "{tmp}/m", "--init", "/no/such/dir")),
    Case("init-model --heads 3", ("init-model", "--env", "alfworld", "--out", "{tmp}/m", "--heads", "3")),
    # bench
    Case("bench --set steps=1.5", _bench("--set", "steps=1.5"), model=True),
    Case("bench --seeds a", _bench("--seeds", "a"), model=True),
    Case("bench --env-opt max_steps=0", _bench("--env-opt", "max_steps=0"), model=True),
    Case("bench --set micro_batch_size=0", _bench("--set", "micro_batch_size=0"), model=True),
    Case("bench --tasks-per-step 100000", _bench("--tasks-per-step", "100000"), model=True),
    Case("bench --lr nan", _bench("--lr", "nan"), model=True),
    Case("bench --backend-opt nope=1", _bench("--backend-opt", "nope=1"), model=True),
    # webshop / searchqa commands
    Case("webshop serve --port 70000", ("webshop", "serve", "--port", "70000")),
    Case("webshop serve --split bogus", ("webshop", "serve", "--split", "bogus")),
    Case("webshop expert --search zzz", ("webshop", "expert", "--search", "zzz")),
    Case("searchqa expert --retriever zzz", ("searchqa", "expert", "--retriever", "zzz")),
    Case("searchqa expert --retriever http, no url", ("searchqa", "expert", "--retriever", "http")),
    Case("searchqa expert --corpus missing", ("searchqa", "expert", "--retriever", "bm25-py", "--corpus",
                                              "/no/such/corpus.jsonl")),
    Case("searchqa serve-retriever --retriever http", ("searchqa", "serve-retriever", "--retriever", "http")),
    # command line shape
    Case("unknown command", ("frobnicate",)),
    Case("unknown option", ("train", "--no-such-option")),
)


def write_fixtures(d: Path) -> None:
    """The bad files the cases point at ({files})."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "float_steps.yaml").write_text("warmup_steps: 1.5\n")
    (d / "env_kwargs_int.yaml").write_text("env_kwargs: 5\n")
    (d / "latin1.yaml").write_bytes("steps: 2\n# caf\u00e9 written in latin-1\n".encode("latin-1"))
    (d / "binary.yaml").write_bytes(bytes(range(256)))
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "list.json").write_text("[1, 2]\n")
    (d / "int_keys.yaml").write_text("1: 2\nsteps: 3\n")
    good = "".join(json.dumps({"step": s, "success": s / 10, "loss": 1.0 / s}) + "\n" for s in range(1, 6))
    runs = {"run_ok": good, "run_list": good + "[1, 2]\n", "run_stepstr": good + '{"step": "x", "success": 1}\n',
            "run_nullstep": good + '{"step": null, "success": 1}\n', "run_torn": good + '{"step": 6, "succ',
            "run_latin1": good, "run_badcfg": good, "run_allbad": "[1]\n{\"step\": \"a\"}\n"}
    for name, text in runs.items():
        (d / name).mkdir(exist_ok=True)
        (d / name / "metrics.jsonl").write_text(text)
    with open(d / "run_latin1" / "metrics.jsonl", "ab") as f:
        f.write(b'{"step": 7, "note": "caf\xe9"}\n')
    (d / "run_badcfg" / "config.yaml").write_text("- not\n- a mapping\n")


def build_tiny_model(out: Path) -> Path:
    """A tiny freshly initialised policy (a few thousand weights) for the cases that need --model. What its
    libraries print on import (banners on stdout, bars on stderr) goes to a log file, not into the tables."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(out.parent / "build-model.log", "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            from transformers.utils import logging as hf_logging

            from agentgym.core.recipe import ModelSize
            from agentgym.models.build import init_model_dir

            hf_logging.disable_progress_bar()
            size = ModelSize(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                             intermediate_size=32, max_position_embeddings=512)
            return init_model_dir(ENVS["alfworld"], out, vocab_size=300, size=size, demos=5, seed=0)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, dup in zip((1, 2), saved, strict=True):
                os.dup2(dup, fd)
                os.close(dup)


@dataclass
class CaseResult:
    name: str
    command: str
    expect: str
    rc: int | None
    seconds: float
    traceback: bool
    timed_out: bool
    error_lines: int  # "agentgym: error:" lines
    warning_lines: int
    other_lines: int  # any other non-empty stderr line
    last_line: str

    @property
    def silent(self) -> bool:
        """Exit 0 on a bad argument (or a warn case that said nothing)."""
        return self.rc == 0 and (self.expect == "error" or self.warning_lines == 0)

    @property
    def ok(self) -> bool:
        if self.traceback or self.timed_out or self.silent or self.rc is None:
            return False
        if self.expect == "error":
            return self.rc != 0 and self.error_lines == 1 and self.other_lines == 0  # warnings may come first
        return self.rc == 0 and self.error_lines == 0 and self.other_lines == 0

    @property
    def problem(self) -> str:
        if self.timed_out:
            return "timeout"
        if self.traceback:
            return "traceback"
        if self.silent:
            return "silent acceptance"
        if self.rc is not None and self.rc < 0:
            return f"killed by signal {-self.rc}"
        if not self.ok:
            return "not one clean line" if self.expect == "error" else "warn case failed"
        return ""


def fill(args: tuple[str, ...], slots: dict[str, str]) -> list[str]:
    return [a.format(**slots) for a in args]


def run_case(case: Case, slots: dict[str, str], timeout: float, command: list[str]) -> CaseResult:
    tmp = Path(tempfile.mkdtemp(prefix="case-", dir=slots["scratch"]))
    args = fill(case.args, {**slots, "tmp": str(tmp)})
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               COLUMNS="200")
    t0 = time.perf_counter()
    try:
        p = subprocess.run([*command, *args], capture_output=True, text=True, cwd=tmp,
                           env=env, timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")
        rc, err, timed_out = p.returncode, p.stderr, False
    except subprocess.TimeoutExpired as e:
        rc, timed_out = None, True
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return CaseResult(
        name=case.name, command="agentgym " + " ".join(args), expect=case.expect, rc=rc,
        seconds=time.perf_counter() - t0, traceback=TRACEBACK in err, timed_out=timed_out,
        error_lines=sum(ln.startswith("agentgym: error:") for ln in lines),
        warning_lines=sum(ln.startswith("agentgym: warning:") for ln in lines),
        other_lines=sum(not ln.startswith(("agentgym: error:", "agentgym: warning:")) for ln in lines),
        last_line=(lines[-1] if lines else "")[:200])


def run_cli_matrix(cases: list[Case], timeout: float, jobs: int, model: Path | None, scratch: Path,
                   command: list[str] | None = None) -> list[CaseResult]:
    """Run `cases` as subprocesses of `command` (default `python -m agentgym`), `jobs` at a time."""
    command = command or [sys.executable, "-m", "agentgym"]
    files = scratch / "files"
    write_fixtures(files)
    if model is None and any(c.model for c in cases):
        console.print("building a tiny model for the cases that need --model", style="dim")
        model = build_tiny_model(scratch / "tiny-model")
    slots = {"files": str(files), "model": str(model or scratch / "no-model"), "scratch": str(scratch)}
    results: list[CaseResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            console.status(f"running {len(cases)} bad invocations") as status:
        for i, r in enumerate(pool.map(lambda c: run_case(c, slots, timeout, command), cases), 1):
            results.append(r)
            status.update(f"running {len(cases)} bad invocations: {i} done")
    return results


def cli_table(results: list[CaseResult]) -> Table:
    t = Table("command", "tried", "exceptions", "tracebacks", "silent acceptances", "not one line", "timeouts",
              "exit codes", title="CLI bad-input matrix (each a subprocess of python -m agentgym)")
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.name.split(" ")[0].rstrip(":"), []).append(r)
    for g, rs in [*groups.items(), ("all", results)]:
        red = lambda n: f"[red]{n}[/red]" if n else "0"  # noqa: E731
        codes = Counter("timeout" if r.rc is None else str(r.rc) for r in rs)
        t.add_row(f"[bold]{g}[/bold]" if g == "all" else g, str(len(rs)),
                  red(sum(r.traceback or (r.rc is not None and r.rc < 0) for r in rs)),
                  red(sum(r.traceback for r in rs)), red(sum(r.silent for r in rs)),
                  red(sum(r.problem == "not one clean line" or r.problem == "warn case failed" for r in rs)),
                  red(sum(r.timed_out for r in rs)),
                  ", ".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(codes.items())),
                  end_section=g == list(groups)[-1])
    return t


# ==== main =================================================================================================
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=("env", "cli"), help="run only the env fuzzing or only the CLI matrix")
    ap.add_argument("--actions", type=int, default=10_000, help="fuzzed actions per env (default 10,000)")
    ap.add_argument("--envs", default=",".join(ENVS), help=f"comma-separated, of {', '.join(ENVS)}")
    ap.add_argument("--no-resets", action="store_true", help="skip the bad resets")
    ap.add_argument("--cases", default="*", help="glob over CLI case names, e.g. 'train*' (default all)")
    ap.add_argument("--fast", action="store_true", help="only the CLI cases that fail in validation")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per CLI invocation")
    ap.add_argument("--jobs", type=int, default=1, help="CLI invocations in parallel")
    ap.add_argument("--command", help="run the CLI as this command line instead of 'python -m agentgym' "
                    "(e.g. another checkout's launcher, to measure it before a change)")
    ap.add_argument("--model", type=Path, help="reuse this model folder for the cases that need --model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write counts and failures here")
    ap.add_argument("--list", action="store_true", help="list the CLI cases and exit")
    a = ap.parse_args(argv)
    cases = [c for c in CASES if fnmatch.fnmatch(c.name, a.cases) and (c.fast or not a.fast)]
    if a.list:
        for c in cases:
            console.print(f"{c.name:50s} agentgym {' '.join(c.args)}", markup=False, highlight=False, soft_wrap=True)
        return 0
    names = [n.strip() for n in a.envs.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENVS]
    if unknown:
        ap.error(f"unknown env(s) {', '.join(unknown)}; valid: {', '.join(ENVS)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out: dict[str, Any] = {}
    bad = 0
    if a.only != "cli":
        reports = run_env_fuzz(names, a.actions, a.seed, resets=not a.no_resets)
        console.print(env_table(reports))
        for r in reports:
            for f in r.failures[:10]:
                console.print(f"  [red]{r.env}[/red]: {f}", highlight=False, soft_wrap=True)
        out["env"] = [{**asdict(r), "exceptions": r.exceptions} for r in reports]
        bad += sum(r.bad for r in reports)
    if a.only != "env":
        with tempfile.TemporaryDirectory(prefix="agentgym-fuzz-") as scratch:
            results = run_cli_matrix(cases, a.timeout, a.jobs, a.model, Path(scratch),
                                     shlex.split(a.command) if a.command else None)
        console.print(cli_table(results))
        for r in results:
            if r.problem:
                console.print(f"  [red]{r.problem}[/red] {r.name}: rc={r.rc} {r.last_line}", highlight=False,
                              soft_wrap=True)
        out["cli"] = [{**asdict(r), "problem": r.problem} for r in results]
        bad += sum(bool(r.problem) for r in results)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))
    console.print("[green]no exceptions, tracebacks or silent acceptances[/green]" if not bad
                  else f"[red]{bad} problem(s)[/red]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the CLI modules: one-line errors, key=value options, and the checks that turn a bad
argument into one line *before* any work starts (env options, splits, output paths, numbers)."""

from __future__ import annotations

import inspect
import math
import os
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agentgym.core.errors import AgentGymError

console = Console()
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def console_err(msg: str) -> None:
    """One plain line on stderr (no markup interpretation, so user text is printed as is)."""
    _err.print(f"agentgym: {msg}", markup=False)
    sys.stderr.flush()


def parse_kv(items: list[str] | None, what: str) -> dict:
    """`key=value` pairs; values parsed as YAML (numbers, booleans, strings, `{a: 1}` mappings)."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AgentGymError(f"{what} expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise AgentGymError(f"{what} {item!r}: the value is not valid YAML") from None
    return out


def finite(value: float | None) -> float | None:
    """Typer callback for float options: click's FloatRange lets nan and inf through (nan < 0 is False)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}")
    return value


def learning_rate(value: float | None) -> float | None:
    """Typer callback for --lr: finite and in (0, 1)."""
    if value is not None and not (math.isfinite(value) and 0 < value < 1):
        raise typer.BadParameter(f"must be in (0, 1), got {value}")
    return value


# ---- values typed against a signature ------------------------------------------------------------
def coerce_kwargs(fn: Any, kwargs: dict[str, Any], what: str, *, extra_names: tuple[str, ...] = (),
                  hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """`kwargs` typed against `fn`'s annotated parameters (strictly, see `coerce_value`); an unknown name is
    an error listing the valid ones (less `hidden`, which the caller passes itself) unless `fn` takes
    **kwargs. Unresolvable annotations pass values on."""
    from agentgym.trainer.config import coerce_value

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check against
        return dict(kwargs)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # annotations naming types that are not importable here
        hints = {}
    names = [n for n, p in params.items()
             if n != "self" and n not in hidden and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in names and key not in extra_names and not open_ended:
            raise AgentGymError(f"unknown {what} {key!r}; valid: {', '.join(names) or '(none)'}")
        out[key] = coerce_value(f"{what} {key}", value, hints[key]) if key in hints else value
    return out


# ---- envs ------------------------------------------------------------------------------------------
def env_class(env_id: str) -> type | None:
    """The class behind a registered id or a `module:Class` spec (None if it cannot be determined).

    A `module:Class` spec that names anything but a Gymnasium env class is refused here, before it is
    called: `envs check collections:OrderedDict` (or `os:system`) must not run arbitrary callables."""
    import gymnasium as gym

    from agentgym.core import registry

    if env_id in registry.env_ids():
        entry = gym.spec(env_id).entry_point
        if callable(entry):
            return entry if isinstance(entry, type) else None
        try:
            return registry.load_class(entry)
        except AgentGymError:
            return None
    cls = registry.load_class(env_id) if ":" in env_id else None
    if cls is None:
        registry.make(env_id)  # raises UnknownEnvError naming the valid ids
    if not isinstance(cls, type):
        raise AgentGymError(f"{env_id} is a {type(cls).__name__}, not an environment class (a gymnasium.Env subclass)")
    if not issubclass(cls, gym.Env):
        raise AgentGymError(f"{env_id} is the class {cls.__qualname__}, which is not a gymnasium.Env subclass")
    return cls


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None, *, split: str | None = None):
    """Build an env for the CLI: options typed against its constructor, constructor errors (bad option
    values, missing files) as one line naming the env, an unknown split as one line listing the valid ones.

    Returns (env, typed env_kwargs): pass the typed kwargs on, so later constructions see the same values."""
    import gymnasium as gym

    from agentgym.core.registry import make

    cls = env_class(env_id)
    kwargs = dict(env_kwargs or {})
    if cls is not None:
        gym_own = tuple(n for n in inspect.signature(gym.make).parameters if n not in ("id", "kwargs"))
        kwargs = coerce_kwargs(cls.__init__, kwargs, "env option", extra_names=gym_own)
    if split is not None and cls is not None and isinstance(getattr(cls, "splits", None), tuple):
        check_split(env_id, split, cls.splits)
    build = dict(kwargs, **({"split": split} if split is not None else {}))
    try:
        env = make(env_id, **build)
    except AgentGymError:
        raise
    except (TypeError, ValueError, KeyError, OSError) as e:
        raise AgentGymError(f"bad env option for {env_id}: {_one_line(e)}") from e
    if not isinstance(env, gym.Env):
        raise AgentGymError(f"{env_id} did not build an environment (got {type(env).__name__})")
    return env, kwargs


def check_split(env_id: str, split: str | None, splits: tuple[str, ...] | list[str]) -> None:
    if split is not None and split not in splits:
        raise AgentGymError(f"unknown split {split!r}; valid: {', '.join(splits)} ({env_id})")


def _one_line(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return first if len(first) <= 300 else first[:297] + "..."


# ---- training configs ------------------------------------------------------------------------------
def check_train_config(cfg: Any) -> None:
    """What `load_config` cannot check without the env and the backend: backend options typed against the
    backend's config, env options against the env's constructor, the splits, B against the panel, and a
    skill library for the backends that use skills.

    Runs before any model is built; it replaces `cfg.env_kwargs` / `cfg.backend_kwargs` by their typed
    values. Building the env here costs nothing later: panels and catalogs are cached in the process."""
    from agentgym.backends import get_backend
    from agentgym.core.registry import resolve_env_id
    from agentgym.trainer.config import TRAIN_SKILL_LIBRARY_HOW, skill_library_for

    backend_cls_cfg = type(get_backend(cfg.backend).config)
    cfg.backend_kwargs = coerce_kwargs(backend_cls_cfg, cfg.backend_kwargs, "backend option")
    try:
        backend = get_backend(cfg.backend, **cfg.backend_kwargs)
    except (TypeError, ValueError) as e:
        raise AgentGymError(f"bad backend option for {cfg.backend}: {_one_line(e)}") from e
    env_id = resolve_env_id(cfg.env)
    if backend.needs_skills:  # read once here, and again by the trainer: a few KB, no code runs
        skill_library_for(env_id, cfg.skill_library, needed_by=f"the {backend.name} backend",
                          how=TRAIN_SKILL_LIBRARY_HOW)
    env, cfg.env_kwargs = make_env(env_id, cfg.env_kwargs)
    try:
        inner = env.unwrapped
        splits = tuple(getattr(inner, "splits", ()))
        train_split = cfg.train_split or (splits[0] if splits else None)
        if splits:
            check_split(env_id, cfg.train_split, splits)
            check_split(env_id, cfg.eval_split, splits)
        if train_split is not None and hasattr(inner, "panel"):
            cfg.check_panel(train_split, len(inner.panel(train_split)))
    finally:
        env.close()


# ---- output paths ----------------------------------------------------------------------------------
def check_writable(path: str | Path, what: str, *, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before the work whose result would go there is done
    (`rollout --out /proc/nope/x.jsonl` used to fail after the whole rollout). Creates nothing: a file
    is written and removed in the nearest existing folder above the path."""
    p = Path(path).expanduser()
    if p.exists():
        if folder and not p.is_dir():
            raise AgentGymError(f"{what} {p} exists and is not a folder")
        if not folder and p.is_dir():
            raise AgentGymError(f"{what} {p} is a folder; give a file name")
        if not folder:
            if not os.access(p, os.W_OK):
                raise AgentGymError(f"{what} {p} is not writable")
            return p
    probe_dir = p if (folder and p.is_dir()) else p.parent
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise AgentGymError(f"{what} {p}: {probe_dir} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".agentgym-write-check-", dir=probe_dir)
    except OSError as e:
        raise AgentGymError(f"{what} {p} cannot be written ({probe_dir}: {e.strerror or e})") from None
    os.close(fd)
    os.unlink(name)
    return p

"""One registry, Gymnasium's own, plus discovery of third-party envs through entry points.

`register` records an id in Gymnasium's registry (so `gymnasium.make` works too) and remembers it as
an agentgym text env, with the env's own skill library when it declares one (the skill-using backends
read it; agentgym's libraries cover only the built-in envs). Packages add envs without touching
agentgym by declaring an entry point in the group ``agentgym.envs`` whose object is a callable that
calls `agentgym.register(...)` (or a module that does so on import); they are loaded on the first
lookup, and a plugin that fails is one warning line, never a broken registry. The built-in envs are
registered by `agentgym.envs`, which the top-level package imports: the registry imports no env.
"""

from __future__ import annotations

import importlib
import os
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import gymnasium as gym

from agentgym.core.errors import AgentGymError, UnknownEnvError

ENTRY_POINT_GROUP = "agentgym.envs"

_ids: dict[str, str] = {}  # env id -> entry point string, in registration order
_skill_libraries: dict[str, str] = {}  # env id -> the skill library file it was registered with
_discovered = False


def register(id: str, entry_point: str | Any, *, skill_library: str | os.PathLike[str] | None = None,
             **defaults: Any) -> None:
    """Register a text env. `defaults` become constructor kwargs that `make(id, **kw)` can override.

    `skill_library` is the env's own skill library file (YAML or JSON, the format of docs/skills.md),
    for the backends that need skills; give an absolute path (e.g. `Path(__file__).with_name(...)`), as
    a relative one is read from the working directory of the run. It is read when a run needs it, so a
    registration never fails on it. Registering an id again exactly as before is a no-op (a module that
    registers on import and is also an entry point would otherwise make Gymnasium warn)."""
    spec = gym.registry.get(id)
    if not (id in _ids and spec is not None and spec.entry_point == entry_point and spec.kwargs == defaults):
        gym.register(id=id, entry_point=entry_point, kwargs=defaults, disable_env_checker=True)
    _ids[id] = entry_point if isinstance(entry_point, str) else f"{entry_point.__module__}:{entry_point.__qualname__}"
    if skill_library is not None:
        _skill_libraries[id] = str(Path(skill_library).expanduser())
    else:
        _skill_libraries.pop(id, None)


def skill_library_of(env_id: str) -> str | None:
    """The skill library file `env_id` was registered with (None: it declared none)."""
    _discover()
    return _skill_libraries.get(env_id)


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    try:
        found = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as e:  # a broken distribution's metadata must not take the built-in envs down either
        warnings.warn(f"agentgym: cannot list env plugins: {_one_line(e)}", stacklevel=3)
        found = []
    for ep in found:
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as e:  # a broken plugin must not take the built-in envs down with it
            warnings.warn(f"agentgym: env plugin {ep.name!r} ({ep.value}) failed to load: {_one_line(e)}",
                          stacklevel=3)


def _one_line(e: BaseException) -> str:
    """An exception as one line (a plugin's multi-line error must stay one warning line)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def env_ids() -> list[str]:
    """All registered agentgym env ids (built-in, registered by code, and discovered plugins)."""
    _discover()
    return list(_ids)


def entry_point_of(env_id: str) -> str:
    _discover()
    return _ids[env_id]


def load_class(spec: str) -> type:
    """Import `module:Class` (or `module.Class`)."""
    mod_name, sep, attr = spec.partition(":")
    if not sep:
        mod_name, _, attr = spec.rpartition(".")
    if not mod_name or not attr:
        raise AgentGymError(f"not an importable 'module:Class' spec: {spec!r}")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise AgentGymError(f"cannot import {mod_name!r} for {spec!r}: {e}") from e
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AgentGymError(f"module {mod_name!r} has no attribute {attr!r}") from None


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """Build an env by registered id, or by `module:Class` for an unregistered class."""
    _discover()
    if env_id not in _ids:
        if ":" in env_id and "/" not in env_id.split(":")[0]:
            return load_class(env_id)(**kwargs)
        raise UnknownEnvError(f"unknown env {env_id!r}; valid: {', '.join(_ids) or '(none)'}")
    return gym.make(env_id, **kwargs)

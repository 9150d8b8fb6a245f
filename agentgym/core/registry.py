"""One registry, Gymnasium's own, plus the env profiles and discovery of third-party envs.

`register` records an id in Gymnasium's registry (so `gymnasium.make` works too) and remembers it as
an agentgym text env with its profile (`agentgym.core.profile.EnvProfile`: template, reward scale,
skill library, default-model recipe, ...); `profile_of` is the one lookup every layer uses, for an
env id, an alias, a family name, a `module:Class` spec or an env object. Packages add envs without touching
agentgym by declaring an entry point in the group ``agentgym.envs`` whose object is a callable that
calls `agentgym.register(...)` (or a module that does so on import); they are loaded on the first
lookup, and a plugin that fails is one warning line, never a broken registry. The built-in envs are
registered by `agentgym.envs`, which the top-level package imports: the registry imports no env.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import gymnasium as gym

from agentgym.core.errors import AgentGymError, UnknownEnvError, moved_names
from agentgym.core.profile import GENERIC, EnvProfile, Template

ENTRY_POINT_GROUP = "agentgym.envs"

_ids: dict[str, str] = {}  # env id -> entry point string, in registration order
_profiles: dict[str, EnvProfile] = {}  # env id -> the profile it was registered with
_families: dict[str, EnvProfile] = {GENERIC.family: GENERIC}  # family -> its profile
_aliases: dict[str, str] = {}  # lower-case short name -> env id
_libraries: dict[str, str] = {}  # env id -> the skill library file given to `register` (wins over the profile's)
_classes: dict[str, type] = {}  # env id -> the class it was registered with, when given as a class
_discovered = False


def register(id: str, entry_point: str | Any, *, profile: EnvProfile | None = None,
             skill_library: str | os.PathLike[str] | None = None, **defaults: Any) -> None:
    """Register a text env. `defaults` become constructor kwargs that `make(id, **kw)` can override.

    `profile` says how the env is prompted, rewarded and warm-started (`EnvProfile`; none: the class's
    own `profile` or `prompt_family` attribute, else the generic one). `skill_library` is a shorthand for
    the profile's skill library file (YAML or JSON, the format of docs/skills.md), for the backends that
    need skills; give an absolute path (e.g. `Path(__file__).with_name(...)`), as a relative one is read
    from the working directory of the run. It is read when a run needs it, so a registration never fails
    on it. Registering an id again exactly as before is a no-op (a module that registers on import and
    is also an entry point would otherwise make Gymnasium warn)."""
    if profile is not None and not isinstance(profile, EnvProfile):
        raise AgentGymError(f"register({id!r}): profile must be an agentgym EnvProfile, not {type(profile).__name__}")
    if profile is not None:
        _adopt(profile, id)  # first: a refused profile leaves the registry as it was
    spec = gym.registry.get(id)
    if not (id in _ids and spec is not None and spec.entry_point == entry_point and spec.kwargs == defaults):
        gym.register(id=id, entry_point=entry_point, kwargs=defaults, disable_env_checker=True)
    _ids[id] = entry_point if isinstance(entry_point, str) else f"{entry_point.__module__}:{entry_point.__qualname__}"
    _profiles.pop(id, None)
    _libraries.pop(id, None)
    _classes.pop(id, None)
    if isinstance(entry_point, type):
        _classes[id] = entry_point
    if profile is not None:
        _profiles[id] = profile
    if skill_library is not None:
        _libraries[id] = str(Path(skill_library).expanduser())


def _adopt(profile: EnvProfile, env_id: str | None = None) -> None:
    """A profile met for the first time (given to `register`, or declared by a class): its family, which
    the prompts are rendered by, and its aliases. A family has one template: a second, different one
    under the same family name is refused (give the profile its own family)."""
    known = _families.get(profile.family)
    if known is None:
        _families[profile.family] = profile  # the first env of a family defines the family's profile
    elif known.template != profile.template:
        raise AgentGymError(f"env profile family {profile.family!r} already has another prompt template; give this "
                            "profile a family name of its own (or change the family's with register_template)")
    if env_id is not None:
        for alias in profile.aliases:
            _aliases.setdefault(alias.lower(), env_id)  # the first env registered under an alias keeps it


def register_profile(profile: EnvProfile) -> None:
    """Make `profile` its family's (what a family name and a class naming it in `prompt_family` get)."""
    _families[profile.family] = profile


def register_template(template: Template) -> None:
    """Add or replace a family's prompt template, for the family and every env registered with it; a new
    family gets the generic profile's other values."""
    base = _families.get(template.family, GENERIC)
    register_profile(dataclasses.replace(base, family=template.family, template=template))
    for env_id, prof in list(_profiles.items()):
        if prof.family == template.family:
            _profiles[env_id] = dataclasses.replace(prof, template=template)


def template(family: str) -> Template:
    """The prompt template of a registered family (KeyError naming the known ones otherwise)."""
    _discover()
    try:
        return _families[family].template
    except KeyError:
        raise KeyError(f"no prompt template for family {family!r}; known: {', '.join(_families)}") from None


def families() -> dict[str, EnvProfile]:
    """Every known family and its profile (the built-in ones, the registered ones, `generic`)."""
    _discover()
    return dict(_families)


def resolve_env_id(env: str) -> str:
    """A registered alias (`webshop`, any case) -> its env id; anything else as given."""
    _discover()
    return _aliases.get(env.lower(), env)


def known_env_id(env: str) -> str:
    """`env` (an id, an alias or a `module:Class` spec) as the id to make; one line naming the valid
    short names and ids when it is none of them."""
    env_id = resolve_env_id(env)
    if env_id not in _ids and ":" not in env_id:
        raise UnknownEnvError(f"unknown env {env!r}; valid: {', '.join([*_aliases, *_ids])}")
    return env_id


def aliases() -> dict[str, str]:
    """Short name -> env id, for the CLI's help and error lines."""
    _discover()
    return dict(_aliases)


def profile_of(env: Any) -> EnvProfile:
    """The profile of an env id, alias, family name, `module:Class` spec, env class or env object.

    The id's registered profile wins; else the class's own (`profile = EnvProfile(...)`, or
    `prompt_family = "..."` naming a registered family); else the generic profile. A family name gives
    that family's profile, so every per-env setting has one answer for an env and its family alike."""
    if isinstance(env, EnvProfile):
        return env
    _discover()
    if isinstance(env, str):
        if env in _families:
            return _families[env]
        return _id_profile(resolve_env_id(env))
    if isinstance(env, type):
        return _class_profile(env)
    inner = getattr(env, "unwrapped", env)
    spec = getattr(env, "spec", None) or getattr(inner, "spec", None)
    env_id = getattr(spec, "id", None)
    if env_id in _ids:
        return _id_profile(env_id)
    return _class_profile(type(inner))


def _id_profile(env_id: str) -> EnvProfile:
    if env_id in _profiles:
        prof = _profiles[env_id]
    elif env_id in _ids:
        prof = _declared_profile(_classes.get(env_id, _ids[env_id]))
        if prof is not GENERIC:
            _adopt(prof, env_id)
            _profiles[env_id] = prof  # the class is imported once
    else:
        return _declared_profile(env_id) if ":" in env_id else GENERIC
    if env_id in _libraries:
        prof = dataclasses.replace(prof, skill_library=_libraries[env_id])
    return prof


def family_of(env: Any) -> str:
    """The family of anything `profile_of` takes: the key of the prompt template that renders its turns."""
    return profile_of(env).family


def _declared_profile(entry_point: str | Any) -> EnvProfile:
    """The profile the class behind an entry point declares (generic if it declares none or does not
    import: making the env reports that)."""
    if not isinstance(entry_point, str):
        return _class_profile(entry_point) if isinstance(entry_point, type) else GENERIC
    try:
        cls = load_class(entry_point)
    except Exception:
        return GENERIC
    return _class_profile(cls)


def _class_profile(cls: type) -> EnvProfile:
    own = getattr(cls, "profile", None)
    if isinstance(own, EnvProfile):
        _adopt(own)
        return own
    fam = getattr(cls, "prompt_family", None)
    return _families.get(fam, GENERIC) if isinstance(fam, str) else GENERIC


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


__getattr__ = moved_names(__name__, {"skill_library_of": "profile_of(env_id).skill_library"})

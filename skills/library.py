"""Skill libraries: named principles grouped by task type, loaded from YAML (packaged or user-supplied).

A library file (`<env>.yaml`) holds:

- `env`, `version`, `description`;
- `groups`: name -> {description, keywords, examples}; the group `general` holds skills for every task, the
  others correspond to task types (ALFWorld), product categories (WebShop) or question styles
  (Search-QA). Group keywords are the rules the keyword retriever uses to recognise a task's group;
  a keyword is a word or phrase (matched on word boundaries, plural allowed) or a regex `re:<pattern>`.
  `examples` are typical task phrasings of the group, which the embedding retriever compares against;
- `default_group`: the group a task belongs to when no group keyword fires (optional);
- `group_key` / `task_groups`: how a task's own group is found (for hit rates and UCB contexts):
  `task.data[group_key]` if present, else `task_groups[task.task_type]`, else the task type itself;
- `skills`: a list of {name, group, principle, when, keywords}.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentgym.core.errors import AgentGymError
from agentgym.core.registry import families, profile_of
from agentgym.core.task import Task

#: The group whose skills apply to every task; never counts as a hit.
GENERAL = "general"
#: Longest allowed principle + when, in words: c+ is prepended to a small model's prompt.
MAX_SKILL_WORDS = 45
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SUFFIXES = (".yaml", ".yml", ".json")
_YAML_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster where built
#: A library file is a few KB; a larger one is refused before parsing.
MAX_LIBRARY_CHARS = 4 << 20


class _NoAliasLoader(_YAML_BASE):  # type: ignore[misc, valid-type]
    """A safe loader (no tags that run code) that refuses anchors and aliases before constructing
    anything: nested aliases ("billion laughs") expand to exponentially many values in the parser's
    output while the file stays tiny. Libraries never need them."""

    def construct_document(self, node: yaml.Node) -> Any:
        _refuse_aliases(node)
        return super().construct_document(node)


def _refuse_aliases(root: yaml.Node) -> None:
    """Raise if any node is reachable twice (that is what an alias is after composing); linear in the
    number of distinct nodes, so a billion-laughs file is refused at once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            mark = node.start_mark
            raise yaml.YAMLError(f"aliases (*name) are not allowed (line {mark.line + 1}, column {mark.column + 1})")
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))


_YAML_LOADER = _NoAliasLoader


def _yaml_error_line(e: yaml.YAMLError) -> str:
    """A YAML error as one line, with where it is (PyYAML's own text spans three or four lines)."""
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if not problem:
        return " ".join(str(e).split())
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def env_name_from_id(env: str) -> str:
    """`agentgym/ALFWorld-v0` -> `alfworld`; a plain name (`WebShop`) is lower-cased the same way."""
    name = env.strip().rsplit("/", 1)[-1]
    name = re.sub(r"-v\d+$", "", name)
    return re.sub(r"[^a-z0-9_]", "", name.lower())


def _clean(text: Any) -> str:
    """One line of single-spaced text (a skill renders as one line of c+)."""
    return " ".join(str(text or "").split())


def word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Skill:
    """A named principle plus when to apply it."""

    name: str
    group: str
    principle: str
    when: str
    keywords: tuple[str, ...] = ()

    @property
    def is_general(self) -> bool:
        return self.group == GENERAL

    def text(self) -> str:
        """The compact form shown to the teacher: `name: principle (when: when)`."""
        return f"{self.name}: {self.principle} (when: {self.when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "principle": self.principle,
            "when": self.when,
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True)
class SkillGroup:
    """A set of skills for one task type (or `general`), with the keywords that recognise its tasks."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # typical task phrasings (the embedding retriever compares against them)

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "keywords": list(self.keywords), "examples": list(self.examples)}


@dataclass
class SkillLibrary:
    """The skills of one environment. Build with `SkillLibrary.load(env)` or `from_file(path)`."""

    env: str
    skills: tuple[Skill, ...]
    groups: dict[str, SkillGroup]
    version: str = "1"
    description: str = ""
    default_group: str | None = None
    group_key: str | None = None
    task_groups: dict[str, str] = field(default_factory=dict)
    source: str = ""

    # ---- loading ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, env: str, library_dir: str | Path | None = None, *, strict: bool = True) -> SkillLibrary:
        """The library for `env` (a family, a name or an env id): `<library_dir>/<env>.yaml`, else the one
        of the env's profile (the built-in envs' own; a third-party env's registered file or object)."""
        name = env_name_from_id(env)
        if library_dir is not None:
            folder = Path(library_dir).expanduser()
            if not folder.is_dir():
                raise AgentGymError(f"skill library directory {str(folder)!r} does not exist")
            for suffix in _SUFFIXES:
                if (folder / f"{name}{suffix}").is_file():
                    return cls.from_file(folder / f"{name}{suffix}", strict=strict)
            found = ", ".join(sorted(p.stem for p in folder.iterdir() if p.suffix in _SUFFIXES)) or "(none)"
            raise AgentGymError(f"no skill library for env {name!r} in {str(folder)!r}; found: {found}")
        given = profile_of(env).skill_library
        if given is None:  # a bare name ("ALFWorld-v0") through the family or alias it names
            given = profile_of(name).skill_library
        if given is None:
            raise AgentGymError(f"no skill library for env {name!r} (its profile names none); valid: "
                                f"{', '.join(packaged_envs())}")
        return given if isinstance(given, SkillLibrary) else cls.from_file(given, strict=strict)

    @classmethod
    def from_file(cls, path: str | Path, *, strict: bool = True) -> SkillLibrary:
        p = Path(path)
        try:
            if p.stat().st_size > 4 * MAX_LIBRARY_CHARS:  # at most 4 UTF-8 bytes a character: surely too long
                raise AgentGymError(f"skill library {str(p)!r} is {p.stat().st_size} bytes; the limit is "
                                    f"{MAX_LIBRARY_CHARS} characters")
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise AgentGymError(f"cannot read skill library {str(p)!r}: {e}") from e
        return cls.from_text(text, source=str(p), strict=strict)

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>", strict: bool = True) -> SkillLibrary:
        """Parse YAML (or JSON, a subset) with a safe loader that also refuses aliases and huge input."""
        if len(text) > MAX_LIBRARY_CHARS:
            raise AgentGymError(f"skill library {source} is {len(text)} characters; the limit is {MAX_LIBRARY_CHARS}")
        try:
            data = yaml.load(text, Loader=_YAML_LOADER)  # a SafeLoader subclass: no tag runs code
        except yaml.YAMLError as e:
            raise AgentGymError(f"skill library {source} is not valid YAML: {_yaml_error_line(e)}") from e
        except RecursionError:  # the pure-Python loader on deep nesting (libyaml has its own limit)
            raise AgentGymError(f"skill library {source} nests too deeply") from None
        return cls.from_dict(data, source=source, strict=strict)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>", strict: bool = True) -> SkillLibrary:
        """Parse a library; with `strict`, any `validate()` problem raises `AgentGymError`."""
        if not isinstance(data, dict):
            raise AgentGymError(f"skill library {source}: top level must be a mapping")
        raw_groups = data.get("groups") or {}
        raw_skills = data.get("skills") or []
        if not isinstance(raw_groups, dict) or not isinstance(raw_skills, list):
            raise AgentGymError(f"skill library {source}: 'groups' must be a mapping and 'skills' a list")
        groups: dict[str, SkillGroup] = {}
        for gname, g in raw_groups.items():
            g = g or {}
            if not isinstance(g, dict):
                raise AgentGymError(f"skill library {source}: group {gname!r} must be a mapping")
            examples = g.get("examples") or []
            if isinstance(examples, str) or not isinstance(examples, list):
                raise AgentGymError(f"skill library {source}: group {gname!r}: 'examples' must be a list")
            groups[str(gname)] = SkillGroup(str(gname), _clean(g.get("description")), _keywords(g.get("keywords")),
                                            tuple(_clean(e) for e in examples if _clean(e)))
        skills = []
        for i, s in enumerate(raw_skills):
            if not isinstance(s, dict):
                raise AgentGymError(f"skill library {source}: skill #{i} must be a mapping")
            skills.append(Skill(
                name=_clean(s.get("name")),
                group=_clean(s.get("group")) or GENERAL,
                principle=_clean(s.get("principle")),
                when=_clean(s.get("when")),
                keywords=_keywords(s.get("keywords")),
            ))
        lib = cls(
            env=env_name_from_id(str(data.get("env") or "")),
            skills=tuple(skills),
            groups=groups,
            version=str(data.get("version", "1")),
            description=_clean(data.get("description")),
            default_group=_clean(data.get("default_group")) or None,
            group_key=_clean(data.get("group_key")) or None,
            task_groups={str(k): str(v) for k, v in (data.get("task_groups") or {}).items()},
            source=source,
        )
        if strict:
            problems = lib.validate()
            if problems:
                raise AgentGymError(f"skill library {source} is invalid: " + "; ".join(problems))
        return lib

    # ---- checks -------------------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Every problem found (empty when the library is usable)."""
        problems: list[str] = []
        if not self.env:
            problems.append("missing 'env'")
        if not self.skills:
            problems.append("no skills")
        seen: set[str] = set()
        for s in self.skills:
            label = f"skill {s.name or '(unnamed)'!r}"
            if not _NAME_RE.match(s.name):
                problems.append(f"{label}: name must be lower-case letters, digits, '-' or '_'")
            if s.name in seen:
                problems.append(f"{label}: duplicate name")
            seen.add(s.name)
            if s.group not in self.groups:
                problems.append(f"{label}: unknown group {s.group!r}")
            if not s.principle or not s.when:
                problems.append(f"{label}: needs both 'principle' and 'when'")
            n = word_count(s.principle) + word_count(s.when)
            if n > MAX_SKILL_WORDS:
                problems.append(f"{label}: principle + when is {n} words (max {MAX_SKILL_WORDS})")
        for g in self.groups.values():
            if not any(s.group == g.name for s in self.skills):
                problems.append(f"group {g.name!r} has no skills")
            for kw in g.keywords:
                problems += _check_keyword(kw, f"group {g.name!r}")
        for s in self.skills:
            for kw in s.keywords:
                problems += _check_keyword(kw, f"skill {s.name!r}")
        if self.default_group is not None and self.default_group not in self.groups:
            problems.append(f"default_group {self.default_group!r} is not a group")
        for tt, g in self.task_groups.items():
            if g not in self.groups:
                problems.append(f"task_groups[{tt!r}] = {g!r} is not a group")
        return problems

    # ---- queries ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.skills)

    def __iter__(self):
        return iter(self.skills)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    @property
    def task_group_names(self) -> list[str]:
        """Groups other than `general`, in library order."""
        return [g for g in self.groups if g != GENERAL]

    def get(self, name: str) -> Skill:
        for s in self.skills:
            if s.name == name:
                return s
        raise AgentGymError(f"no skill {name!r} in the {self.env} library; valid: {', '.join(self.names)}")

    def by_group(self, group: str) -> list[Skill]:
        return [s for s in self.skills if s.group == group]

    def group_of(self, task: Task) -> str | None:
        """The task's own group (the ground truth for hit rates), or None when the library has no such group."""
        if self.group_key and isinstance(task.data, dict) and task.data.get(self.group_key) in self.groups:
            return str(task.data[self.group_key])
        g = self.task_groups.get(task.task_type, task.task_type)
        return g if g in self.groups and g != GENERAL else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "version": self.version,
            "description": self.description,
            "default_group": self.default_group,
            "group_key": self.group_key,
            "task_groups": dict(self.task_groups),
            "groups": {k: g.to_dict() for k, g in self.groups.items()},
            "skills": [s.to_dict() for s in self.skills],
        }

    @property
    def content_hash(self) -> str:
        """Hash of the library's content (not its path): keys caches and checks checkpoint compatibility."""
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _keywords(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, Iterable):
        raise AgentGymError(f"keywords must be a list of strings, not {type(raw).__name__}")
    out = []
    for k in raw:
        k = str(k)
        out.append(k if k.startswith("re:") else _clean(k).lower())
    return tuple(k for k in out if k)


def _check_keyword(kw: str, where: str) -> list[str]:
    if kw.startswith("re:"):
        try:
            re.compile(kw[3:])
        except re.error as e:
            return [f"{where}: bad regex keyword {kw!r}: {e}"]
    return []


def packaged_envs() -> list[str]:
    """The env families whose profile names a skill library (the built-in envs', and any registered)."""
    return sorted(f for f, prof in families().items() if prof.skill_library is not None)

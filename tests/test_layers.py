"""The layer rule of docs/architecture.md, checked: nothing imports upward, and no import cycles.

Every module under agentgym/, backends/ (agentgym.backends) and skills/ (agentgym.skills) is parsed
with `ast`, and every import counts, those inside functions too: a lazy import is still a dependency
(and a cycle through one only waits for the call that closes it). Only agentgym's own modules are
checked; which third-party packages stay lazy is a start-up-time matter, not a layering one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it is installed as (pyproject.toml `package-dir`)
SOURCES = {"agentgym": "agentgym", "backends": "agentgym.backends", "skills": "agentgym.skills"}

#: Bottom to top. A module may import its own package (unit) and any unit of a lower layer, never a
#: higher layer; the units of one layer are siblings and do not import each other either.
#: A unit is a package or a single module; "agentgym" is the top-level package's __init__ only.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("agentgym.core", "agentgym.paths")),
    ("retrieval", ("agentgym.retrieval",)),
    ("envs", ("agentgym.envs",)),
    ("package", ("agentgym",)),  # the public API (`agentgym.make`, ...); importing it registers the built-in envs
    ("libraries", ("agentgym.skills", "agentgym.backends", "agentgym.engines", "agentgym.distributed",
                   "agentgym.runtime")),
    ("rollout", ("agentgym.rollout",)),
    ("models", ("agentgym.models",)),
    ("plots", ("agentgym.plots",)),
    ("trainer", ("agentgym.trainer",)),
    ("bench", ("agentgym.bench",)),
    ("cli", ("agentgym.cli",)),
    ("main", ("agentgym.__main__",)),  # `python -m agentgym`
)

#: (importing module, imported module) -> why this upward or sibling import is acceptable. Keep it
#: empty: a helper that two layers need belongs in the lower one.
ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([package, *parts])] = path
    return mods


MODULES = _modules()


def _known(name: str) -> str | None:
    """The longest prefix of a dotted name that is one of our modules (None: not ours)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported agentgym module, line) for every import statement in the file, at any depth."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_pkg else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            # `from pkg import sub` imports the submodule `pkg.sub`; `from mod import name`, the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            known = _known(t)
            if known is not None and known != module and (known, node.lineno) not in out:
                out.append((known, node.lineno))
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _unit(module: str) -> tuple[int, str]:
    """(layer index, unit) of a module."""
    for i, (_, units) in enumerate(LAYERS):
        for u in units:
            if module == u or (u != "agentgym" and module.startswith(u + ".")):
                return i, u
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py and to "
                         "docs/architecture.md")


def test_every_module_has_a_layer():
    assert len(MODULES) > 100  # the source folders were found
    for m in MODULES:
        _unit(m)


def test_nothing_imports_upward_or_sideways():
    bad = []
    for m, edges in GRAPH.items():
        lm, um = _unit(m)
        for t, line in edges:
            lt, ut = _unit(t)
            if ut == um or lt < lm or (m, t) in ALLOWED:
                continue
            kind = "a higher layer" if lt > lm else "a sibling unit of its layer"
            bad.append(f"{MODULES[m].relative_to(ROOT)}:{line}: {m} ({LAYERS[lm][0]}) imports {t} "
                       f"({LAYERS[lt][0]}), {kind}")
    assert not bad, "layer rule broken (docs/architecture.md):\n" + "\n".join(bad)


def test_allowed_exceptions_are_still_needed():
    edges = {(m, t) for m, es in GRAPH.items() for t, _ in es}
    assert set(ALLOWED) <= edges, f"stale entries in ALLOWED: {sorted(set(ALLOWED) - edges)}"


def test_no_import_cycles():
    graph = {m: sorted({t for t, _ in es}) for m, es in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        path.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(cycles)


def test_the_checker_sees_lazy_and_relative_imports():
    """The graph holds the edges the rule is about: a function-level import, a relative one, and
    `from package import submodule` resolved to the submodule."""
    edges = {(m, t) for m, es in GRAPH.items() for t, _ in es}
    assert ("agentgym.cli.train", "agentgym.trainer.run") in edges  # inside the `train` command
    assert ("agentgym.backends.grpo", "agentgym.backends.base") in edges  # `from .base import ...`
    assert ("agentgym.engines.hf", "agentgym.engines.cpu_decode") in edges  # `from agentgym.engines import cpu_decode`
    assert ("agentgym.engines.hf", "agentgym.engines") not in edges

"""`agentgym skills list|show|retrieve|hit-rate|validate`: inspect skill libraries and retrieval."""

from __future__ import annotations

import math
from typing import Any

import typer
from rich.table import Table

from agentgym.cli.common import coerce_kwargs, console
from agentgym.core.errors import AgentGymError

app = typer.Typer(help="Inspect skill libraries and the retrieval strategies that build the teacher context c+.",
                  no_args_is_help=True)

ENV_HELP = "env name or id (alfworld, webshop, searchqa, agentgym/ALFWorld-v0)"
SOURCES = ("auto", "panel", "fixture")


def _options(option: list[str] | None) -> dict[str, Any]:
    """`--option c=2.0 --option arms=group` -> {"c": 2.0, "arms": "group"} (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AgentGymError(f"--option must look like key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _store(env: str, strategy: str, k: int, seed: int, library_dir: str | None, option: list[str] | None,
           state: str | None = None):
    """The skill store; `--option` values typed against the strategy's constructor (`c=abc` for UCB is one
    line, not a ValueError deep in the retriever), a state file that does not load is one line."""
    from agentgym.skills.retrievers import retriever_class
    from agentgym.skills.store import SkillStore

    opts = _options(option)
    if opts:
        reserved = sorted(set(opts) & {"library", "k", "seed"})
        if reserved:
            raise AgentGymError(f"--option {reserved[0]}: give it with its own flag (--k, --seed, --library-dir)")
        opts = coerce_kwargs(retriever_class(strategy).__init__, opts, f"--option for strategy {strategy!r}:",
                             hidden=("library", "k", "seed"))
    try:
        store = SkillStore.create(env, strategy, k=k, seed=seed, library_dir=library_dir, **opts)
    except (TypeError, ValueError) as e:
        raise AgentGymError(f"bad --option for strategy {strategy!r}: {e}") from e
    if state:
        try:
            store.load(state)
        except UnicodeDecodeError:
            raise AgentGymError(f"cannot load skill state {state!r}: the file is not UTF-8 JSON") from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # JSON of another shape
            raise AgentGymError(f"cannot load skill state {state!r}: not a state written by SkillStore.save "
                                f"({type(e).__name__}: {e})") from e
    return store


def _tasks(env: str, source: str, split: str | None):
    """(tasks, description of where they came from)."""
    from agentgym.skills.evaluate import env_id_for, fixture_tasks, panel_tasks

    if source not in SOURCES:
        raise AgentGymError(f"unknown --source {source!r}; valid: {', '.join(SOURCES)}")
    if source == "fixture" or (source == "auto" and env_id_for(env) is None):
        return fixture_tasks(env), "fixture tasks"
    tasks = panel_tasks(env, split)
    return tasks, f"{env_id_for(env)} panel [{split or 'default split'}]"


@app.command("list")
def list_skills(
    env: str = typer.Option(..., "--env", "-e", help=ENV_HELP),
    library_dir: str = typer.Option(None, help="folder with your own <env>.yaml (default: the packaged library)"),
) -> None:
    """List the skills of an env's library, grouped."""
    from agentgym.skills.library import SkillLibrary

    lib = SkillLibrary.load(env, library_dir)
    table = Table("group", "skill", "principle", "when", title=f"{lib.env} skills ({lib.source})")
    for group in lib.groups:
        for s in lib.by_group(group):
            table.add_row(group, s.name, s.principle, s.when)
    console.print(table)
    console.print(f"{len(lib)} skills in {len(lib.groups)} groups; content hash {lib.content_hash}")


@app.command("show")
def show(
    name: str = typer.Argument(..., help="skill name (see `agentgym skills list`)"),
    env: str = typer.Option(..., "--env", "-e", help=ENV_HELP),
    library_dir: str = typer.Option(None, help="folder with your own <env>.yaml"),
) -> None:
    """Show one skill: its fields and the line it renders to in c+."""
    from agentgym.skills.library import SkillLibrary
    from agentgym.skills.render import render_context

    lib = SkillLibrary.load(env, library_dir)
    s = lib.get(name)
    table = Table(show_header=False, title=f"{lib.env} skill {s.name}")
    table.add_row("group", s.group)
    table.add_row("group description", lib.groups[s.group].description)
    table.add_row("principle", s.principle)
    table.add_row("when", s.when)
    table.add_row("keywords", ", ".join(s.keywords) or "-")
    console.print(table)
    console.print("[bold]rendered c+ (k=1)[/bold]")
    console.print(render_context([s]), markup=False, end="", soft_wrap=True)


@app.command("retrieve")
def retrieve(
    env: str = typer.Option(..., "--env", "-e", help=ENV_HELP),
    strategy: str = typer.Option("keyword", "--strategy", "-s", help="random | keyword | ucb | embedding"),
    task: str = typer.Option(None, "--task", "-t", help="task id from the env's panel (or the fixture set)"),
    split: str = typer.Option(None, help="panel split for --task"),
    source: str = typer.Option("auto", help="where --task ids come from: auto (panel if the env exists) | panel | fixture"),
    instruction: str = typer.Option(None, help="ad-hoc task instruction instead of --task"),
    task_type: str = typer.Option("unknown", help="task type of the ad-hoc task"),
    k: int = typer.Option(2, min=0, help="skills per task"),
    seed: int = typer.Option(0, min=0, help="seed (random, UCB tie-breaks)"),
    library_dir: str = typer.Option(None, help="folder with your own <env>.yaml"),
    state: str = typer.Option(None, help="JSON state saved by SkillStore.save (e.g. a trained UCB)"),
    option: list[str] = typer.Option(None, "--option", "-o", help="strategy option key=value, e.g. c=2.0"),
) -> None:
    """Show the skills a strategy retrieves for one task, the c+ block, and why."""
    from agentgym.core.task import Task

    if (task is None) == (instruction is None):
        raise AgentGymError("give exactly one of --task ID or --instruction TEXT")
    if instruction is not None:
        the_task = Task(task_id="adhoc", task_type=task_type, instruction=instruction)
    else:
        tasks, where = _tasks(env, source, split)
        by_id = {t.task_id: t for t in tasks}
        if task not in by_id:
            raise AgentGymError(f"task {task!r} is not in the {where}; e.g. {', '.join(list(by_id)[:3])}")
        the_task = by_id[task]
    store = _store(env, strategy, k, seed, library_dir, option, state)
    skills = store.retrieve(the_task)
    group = store.library.group_of(the_task)
    console.print(f"[bold]{the_task.task_id}[/bold] ({the_task.task_type}; group {group or '?'}): ", end="")
    console.print(the_task.instruction, markup=False)
    table = Table("#", "skill", "group", "hit", title=f"{strategy} retrieval, k={k}")
    for i, s in enumerate(skills, 1):
        table.add_row(str(i), s.name, s.group, "yes" if s.group == group else "")
    console.print(table)
    from agentgym.skills.render import render_context

    console.print("[bold]c+[/bold]")
    console.print(render_context(skills) or "(empty)", markup=False, end="", soft_wrap=True)
    explain = store.retriever.explain(the_task)
    for key, value in explain.items():
        if isinstance(value, dict):
            top = sorted(value.items(), key=lambda kv: -kv[1])[:6]
            console.print(f"{key}: " + ", ".join(f"{a} {_fmt(v)}" for a, v in top), markup=False)
        else:
            console.print(f"{key}: {value}", markup=False)


def _fmt(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.3f}"


@app.command("hit-rate")
def hit_rate_cmd(
    env: str = typer.Option(..., "--env", "-e", help=ENV_HELP),
    strategy: str = typer.Option("all", "--strategy", "-s", help="random | keyword | ucb | embedding | all"),
    source: str = typer.Option("auto", help="auto (panel if the env exists, else fixture) | panel | fixture"),
    split: str = typer.Option(None, help="panel split"),
    k: int = typer.Option(2, min=0, help="skills per task"),
    seed: int = typer.Option(0, min=0, help="seed"),
    library_dir: str = typer.Option(None, help="folder with your own <env>.yaml"),
    state: str = typer.Option(None, help="JSON state saved by SkillStore.save (one strategy only)"),
    option: list[str] = typer.Option(None, "--option", "-o", help="strategy option key=value"),
) -> None:
    """Hit rate (retrieved skills include one of the task's own group) per group and overall."""
    from agentgym.skills.evaluate import hit_rate
    from agentgym.skills.retrievers import STRATEGIES

    strategies = list(STRATEGIES) if strategy == "all" else [strategy]
    if (state or option) and len(strategies) != 1:
        raise AgentGymError("--state and --option need a single --strategy")
    tasks, where = _tasks(env, source, split)
    results = []
    library = None
    for strat in strategies:
        store = _store(env, strat, k, seed, library_dir, option, state)
        library = store.library
        results.append((store, hit_rate(store, tasks)))
    assert library is not None
    groups = [g for g in library.task_group_names if any(g in r.by_group for _, r in results)]
    table = Table("group", "tasks", *[r.strategy for _, r in results], title=f"{library.env} hit rate, k={k}, {where}")
    for g in groups:
        n = results[0][1].by_group.get(g, [0, 0])[1]
        table.add_row(g, str(n), *[f"{r.group_rate(g):.3f}" for _, r in results])
    table.add_row("all", str(results[0][1].labeled), *[f"[bold]{r.rate:.3f}[/bold]" for _, r in results])
    table.add_row("skills/task", "", *[f"{r.skills_per_task:.2f}" for _, r in results])
    console.print(table)
    for store, _ in results:
        rows = store.metrics().get("value_table")
        if rows:
            vt = Table("context", "arm", "n", "value", "ucb", title="UCB value table")
            for row in rows[:40]:
                vt.add_row(row["context"], row["arm"], str(row["n"]), f"{row['value']:.3f}", _fmt(row["ucb"]))
            console.print(vt)


@app.command("validate")
def validate(
    env: str = typer.Option(None, "--env", "-e", help="one env (default: every packaged library)"),
    library_dir: str = typer.Option(None, help="folder with your own <env>.yaml files"),
) -> None:
    """Check libraries for problems (unknown groups, duplicate names, skills too long, bad regexes)."""
    from pathlib import Path

    from agentgym.skills.library import SkillLibrary, packaged_envs

    if env:
        envs = [env]
    elif library_dir:
        envs = sorted({p.stem for p in Path(library_dir).glob("*.y*ml")} | {p.stem for p in Path(library_dir).glob("*.json")})
    else:
        envs = packaged_envs()
    bad = 0
    for e in envs:
        lib = SkillLibrary.load(e, library_dir, strict=False)
        problems = lib.validate()
        bad += bool(problems)
        status = "[green]ok[/green]" if not problems else f"[red]{len(problems)} problem(s)[/red]"
        console.print(f"{lib.env}: {len(lib)} skills, {len(lib.groups)} groups: {status}")
        for p in problems:
            console.print(f"  - {p}", markup=False)
    if bad:
        raise typer.Exit(1)

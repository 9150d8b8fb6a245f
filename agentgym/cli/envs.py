"""`agentgym envs list|show|check` and `agentgym play`."""

from __future__ import annotations

import typer
from rich.table import Table

from agentgym.cli.common import check_writable, console, finite, make_env
from agentgym.core.errors import AgentGymError

app = typer.Typer(help="List, inspect and check environments.", no_args_is_help=True)


def _make(env_id: str, split: str | None = None, max_steps: int | None = None):
    """The env, or one line: unknown id, a `module:Class` that is no env class, bad split or option."""
    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    env, _ = make_env(env_id, kwargs, split=split)
    return env


@app.command("list")
def list_envs() -> None:
    """List registered environments (built-in, registered by code, and entry-point plugins)."""
    from agentgym.core.registry import entry_point_of, env_ids

    table = Table("id", "entry point", title="agentgym environments")
    for env_id in env_ids():
        table.add_row(env_id, entry_point_of(env_id))
    console.print(table)


@app.command("show")
def show(
    env_id: str = typer.Argument(..., help="registered env id or module:Class"),
    split: str = typer.Option(None, help="panel split (default: the env's first split)"),
    seed: int = typer.Option(0, min=0, help="seed for the example task"),
) -> None:
    """Print the protocol card of a panel and an example task."""
    env = _make(env_id, split)
    inner = env.unwrapped
    card = inner.panel().card()
    table = Table(show_header=False, title=f"protocol card: {env_id} [{card.split}]")
    for k, v in card.rows():
        table.add_row(k, v)
    table.add_row("splits", ", ".join(inner.splits))
    console.print(table)
    obs, info = env.reset(seed=seed)
    console.print(f"[bold]example task[/bold] {info['task_id']} ({info['task_type']})")
    console.print(obs, markup=False)
    env.close()


@app.command("check")
def check(
    env_id: str = typer.Argument(..., help="registered env id or module:Class"),
    split: str = typer.Option(None, help="panel split"),
    garbage: int = typer.Option(200, min=1, help="number of garbage actions to try"),
) -> None:
    """Run Gymnasium's env checker and the text-env contract checks."""
    from agentgym.core.checker import check_text_env

    env = _make(env_id, split)
    results = check_text_env(env, n_garbage=garbage)
    env.close()
    table = Table("check", "result", "detail", title=f"agentgym envs check {env_id}")
    for r in results:
        table.add_row(r.name, "[green]pass[/green]" if r.passed else "[red]FAIL[/red]", r.detail)
    console.print(table)
    failed = [r for r in results if not r.passed]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed[/red]")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/green]")


def play(
    env_id: str = typer.Argument(..., help="registered env id or module:Class"),
    split: str = typer.Option(None, help="panel split"),
    seed: int = typer.Option(None, min=0, help="seed that picks the task"),
    task: str = typer.Option(None, help="task id to play (overrides --seed)"),
    max_steps: int = typer.Option(None, min=1, help="step cap"),
) -> None:
    """Play an episode yourself: type an action, or the number of an admissible action; 'quit' ends."""
    env = _make(env_id, split, max_steps)
    options = {"task": task} if task else None
    try:
        obs, info = env.reset(seed=seed, options=options)
    except KeyError as e:
        raise AgentGymError(str(e).strip("'\"")) from e
    console.print(f"[bold]{info['task_id']}[/bold] ({info['task_type']})")
    total = 0.0
    while True:
        console.print(obs, markup=False)
        adm = info.get("admissible_actions") or []
        if adm:
            console.print("[dim]admissible:[/dim] " + "  ".join(f"[cyan]{i}[/cyan] {a}" for i, a in enumerate(adm)))
        try:
            line = input("> ").strip()
        except EOFError:
            console.print("\n(end of input)")
            break
        if line in {"quit", "exit", ":q"}:
            break
        action = adm[int(line)] if line.isdigit() and int(line) < len(adm) else line
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        if not info["action_valid"]:
            console.print("[yellow](invalid action)[/yellow]")
        if terminated or truncated:
            console.print(obs, markup=False)
            break
    verdict = "won" if info["won"] else "not won"
    console.print(f"[bold]episode over[/bold]: {verdict}, score {info['score']:.3f}, return {total:.3f}, steps {env.unwrapped.steps}")
    env.close()


@app.command("demos")
def demos(
    env_id: str = typer.Argument(..., help="registered env id or module:Class"),
    out: str = typer.Option(..., "--out", "-o", help="JSONL file to write"),
    split: str = typer.Option(None, help="panel split"),
    episodes: int = typer.Option(100, min=1, help="number of episodes"),
    noise: float = typer.Option(0.0, min=0.0, max=1.0, help="probability of a noisy action per step",
                                callback=finite),
    seed: int = typer.Option(0, min=0, help="seed for task order and noise"),
) -> None:
    """Export expert demonstrations as trajectory JSONL and print the expert's success per task type."""
    from collections import defaultdict

    from rich.progress import track

    from agentgym.core.demos import expert_demos
    from agentgym.core.trajectory import write_jsonl

    check_writable(out, "--out")  # before the episodes, whose result would be lost
    env = _make(env_id, split)
    per_type: dict[str, list[bool]] = defaultdict(list)

    def gen():
        for t in track(expert_demos(env.unwrapped, episodes, noise=noise, seed=seed, env_id=env_id),
                       total=episodes, description="expert episodes", console=console, transient=True):
            per_type[t.task["task_type"]].append(t.won)
            yield t

    n = write_jsonl(gen(), out)
    table = Table("task type", "episodes", "success", title=f"expert on {env_id} [{env.unwrapped.split}], noise {noise}")
    for k in sorted(per_type):
        v = per_type[k]
        table.add_row(k, str(len(v)), f"{sum(v) / len(v):.3f}")
    allv = [w for v in per_type.values() for w in v]
    table.add_row("all", str(len(allv)), f"{sum(allv) / max(1, len(allv)):.3f}")
    console.print(table)
    console.print(f"wrote {n} trajectories to {out}")
    env.close()

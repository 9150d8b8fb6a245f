"""The `agentgym` command line. Each command group lives in its own module; heavy imports stay inside
the command functions so that `agentgym --help` and `agentgym envs list` start fast."""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click_exc  # typer vendors its own click

from agentgym.cli import bench as bench_cli
from agentgym.cli import envs, searchqa, train
from agentgym.cli import model as model_cli
from agentgym.cli import rollout as rollout_cli
from agentgym.cli import skills as skills_cli
from agentgym.cli import webshop as webshop_cli
from agentgym.cli.common import console_err
from agentgym.core.errors import AgentGymError
from agentgym.engines.base import EngineError

app = typer.Typer(
    name="agentgym",
    help="Train LLM agents on multi-turn text environments with RL and self-distillation (SDAR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(envs.app, name="envs")
app.add_typer(skills_cli.app, name="skills")
app.add_typer(webshop_cli.app, name="webshop")
app.add_typer(searchqa.app, name="searchqa")
app.command("play")(envs.play)
app.command("train")(train.train)
app.command("eval")(train.evaluate)
app.command("init-model")(model_cli.init_model)
app.command("sft")(model_cli.sft)
app.command("build-model")(model_cli.build_model)
app.command("rollout")(rollout_cli.rollout)
app.command("bench")(bench_cli.bench)
app.command("plot")(bench_cli.plot)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors (AgentGymError, click usage errors, EngineError) become one line on stderr
    and exit code 2, never a traceback; anything else is a bug and keeps its traceback."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except click_exc.NoArgsIsHelpError:  # typer has already printed the help
        sys.exit(0)
    except click_exc.UsageError as e:
        console_err(f"error: {e.format_message()}")
        sys.exit(2)
    except click_exc.ClickException as e:  # other click errors (files, bad parameters outside usage)
        console_err(f"error: {e.format_message()}")
        sys.exit(2)
    except AgentGymError as e:
        console_err(f"error: {e}")
        sys.exit(2)
    except EngineError as e:  # no server at --sglang-url, a server that died: the user's setup, not a bug
        console_err(f"error: {str(e).strip().splitlines()[0] if str(e).strip() else 'engine error'}")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console_err("aborted")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)

"""`agentgym webshop serve|generate|expert`: the WebShop site for people, its data files, its expert."""

from __future__ import annotations

import typer

from agentgym.cli.common import check_writable, console
from agentgym.core.errors import AgentGymError

app = typer.Typer(help="WebShop: shop in your browser, write the catalog files, measure the expert.", no_args_is_help=True)

_SEARCH_HELP = "search backend: lucene (Java 17 + pyserini) or bm25 (pure Python fallback)"


def _config(num_products: int, data_dir: str | None, search: str, goal_style: str = "human"):
    from agentgym.envs.webshop.loader import ShopConfig

    cfg = ShopConfig(num_products=num_products, data_dir=data_dir, search=search, goal_style=goal_style)
    try:
        cfg.validate()
    except ValueError as e:
        raise AgentGymError(str(e)) from e
    return cfg


@app.command("serve")
def serve(
    port: int = typer.Option(3000, min=0, max=65535, help="port on 127.0.0.1 (0 = any free port)"),
    num_products: int = typer.Option(1000, "--num-products", min=1, help="catalog size"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with WebShop's original data files"),
    split: str = typer.Option("test", help="panel the goals come from (train or test)"),
    search: str = typer.Option("lucene", help=_SEARCH_HELP),
) -> None:
    """Serve the shop on 127.0.0.1 so you can shop in your own browser (Ctrl-C stops it)."""
    import time

    from agentgym.envs.webshop.loader import get_panel, get_shop
    from agentgym.envs.webshop.server import start_server

    if split not in ("train", "test"):
        raise AgentGymError(f"unknown split {split!r}; valid: train, test")
    cfg = _config(num_products, data_dir, search)
    with console.status(f"building the shop ({num_products} products, {search} search) ..."):
        shop = get_shop(cfg, progress=False)
        panels = {s: get_panel(cfg, s, 15) for s in ("train", "test")}
    try:
        server = start_server(shop, panels, split=split, port=port, human=True)
    except OSError as e:
        raise AgentGymError(f"cannot listen on 127.0.0.1:{port}: {e}") from e
    console.print(f"WebShop is open at [bold]{server.url}/[/bold] (goals from the {split} panel; "
                  f"{server.url}/start?task=<task id or index> picks one). Ctrl-C stops it.")  # fmt: skip
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.close()


@app.command("generate")
def generate(
    out: str = typer.Option(..., "--out", "-o", help="folder to write the files to"),
    num_products: int = typer.Option(1000, "--num-products", min=1, help="catalog size"),
    seed: int = typer.Option(0, min=0, help="catalog seed"),
) -> None:
    """Write the synthetic catalog in WebShop's file formats (items, attributes, human instructions)."""
    from agentgym.envs.webshop.catalog import generate as gen
    from agentgym.envs.webshop.catalog import write_files

    check_writable(out, "--out", folder=True)
    with console.status(f"generating {num_products} products ..."):
        paths = write_files(gen(num_products, seed), out)
    for p in paths:
        console.print(f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB)")


@app.command("expert")
def expert(
    split: str = typer.Option("test", help="panel: train or test"),
    episodes: int = typer.Option(0, min=0, help="episodes (0 = the whole panel)"),
    num_products: int = typer.Option(1000, "--num-products", min=1, help="catalog size"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with WebShop's original data files"),
    search: str = typer.Option("lucene", help=_SEARCH_HELP),
    goal_style: str = typer.Option("human", help="human or synthetic goals"),
) -> None:
    """Run the expert over a panel and print its success rate and mean score per task type."""
    from collections import defaultdict

    from rich.progress import track
    from rich.table import Table

    from agentgym.envs.webshop.env import WebShopEnv

    cfg = _config(num_products, data_dir, search, goal_style)
    try:
        env = WebShopEnv(split=split, num_products=cfg.num_products, data_dir=cfg.data_dir, search=cfg.search,
                         goal_style=cfg.goal_style)  # fmt: skip
    except ValueError as e:
        raise AgentGymError(str(e)) from e
    panel = env.panel()
    tasks = list(panel)[: episodes or len(panel)]
    per: dict[str, list[tuple[bool, float, bool]]] = defaultdict(list)
    for task in track(tasks, description="expert episodes", console=console, transient=True):
        env.reset(options={"task": task})
        done = False
        info: dict = {}
        while not done:
            _, _, term, trunc, info = env.step(env.expert_action())
            done = term or trunc
        target = env.state is not None and env.state.asin == task.data.get("asin")
        per[task.task_type].append((bool(info["won"]), float(info["score"]), target))
    table = Table("task type", "episodes", "success", "mean score", "bought the target",
                  title=f"WebShop expert, {split} panel ({len(tasks)} goals, {num_products} products, {search})")  # fmt: skip
    rows = sorted(per.items()) + [("all", [x for v in per.values() for x in v])]
    for k, v in rows:
        n = len(v)
        table.add_row(k, str(n), f"{sum(w for w, _, _ in v) / n:.1%}", f"{sum(s for _, s, _ in v) / n:.3f}",
                      f"{sum(t for _, _, t in v) / n:.1%}")  # fmt: skip
    console.print(table)

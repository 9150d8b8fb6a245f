"""`agentgym searchqa ...`: generate the offline data set, serve a retriever, run the expert."""

from __future__ import annotations

from collections import defaultdict

import typer
from rich.table import Table

from agentgym.cli.common import check_writable, console
from agentgym.core.errors import AgentGymError

app = typer.Typer(help="Search-QA (Search-R1 protocol, offline): data, retrieval server, expert.", no_args_is_help=True)

RETRIEVER_HELP = "bm25 (Lucene, default) | bm25-py (pure Python) | dense (MiniLM + faiss)"


@app.command("generate")
def generate(
    out: str = typer.Option(..., "--out", "-o", help="folder to write corpus.jsonl and {train,test}.{jsonl,parquet}"),
    seed: int = typer.Option(None, min=0, help="world seed (default: the versioned default seed)"),
    parquet: bool = typer.Option(True, help="also write Search-R1's processed parquet files"),
) -> None:
    """Write the generated world in the originals' formats (wiki-18 corpus, QA JSONL, Search-R1 parquet)."""
    from agentgym.envs.searchqa.data import write_dataset

    check_writable(out, "--out", folder=True)
    counts = write_dataset(out, seed=seed, parquet=parquet)
    console.print(f"wrote {counts['corpus']} passages, {counts['train']} train and {counts['test']} test questions to {out}")


@app.command("serve-retriever")
def serve_retriever(
    port: int = typer.Option(8000, min=0, max=65535, help="port on 127.0.0.1 (0: pick a free one)"),
    retriever: str = typer.Option("bm25", help=RETRIEVER_HELP),
    corpus: str = typer.Option(None, help="wiki-18 style corpus JSONL (default: the generated world)"),
    topk: int = typer.Option(3, min=1, help="default topk when a request gives none"),
    log_requests: bool = typer.Option(False, help="log one line per request"),
) -> None:
    """Serve a retriever with Search-R1's `/retrieve` API on 127.0.0.1 (Ctrl-C stops it)."""
    from agentgym.retrieval.server import RetrievalServer

    if retriever == "http":
        raise AgentGymError("serve-retriever serves a local index; choose bm25, bm25-py or dense")
    env = _env(retriever=retriever, corpus_path=corpus)
    with console.status(f"loading the {retriever} retriever ..."):
        backend = _load_retriever(env, retriever)
    try:
        server = RetrievalServer(backend, host="127.0.0.1", port=port, default_topk=topk, log_requests=log_requests)
    except OSError as e:
        raise AgentGymError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
    console.print(f"serving {retriever} on {server.url}/retrieve  (POST {{\"queries\": [...], \"topk\": {topk}, \"return_scores\": true}})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command("expert")
def expert(
    split: str = typer.Option("test", help="panel split"),
    retriever: str = typer.Option("bm25", help=RETRIEVER_HELP + " | http"),
    retriever_url: str = typer.Option(None, help="the /retrieve URL for --retriever http"),
    episodes: int = typer.Option(0, min=0, help="episodes to run (0: the whole panel, in order)"),
    out: str = typer.Option(None, "--out", "-o", help="write the episodes as demo trajectories (JSONL)"),
    corpus: str = typer.Option(None, help="wiki-18 style corpus JSONL (default: the generated world)"),
    qa: str = typer.Option(None, help="QA file or folder (default: the generated panels)"),
) -> None:
    """Run the expert over a panel and report exact match and F1 per data_source."""
    from rich.progress import track

    from agentgym.core.demos import expert_episode
    from agentgym.core.trajectory import write_jsonl
    from agentgym.envs.searchqa.env import ENV_ID

    if out:
        check_writable(out, "--out")  # before the episodes, whose result would be lost
    env = _env(split=split, retriever=retriever, retriever_url=retriever_url, corpus_path=corpus, qa_path=qa)
    with console.status(f"loading the {retriever} retriever ..."):
        _load_retriever(env, retriever)
    panel = env.panel()
    tasks = list(panel)[: episodes or len(panel)]
    em: dict[str, list[float]] = defaultdict(list)
    f1: dict[str, list[float]] = defaultdict(list)

    def run():
        for i, task in enumerate(track(tasks, description="expert episodes", console=console, transient=True)):
            traj = expert_episode(env, task, env_id=ENV_ID, seed=i)
            em[task.task_type].append(float(traj.won))
            f1[task.task_type].append(traj.score)
            yield traj

    if out:
        n = write_jsonl(run(), out)
    else:
        n = sum(1 for _ in run())
    table = Table("data_source", "episodes", "exact match", "F1", title=f"expert on {ENV_ID} ({split}), retriever {retriever}")
    for src in sorted(em):
        table.add_row(src, str(len(em[src])), f"{sum(em[src]) / len(em[src]):.3f}", f"{sum(f1[src]) / len(f1[src]):.3f}")
    all_em = [x for v in em.values() for x in v]
    all_f1 = [x for v in f1.values() for x in v]
    table.add_row("all", str(len(all_em)), f"{sum(all_em) / max(1, len(all_em)):.3f}", f"{sum(all_f1) / max(1, len(all_f1)):.3f}")
    console.print(table)
    if out:
        console.print(f"wrote {n} trajectories to {out}")


def _env(**kwargs):
    """The Search-QA env, or one line for a bad split, retriever or file option."""
    from agentgym.envs.searchqa.env import SearchQAEnv

    try:
        return SearchQAEnv(**kwargs)
    except (TypeError, ValueError, OSError) as e:
        raise AgentGymError(f"bad Search-QA option: {e}") from e


def _load_retriever(env, name: str):
    """The env's retriever, loaded now (it is lazy) so that a missing corpus or index is one line."""
    try:
        return env.retriever
    except (ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AgentGymError(f"cannot load the {name} retriever: {first}") from e

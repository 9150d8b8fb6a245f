"""Seconds per GRPO step: agentgym's trainer against TRL's `GRPOTrainer` on one workload, interleaved.

The workload (issue 19): a randomly initialised Qwen2 (hidden 128, 4 layers, 4 / 2 heads, MLP 512, tied
embeddings) with a byte-level BPE of 2,000 tokens trained here on synthetic sentences; 2 prompts x 8
completions per step; every prompt exactly 72 tokens and every completion exactly 32 new tokens (both
sides use `min_new_tokens`); no reference model (KL 0); one optimizer update per step; temperature 1.
agentgym trains a one-turn env whose prompt is that text; TRL gets the very same token ids (the
agentgym prompt decoded to text, which TRL's tokenizer maps back to identical ids: checked). The reward
is one function of the completion text on both sides.

Runs alternate (TRL, agentgym, TRL, agentgym, ...) in one process with one thread; each run is fresh
and its step time is the median over steps 2..N (step 1 warms caches). Printed: per-run medians,
completion tokens/s, and the ratio TRL / agentgym per pair, in fp32 and with bf16 autocast.

TRL is not a dependency of agentgym: `--setup` makes a separate venv (~/.cache/agentgym/venv-trl: torch
from the constraints file, agentgym itself, trl==1.16.0), and the script re-runs itself there.

    python tools/bench_vs_trl.py --setup          # once (about 2 minutes)
    python tools/bench_vs_trl.py --pairs 3        # prints the table
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import agentgym
from agentgym import Panel, Task, TextEnv, Transition
from agentgym.core.recipe import ModelSize
from agentgym.models.build import init_model, save_model_dir
from agentgym.models.load import load_tokenizer
from agentgym.models.tokenizer import train_tokenizer
from agentgym.rollout.prompts import Template, build_user_text, encode_prompt, register_template
from agentgym.trainer.config import load_config
from agentgym.trainer.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("AGENTGYM_TRL_VENV", Path.home() / ".cache" / "agentgym" / "venv-trl"))
TRL_VERSION = "1.16.0"
ENV_ID = "bench/OneTurn-v0"
FAMILY = "bench-oneturn"
PROMPT_TOKENS = 72
NEW_TOKENS = 32
PROMPTS_PER_STEP = 2
GROUP = 8
WORD_TEXT = ("the a an of to in on for with at by from up about into over after red blue green small large old new "
         "quick slow bright dark happy sad cold warm river mountain city garden kitchen table chair window door "
         "book letter story song music paper stone glass water fire wind cloud rain snow light shadow morning "
         "evening night day week year friend teacher doctor farmer child mother father brother sister walks "
         "runs reads writes sings opens closes finds keeps gives takes makes builds carries watches hears "
         "and but so because while when where which who that this these those every some many few")


def setup() -> None:
    """The TRL venv: torch pinned through the constraints file, agentgym (no extras), trl."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True, env=env)
    subprocess.run([*pip, "-e", str(ROOT), f"trl=={TRL_VERSION}"], check=True, env=env)
    print(f"[bench_vs_trl] ready: {VENV}")


def sentences(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    syllables = WORD_TEXT.split()
    # common words plus made-up compounds of them: enough distinct text for a 2,000-token BPE
    words = syllables + ["".join(rng.sample(syllables, 2)) for _ in range(3000)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))).capitalize() + "." for _ in range(n)]


def reward_won(text: str) -> bool:
    """The workload's reward: a fair coin of the completion text (both sides call this)."""
    return sum(text.count(c) for c in "aeiou") % 2 == 0


def build_workload(out: Path, seed: int = 0) -> tuple[Path, list[str]]:
    """The model directory and the prompts' user texts (each encodes to exactly PROMPT_TOKENS)."""
    tok = train_tokenizer(sentences(20000, seed), vocab_size=2000)
    size = ModelSize(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=512)
    model = init_model(tok, size, seed=seed)
    model_dir = save_model_dir(model, tok, out / "model")
    texts: list[str] = []
    for s in sentences(200, seed + 1):
        words = s.split()
        while words and len(encode_prompt(tok, user_text(" ".join(words)))) > PROMPT_TOKENS:
            words.pop()
        while len(encode_prompt(tok, user_text(" ".join(words)))) < PROMPT_TOKENS:
            words.append("a")
        if len(encode_prompt(tok, user_text(" ".join(words)))) == PROMPT_TOKENS:
            texts.append(" ".join(words))
    return model_dir, texts[:64]


def user_text(instruction: str) -> str:
    return build_user_text(FAMILY, instruction, [], "Continue the text.")


register_template(Template(family=FAMILY, history=0, tags=("action",), format_line="Reply:", show_admissible=False))


class OneTurnEnv(TextEnv):
    """One turn: the prompt text; any completion ends the episode and `reward_won` decides."""

    splits = ("train", "test")
    default_max_steps = 1
    prompt_family = FAMILY

    def __init__(self, texts: list[str] | None = None, **kw):
        super().__init__(**kw)
        self.texts = list(texts or ["Say something."])

    def load_panel(self, split: str) -> Panel:
        tasks = [Task(task_id=f"one/{split}/{i}", task_type="one", instruction=t, seed=i)
                 for i, t in enumerate(self.texts)]
        return Panel(ENV_ID, split, "v1", tasks, base_seed=0, max_steps=1)

    def begin(self, task: Task):
        return "Continue the text.", {}

    def act(self, action: str) -> Transition:
        won = reward_won(action)
        return Transition("done", reward=float(won), done=True, won=won, score=float(won))


def agentgym_run(model_dir: Path, texts: list[str], steps: int, bf16: bool, seed: int, out: Path,
                 parts: list | None = None, lean_decode: bool = True) -> list[float]:
    """Seconds per `train_step`; `parts` (if given) gets each step's (rollout s, update s)."""
    agentgym.register(ENV_ID, OneTurnEnv, texts=texts)
    cfg = load_config(None, dict(
        env=ENV_ID, backend="grpo", model=str(model_dir), tasks_per_step=PROMPTS_PER_STEP, group_size=GROUP,
        max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, kl_coef=0.0, history=0, eval_episodes=0,
        bf16=bf16, micro_batch_size=PROMPTS_PER_STEP * GROUP, lr=1e-5, warmup_steps=0, seed=seed,
        out_dir=str(out), tensorboard=False))
    trainer = Trainer(cfg, log=lambda *_: None)
    trainer.engine.lean_decode = lean_decode
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        m = trainer.step()
        times.append(time.perf_counter() - t0)
        if parts is not None:
            parts.append((m["time_rollout"], m["time_update"]))
        n = m["response_tokens"]
        if n != PROMPTS_PER_STEP * GROUP * NEW_TOKENS:
            raise RuntimeError(f"agentgym step made {n} response tokens, not {PROMPTS_PER_STEP * GROUP * NEW_TOKENS}")
    trainer.close()
    return times


def trl_run(model_dir: Path, prompts: list[str], steps: int, bf16: bool, seed: int, out: Path) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tok = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    ends: list[float] = []
    lengths: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if not ends:
                ends.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            ends.append(time.perf_counter())

    def reward(completions, completion_ids=None, **kw):
        if completion_ids is not None:
            lengths.extend(len(c) for c in completion_ids)
        return [float(reward_won(c)) for c in completions]

    args = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=PROMPTS_PER_STEP * GROUP, num_generations=GROUP,
        max_completion_length=NEW_TOKENS, generation_kwargs={"min_new_tokens": NEW_TOKENS}, beta=0.0,
        num_iterations=1, gradient_accumulation_steps=1, max_steps=steps, learning_rate=1e-5,
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=10**6, save_strategy="no", report_to="none",
        bf16=bf16, use_cpu=True, seed=seed, dataloader_num_workers=0, disable_tqdm=True, temperature=1.0,
        loss_type="dapo", log_completions=False)
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, processing_class=tok,
                          train_dataset=Dataset.from_dict({"prompt": prompts}), callbacks=[Clock()])
    trainer.remove_callback(PrinterCallback)  # its end-of-run metrics line would break the table
    trainer.train()
    if any(n != NEW_TOKENS for n in lengths):
        raise RuntimeError(f"TRL made completions of {sorted(set(lengths))} tokens, not {NEW_TOKENS}")
    return [b - a for a, b in zip(ends, ends[1:], strict=False)]


def _multinomial(probs, generator):
    import torch

    return torch.multinomial(probs, 1, generator=generator)[:, 0]


#: agentgym with one speed lever undone at a time (issue 19's levers), for `--ablate`
LEVERS = ("all levers", "no lean decode", "no shared prompts", "torch.multinomial sampler")


def ablate(model_dir: Path, texts: list[str], steps: int, pairs: int, work: Path, console) -> None:
    """agentgym alone, each lever undone in turn, interleaved: median step, rollout and update seconds."""
    from unittest import mock

    from rich.table import Table

    from agentgym.engines import hf
    from agentgym.models import scoring

    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in LEVERS}
    for k in range(pairs):
        for lever in LEVERS:
            parts: list = []
            patches = []
            if lever == "no shared prompts":
                patches.append(mock.patch.object(scoring, "SHARE_BELOW", -1.0))
            if lever == "torch.multinomial sampler":
                patches.append(mock.patch.object(hf, "sample_rows", _multinomial))
            for p in patches:
                p.start()
            try:
                t = agentgym_run(model_dir, texts, steps, False, k, work / f"ab-{k}-{len(rows[lever])}", parts,
                                 lean_decode=lever != "no lean decode")
            finally:
                for p in patches:
                    p.stop()
            rows[lever].append((statistics.median(t[1:]), statistics.median(r for r, _ in parts[1:]),
                                statistics.median(u for _, u in parts[1:])))
    table = Table("agentgym (fp32)", "step s", "rollout s", "update s", "step vs all levers",
                  title=f"levers, median over {pairs} interleaved runs of steps 2..{steps}")
    base = statistics.median(r[0] for r in rows["all levers"])
    for lever in LEVERS:
        st = statistics.median(r[0] for r in rows[lever])
        table.add_row(lever, f"{st:.3f}", f"{statistics.median(r[1] for r in rows[lever]):.3f}",
                      f"{statistics.median(r[2] for r in rows[lever]):.3f}", f"{st / base:.2f}x")
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="create the TRL venv and exit")
    ap.add_argument("--pairs", type=int, default=3, help="interleaved (TRL, agentgym) run pairs per precision")
    ap.add_argument("--steps", type=int, default=10, help="steps per run (the median skips the first)")
    ap.add_argument("--precision", default="fp32,bf16", help="fp32, bf16 or both")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the per-step times here")
    ap.add_argument("--ablate", action="store_true", help="agentgym only: each speed lever undone in turn")
    args = ap.parse_args()
    if args.setup:
        setup()
        return
    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        py = VENV / "bin" / "python"
        if py.exists() and Path(sys.executable).resolve() != py.resolve():
            os.execv(str(py), [str(py), *sys.argv])
        if not args.ablate:  # the ablation runs agentgym only
            sys.exit(f"TRL is not installed here; run `python {sys.argv[0]} --setup` first (a separate venv at {VENV})")
        trl_version = "(not installed)"
    if args.steps < 3 or args.pairs < 1:
        sys.exit("--steps must be >= 3 and --pairs >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import json

    import torch
    import transformers
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' renamed-option notices
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="agentgym-vs-trl-"))
    model_dir, texts = build_workload(work)
    tok = load_tokenizer(model_dir)
    ids = [encode_prompt(tok, user_text(t)) for t in texts]
    prompts = [tok.decode(i, skip_special_tokens=False) for i in ids]
    if [tok(p, add_special_tokens=False)["input_ids"] for p in prompts] != ids:
        raise RuntimeError("TRL's tokenization of the decoded prompts differs from agentgym's prompt ids")
    n_params = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_pretrained(str(model_dir)).parameters())
    console.print(f"workload: Qwen2 {n_params / 1e6:.2f}M parameters, vocab {len(tok)}, {len(texts)} prompts of "
                  f"{PROMPT_TOKENS} tokens, {PROMPTS_PER_STEP} x {GROUP} completions of {NEW_TOKENS} tokens per step; "
                  f"{args.threads} thread(s); torch {torch.__version__}, trl {trl_version}")
    if args.ablate:
        ablate(model_dir, texts, args.steps, args.pairs, work, console)
        shutil.rmtree(work, ignore_errors=True)
        return
    table = Table("precision", "pair", "TRL s/step", "agentgym s/step", "TRL tok/s", "agentgym tok/s",
                  "TRL / agentgym", title=f"GRPO step, median of steps 2..{args.steps}")
    record: dict[str, list] = {}
    tokens = PROMPTS_PER_STEP * GROUP * NEW_TOKENS
    for prec in [p.strip() for p in args.precision.split(",") if p.strip()]:
        bf16 = prec == "bf16"
        ratios = []
        for k in range(args.pairs):
            t_trl = trl_run(model_dir, prompts, args.steps, bf16, k, work / f"trl-{prec}-{k}")
            t_ag = agentgym_run(model_dir, texts, args.steps, bf16, k, work / f"ag-{prec}-{k}")
            m_trl, m_ag = statistics.median(t_trl[1:]), statistics.median(t_ag[1:])
            ratios.append(m_trl / m_ag)
            record.setdefault(prec, []).append({"trl": t_trl, "agentgym": t_ag})
            table.add_row(prec, str(k + 1), f"{m_trl:.3f}", f"{m_ag:.3f}", f"{tokens / m_trl:.0f}",
                          f"{tokens / m_ag:.0f}", f"{m_trl / m_ag:.2f}x")
        table.add_row(prec, "median", "", "", "", "", f"[bold]{statistics.median(ratios):.2f}x[/bold]")
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

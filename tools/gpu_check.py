"""The GPU path, checked in one short run: SDAR on ALFWorld with a model of Qwen2.5-0.5B's shapes.

No network and no weights to download: the model is randomly initialised from a config written here
(Qwen2.5-0.5B's shapes, the embedded policy's tokenizer), so it acts badly and every episode fails; the
check is that the machinery runs on the device, not that the policy learns. Three runs of `agentgym
train` (each its own process, so each peak memory is its own):

  torch      plain torch, bf16 autocast on the device
  zero2      DeepSpeed ZeRO-2 in one process
  lora       plain torch with LoRA (rank 16) on every linear layer

Each prints step time, rollout and training tokens per second and peak memory (GPU memory allocated on
CUDA, the resident set on CPU); any failed run fails the check with its last lines.

    python tools/gpu_check.py             # on a GPU machine, about 5 minutes on one large GPU
    python tools/gpu_check.py --tiny      # on CPU: a 2-layer model, small batches (a slow test runs it)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.table import Table
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

from agentgym.models.default import ensure_default_model

ENV = "agentgym/ALFWorld-v0"
ENV_KWARGS = {"difficulty": "small"}  # the embedded policy's world: its tokenizer ships with the package

#: Qwen2.5-0.5B (its config.json); vocab_size is the checkpoint's embedding rows
QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1_000_000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, vocab_size=151_936)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=2048, rope_theta=10_000.0, rms_norm_eps=1e-6,
            tie_word_embeddings=True)

RUNS = {
    "torch": [],
    "zero2": ["--deepspeed", "--zero-stage", "2"],
    "lora": ["--set", "lora_rank=16", "--set", "lora_alpha=32"],
}


def write_model(out: Path, shapes: dict, seed: int = 0) -> Path:
    """A randomly initialised Qwen2 causal LM with `shapes` and the embedded ALFWorld policy's tokenizer."""
    tok_dir = ensure_default_model(ENV, env_kwargs=ENV_KWARGS, log=lambda _: None, progress=False)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    vocab = max(int(shapes.get("vocab_size", 0)), len(tok))
    cfg = Qwen2Config(**{**shapes, "vocab_size": vocab}, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def run_one(name: str, model: Path, work: Path, *, device: str, steps: int, tiny: bool, timeout_s: int) -> dict:
    """One `agentgym train` of `steps` SDAR steps; its per-step metrics averaged over the steps after the first."""
    out = work / name
    batch = ["--tasks-per-step", "2", "--group-size", "2", "--env-opt", "max_steps=4"] if tiny else \
            ["--tasks-per-step", "4", "--group-size", "8", "--env-opt", "max_steps=8"]  # a random policy never wins
    batch += [f"--env-opt={k}={v}" for k, v in ENV_KWARGS.items()]
    cmd = [sys.executable, "-m", "agentgym", "train", "--backend", "sdar", "--env", ENV, "--model", str(model),
           "--steps", str(steps), "--eval-episodes", "0", "--out", str(out), "--set", f"device={device}",
           "--set", "tensorboard=false", "--set", "checkpoint_every=0", *batch, *RUNS[name]]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-30:])
        raise RuntimeError(f"run {name} failed (exit {r.returncode}) after {wall:.0f} s:\n{tail}")
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    if len(lines) != steps:
        raise RuntimeError(f"run {name} logged {len(lines)} steps, expected {steps}")
    bad = [m["step"] for m in lines if m.get("skipped")]
    if bad:
        raise RuntimeError(f"run {name}: steps {bad} skipped their update (non-finite loss or gradient)")
    timed = lines[1:] or lines  # the first step pays for kernel compilation and allocator warm-up

    def mean(key: str) -> float:
        return sum(float(m[key]) for m in timed) / len(timed)

    tokens = mean("response_tokens")
    return {"run": name, "wall_s": wall, "step_s": mean("time_step"), "rollout_tok_s": tokens / mean("time_rollout"),
            "train_tok_s": tokens / mean("time_update"), "peak_gb": max(float(m["mem_peak_gb"]) for m in lines),
            "loss": lines[-1]["loss"]}


def main(tiny: bool = typer.Option(False, help="CPU-sized: a 2-layer model and small batches"),
         device: str = typer.Option("auto", help="cuda, cpu or auto (cuda when available)"),
         steps: int = typer.Option(3, min=2, help="SDAR steps per run"),
         only: str = typer.Option(",".join(RUNS), help="comma-separated runs: " + ", ".join(RUNS)),
         timeout_s: int = typer.Option(240, help="limit of each run, seconds")) -> None:
    console = Console()
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        console.print("gpu_check: --device cuda, but torch sees no CUDA device", style="red")
        raise typer.Exit(2)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        console.print(f"gpu_check: unknown run {unknown[0]!r}; valid: {', '.join(RUNS)}", style="red")
        raise typer.Exit(2)
    work = Path(tempfile.mkdtemp(prefix="agentgym-gpu-check-"))
    try:
        shapes = TINY if tiny else QWEN25_05B
        t0 = time.perf_counter()
        model = write_model(work / "model", shapes)
        n_params = sum(p.numel() for p in Qwen2ForCausalLM(Qwen2Config.from_pretrained(model)).parameters()) \
            if tiny else None
        console.print(f"model: Qwen2 {shapes['num_hidden_layers']}x{shapes['hidden_size']}, random init"
                      + (f", {n_params / 1e6:.2f} M params" if n_params else "")
                      + f" ({time.perf_counter() - t0:.0f} s); device {dev}"
                      + (f" ({torch.cuda.get_device_name(0)})" if dev.startswith("cuda") else ""))
        rows = []
        for name in names:
            console.print(f"[bold]{name}[/]: {steps} SDAR steps ...")
            rows.append(run_one(name, model, work, device=dev, steps=steps, tiny=tiny, timeout_s=timeout_s))
        table = Table(title=f"SDAR on ALFWorld, {steps} steps per run, {dev}")
        for col in ("run", "step s", "rollout tok/s", "train tok/s", "peak GB", "wall s", "last loss"):
            table.add_column(col, justify="left" if col == "run" else "right")
        for r in rows:
            table.add_row(r["run"], f"{r['step_s']:.2f}", f"{r['rollout_tok_s']:.0f}", f"{r['train_tok_s']:.0f}",
                          f"{r['peak_gb']:.2f}", f"{r['wall_s']:.0f}", f"{r['loss']:.4f}")
        console.print(table)
        console.print("gpu_check: OK")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        console.print(f"gpu_check: FAILED: {e}", style="red", markup=False)
        raise typer.Exit(1) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)

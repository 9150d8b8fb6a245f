"""Checkpoints that a killed run (kill -9 included) resumes from.

A checkpoint is a folder `checkpoints/step_000N/` holding the policy (a normal HF directory, so it can
be evaluated or served on its own), the optimizer and scheduler state, the RNG states, the skill-store
state and the trainer state (step, metrics so far); a LoRA run adds `adapter.safetensors`, the adapter
weights that a resume loads (its policy folder holds the merged weights). It is written to a temporary
folder and renamed into place, so a crash mid-write never leaves a half checkpoint that `latest()` would
pick.

Loading one never runs code from it (run folders get shared): weights are safetensors, the RNG states
JSON and safetensors, and the optimizer state is read with `torch.load(weights_only=True)`, which
accepts tensors and plain containers only; anything else is refused with an `AgentGymError`.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from agentgym.core.errors import AgentGymError

_STEP_DIR = re.compile(r"^step_(\d+)$")
#: a LoRA run's adapter weights, beside the policy folder (not in it: servers load every *.safetensors there)
ADAPTER_FILE = "adapter.safetensors"


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _save_rng(folder: Path) -> None:
    """RNG states as JSON (Python, NumPy) and safetensors (torch, CUDA): no pickle."""
    st = rng_state()
    version, internal, gauss = st["python"]
    name, keys, pos, has_gauss, cached = st["numpy"]
    (folder / "rng.json").write_text(json.dumps({
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }))
    tensors = {"torch": st["torch"]}
    for i, t in enumerate(st["cuda"] or []):
        tensors[f"cuda_{i}"] = t
    save_file(tensors, str(folder / "rng.safetensors"))


def _load_rng(folder: Path) -> dict[str, Any]:
    if not (folder / "rng.json").is_file():
        raise AgentGymError(f"checkpoint {folder} has no rng.json (written by an older agentgym, whose pickled "
                            "RNG state is not loaded for safety); start the run anew")
    try:
        d = json.loads((folder / "rng.json").read_text())
        version, internal, gauss = d["python"]
        name, keys, pos, has_gauss, cached = d["numpy"]
        tensors = load_file(str(folder / "rng.safetensors"))
        cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda_")), key=lambda k: int(k[5:]))]
        return {"python": (int(version), tuple(int(x) for x in internal), gauss),
                "numpy": (str(name), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)),
                "torch": tensors["torch"], "cuda": cuda or None}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"unreadable RNG state ({e})") from e
    except Exception as e:
        raise ValueError(f"unreadable RNG state ({type(e).__name__})") from e


def _load_optimizer(path: Path) -> Any:
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:  # the weights-only unpickler met something that is not data
        raise AgentGymError(f"checkpoint file {path} holds more than tensors and plain values; refusing to "
                            f"load it ({type(e).__name__})") from e
    except Exception as e:  # truncated or garbled: a torn checkpoint
        raise ValueError(f"{path.name} is unreadable ({type(e).__name__})") from e


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:06d}"


def complete(run_dir: str | Path) -> list[Path]:
    """The run's complete checkpoints (trainer_state.json written), newest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / "trainer_state.json").is_file()]
    return sorted(done, key=lambda p: int(_STEP_DIR.match(p.name).group(1)), reverse=True)


def latest(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    done = complete(run_dir)
    return done[0] if done else None


def save(run_dir: str | Path, step: int, *, model, tokenizer, optim_state: dict[str, Any] | None,
         trainer_state: dict[str, Any], skills_state: dict[str, Any] | None, keep: int = 2,
         save_model_fn=None, adapter: dict[str, torch.Tensor] | None = None) -> Path:
    """Write a checkpoint atomically; keep the newest `keep` checkpoints. `adapter`: a LoRA run's
    adapter weights (safetensors, like everything a resume reads)."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if save_model_fn is not None:
        save_model_fn(tmp / "policy")
    else:
        model.save_pretrained(tmp / "policy", safe_serialization=True)
    tokenizer.save_pretrained(tmp / "policy")
    if adapter is not None:
        save_file(adapter, str(tmp / ADAPTER_FILE))
    if optim_state is not None:
        torch.save(optim_state, tmp / "optimizer.pt")
    _save_rng(tmp)
    (tmp / "skills.json").write_text(json.dumps(skills_state or {}))
    # trainer_state.json is written last: its presence marks a complete checkpoint
    (tmp / "trainer_state.json").write_text(json.dumps(trainer_state))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    _prune(Path(run_dir) / "checkpoints", keep)
    return final


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    return {
        "policy_dir": path / "policy",
        "adapter_file": path / ADAPTER_FILE,
        "optim_state": _load_optimizer(path / "optimizer.pt") if (path / "optimizer.pt").exists() else None,
        "rng": _load_rng(path),
        "skills": json.loads((path / "skills.json").read_text()),
        "trainer_state": json.loads((path / "trainer_state.json").read_text()),
    }


def _prune(root: Path, keep: int) -> None:
    steps = sorted((p for p in root.iterdir() if _STEP_DIR.match(p.name)), key=lambda p: p.name)
    for p in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob("*.tmp"):
        shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass

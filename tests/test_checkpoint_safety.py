"""Loading a checkpoint never runs code from the run folder (run folders get shared between people)."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from agentgym.core.errors import AgentGymError
from agentgym.trainer import checkpoint as ckpt


class _Exploit:
    """A pickle that, when loaded, runs a shell command (here: creates a marker file)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _write_checkpoint(tmp_path):
    model = torch.nn.Linear(3, 3)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.rand(2, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0)

    class Tok:
        def save_pretrained(self, path):
            (path / "tok.json").write_text("{}")

    return ckpt.save(tmp_path, 3, model=model, tokenizer=Tok(), optim_state={"optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict()}, trainer_state={"step": 3}, skills_state={},
                     save_model_fn=lambda p: p.mkdir(parents=True, exist_ok=True))


def test_round_trip_restores_rng_and_optimizer(tmp_path):
    path = _write_checkpoint(tmp_path)
    before = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    state = ckpt.load(path)
    ckpt.set_rng_state(state["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == before
    assert set(state["optim_state"]) == {"optimizer", "scheduler"}
    assert not list(path.glob("*.pt")) or [p.name for p in path.glob("*.pt")] == ["optimizer.pt"]


def test_a_crafted_optimizer_pickle_is_refused_and_never_runs(tmp_path):
    path = _write_checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    with open(path / "optimizer.pt", "wb") as f:
        pickle.dump({"optimizer": _Exploit(str(marker))}, f)
    with pytest.raises(AgentGymError, match="refusing to load"):
        ckpt.load(path)
    assert not marker.exists()


def test_a_crafted_legacy_rng_pickle_is_never_read(tmp_path):
    path = _write_checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    with open(path / "rng.pt", "wb") as f:
        pickle.dump(_Exploit(str(marker)), f)
    ckpt.load(path)  # the safe rng.json is read; rng.pt is not
    (path / "rng.json").unlink()
    with pytest.raises(AgentGymError, match="older agentgym"):
        ckpt.load(path)
    assert not marker.exists()

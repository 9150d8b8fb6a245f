"""tools/ship_default_model.py: stage folders are shipped only when they are the recipe's stages."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from fakes.tiny import TINY
from fakes.tools import load_tool
from fakes.toy_env import register_toy

from agentgym.core.recipe import DefaultModelConfig, SFTConfig
from agentgym.models import default


def _tool():
    return load_tool("ship_default_model")


def test_check_stages_accepts_the_recipes_folders_and_names_what_differs(tmp_path):
    tool = _tool()
    env_id = register_toy()
    first = SFTConfig(demos=8, epochs=1, bf16=False)
    cfg = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=8, size=TINY, sft=first,
                             stages=(first.with_(seed=1, lr=1e-3),))
    default.build_default_model(cfg, tmp_path / "whole", progress=False)
    assert tool.check_stages(cfg, [tmp_path / "whole"]) == []  # one folder built from the whole recipe
    other = replace(cfg, stages=(first.with_(seed=1, lr=2e-3),))
    errors = tool.check_stages(other, [tmp_path / "whole"])
    assert errors and "stages" in errors[0]
    # stage by stage: the first by the builder, the next by `agentgym sft --init` with the stage's recipe
    default.build_default_model(default.single_stage(cfg), tmp_path / "s1", progress=False)
    default.build_default_model(replace(cfg, sft=cfg.stages[0], stages=()), tmp_path / "s2", progress=False,
                                init_dir=tmp_path / "s1")
    assert tool.check_stages(cfg, [tmp_path / "s1", tmp_path / "s2"]) == []
    errors = tool.check_stages(other, [tmp_path / "s1", tmp_path / "s2"])
    assert errors == ["stage 2 (%s) sft.lr: recipe 0.002, folder 0.001" % (tmp_path / "s2")]
    assert "continued" in tool.check_stages(cfg, [tmp_path / "s2", tmp_path / "s2"])[-1]
    assert tool.check_stages(cfg, [tmp_path / "s1"]) != []  # a missing stage
    assert "hold 3" in tool.check_stages(cfg, [tmp_path / "whole", tmp_path / "s2"])[0]  # one too many


def test_a_recipe_that_gains_a_stage_ships_from_the_old_build_and_one_more_folder(tmp_path, monkeypatch):
    """The first folder may be a builder run of the recipe's first stages (the recipe before a stage was
    added); the new stage's folder must continue that very folder."""
    tool = _tool()
    env_id = register_toy()
    first = SFTConfig(demos=8, epochs=1, bf16=False)
    two = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=8, size=TINY, sft=first,
                             stages=(first.with_(seed=1, lr=1e-3),))
    three = replace(two, stages=(*two.stages, first.with_(seed=2, lr=5e-4)))
    default.build_default_model(two, tmp_path / "old", progress=False)
    default.build_default_model(replace(three, sft=three.stages[1], stages=()), tmp_path / "s3", progress=False,
                                init_dir=tmp_path / "old")
    assert tool.check_stages(three, [tmp_path / "old", tmp_path / "s3"]) == []
    assert "hold 2" in tool.check_stages(three, [tmp_path / "old"])[0]
    errors = tool.check_stages(replace(three, stages=(first.with_(seed=1, lr=2e-3), three.stages[1])),
                               [tmp_path / "old", tmp_path / "s3"])
    assert errors and "another recipe" in errors[0]  # the old build is not this recipe's first two stages
    errors = tool.check_stages(replace(three, stages=(two.stages[0], first.with_(seed=2, lr=1e-4))),
                               [tmp_path / "old", tmp_path / "s3"])
    assert errors == ["stage 3 (%s) sft.lr: recipe 0.0001, folder 0.0005" % (tmp_path / "s3")]
    moved = tmp_path / "s3-elsewhere"  # the same stage, but continuing another folder, or none recorded
    shutil.copytree(tmp_path / "s3", moved)
    info = json.loads((moved / "agentgym.json").read_text())
    (moved / "agentgym.json").write_text(json.dumps({**info, "init": str(tmp_path / "whole")}))
    assert "continued" in tool.check_stages(three, [tmp_path / "old", moved])[-1]
    (moved / "agentgym.json").write_text(json.dumps({k: v for k, v in info.items() if k != "init"}))
    assert "records no --init" in tool.check_stages(three, [tmp_path / "old", moved])[-1]
    assert "not a model folder" in tool.check_stages(three, [tmp_path / "old", tmp_path / "nowhere"])[0]
    assert "not a model folder" in tool.check_stages(three, [tmp_path / "nowhere"])[0]
    monkeypatch.setattr(tool, "SHIPPED_DIR", tmp_path / "shipped")
    dest = tool.ship(three, [tmp_path / "old", tmp_path / "s3"])
    info = json.loads((dest / "agentgym.json").read_text())
    assert [st["stage"] for st in info["metrics"]["stages"]] == [1, 2, 3]
    assert [Path(st["folder"]).name for st in info["metrics"]["stages"]] == ["old", "old", "s3"]
    assert info["config"] == json.loads(json.dumps(three.to_dict())) and dest.name.endswith(default.model_key(three))

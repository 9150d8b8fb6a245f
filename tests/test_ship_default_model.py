"""tools/ship_default_model.py: stage folders are shipped only when they are the recipe's stages."""

from __future__ import annotations

from dataclasses import replace

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
    assert "continued" in tool.check_stages(cfg, [tmp_path / "whole", tmp_path / "s2"])[-1]
    assert tool.check_stages(cfg, [tmp_path / "s1"]) != []  # a missing stage

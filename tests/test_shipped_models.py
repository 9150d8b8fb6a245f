"""The default policies shipped in the package: each is its current recipe's build (by key), loads
as the cache copy a user's first run gets without building, and plays like the build it was.

If a recipe, prompt template, builder version or train panel changes, the key changes and the shipped
folder no longer matches: rebuild it (`agentgym build-model`, then tools/ship_default_model.py)."""

from __future__ import annotations

import json

import pytest
import torch

from agentgym.models import default
from agentgym.models.default import SHIPPED_DIR, default_config, model_key, shipped_model

SHIPPED = sorted(p for p in SHIPPED_DIR.iterdir() if p.is_dir()) if SHIPPED_DIR.is_dir() else []
#: the built-in envs and the options their shipped policy is built for
BUILT_IN = {"agentgym/ALFWorld-v0": {"difficulty": "small"}, "agentgym/WebShop-v0": {}, "agentgym/SearchQA-v0": {}}


def _info(folder):
    return json.loads((folder / "agentgym.json").read_text())


def test_every_built_in_env_has_a_shipped_policy_of_its_current_recipe():
    names = {p.name for p in SHIPPED}
    for env_id, kw in BUILT_IN.items():
        cfg = default_config(env_id, kw)
        name = f"{default._slug(env_id)}-{model_key(cfg)}"
        assert name in names, f"no shipped build of {env_id}'s current recipe ({name}); shipped: {sorted(names)}"
        assert shipped_model(name) is not None


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_folder_is_its_recipes_build(folder):
    info = _info(folder)
    env_kwargs = info["config"]["sft"]["env_kwargs"]
    cfg = default_config(info["env_id"], env_kwargs)
    assert info["config"] == json.loads(json.dumps(cfg.to_dict())), "agentgym.json records another recipe"
    assert folder.name.endswith("-" + model_key(cfg))
    assert len(info["metrics"]["stages"]) == len(cfg.all_stages)
    arch = json.loads((folder / "config.json").read_text())
    assert (arch["num_hidden_layers"], arch["hidden_size"]) == (cfg.size.num_hidden_layers, cfg.size.hidden_size)
    assert sorted(p.name for p in folder.iterdir()) == sorted(default.MODEL_FILES)
    assert (folder / "model.safetensors").stat().st_size < 3_000_000  # bfloat16: 1-2.5 MB each


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_a_first_run_copies_the_shipped_policy_instead_of_building(folder, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))

    def no_build(*a, **k):
        raise AssertionError("built although a shipped policy matches")

    monkeypatch.setattr(default, "build_default_model", no_build)
    info = _info(folder)
    path = default.ensure_default_model(info["env_id"], env_kwargs=info["config"]["sft"]["env_kwargs"],
                                        progress=False, isolated=True)
    assert path.name == folder.name and path.parent == tmp_path / "cache" / "models"
    model, tok = default.load_policy(path)
    assert next(model.parameters()).dtype == torch.float32
    shipped = load_file(str(folder / "model.safetensors"))
    state = model.state_dict()
    for k, v in shipped.items():
        assert torch.equal(state[k], v.float()), k
    assert len(tok) == model.config.vocab_size or len(tok) <= model.get_input_embeddings().weight.shape[0]
    # a rebuild still builds (from the recipe), whatever is shipped
    with pytest.raises(AssertionError, match="built although"):
        default.ensure_default_model(info["env_id"], env_kwargs=info["config"]["sft"]["env_kwargs"],
                                     progress=False, rebuild=True)


def test_a_recipe_change_misses_the_shipped_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(default, "build_default_model",
                        lambda cfg, out, **k: calls.append(cfg) or (out.mkdir(parents=True),
                                                                   (out / "agentgym.json").write_text("{}")))
    cfg = default_config("agentgym/WebShop-v0", lr=1.5e-3)  # not the shipped recipe
    path = default.ensure_default_model("agentgym/WebShop-v0", config=cfg, progress=False)
    assert len(calls) == 1 and shipped_model(path.name) is None


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(BUILT_IN), ids=lambda e: e.split("/")[-1])
def test_the_shipped_policy_plays_as_its_build_measured(env_id):
    """100 eval episodes at T = 0.4 (bf16 engine, as the bench) land within 3.5 standard errors of the
    300-episode measurement recorded when the policy was shipped (docs/policies.md), with and without
    keyword skills, on every measured split."""
    from agentgym.engines.hf import HFEngine
    from agentgym.skills import SkillStore
    from agentgym.trainer.evaluate import evaluate

    kw = BUILT_IN[env_id]
    folder = shipped_model(f"{default._slug(env_id)}-{model_key(default_config(env_id, kw))}")
    measured = _info(folder)["shipped"]["measured"]
    torch.set_num_threads(1)
    eng = HFEngine(folder, dtype="bfloat16")
    store = SkillStore.create(env=env_id, strategy="keyword", k=2)
    for split, cells in measured.items():
        for cell, with_skills in (("none", False), ("keyword", True)):
            want = cells[cell]["success"]
            r = evaluate(eng, env_id, env_kwargs=kw, split=split, episodes=100, temperature=0.4,
                         with_skills=with_skills, skill_store=store)
            se = max((want * (1 - want) / 100) ** 0.5, 0.02)
            assert abs(r.success - want) < 3.5 * se, (split, cell, r.success, want)

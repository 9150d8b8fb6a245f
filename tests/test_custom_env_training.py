"""A third-party env end to end, as docs/custom-envs.md shows it: the doc's GuessNumber env, found through
an entry point of a (fake) installed distribution, trained through the CLI with GRPO (no skills) and with
SDAR and its own skill library; the one-line error without a library; a library declared at
registration; the env profile (template, rewards, library, workers, alias) as the one answer for every
per-env setting, trained through the CLI by its alias; the prompt history as given; a template alone."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml
from fakes.tiny import TINY

import agentgym
from agentgym.cli.common import check_train_config
from agentgym.core import registry
from agentgym.core.errors import AgentGymError
from agentgym.core.profile import GENERIC, GENERIC_RECIPE, Template
from agentgym.engines.base import Engine, Generation, SamplingParams
from agentgym.models.build import init_model_dir
from agentgym.models.default import default_config
from agentgym.models.tokenizer import train_tokenizer
from agentgym.rollout import collector
from agentgym.rollout.collector import collect
from agentgym.rollout.prompts import family_of, register_template
from agentgym.skills import SkillLibrary, render_context
from agentgym.trainer.config import TrainConfig, load_config, skill_library_for

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "custom-envs.md"
EXAMPLES = ROOT / "docs" / "examples"
GUESS = "example/GuessNumber-v0"
PROFILED = "example/GuessNumberProfiled-v0"
LIBRARY = EXAMPLES / "guessnumber.yaml"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder that stands for site-packages: the doc's module and a distribution whose
    `entry_points.txt` holds the doc's `agentgym.envs` entry point (read from the doc's pyproject block)."""
    d = tmp_path_factory.mktemp("site")
    (d / "guess_env.py").write_text((EXAMPLES / "guess_env.py").read_text())
    (d / "guess_profile.py").write_text((EXAMPLES / "guess_profile.py").read_text())
    (d / LIBRARY.name).write_text(LIBRARY.read_text())  # the profile names the file next to its module
    toml = next(b for b in _blocks("toml") if "agentgym.envs" in b)
    eps = tomllib.loads(toml)["project"]["entry-points"][registry.ENTRY_POINT_GROUP]
    eps["profiled"] = "guess_profile"  # a module that registers on import (the doc's other entry-point form)
    dist = d / "guess_env_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: guess-env-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n"
                                           + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    sys.path.insert(0, str(d))
    importlib.import_module("guess_env")  # registers GUESS in this process too (the tiny model needs it)
    yield d
    sys.path.remove(str(d))


@pytest.fixture(scope="module")
def tiny_guess(site, tmp_path_factory) -> Path:
    """A tiny policy on GuessNumber's own text; its tokenizer also saw the skill library's c+."""
    c_plus = render_context(list(SkillLibrary.from_file(LIBRARY)))
    return init_model_dir(GUESS, tmp_path_factory.mktemp("guess") / "policy", vocab_size=300, size=TINY, demos=20,
                          extra_texts=[c_plus] * 4)


def _cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`agentgym ...` in a fresh process that knows the env only through the installed entry point."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def _train(site: Path, model: Path, out: Path, backend: str, *extra: str, env: str = GUESS) -> subprocess.CompletedProcess:
    return _cli(site, out.parent, "train", "--env", env, "--backend", backend, "--model", str(model),
                "--steps", "2", "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "0",
                "--set", "max_new_tokens=16", "--set", "tensorboard=false", "--out", str(out), *extra)


def test_the_doc_shows_the_example_files_verbatim():
    assert _blocks("python")[0] == (EXAMPLES / "guess_env.py").read_text()  # the first block is the env
    assert (EXAMPLES / "guess_profile.py").read_text() in _blocks("python")
    assert LIBRARY.read_text() in _blocks("yaml")
    assert SkillLibrary.from_file(LIBRARY).validate() == []


def test_grpo_trains_the_doc_env_through_the_cli_without_a_library(site, tiny_guess, tmp_path):
    out = tmp_path / "grpo"
    p = _train(site, tiny_guess, out, "grpo")
    assert p.returncode == 0, p.stderr[-3000:]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and (out / "checkpoints" / "step_000002" / "policy" / "model.safetensors").is_file()
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["env"] == GUESS and cfg["skill_library"] is None
    assert (cfg["reward_scale"], cfg["invalid_penalty"], cfg["kl_coef"], cfg["history"]) == (1.0, 0.1, 0.01, 2)


def test_sdar_trains_with_its_own_skill_library(site, tiny_guess, tmp_path):
    out = tmp_path / "sdar"
    p = _train(site, tiny_guess, out, "sdar", "--skill-library", str(LIBRARY))
    assert p.returncode == 0, p.stderr[-3000:]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    state = yaml.safe_load((out / "checkpoints" / "step_000002" / "skills.json").read_text())
    assert state["env"] == "guessnumber" and state["stats"]["retrievals"] == 4  # 2 steps x 2 tasks
    assert set(state["stats"]["shown"]) == {"halve-the-range", "read-the-feedback"}


def test_sdar_without_a_library_is_one_line_before_any_work(site, tiny_guess, tmp_path):
    out = tmp_path / "nolib"
    p = _train(site, tiny_guess, out, "sdar")
    assert p.returncode == 2, (p.stdout[-2000:], p.stderr[-2000:])
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in p.stderr, p.stderr
    assert f"env {GUESS} has no skill library" in err[0] and "--set skill_library=PATH" in err[0]
    assert "the sdar backend needs one" in err[0] and not out.exists()
    assert err[0] in DOC.read_text()  # the line the doc quotes
    bad = _train(site, tiny_guess, tmp_path / "bad", "sdar", "--skill-library", str(tmp_path / "nope.yaml"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "is not a file" in bad.stderr


def test_eval_with_skills_takes_the_same_library(site, tiny_guess, tmp_path):
    base = ("eval", "--env", GUESS, "--model", str(tiny_guess), "--with-skills", "--episodes", "2")
    p = _cli(site, tmp_path, *base)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "has no skill library" in p.stderr and "--with-skills needs one" in p.stderr
    out = tmp_path / "eval.json"
    ok = _cli(site, tmp_path, *base, "--skill-library", str(LIBRARY), "--json", str(out))
    assert ok.returncode == 0, ok.stderr[-3000:]
    res = yaml.safe_load(out.read_text())
    assert res["with_skills"] is True and res["episodes"] == 2


def test_a_library_declared_at_registration(site):
    """The doc's registration snippet, run as shown; an explicit file still wins; GRPO asks for none."""
    snippet = next(b for b in _blocks("python") if "skill_library=" in b and "def " not in b)
    guess_env = importlib.import_module("guess_env")
    with pytest.raises(AgentGymError, match="has no skill library"):
        check_train_config(load_config(None, {"env": GUESS, "backend": "sdar"}))
    check_train_config(load_config(None, {"env": GUESS, "backend": "grpo"}))
    try:
        exec(snippet, {"agentgym": agentgym, "Path": Path, "__file__": str(EXAMPLES / "guess_env.py")})
        assert registry.profile_of(GUESS).skill_library == str(LIBRARY)
        assert skill_library_for(GUESS).env == "guessnumber"
        check_train_config(load_config(None, {"env": GUESS, "backend": "sdar"}))
        other = LIBRARY.parent / "nope.yaml"
        with pytest.raises(AgentGymError, match="does not exist"):
            skill_library_for(GUESS, other)
        assert agentgym.make(GUESS).unwrapped.high == 20  # the library is no constructor option
    finally:
        guess_env.register_envs()  # back to the doc's plain registration
    assert registry.profile_of(GUESS).skill_library is None


@pytest.mark.parametrize("text, match", [
    ("env: g\nskills: [\n  - a: b\n", r"not valid YAML: did not find expected node content \(line 3, column 3\)"),
    ('!!python/object/apply:os.system ["touch MARKER"]\n', "could not determine a constructor"),
    ('{"env": "g", "skills": []}', "is invalid: no skills"),
    ("[1, 2]\n", "top level must be a mapping"),
])
def test_a_bad_library_file_is_one_line_and_runs_nothing(tmp_path, text, match):
    marker = tmp_path / "ran"
    f = tmp_path / "lib.yaml"
    f.write_text(text.replace("MARKER", str(marker)))
    with pytest.raises(AgentGymError, match=match) as e:
        skill_library_for(GUESS, f)
    assert "\n" not in str(e.value) and not marker.exists()
    with pytest.raises(AgentGymError, match="is a folder, not a library file"):
        skill_library_for(GUESS, tmp_path)


def test_one_profile_for_every_per_env_setting(site):
    """An env registered without a profile is generic everywhere; a built-in env's profile is what the
    config, the template, the skill library and the default-model recipe all read."""
    env = agentgym.make(GUESS)
    assert family_of(GUESS) == family_of(env) == family_of("guess_env:GuessNumberEnv") == "generic"
    assert registry.profile_of(GUESS) == registry.profile_of(env) == GENERIC
    resolved = TrainConfig(env=GUESS).resolved()
    assert {k: getattr(resolved, k) for k in GENERIC.training_defaults()} == GENERIC.training_defaults()
    assert default_config(GUESS).sft == GENERIC_RECIPE.sft
    for builtin, fam in (("webshop", "webshop"), ("agentgym/ALFWorld-Small-v0", "alfworld"),
                         ("agentgym/SearchQA-v0", "searchqa"), ("webshop-browser", "webshop")):
        prof = registry.profile_of(builtin)
        assert family_of(builtin) == prof.family == fam and registry.profile_of(fam).template == prof.template
        assert TrainConfig(env=builtin).resolved().history == prof.history
        assert default_config(registry.resolve_env_id(builtin)).sft == prof.model_recipe.sft
    assert skill_library_for("agentgym/ALFWorld-Small-v0").env == "alfworld"
    assert TrainConfig(env="searchqa").resolved().kl_coef == registry.profile_of("searchqa").kl_coef == 0.001


def test_a_profile_is_read_by_every_layer(site, clean_registry, tok):
    """The doc's profile module: its alias, rewards, history, format line, skill library and rollout
    threads are what the CLI names, the config resolves, the prompts show and the collector uses."""
    mod = importlib.reload(importlib.import_module("guess_profile"))  # registers again in the clean tables
    prof = mod.PROFILE
    assert registry.resolve_env_id("GUESS") == PROFILED and registry.profile_of(PROFILED) is prof
    assert family_of(agentgym.make(PROFILED)) == "guess" and registry.template("guess") == prof.template
    c = TrainConfig(env="guess").resolved()
    assert (c.reward_scale, c.invalid_penalty, c.kl_coef, c.history) == (1.0, 0.1, 0.01, 3)
    assert skill_library_for(PROFILED).env == "guessnumber"
    texts = _turn_texts(_Fixed(tok, "<think></think><action>guess 10</action>"), PROFILED, None, turns=5)
    assert all(t.splitlines()[-1] == prof.template.format_line and "Actions:" not in t for t in texts)
    assert [t.count("\nObs: ") for t in texts] == [0, 1, 2, 3, 3]
    assert [t.count("\nObs: ") for t in _turn_texts(_Fixed(tok, "<think></think><action>guess 10</action>"),
                                                      PROFILED, 1, turns=3)] == [0, 1, 1]
    three = dataclasses.replace(prof, rollout_workers=3)
    agentgym.register("example/GuessThreads-v0", "guess_env:GuessNumberEnv", high=20, profile=three)
    collector._CALLERS.pop(3, None)
    _turn_texts(_Fixed(tok, "<think></think><action>guess 10</action>"), "example/GuessThreads-v0", None, turns=5)
    assert collector._CALLERS[3].workers == 3  # the collector stepped it on the profile's threads


def test_sdar_trains_a_profiled_env_by_its_alias_with_the_profiles_library(site, tiny_guess, tmp_path):
    """No --skill-library: the library comes from the profile; the env is known to the fresh process only
    through the entry point, and named by its alias."""
    out = tmp_path / "profiled"
    p = _train(site, tiny_guess, out, "sdar", env="guess")
    assert p.returncode == 0, p.stderr[-3000:]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["history"] == 3 and cfg["skill_library"] is None
    state = yaml.safe_load((out / "checkpoints" / "step_000002" / "skills.json").read_text())
    assert state["env"] == "guessnumber" and state["stats"]["retrievals"] == 4


class _Fixed(Engine):
    """Answers every prompt with one fixed response and keeps the decoded prompts."""

    def __init__(self, tokenizer, text: str):
        self.tokenizer, self.text, self.prompts = tokenizer, text, []

    def generate(self, prompt_ids, sampling):
        ids = self.tokenizer(self.text, add_special_tokens=False)["input_ids"]
        self.prompts += [self.tokenizer.decode(p) for p in prompt_ids]
        return [Generation(list(ids), [0.0] * len(ids), self.text, "stop") for _ in prompt_ids]

    def update_weights(self, weights):
        pass


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(["Task: Now: Recent: Obs: Act: search click guess <think></think><action></action>"] * 20,
                           vocab_size=300)


def _turn_texts(engine: Engine, env_id: str, history: int | None, turns: int = 6, **env_kwargs) -> list[str]:
    """The user text of each turn of one episode (the collector's own prompts), after checking that the
    trajectory records the history the prompts show."""
    probe = agentgym.make(env_id, **env_kwargs).unwrapped
    task = probe.panel("train")[0]
    probe.close()
    batch = collect(engine, env_id, [task], 1, SamplingParams(temperature=0.0, max_new_tokens=8),
                    env_kwargs={**env_kwargs, "split": "train"}, history=history, max_turns=turns)
    texts = [s.user_text for s in batch.samples]
    assert max(t.count("\nObs: ") for t in texts) == batch.trajectories[0].meta["history"]
    return texts


def test_history_4_shows_four_turns_in_a_webshop_prompt(tok):
    """`--set history=4` on WebShop (whose template shows 2): the prompt shows 4, the record says 4."""
    cfg = load_config(None, {"env": "webshop", "history": 4}).resolved()
    assert cfg.history == 4 and TrainConfig(env="webshop").resolved().history == 2
    eng = _Fixed(tok, "<think></think><action>search[ceramic vase]</action>")
    kw = {"search": "bm25", "num_products": 200}
    four = _turn_texts(eng, "agentgym/WebShop-v0", cfg.history, **kw)
    assert [t.count("\nObs: ") for t in four] == [0, 1, 2, 3, 4, 4]
    default = _turn_texts(eng, "agentgym/WebShop-v0", None, **kw)
    assert [t.count("\nObs: ") for t in default] == [0, 1, 2, 2, 2, 2]  # the shipped policies' prompts
    assert four[:3] == default[:3]


@pytest.fixture
def clean_registry(monkeypatch):
    """The registry's tables as they were after the test (a family registered here would otherwise be in
    every tokenizer corpus built later in the session)."""
    for name in ("_families", "_profiles", "_aliases", "_libraries", "_classes", "_ids"):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))


def test_a_template_alone_through_register_template(site, clean_registry, tok):
    """The lighter way: `register_template` and a class naming its family in `prompt_family`; the other
    profile values are the generic ones."""
    import guess_env

    tpl = Template(family="guess2", history=1, tags=("action",), format_line="Reply <action>guess N</action>",
                   show_admissible=False)
    register_template(tpl)

    class Templated(guess_env.GuessNumberEnv):
        prompt_family = "guess2"

    agentgym.register("example/GuessTemplated-v0", Templated, high=20)
    assert family_of("example/GuessTemplated-v0") == "guess2" and registry.template("guess2") == tpl
    c = TrainConfig(env="example/GuessTemplated-v0").resolved()
    assert c.history == 1 and c.reward_scale == GENERIC.reward_scale
    texts = _turn_texts(_Fixed(tok, "<think></think><action>guess 10</action>"), "example/GuessTemplated-v0", None,
                        turns=3)
    assert [t.count("\nObs: ") for t in texts] == [0, 1, 1] and texts[0].splitlines()[-1] == tpl.format_line


def test_a_plugin_from_an_installed_distribution_and_a_broken_one(tmp_path, monkeypatch, site):
    """Entry points are read from real distribution metadata on sys.path, on the first lookup; a broken
    plugin is one warning line and the registry still works."""
    (tmp_path / "guess_plugin_mod.py").write_text(
        "import agentgym\n\n\ndef register():\n"
        "    agentgym.register('plugin/GuessFive-v0', 'guess_env:GuessNumberEnv', high=5)\n")
    dist = tmp_path / "guess_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: guess-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[agentgym.envs]\nfive = guess_plugin_mod:register\n"
                                           "broken = no_such_module_for_agentgym:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_discovered", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = agentgym.env_ids()
    msgs = [str(w.message) for w in caught if "env plugin" in str(w.message)]
    assert len(msgs) == 1 and "'broken'" in msgs[0] and "\n" not in msgs[0], msgs
    assert "plugin/GuessFive-v0" in ids and "agentgym/WebShop-v0" in ids and GUESS in ids
    assert agentgym.make("plugin/GuessFive-v0").unwrapped.high == 5


def test_a_profile_declared_by_the_class_and_the_built_in_classes_made_directly(site, clean_registry, tok):
    """A class attribute `profile` is the env's profile (its family's template renders the prompts, its
    aliases name the env once it is looked up); a built-in env made without the registry is still its
    env; a second template under a taken family name is refused; moved names say what replaced them."""
    import guess_env

    from agentgym.envs.alfworld.env import ALFWorldSmallEnv
    from agentgym.envs.webshop.profile import PROFILE as WEBSHOP
    from agentgym.trainer import config as train_config

    tpl = Template(family="guess3", history=1, tags=("action",), format_line="Reply <action>guess N</action>")

    class Declared(guess_env.GuessNumberEnv):
        profile = dataclasses.replace(GENERIC, family="guess3", template=tpl, reward_scale=3.0, aliases=("g3",))
        rollout_workers = 2  # the older way to ask for threads: still honoured

    agentgym.register("example/GuessDeclared-v0", Declared, high=20)
    assert registry.profile_of("example/GuessDeclared-v0") is Declared.profile
    assert registry.template("guess3") == tpl and registry.resolve_env_id("g3") == "example/GuessDeclared-v0"
    assert TrainConfig(env="g3").resolved().reward_scale == 3.0
    collector._CALLERS.pop(2, None)
    texts = _turn_texts(_Fixed(tok, "<think></think><action>guess 10</action>"), "example/GuessDeclared-v0", None,
                        turns=3)
    assert texts[0].splitlines()[-1] == tpl.format_line and collector._CALLERS[2].workers == 2
    assert registry.profile_of(ALFWorldSmallEnv()).family == "alfworld"
    assert registry.profile_of("agentgym.envs.webshop.env:WebShopEnv") is WEBSHOP
    other = dataclasses.replace(WEBSHOP, template=dataclasses.replace(WEBSHOP.template, format_line="Reply!"))
    with pytest.raises(AgentGymError, match="family 'webshop' already has another prompt template"):
        agentgym.register("example/NotWebShop-v0", "guess_env:GuessNumberEnv", profile=other)
    assert "example/NotWebShop-v0" not in agentgym.env_ids()  # refused before anything was registered
    register_template(dataclasses.replace(tpl, history=2))  # a family's new template reaches its envs
    assert TrainConfig(env="example/GuessDeclared-v0").resolved().history == 2
    with pytest.raises(AttributeError, match="ENV_REWARD is gone: use the env profile"):
        train_config.ENV_REWARD  # noqa: B018


def test_a_profiled_custom_env_trains_with_every_backend(site, clean_registry, tiny_guess, tmp_path):
    """With its profile's skill library, the doc's env takes a training step with every backend (one
    step, two tasks of two rollouts each: what it checks is that every backend runs on it, not learning)."""
    from agentgym.backends import backend_names
    from agentgym.trainer.loop import Trainer

    importlib.reload(importlib.import_module("guess_profile"))
    for backend in backend_names():
        cfg = load_config(None, {"env": PROFILED, "backend": backend, "model": str(tiny_guess), "steps": 1,
                                 "tasks_per_step": 2, "group_size": 2, "eval_episodes": 0, "max_new_tokens": 12,
                                 "tensorboard": False, "out_dir": str(tmp_path / backend)})
        tr = Trainer(cfg, log=lambda _m: None)
        try:
            m = tr.step()
        finally:
            tr.close()
        assert tr.steps_done == 1 and m["episodes"] == 4 and "loss" in m, (backend, m)
        assert (tr.skills is not None) == tr.backend.needs_skills, backend

"""Skill libraries: packaged content, loading user libraries, validation, rendering of c+."""

from __future__ import annotations

import itertools
import json

import pytest

from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills import HEADER, SkillLibrary, SkillStore, env_name_from_id, packaged_envs, render_context
from agentgym.skills.evaluate import fixture_tasks
from agentgym.skills.library import GENERAL, word_count

TASK_TYPES = {
    "alfworld": {"pick_and_place", "look_at_obj_in_light", "clean", "heat", "cool", "pick_two"},
    "webshop": {"apparel", "footwear", "home_decor", "electronics", "accessories", "beauty_health", "other"},
    "searchqa": {"nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle"},
}
SEARCHQA_STYLES = {"direct", "entity_attribute", "multi_hop", "comparison"}


def test_packaged_libraries_exist_and_validate():
    assert packaged_envs() == ["alfworld", "searchqa", "webshop"]
    for env in packaged_envs():
        lib = SkillLibrary.load(env)
        assert lib.validate() == []
        assert lib.env == env
        assert len(lib.by_group(GENERAL)) >= 3, "every library has general skills"


@pytest.mark.parametrize("env", ["alfworld", "webshop"])
def test_every_task_type_has_its_own_group(env):
    lib = SkillLibrary.load(env)
    assert set(lib.task_group_names) == TASK_TYPES[env]
    for g in lib.task_group_names:
        assert len(lib.by_group(g)) >= 1


def test_searchqa_groups_are_styles_and_every_source_maps_to_one():
    lib = SkillLibrary.load("searchqa")
    assert set(lib.task_group_names) == SEARCHQA_STYLES
    assert set(lib.task_groups) == TASK_TYPES["searchqa"]
    # The style in task.data wins over the data-source map; the map is the fallback.
    assert lib.group_of(Task("a", "hotpotqa", "q?", data={"style": "comparison"})) == "comparison"
    assert lib.group_of(Task("b", "hotpotqa", "q?")) == "multi_hop"
    assert lib.group_of(Task("c", "popqa", "q?")) == "entity_attribute"
    assert lib.group_of(Task("d", "nonsense", "q?")) is None


def test_skills_are_short_so_c_plus_fits_a_small_model():
    for env in packaged_envs():
        lib = SkillLibrary.load(env)
        for s in lib.skills:
            assert word_count(s.principle) + word_count(s.when) <= 45, s.name
        words = [word_count(render_context(pair)) for pair in itertools.combinations(lib.skills, 2)]
        assert min(words) >= 30 and max(words) <= 95, (env, min(words), max(words))


def test_skills_are_concrete_about_the_env():
    """The libraries name the env's actual mechanics, not generic advice."""
    alf = {s.name: s for s in SkillLibrary.load("alfworld").skills}
    assert "microwave" in alf["heat-in-microwave"].principle
    assert "fridge" in alf["cool-in-fridge"].principle
    assert "sinkbasin" in alf["clean-at-sink"].principle
    assert "use" in alf["hold-then-use-lamp"].principle
    web = " ".join(s.principle for s in SkillLibrary.load("webshop").skills)
    assert "search[" in web and "Buy Now" in web and "click[" in web
    sqa = " ".join(s.principle for s in SkillLibrary.load("searchqa").skills)
    assert "<answer>" in sqa and "4 turns" in sqa


def test_render_context_exact_format():
    lib = SkillLibrary.load("alfworld")
    a, b = lib.get("heat-in-microwave"), lib.get("where-food")
    text = render_context([a, b])
    lines = text.split("\n")
    assert lines[0] == HEADER == "[Privileged Skill Information]"
    assert lines[1] == f"- heat-in-microwave: {a.principle} (when: {a.when})"
    assert lines[2].startswith("- where-food: ")
    assert text.endswith("\n\n") and lines[3] == "" and len(lines) == 5
    assert render_context([]) == ""


def test_env_name_from_id():
    assert env_name_from_id("agentgym/ALFWorld-v0") == "alfworld"
    assert env_name_from_id("agentgym/WebShop-v0") == "webshop"
    assert env_name_from_id("agentgym/SearchQA-v0") == "searchqa"
    assert env_name_from_id("SearchQA") == "searchqa"
    assert SkillStore.create("agentgym/ALFWorld-v0").library.env == "alfworld"


def test_unknown_env_strategy_and_options_name_the_valid_choices():
    with pytest.raises(AgentGymError, match="valid: alfworld, searchqa, webshop"):
        SkillLibrary.load("minecraft")
    with pytest.raises(AgentGymError, match="valid: random, keyword, ucb, embedding"):
        SkillStore.create("alfworld", strategy="oracle")
    with pytest.raises(AgentGymError, match="valid options: c, arms, context"):
        SkillStore.create("alfworld", strategy="ucb", exploration=2.0)
    with pytest.raises(AgentGymError, match="arms"):
        SkillStore.create("alfworld", strategy="ucb", arms="everything")
    with pytest.raises(AgentGymError, match="k must be"):
        SkillStore.create("alfworld", k=-1)


USER_LIBRARY = """
env: alfworld
version: 7
default_group: pick_and_place
groups:
  general: {description: anything}
  pick_and_place: {description: put things away}
  heat: {description: warm things, keywords: [heat, hot, toast]}
skills:
  - {name: look-around, group: general, principle: Look before you act., when: always}
  - {name: put-away, group: pick_and_place, principle: Take it and move it to the target., when: putting away}
  - {name: toaster-heat, group: heat, principle: Use the toaster to heat bread., when: toast is wanted, keywords: [toast, bread]}
"""


def test_user_library_dir_overrides_the_packaged_one(tmp_path):
    (tmp_path / "alfworld.yaml").write_text(USER_LIBRARY)
    store = SkillStore.create("agentgym/ALFWorld-v0", "keyword", k=1, library_dir=str(tmp_path))
    assert store.library.version == "7" and len(store.library) == 3
    assert [s.name for s in store.retrieve(Task("t", "heat", "toast some bread and put it on plate."))] == ["toaster-heat"]
    assert [s.name for s in store.retrieve(Task("t", "pick_and_place", "put a pen in drawer."))] == ["put-away"]
    # JSON is accepted too, and a missing env in the folder names what is there.
    (tmp_path / "webshop.json").write_text(json.dumps({"env": "webshop", "groups": {"general": {}},
                                                       "skills": [{"name": "x", "principle": "p", "when": "w"}]}))
    assert SkillLibrary.load("webshop", tmp_path).names == ["x"]
    with pytest.raises(AgentGymError, match="found: alfworld, webshop"):
        SkillLibrary.load("searchqa", tmp_path)
    with pytest.raises(AgentGymError, match="does not exist"):
        SkillLibrary.load("alfworld", tmp_path / "nope")


def test_validation_reports_every_problem(tmp_path):
    bad = {
        "env": "alfworld",
        "default_group": "missing",
        "groups": {"general": {}, "heat": {"keywords": ["re:(unclosed"]}, "empty": {}},
        "skills": [
            {"name": "Bad Name", "group": "general", "principle": "p", "when": "w"},
            {"name": "dup", "group": "general", "principle": "p", "when": "w"},
            {"name": "dup", "group": "heat", "principle": "p", "when": "w"},
            {"name": "nowhere", "group": "cooling", "principle": "p", "when": "w"},
            {"name": "nowhen", "group": "heat", "principle": "p"},
            {"name": "wordy", "group": "heat", "principle": "word " * 50, "when": "w"},
        ],
    }
    lib = SkillLibrary.from_dict(bad, strict=False)
    problems = "\n".join(lib.validate())
    for needle in ["lower-case", "duplicate name", "unknown group 'cooling'", "needs both", "51 words",
                   "group 'empty' has no skills", "bad regex", "default_group 'missing'"]:
        assert needle in problems, needle
    with pytest.raises(AgentGymError, match="is invalid"):
        SkillLibrary.from_dict(bad)
    (tmp_path / "alfworld.yaml").write_text("groups: [unclosed")
    with pytest.raises(AgentGymError, match="not valid YAML"):
        SkillLibrary.load("alfworld", tmp_path)


def test_content_hash_tracks_content_not_path(tmp_path):
    packaged = SkillLibrary.load("alfworld")
    (tmp_path / "alfworld.yaml").write_text(json.dumps(packaged.to_dict()))
    assert SkillLibrary.load("alfworld", tmp_path).content_hash == packaged.content_hash
    changed = packaged.to_dict()
    changed["skills"][0]["principle"] += " Really."
    assert SkillLibrary.from_dict(changed).content_hash != packaged.content_hash


@pytest.mark.parametrize("env", ["alfworld", "webshop", "searchqa"])
def test_fixture_tasks_cover_every_group(env):
    lib = SkillLibrary.load(env)
    tasks = fixture_tasks(env)
    assert 20 <= len(tasks) <= 40
    assert {lib.group_of(t) for t in tasks} == set(lib.task_group_names)


# ---- hostile library files (issue 16, item 11) -----------------------------------------------------
MINIMAL = """env: toy
groups: {general: {description: every task}}
skills:
  - {name: look-first, group: general, principle: "look around first", when: "at the start"}
"""


def _laughs(levels: int, fan: int = 10) -> str:
    lines = ["a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + f"\nenv: toy\nskills:\n  - {{name: boom, group: general, principle: *a{levels}}}\n"


def test_nested_aliases_are_refused_before_they_expand(tmp_path):
    """Billion laughs: 10 KB of YAML whose aliases expand to 10**9 strings exhausted memory."""
    with pytest.raises(AgentGymError, match=r"aliases \(\*name\) are not allowed"):
        SkillLibrary.from_text(_laughs(2), source="small.yaml")
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9))
    with pytest.raises(AgentGymError, match=r"laughs.yaml is not valid YAML: aliases"):
        SkillLibrary.from_file(path)
    merge = MINIMAL + "base: &b {group: general}\nmore: {<<: *b, name: x}\n"
    with pytest.raises(AgentGymError, match="aliases"):
        SkillLibrary.from_text(merge)


def test_library_yaml_never_runs_code_and_has_a_size_limit(tmp_path):
    marker = tmp_path / "ran"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"):
        evil = MINIMAL + f"x: {tag} [\"touch {marker}\"]\n"
        with pytest.raises(AgentGymError, match="not valid YAML"):
            SkillLibrary.from_text(evil)
    assert not marker.exists()
    assert SkillLibrary.from_text(MINIMAL.replace("env: toy", "env: &e toy")).env == "toy"  # an unused anchor is fine
    with pytest.raises(AgentGymError, match="the limit is"):
        SkillLibrary.from_text(MINIMAL + "#" * (5 << 20))
    big = tmp_path / "big.yaml"
    big.write_text(MINIMAL + "#" * (17 << 20))
    with pytest.raises(AgentGymError, match="big.yaml.*the limit is"):
        SkillLibrary.from_file(big)

"""SkillStore facade: metrics, checkpoint state, and the `agentgym skills` CLI."""

from __future__ import annotations

import json
import math

import pytest

from agentgym.cli import main
from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.skills import HEADER, SkillLibrary, SkillStore
from agentgym.skills.evaluate import env_id_for, fixture_tasks


def test_metrics_count_hits_per_group_and_words():
    store = SkillStore.create("alfworld", "keyword", k=2)
    assert math.isnan(store.metrics()["hit_rate"])
    heat = Task("a", "heat", "heat some egg and put it in countertop.")
    # A task whose instruction fools the rules: labelled clean, but reads as pick-and-place.
    fooled = Task("b", "clean", "put some keychain on sofa.")
    unlabeled = Task("c", "mystery", "put a cool tomato in microwave.")
    for t in [heat, fooled, unlabeled]:
        store.retrieve(t)
    m = store.metrics()
    assert m["retrievals"] == 3 and m["skills_per_task"] == 2.0
    assert m["hit_rate"] == 0.5  # the unlabelled task is not counted
    assert m["hit_rate_by_group"] == {"clean": 0.0, "heat": 1.0}
    assert 30 <= m["context_words"] <= 80
    assert "value_table" not in m
    flat = store.scalar_metrics()
    assert flat["skills/hit_rate"] == 0.5 and flat["skills/hit_rate/heat"] == 1.0
    assert all(isinstance(v, float) for v in flat.values())
    store.reset_metrics()
    assert store.metrics()["retrievals"] == 0


def test_context_is_the_rendered_block():
    store = SkillStore.create("webshop", "keyword", k=2)
    task = Task("t", "footwear", "i need running shoes, size: 10, and price lower than 50.00 dollars")
    text = store.context(task)
    assert text.startswith(HEADER + "\n- footwear-") and text.endswith("\n\n")
    assert len(text.strip().split("\n")) == 3


def test_ucb_metrics_have_the_value_table_and_state_survives_a_checkpoint_file(tmp_path):
    lib = SkillLibrary.load("searchqa")
    store = SkillStore.create("searchqa", "ucb", c=0.5, seed=0)
    for i, t in enumerate(fixture_tasks("searchqa") * 4):
        skills = store.retrieve(t)
        store.update(t, skills, float(any(s.group == lib.group_of(t) for s in skills) or i % 7 == 0))
    table = store.metrics()["value_table"]
    assert table and {"context", "arm", "n", "value", "ucb"} <= set(table[0])
    assert sum(r["n"] for r in table) == 4 * 35 * 2  # two skills credited per episode
    path = tmp_path / "skills.json"
    store.save(path)
    assert json.loads(path.read_text())["strategy"] == "ucb"
    restored = SkillStore.create("searchqa", "ucb", c=0.5, seed=0)
    restored.load(path)
    assert restored.metrics() == store.metrics()
    with pytest.raises(AgentGymError, match="env"):
        SkillStore.create("alfworld", "ucb").load(path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AgentGymError, match="cannot read"):
        restored.load(tmp_path / "bad.json")


def test_state_from_a_changed_library_warns_and_drops_unknown_arms():
    store = SkillStore.create("alfworld", "ucb")
    task = Task("t", "heat", "heat some egg and put it in countertop.")
    store.update(task, store.retrieve(task), 1.0)
    state = store.state_dict()
    state["library_hash"] = "0" * 16
    state["retriever"]["counts"]["heat"]["retired-skill"] = 3
    state["retriever"]["values"]["heat"]["retired-skill"] = 1.0
    fresh = SkillStore.create("alfworld", "ucb")
    with pytest.warns(UserWarning) as record:
        fresh.load_state_dict(state)
    assert any("changed" in str(w.message) for w in record)
    assert any("retired-skill" in str(w.message) for w in record)
    assert "retired-skill" not in fresh.retriever.counts["heat"]


# ---- CLI ---------------------------------------------------------------------------------------------
def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_cli_list_and_show(capsys):
    code, out, _ = run_cli(capsys, "skills", "list", "--env", "agentgym/ALFWorld-v0")
    assert code == 0 and "heat-in-microwave" in out and "28 skills in 7 groups" in out
    code, out, _ = run_cli(capsys, "skills", "show", "--env", "alfworld", "cool-in-fridge")
    assert code == 0 and HEADER in out and "cool X with fridge 1" in out


def test_cli_retrieve_adhoc_and_fixture_task(capsys):
    code, out, _ = run_cli(capsys, "skills", "retrieve", "--env", "alfworld", "--strategy", "keyword",
                           "--instruction", "put a hot apple in fridge.", "--task-type", "heat")
    assert code == 0 and "heat-in-microwave" in out and "detected_groups: ['heat']" in out
    code, out, _ = run_cli(capsys, "skills", "retrieve", "--env", "searchqa", "-s", "ucb", "--source", "fixture",
                           "--task", "fx-sqa-2wikimultihopqa-0", "-o", "c=2.0", "--k", "3")
    assert code == 0 and "ucb retrieval, k=3" in out and "ucb_scores" in out


@pytest.mark.skipif(env_id_for("alfworld") is None, reason="ALFWorld env not registered")
def test_cli_retrieve_from_the_real_panel(capsys):
    import agentgym

    env = agentgym.make("agentgym/ALFWorld-v0")
    task = env.unwrapped.panel("eval_out_of_distribution")[0]
    env.close()
    code, out, _ = run_cli(capsys, "skills", "retrieve", "--env", "alfworld", "--task", task.task_id,
                           "--split", "eval_out_of_distribution")
    assert code == 0 and task.task_id in out and HEADER in out


def test_cli_hit_rate_table(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "skills", "hit-rate", "--env", "webshop", "--strategy", "keyword",
                           "--source", "fixture")
    assert code == 0 and "footwear" in out and "1.000" in out
    store = SkillStore.create("webshop", "ucb")
    t = fixture_tasks("webshop")[0]
    store.update(t, store.retrieve(t), 1.0)
    store.save(tmp_path / "ucb.json")
    code, out, _ = run_cli(capsys, "skills", "hit-rate", "--env", "webshop", "-s", "ucb", "--source", "fixture",
                           "--state", str(tmp_path / "ucb.json"))
    assert code == 0 and "UCB value table" in out


def test_cli_user_errors_are_one_line(capsys):
    for args, needle in [
        (["skills", "retrieve", "--env", "alfworld", "-s", "oracle", "--instruction", "x"], "valid: random, keyword"),
        (["skills", "list", "--env", "minecraft"], "valid: alfworld"),
        (["skills", "show", "--env", "alfworld", "no-such-skill"], "no skill 'no-such-skill'"),
        (["skills", "retrieve", "--env", "alfworld"], "exactly one of"),
        (["skills", "retrieve", "--env", "alfworld", "--source", "fixture", "--task", "nope"], "not in the fixture"),
        (["skills", "retrieve", "--env", "alfworld", "--instruction", "x", "-o", "c"], "key=value"),
    ]:
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and needle in err and err.count("\n") == 1, (args, err)


def test_cli_validate(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "skills", "validate")
    assert code == 0 and out.count(": ok") == 3
    (tmp_path / "alfworld.yaml").write_text("env: alfworld\ngroups: {general: {}}\nskills:\n"
                                            "  - {name: a, group: nowhere, principle: p, when: w}\n")
    code, out, _ = run_cli(capsys, "skills", "validate", "--library-dir", str(tmp_path))
    assert code == 1 and "unknown group 'nowhere'" in out

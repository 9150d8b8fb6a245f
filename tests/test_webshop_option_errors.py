"""tools/webshop_option_errors.py: the expert's own rollouts are classified as the world says they must be."""

from __future__ import annotations

from fakes.tools import load_tool

from agentgym.core.demos import expert_episode
from agentgym.core.registry import template
from agentgym.core.trajectory import write_jsonl
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.models.sft import space_bracket
from agentgym.skills import SkillLibrary

tool = load_tool("webshop_option_errors")


def test_expert_rollouts_lose_exactly_the_convention_goals_without_skills(tmp_path):
    env = WebShopEnv(split="test", search="bm25")
    lib = SkillLibrary.load("webshop")
    tasks = list(env.panel("test"))[:40]
    plain = [expert_episode(env, t) for t in tasks]
    skilled = [expert_episode(env, t, skills=lib.by_group(t.task_type)) for t in tasks]
    write_jsonl(plain, tmp_path / "plain.jsonl")
    write_jsonl(skilled, tmp_path / "skills.jsonl")
    p, s = tool.tally(tmp_path / "plain.jsonl", env), tool.tally(tmp_path / "skills.jsonl", env)
    assert p["literal"]["episodes"] > 0 and p["convention"]["episodes"] > 0
    assert p["literal"]["episodes"] + p["convention"]["episodes"] == p["all"]["episodes"] == 40
    # the plain expert wins every literal goal and no convention goal; with its skills it wins all
    assert p["literal"]["won"] == p["literal"]["episodes"] and p["convention"]["won"] == 0
    assert s["all"]["won"] == 40 and s["all"]["goal_ok"] == s["all"]["product_ok"] == 40
    assert p["convention"]["goal_ok"] == 0
    assert p["literal"]["options_ok"] == p["literal"]["goal_ok"] == p["literal"]["episodes"]
    for t in skilled:  # a policy that spaces its arguments (SFTConfig.bracket_space) is read alike
        for step in t.steps:
            step.action = space_bracket(step.action, template("webshop").atomic).upper()
    write_jsonl(skilled, tmp_path / "spaced.jsonl")
    assert tool.tally(tmp_path / "spaced.jsonl", env) == s


def test_teacher_forced_spans_cover_the_thought_and_the_label():
    from transformers import AutoTokenizer

    from agentgym.models.default import SHIPPED_DIR

    tf = load_tool("teacher_forced_thoughts")
    tok = AutoTokenizer.from_pretrained(next(SHIPPED_DIR.glob("webshop-v0-*")))
    ids = tok("<think>size extra large is xl</think><action>click[xl]</action>", add_special_tokens=False)["input_ids"]
    thought, label = tf.spans(tok, ids)
    assert tok.decode(ids[thought.start: thought.stop]) == "size extra large is xl"
    assert tok.decode(ids[label.start: label.stop]) == "[xl]"


def test_label_drill_examples_are_the_think_to_click_step():
    import numpy as np
    from transformers import AutoTokenizer

    from agentgym.models.default import SHIPPED_DIR

    drill = load_tool("webshop_label_drill")
    env = WebShopEnv(split="test", search="bm25")
    pairs = drill.catalog_labels(env)
    assert ("color", "black") in pairs and all(label for _, label in pairs)
    tok = AutoTokenizer.from_pretrained(next(SHIPPED_DIR.glob("webshop-v0-*")))
    for ex in drill.drill_examples(tok, pairs, 30, np.random.default_rng(0)):
        prompt, response = tok.decode(ex.prompt_ids), tok.decode(ex.response_ids)
        assert prompt.startswith("<think>") and prompt.endswith("</think><action>click")
        label = response[1: -len("]</action>")]
        assert response == f"[{label}]</action>" and prompt[: -len("</think><action>click")].endswith(label)

"""tools/bench_skill_knowledge.py end to end: the expert table on ALFWorld, the policy and gap parts with a tiny model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from fakes.tiny import TINY

from agentgym.models.build import init_model_dir


def _bench():
    path = Path(__file__).resolve().parents[1] / "tools" / "bench_skill_knowledge.py"
    spec = importlib.util.spec_from_file_location("bench_skill_knowledge", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_expert_rows_show_what_the_skills_are_worth(tmp_path):
    out = tmp_path / "x.json"
    assert _bench().main(["experts", "--env", "alfworld", "--strategies", "keyword", "random", "--episodes", "10",
                          "--threads", "1", "--json", str(out)]) == 0
    rows = {(r["split"], r["expert"]): r for r in json.loads(out.read_text())["experts"]}
    both = rows[("eval (all)", "keyword")]
    assert both["episodes"] == 274 and both["success"] == 1.0 and both["step_cap"] == 12
    assert both["minus_plain"] >= 0.25 and both["minus_plain_se"] > 0
    assert rows[("eval (all)", "random")]["minus_plain"] < 0.1
    assert ("train", "plain") not in rows  # the eval panels already hold more than 10 tasks


def test_policy_and_gap_parts_run_on_a_small_local_model(tmp_path):
    model = init_model_dir("agentgym/ALFWorld-Small-v0", tmp_path / "m", vocab_size=400, size=TINY, demos=20)
    mod = _bench()
    out = tmp_path / "p.json"
    assert mod.main(["policy", "--env", "alfworld", "--episodes", "3", "--strategies", "keyword", "--model",
                     str(model), "--threads", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["policy"]
    assert [(r["split"], r["skills"]) for r in rows] == [
        ("eval_in_distribution", "none"), ("eval_in_distribution", "keyword"),
        ("eval_out_of_distribution", "none"), ("eval_out_of_distribution", "keyword")]
    assert all(r["episodes"] == 3 and 0 <= r["success"] <= 1 for r in rows) and "minus_none" in rows[1]
    assert mod.main(["gap", "--env", "alfworld", "--episodes", "3", "--model", str(model), "--threads", "1",
                     "--json", str(out)]) == 0
    [gap] = json.loads(out.read_text())["gap"]
    assert gap["all"]["tokens"] > 0 and 0 <= gap["all"]["frac_positive"] <= 1
    assert gap["decisive"]["tokens"] <= gap["all"]["tokens"]


def test_decisive_tokens_are_the_argument_of_the_action():
    mod = _bench()

    class Tok:  # one character per token
        def decode(self, ids):
            return "".join(chr(i) for i in ids)

    text = "<action>go to fridge 1</action>"
    mask = mod._decisive_mask("alfworld", Tok(), [ord(c) for c in text])
    assert "".join(c for c, m in zip(text, mask, strict=True) if m) == "fridge"
    q = "<search> ada native of </search>"
    mask = mod._decisive_mask("searchqa", Tok(), [ord(c) for c in q])
    assert "".join(c for c, m in zip(q, mask, strict=True) if m) == " ada native of "

"""Per-turn prompts, the teacher/student prefix property, and the response parser."""

from __future__ import annotations

import pytest

from agentgym.core.registry import families
from agentgym.rollout.parser import parse_response
from agentgym.rollout.prompts import (
    build_user_text,
    context_length,
    encode_prompt,
    family_of,
    fit_prompt,
    format_response,
    template,
    trajectory_turns,
)


@pytest.fixture(scope="module")
def tok():
    from agentgym.models.tokenizer import train_tokenizer

    texts = [build_user_text("alfworld", "put a clean apple in fridge", [("You arrive at cabinet 1.", "go to fridge 1")],
                             "The fridge 1 is closed.", ["open fridge 1", "go to cabinet 2"])] * 20
    texts += ["[Privileged Skill Information]\n- search likely places first\n\n"] * 20
    return train_tokenizer(texts, vocab_size=400)


def test_family_of_ids_and_envs():
    assert family_of("agentgym/ALFWorld-v0") == "alfworld"
    assert family_of("agentgym/ALFWorld-Small-v0") == "alfworld"
    assert family_of("agentgym/WebShop-Browser-v0") == "webshop"
    assert family_of("agentgym/SearchQA-v0") == "searchqa"
    assert family_of("someone/Other-v0") == "generic"
    assert family_of("searchqa") == "searchqa"
    assert template("searchqa").history == 4 == template("alfworld").history and template("webshop").history == 2
    assert template("searchqa").stop == ["</search>", "</answer>"] and template("webshop").stop == ["</action>"]


def test_user_text_shows_last_h_turns_and_admissible_actions():
    hist = [(f"obs {i}", f"act {i}") for i in range(7)]
    text = build_user_text("alfworld", "put a clean apple in fridge", hist, "You see a fridge 1.", ["open fridge 1", "look"])
    lines = text.splitlines()
    assert lines[0] == "Task: put a clean apple in fridge"
    assert "Obs: obs 3" in lines and "Act: act 6" in lines and "Obs: obs 2" not in text  # H = 4
    assert "Now: You see a fridge 1." in lines
    assert "Actions: open fridge 1 | look" in lines
    assert lines[-1] == template("alfworld").format_line
    first = build_user_text("alfworld", "t", [], "o", None)
    assert "Recent:" not in first and "Actions:" not in first
    sq = build_user_text("searchqa", "who?", [(f"o{i}", f"<search> q{i} </search>") for i in range(6)], "info", ["x"])
    assert sq.count("Obs:") == 4 and "Actions:" not in sq  # H = 4, no admissible list


def test_observation_cleaners_drop_repeated_text():
    instr = "i need a red shirt"
    page = f"WebShop [SEP] Instruction: [SEP] {instr} [SEP] Search"
    assert build_user_text("webshop", instr, [], page, None).splitlines()[1] == "Now: Search"
    results = f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] B000AZC1BR [SEP] Red Shirt [SEP] $9.99"
    assert "Now: Back to Search [SEP] b000azc1br [SEP] Red Shirt" in build_user_text("webshop", instr, [], results, None)
    q = ("Answer the question. ... search with <search> query </search>; ... Question: Who wrote X?")
    assert "Now: Question: Who wrote X?" in build_user_text("searchqa", "Who wrote X?", [], q, None)


def test_long_observations_are_cut():
    text = build_user_text("alfworld", "t", [("x" * 5000, "a")], "y" * 5000, None)
    t = template("alfworld")
    assert len(text) < t.max_obs_chars + t.max_hist_chars + 300


def test_long_instructions_and_admissible_actions_are_cut():
    """Issue 16 item 9: a hundred 2 KB actions and a 3 KB instruction made an unbounded prompt."""
    t = template("generic")
    acts = [f"action {i} " + "z" * 2000 for i in range(100)]
    text = build_user_text("generic", "do it " * 500, [("o", "say " + "w" * 3000)], "now", acts)
    lines = text.splitlines()
    assert len(lines[0]) <= len("Task: ") + t.max_instruction_chars and lines[0].endswith("...")
    act_line = next(x for x in lines if x.startswith("Act: "))
    assert len(act_line) <= len("Act: ") + t.max_action_chars and act_line.endswith("...")
    listed = next(x for x in lines if x.startswith("Actions: "))
    assert len(listed) <= len("Actions: ") + t.max_actions_chars + 6
    shown = listed[len("Actions: "):].split(" | ")
    assert shown[-1] == "..." and all(len(a) <= t.max_action_chars for a in shown)
    assert shown[0].startswith("action 0 zzz") and shown[0].endswith("...")
    assert len(text) < t.max_instruction_chars + t.max_actions_chars + t.max_obs_chars + 1000
    short = build_user_text("alfworld", "put a clean apple in fridge", [("You see.", "go to fridge 1")], "o",
                            ["open fridge 1", "look"])  # what real envs show is unchanged
    assert "Actions: open fridge 1 | look" in short and "Act: go to fridge 1" in short


def test_fit_prompt_keeps_the_head_and_the_tail(tok):
    ids = list(range(3000))
    assert fit_prompt(ids, None, tok) == ids and fit_prompt(ids, 3000, tok) == ids
    plain = fit_prompt(ids, 1000)
    assert len(plain) == 1000 and plain[:250] == ids[:250] and plain[250:] == ids[-750:]
    marked = fit_prompt(ids, 1000, tok)
    marker = tok("\n...\n", add_special_tokens=False)["input_ids"]
    assert len(marked) == 1000 and marked[:250] == ids[:250] and marked[250:250 + len(marker)] == marker
    assert marked[250 + len(marker):] == ids[-(750 - len(marker)):]


def test_context_length_of_engines():
    from types import SimpleNamespace

    hf_like = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(max_position_embeddings=2048)))
    assert context_length(hf_like) == 2048
    unknown = SimpleNamespace(tokenizer=SimpleNamespace(model_max_length=int(1e30)))
    assert context_length(unknown) is None
    assert context_length(SimpleNamespace(tokenizer=SimpleNamespace(model_max_length=4096))) == 4096


def test_student_and_teacher_prompts_differ_only_by_the_prefix(tok):
    user = build_user_text("alfworld", "put a clean apple in fridge", [], "The fridge 1 is closed.", ["open fridge 1"])
    c_plus = "[Privileged Skill Information]\n- search likely places first\n\n"
    s = encode_prompt(tok, user)
    t = encode_prompt(tok, user, privileged=c_plus)
    ds, dt = tok.decode(s), tok.decode(t)
    assert dt == ds.replace(user, c_plus + user, 1)
    header = encode_prompt(tok, "")[:-len(tok("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])]
    body = tok(c_plus, add_special_tokens=False)["input_ids"]
    # token level: teacher = header + tokens(c+) + the student's tokens after the header
    assert t == header + body + s[len(header):]
    assert ds.startswith("<|im_start|>user\nTask:") and ds.endswith("<|im_start|>assistant\n")


def test_trajectory_turns_match_build_user_text_and_the_history_rule():
    """A record is prompted turn by turn as it was played: the template's H, or the H given, once."""
    from agentgym.core.trajectory import Step, Trajectory

    steps = [Step(f"o{i}", f"a{i}", 0.0, True, [f"a{i}"]) for i in range(6)]
    traj = Trajectory(env_id="e", split="train", policy="p", task={"instruction": "task"}, seed=0, steps=steps)
    turns = list(trajectory_turns("alfworld", traj))
    assert [s for _, s in turns] == steps
    assert turns[2][0] == build_user_text("alfworld", "task", [("o0", "a0"), ("o1", "a1")], "o2", ["a2"])
    assert [t.count("\nObs: ") for t, _ in turns] == [0, 1, 2, 3, 4, 4]  # ALFWorld's H = 4
    assert [t.count("\nObs: ") for t, _ in trajectory_turns("alfworld", traj, history=1)] == [0, 1, 1, 1, 1, 1]
    chat = [t for t, _ in trajectory_turns("alfworld", traj, prompt_style="conversation", system_prompt="sys")]
    assert chat[2].messages[0] == ("system", "sys") and len(chat[2].messages) == 1 + 2 * 2 + 1


# ---- parser -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,action,valid", [
    ("<think>go there</think><action>go to fridge 1</action>", "go to fridge 1", True),
    ("<think></think><action>go to fridge 1</action>", "go to fridge 1", True),
    ("<action>go to fridge 1</action>", "go to fridge 1", True),  # think is optional
    ("  <think>x</think>\n<action>  go  to fridge 1 </action>\n", "go to fridge 1", True),  # whitespace
    ("Sure! <think>x</think><action>look</action>", "look", False),  # extra text before
    ("<think>x</think><action>look</action> and then more", "look", False),  # extra text after
    ("<action>look</action><action>inventory</action>", "look", False),  # two actions: first one, invalid
    ("<action></action>", "", False),  # empty action
    ("<action>look</action><think>late</think>", "look", False),  # think after the answer
    ("<think>x</think><action>look", "<think>x</think><action>look", False),  # truncated: raw text to the env
    ("go to fridge 1", "go to fridge 1", False),  # missing tags
    ("", "", False),
    ("<think>Ωμέγα 🙂</think><action>click[café naïve 中文]</action>", "click[café naïve 中文]", True),  # unicode
    ("<think><action>x</action></think>", "x", False),  # answer nested in think
])
def test_parse_action_family(text, action, valid):
    p = parse_response("alfworld", text)
    assert (p.action, p.valid_format) == (action, valid)


def test_parse_searchqa_tags():
    p = parse_response("searchqa", "<think>need info</think>\n<search> capital of France </search>")
    assert (p.action, p.valid_format, p.tag, p.think) == ("<search> capital of France </search>", True, "search", "need info")
    p = parse_response("searchqa", "<think>ok</think><answer>Paris</answer>")
    assert (p.action, p.valid_format, p.tag) == ("<answer> Paris </answer>", True, "answer")
    p = parse_response("searchqa", "<search>a</search><answer>b</answer>")
    assert p.tag == "search" and not p.valid_format
    p = parse_response("searchqa", "<action>look</action>")
    assert not p.valid_format and p.tag == ""


def test_parser_never_raises_on_garbage():
    from agentgym.core.checker import garbage_actions

    for fam in families():
        for g in garbage_actions(60):
            p = parse_response(fam, g)
            assert isinstance(p.action, str) and len(p.action) <= 200000
        assert parse_response(fam, None).valid_format is False  # type: ignore[arg-type]


@pytest.mark.parametrize("family,action", [("alfworld", "go to cabinet 1"), ("webshop", "click[b000azc1br]"),
                                           ("searchqa", "<think> hm </think>\n<search> who wrote x </search>"),
                                           ("searchqa", "<answer> Paris </answer>"), ("generic", "open drawer 2")])
def test_format_response_parses_back(family, action):
    resp = format_response(family, action)
    p = parse_response(family, resp)
    assert p.valid_format and resp.startswith("<think></think>")
    assert p.action == parse_response(family, action).action if family == "searchqa" else p.action == action


def test_format_response_keeps_malformed_searchqa_actions_malformed():
    resp = format_response("searchqa", "<search> missing closing tag")
    assert not parse_response("searchqa", resp).valid_format

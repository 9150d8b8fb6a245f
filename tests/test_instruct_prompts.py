"""Prompts for instruct models (issue 18): the conversation style, system prompts, think text, the
episode token budget, history truncation, the Qwen3-style template mismatch, and the defaults unchanged."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from fakes.tiny import build_tiny
from fakes.toy_env import ToyFetchEnv, register_toy

import agentgym.rollout.collector as col
import agentgym.rollout.prompts as prompts
from agentgym.cli import main
from agentgym.core.errors import AgentGymError
from agentgym.engines.base import Engine, Generation, SamplingParams
from agentgym.models.load import load_tokenizer
from agentgym.rollout.collector import collect
from agentgym.rollout.parser import parse_response
from agentgym.rollout.prompts import (
    TEMPLATE_VERSION,
    ChatPrompt,
    build_turn_text,
    build_user_text,
    drops_past_think,
    encode_chat,
    encode_prompt,
)
from agentgym.rollout.samples import replay, samples_from_trajectories
from agentgym.trainer.config import TrainConfig, load_config

SYSTEM = "You are a careful household agent."
C_PLUS = "[Privileged Skill Information]\n- open the drawers in order\n\n"
#: a Qwen3-like template (written for this test): past assistant turns lose their <think> text
QWEN3_LIKE = (
    "{%- set ns = namespace(last=-1) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set ns.last = loop.index0 -%}{%- endif -%}{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- set content = m['content'] -%}"
    "{%- if m['role'] == 'assistant' and loop.index0 < ns.last and '</think>' in content -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("instruct") / "m", seed=2)


@pytest.fixture(scope="module")
def tok(tiny_dir):
    """The tiny policy's tokenizer: its template is ChatML (system turn when given)."""
    return load_tokenizer(tiny_dir)


@pytest.fixture(scope="module")
def qwen3_tok(tok):
    t = copy.deepcopy(tok)
    t.chat_template = QWEN3_LIKE
    return t


@pytest.fixture(scope="module")
def tasks():
    return list(ToyFetchEnv().panel("train"))[:2]


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(col, "_warned_mismatch", False)
    monkeypatch.setattr(col, "_warned_truncation", False)


class Thinker(Engine):
    """Plays the toy expert from the prompt's last action list, thinking first; the thought names the
    turn (counted from the assistant turns in the prompt; only turn 0's says "step 0")."""

    def __init__(self, tokenizer, think: bool = True):
        self.tokenizer, self.think, self.prompts = tokenizer, think, []

    def generate(self, prompt_ids, sampling):
        out = []
        for p in prompt_ids:
            self.prompts.append(list(p))
            text = self.tokenizer.decode(p)
            turn = text.count("<|im_start|>assistant") - 1
            acts = [ln for ln in text.splitlines() if ln.startswith("Actions:")][-1][len("Actions: "):].split(" | ")
            act = next((a for a in acts if a.startswith(("put", "take"))), acts[0])
            think = f"<think>step {turn}: I look in the drawers</think>" if self.think else ""
            ids = self.tokenizer(f"{think}<action>{act}</action>", add_special_tokens=False)["input_ids"]
            out.append(Generation(ids, [0.0] * len(ids), self.tokenizer.decode(ids, skip_special_tokens=True), "stop"))
        return out

    def update_weights(self, weights):
        pass


def _template_ids(tok, messages: list[tuple[str, str]]) -> list[int]:
    text = tok.apply_chat_template([{"role": r, "content": c} for r, c in messages], add_generation_prompt=True,
                                   tokenize=False)
    return tok(text, add_special_tokens=False)["input_ids"]


def _chat_of(traj, upto: int, system: str | None) -> list[tuple[str, str]]:
    """The messages of turn `upto` of a recorded episode, built here from the record (not by the collector)."""
    instr = traj.task["instruction"]
    msgs = [("system", system)] if system else []
    for k, s in enumerate(traj.steps[: upto + 1]):
        user = (build_user_text("generic", instr, [], s.observation, s.admissible_actions) if k == 0 else
                build_turn_text("generic", instr, s.observation, s.admissible_actions))
        msgs.append(("user", user))
        if k < upto:
            msgs.append(("assistant", s.response))
    return msgs


def _conversation(engine, tasks, **kw):
    return collect(engine, register_toy(), tasks, 2, SamplingParams(max_new_tokens=40), prompt_style="conversation",
                   **kw)


# ---- the conversation style ----------------------------------------------------------------------
def test_turn_k_prompt_is_the_chat_template_of_the_messages_so_far(tok, tasks):
    batch = _conversation(Thinker(tok), tasks, system_prompt=SYSTEM)
    by_episode = {t.meta["episode_id"]: t for t in batch.trajectories}
    assert max(s.turn for s in batch.samples) >= 2
    for s in batch.samples:
        traj = by_episode[s.episode_id]
        msgs = _chat_of(traj, s.turn, SYSTEM)
        assert s.prompt_ids == _template_ids(tok, msgs)
        assert isinstance(s.user_text, ChatPrompt) and s.user_text.messages == tuple(msgs)
        assert s.user_text == msgs[-1][1]  # as a str: the latest user message
        assert tok.decode(s.prompt_ids).startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nTask: ")
    assert batch.stats.prompt_mismatch == 0  # ChatML keeps every past response as sampled
    assert {t.meta["prompt_style"] for t in batch.trajectories} == {"conversation"}
    # the record reloads to the same samples, and replays in the env
    again = samples_from_trajectories(batch.trajectories, tok)
    assert [(a.prompt_ids, a.response_ids, a.user_text.messages) for a in again] == \
           [(b.prompt_ids, b.response_ids, b.user_text.messages) for b in batch.samples]
    assert replay(batch.trajectories, ToyFetchEnv).ok


def test_the_teacher_gets_the_same_conversation_with_c_plus_in_the_first_user_message(tok, tasks):
    batch = _conversation(Thinker(tok), tasks, system_prompt=SYSTEM)
    s = max(batch.samples, key=lambda x: x.turn)
    # what the trainer computes for the teacher, from the sample's user text alone
    teacher = encode_prompt(tok, s.user_text, privileged=C_PLUS)
    msgs = list(s.user_text.messages)
    first = next(i for i, (r, _) in enumerate(msgs) if r == "user")
    msgs[first] = ("user", C_PLUS + msgs[first][1])
    assert teacher == _template_ids(tok, msgs)
    assert tok.decode(teacher) == tok.decode(s.prompt_ids).replace("<|im_start|>user\nTask:", f"<|im_start|>user\n{C_PLUS}Task:", 1)
    # copies and pickles (checkpoints, worker processes) keep the chat
    for back in (copy.deepcopy(s.user_text), pickle.loads(pickle.dumps(s.user_text))):
        assert isinstance(back, ChatPrompt) and back.messages == s.user_text.messages and back == s.user_text


def test_a_system_prompt_with_the_step_style_reaches_student_and_teacher(tok, tasks):
    batch = collect(Thinker(tok), register_toy(), tasks, 2, SamplingParams(max_new_tokens=40), system_prompt=SYSTEM)
    for s in batch.samples:
        plain = str(s.user_text)  # the step template's user text, unchanged
        assert s.prompt_ids == _template_ids(tok, [("system", SYSTEM), ("user", plain)])
        assert encode_prompt(tok, s.user_text, privileged=C_PLUS) == _template_ids(tok, [("system", SYSTEM),
                                                                                          ("user", C_PLUS + plain)])
    again = samples_from_trajectories(batch.trajectories, tok)
    assert [a.prompt_ids for a in again] == [b.prompt_ids for b in batch.samples]


# ---- truncation to the model's context -----------------------------------------------------------
CHAT = [("system", "SYS"), ("user", "Task: fetch the mug\nNow: start"), ("assistant", "reply zero"),
        ("user", "Now: sight one"), ("assistant", "reply one"), ("user", "Now: sight two"),
        ("assistant", "reply two"), ("user", "Now: sight three")]


def test_a_long_conversation_drops_its_oldest_turns_first(tok):
    full, dropped = encode_chat(tok, CHAT)
    assert dropped == 0 and full == _template_ids(tok, CHAT)
    one_less = _template_ids(tok, CHAT[:2] + CHAT[4:])
    ids, dropped = encode_chat(tok, CHAT, max_tokens=len(one_less))
    assert (ids, dropped) == (one_less, 1)
    text = tok.decode(ids)
    assert "reply zero" not in text and "sight one" not in text
    for kept in ("SYS", "Task: fetch the mug", "reply one", "sight two", "reply two", "sight three"):
        assert kept in text
    # however small the room: system, task and the latest turn stay (the caller's fit_prompt cuts the rest)
    ids, dropped = encode_chat(tok, CHAT, max_tokens=5)
    assert dropped == 2 and ids == _template_ids(tok, CHAT[:2] + CHAT[-2:])
    # c+ goes into the first user message, also when turns are dropped
    ids, _ = encode_chat(tok, CHAT, privileged=C_PLUS, max_tokens=len(one_less))
    assert f"user\n{C_PLUS}Task: fetch the mug" in tok.decode(ids)


def test_the_collector_fits_conversations_to_max_prompt_tokens(tok, tasks):
    whole = _conversation(Thinker(tok), tasks[:1], system_prompt=SYSTEM)
    longest = max(len(s.prompt_ids) for s in whole.samples)
    cap = longest - 20
    batch = _conversation(Thinker(tok), tasks[:1], system_prompt=SYSTEM, max_prompt_tokens=cap)
    assert batch.stats.prompt_truncated > 0
    for s in batch.samples:
        assert len(s.prompt_ids) <= cap
        text = tok.decode(s.prompt_ids)
        assert text.startswith(f"<|im_start|>system\n{SYSTEM}") and "Task: put the" in text
        assert text.endswith(f"{s.user_text}<|im_end|>\n<|im_start|>assistant\n")  # the latest turn is whole
    last = max(batch.samples, key=lambda x: x.turn)
    assert "step 0:" not in tok.decode(last.prompt_ids)  # the oldest response went first
    assert len(encode_prompt(tok, last.user_text, privileged=C_PLUS)) <= cap  # the teacher fits the same room


# ---- think text and the episode budget ----------------------------------------------------------
@pytest.mark.parametrize("text, action", [
    ("<think>\nThe apple is usually in drawer 1.\n</think>\n\n<action>open drawer 1</action>", "open drawer 1"),
    ("<think>I could reply <action>look</action>, but opening is better.</think><action>open drawer 2</action>",
     "open drawer 2"),
    ("<think>" + "Let me think about every drawer. " * 60 + "</think>\n<action>take apple</action>", "take apple"),
])
def test_think_text_is_ignored_and_the_action_parsed(text, action):
    p = parse_response("alfworld", text)
    assert (p.action, p.valid_format) == (action, True) and p.think
    q = parse_response("searchqa", text.replace("<action>", "<search>").replace("</action>", "</search>"))
    assert q.valid_format and q.tag == "search"


def test_the_episode_token_budget_ends_the_episode_as_a_failure(tok, tasks):
    free = _conversation(Thinker(tok), tasks)
    assert all(len(t.steps) >= 3 for t in free.trajectories)  # the expert needs 3 steps at least
    budget = len(free.trajectories[0].steps[0].response_ids) + 1  # passed during the second turn
    batch = _conversation(Thinker(tok), tasks, max_episode_tokens=budget)
    assert batch.stats.episodes_over_budget == len(batch.trajectories)
    for t, f in zip(batch.trajectories, free.trajectories, strict=True):
        spent = [len(s.response_ids) for s in f.steps]
        assert spent[0] < budget < spent[0] + spent[1]
        assert len(t.steps) == 2 and not t.won and t.score == 0.0 and t.truncated
        assert t.meta["token_budget_exceeded"] is True and t.meta["generated_tokens"] == spent[0] + spent[1]
        assert t.meta["max_episode_tokens"] == budget
    assert batch.samples and not any(s.won for s in batch.samples)
    assert replay(batch.trajectories, ToyFetchEnv).ok
    assert [s.won for s in samples_from_trajectories(batch.trajectories, tok)] == [False] * len(batch.samples)


# ---- the Qwen3-style template mismatch ------------------------------------------------------------
def test_a_template_that_drops_past_think_text_is_detected(tok, qwen3_tok, tasks):
    assert drops_past_think(qwen3_tok) and not drops_past_think(tok)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = _conversation(Thinker(qwen3_tok), tasks, system_prompt=SYSTEM)
    later = [s for s in batch.samples if s.turn > 0]
    assert batch.stats.prompt_mismatch == len(later) > 0
    said = [str(w.message) for w in caught if "prompt_mismatch" in str(w.message)]
    assert len(said) == 1 and "drops the <think> text of past assistant turns" in said[0]
    # each turn's prompt is still the template's rendering of its messages (what the engine was given)
    for s in batch.samples:
        assert s.prompt_ids == _template_ids(qwen3_tok, list(s.user_text.messages))
    assert "step 0:" not in qwen3_tok.decode(max(batch.samples, key=lambda x: x.turn).prompt_ids)
    # warned once per process; counted every time
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert _conversation(Thinker(qwen3_tok), tasks).stats.prompt_mismatch > 0
    assert not [w for w in again if "prompt_mismatch" in str(w.message)]
    # without think text nothing differs
    assert _conversation(Thinker(qwen3_tok, think=False), tasks).stats.prompt_mismatch == 0


# ---- the defaults are today's prompts ---------------------------------------------------------------
def test_default_options_give_todays_prompts_byte_for_byte(tok, tasks):
    text = build_user_text("alfworld", "put a clean apple in fridge", [("You arrive at cabinet 1.", "go to fridge 1")],
                           "The fridge 1 is closed.", ["open fridge 1", "look"])
    assert tok.decode(encode_prompt(tok, text)) == (
        "<|im_start|>user\nTask: put a clean apple in fridge\nRecent:\nObs: You arrive at cabinet 1.\n"
        "Act: go to fridge 1\nNow: The fridge 1 is closed.\nActions: open fridge 1 | look\n"
        "Reply <think>...</think><action>one action from the list</action><|im_end|>\n<|im_start|>assistant\n")
    assert TEMPLATE_VERSION == "v2"  # the default models' cache keys
    sp = SamplingParams(max_new_tokens=40)
    plain = collect(Thinker(tok), register_toy(), tasks, 2, sp)
    explicit = collect(Thinker(tok), register_toy(), tasks, 2, sp, prompt_style="step", system_prompt=None,
                       max_episode_tokens=None)
    assert [s.prompt_ids for s in plain.samples] == [s.prompt_ids for s in explicit.samples]
    hist: dict[int, list] = {}
    for s, traj in ((s, next(t for t in plain.trajectories if t.meta["episode_id"] == s.episode_id)) for s in plain.samples):
        step = traj.steps[s.turn]
        h = hist.setdefault(s.episode_id, [])
        want = build_user_text("generic", traj.task["instruction"], h[-2:], step.observation, step.admissible_actions)
        assert type(s.user_text) is str and s.user_text == want and s.prompt_ids == encode_prompt(tok, want)
        h.append((step.observation, step.action))
    assert {k for t in plain.trajectories for k in t.meta} == {"family", "history", "prefix", "group_id",
                                                                "episode_id", "max_prompt_tokens"}
    assert plain.stats.prompt_mismatch == 0 and plain.stats.episodes_over_budget == 0


# ---- bad input: one clear line each ------------------------------------------------------------------
def test_bad_prompt_options_are_one_clear_error(tok, tiny_dir, tmp_path, tasks):
    with pytest.raises(AgentGymError, match=r"^unknown prompt_style 'chat'; valid: step, conversation$"):
        load_config(None, {"prompt_style": "chat"})
    with pytest.raises(AgentGymError, match="system_prompt is empty"):
        load_config(None, {"system_prompt": "  "})
    with pytest.raises(AgentGymError, match="max_episode_tokens must be >= 1"):
        load_config(None, {"max_episode_tokens": 0})
    no_tpl = tmp_path / "no_tpl"
    shutil.copytree(tiny_dir, no_tpl)
    (no_tpl / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((no_tpl / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (no_tpl / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AgentGymError, match=r"prompt_style conversation renders prompts through the tokenizer's chat "
                                            r"template, and the tokenizer in .*no_tpl has none"):
        load_config(None, {"prompt_style": "conversation", "model": str(no_tpl)})
    with pytest.raises(AgentGymError, match="system_prompt renders prompts"):
        load_config(None, {"system_prompt": SYSTEM, "model": str(no_tpl)})
    TrainConfig(model=str(tiny_dir), prompt_style="conversation", system_prompt=SYSTEM).validate()
    bare = copy.deepcopy(tok)
    bare.chat_template = None
    with pytest.raises(AgentGymError, match="the tokenizer has no chat template"):
        _conversation(Thinker(bare), tasks)
    with pytest.raises(AgentGymError, match="unknown prompt_style"):
        collect(Thinker(tok), register_toy(), tasks, 2, SamplingParams(), prompt_style="chat")


def test_a_bad_prompt_style_on_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["train", "--env", "alfworld", "--set", "prompt_style=chat", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code not in (0, None) and lines == ["agentgym: error: unknown prompt_style 'chat'; valid: step, "
                                                      "conversation"], err


# ---- two training steps through `agentgym train` --------------------------------------------------------
ENV = "agentgym/ALFWorld-Small-v0"


@pytest.fixture(scope="module")
def alfworld_tiny(tmp_path_factory) -> Path:
    from agentgym.core.recipe import ModelSize
    from agentgym.models.build import init_model_dir

    size = ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                     intermediate_size=64, max_position_embeddings=1024)
    return init_model_dir(ENV, tmp_path_factory.mktemp("alf") / "policy", vocab_size=400, size=size, demos=20)


@pytest.mark.parametrize("backend", ["grpo", "sdar"])
def test_two_conversation_steps_train(backend, alfworld_tiny, tmp_path, monkeypatch, capsys):
    seen: list[tuple[bool, str | None, list[int]]] = []
    real = prompts.encode_prompt

    def spy(tokenizer, user_text, privileged=None, system=None):
        ids = real(tokenizer, user_text, privileged, system)
        seen.append((isinstance(user_text, ChatPrompt), privileged, ids))
        return ids

    import agentgym.trainer.loop as loop

    monkeypatch.setattr(loop, "encode_prompt", spy)  # what the trainer encodes the teacher prompts with
    run = tmp_path / "run"
    argv = ["train", "--env", ENV, "--backend", backend, "--model", str(alfworld_tiny), "--steps", "2",
            "--tasks-per-step", "2", "--group-size", "2", "--eval-episodes", "0", "--out", str(run),
            "--env-opt", "max_steps=3", "--set", "max_new_tokens=24", "--set", "prompt_style=conversation",
            "--set", f"system_prompt={SYSTEM}", "--set", "max_episode_tokens=60", "--set", "warmup_steps=1"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code in (0, None), capsys.readouterr().err
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for m in lines:
        assert {"prompt_mismatch", "episodes_over_budget", "prompt_truncated", "loss"} <= set(m)
    assert (run / "config.yaml").read_text().count("prompt_style: conversation") == 1
    teacher = [(chat, priv, ids) for chat, priv, ids in seen if priv]
    if backend == "sdar":  # every teacher prompt is the student's chat with c+ in its first user message
        assert teacher and all(chat for chat, _, _ in teacher)
        tk = load_tokenizer(alfworld_tiny)
        for _, priv, ids in teacher:
            text = tk.decode(ids)
            assert text.startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n")
            first_user = text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
            assert first_user.startswith(priv.strip()[:40]) and "Task:" in first_user
    else:
        assert not teacher


def test_agentgym_eval_prompts_as_the_run_was_trained(tmp_path):
    """`agentgym eval` takes the prompt options a run was trained with (here on the shipped ALFWorld
    policy, whose tokenizer has a chat template); an unknown style is one line before any model loads."""
    out = tmp_path / "eval.json"
    base = [sys.executable, "-m", "agentgym", "eval", "--env", "alfworld", "--env-opt", "difficulty=small",
            "--episodes", "2"]
    r = subprocess.run([*base, "--prompt-style", "conversation", "--system-prompt", "Act in the house.",
                        "--max-episode-tokens", "400", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(out.read_text())["episodes"] == 2
    bad = subprocess.run([*base, "--prompt-style", "chat"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "unknown --prompt-style 'chat'; valid: step, conversation" in bad.stderr
    assert "Traceback" not in bad.stderr

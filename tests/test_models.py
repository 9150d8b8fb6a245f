"""The default policy: tokenizer round trip, model init, SFT, the cache, `--model PATH` with another size."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch
from fakes.tiny import TINY, build_tiny
from fakes.tools import ROOT
from fakes.toy_env import register_toy

from agentgym.core.recipe import DefaultModelConfig, ModelSize, SFTConfig
from agentgym.engines.base import SamplingParams
from agentgym.engines.hf import HFEngine
from agentgym.models.load import load_policy
from agentgym.models.tokenizer import TAG_TOKENS, train_tokenizer
from agentgym.rollout.collector import collect
from agentgym.rollout.prompts import encode_prompt


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny") / "m")


def test_tokenizer_round_trip_through_autotokenizer_as_qwen2(tmp_path):
    from transformers import AutoTokenizer, Qwen2Config

    texts = ["go to cabinet 12, then open drawer 3", "Price: $41.99 [SEP] B000AZC1BR", "café naïve Ωμέγα 中文 🙂"] * 30
    tok = train_tokenizer(texts, vocab_size=400, atomic=["b000azc1br"])
    tok.save_pretrained(tmp_path)
    Qwen2Config(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=32).save_pretrained(tmp_path)
    back = AutoTokenizer.from_pretrained(tmp_path)
    assert type(back).__name__ == "Qwen2Tokenizer", "a qwen2 dir must be rebuilt as Qwen2Tokenizer (the gotcha)"
    probe = [
        "<|im_start|>user\ngo to cabinet 12345, 2024-11-26 $41.99<|im_end|>\n<|im_start|>assistant\n",
        "<think></think><action>click[b000azc1br]</action>",
        "unseen: Zürich 東京 🙂 \t tabs\n\nnewlines",
    ]
    for s in probe:
        ids = tok(s, add_special_tokens=False)["input_ids"]
        assert back(s, add_special_tokens=False)["input_ids"] == ids
        assert back.decode(ids) == s
    for t in (*TAG_TOKENS, "b000azc1br"):  # tags and atomic ids are single tokens, kept by skip_special_tokens
        assert len(back(t, add_special_tokens=False)["input_ids"]) == 1
    ids = back("<think></think><action>x</action><|im_end|>", add_special_tokens=False)["input_ids"]
    assert back.decode(ids, skip_special_tokens=True) == "<think></think><action>x</action>"
    chat = back.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_init_model_dir_is_an_ordinary_hf_directory(tiny_dir):
    from transformers import AutoModelForCausalLM

    info = json.loads((tiny_dir / "agentgym.json").read_text())
    assert info["stage"] == "init"
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen2" and model.config.hidden_size == TINY.hidden_size
    assert model.config.tie_word_embeddings
    model2, tok = load_policy(tiny_dir)
    assert model2.config._attn_implementation == "sdpa"
    assert tok.convert_ids_to_tokens(model2.generation_config.eos_token_id[0]) == "<|im_end|>"
    assert sum(p.numel() for p in model2.parameters()) == info["parameters"]


def test_model_path_with_a_second_differently_sized_model(tmp_path, tiny_dir):
    """`--model PATH` works for any HF causal LM: build one of another size and load it the same way."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    _, tok = load_policy(tiny_dir)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=96, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    other = tmp_path / "other"
    torch.manual_seed(1)
    Qwen2ForCausalLM(cfg).save_pretrained(other)
    tok.save_pretrained(other)
    model, tok2 = load_policy(other)
    assert model.config.hidden_size == 48 and model.config.num_hidden_layers == 2
    eng = HFEngine(other)
    prompt = encode_prompt(tok2, "Task: put the apple on the table\nNow: hello")
    g = eng.generate([prompt], SamplingParams(temperature=0, max_new_tokens=5))[0]
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + g.token_ids])).logits[0].float(), -1)
    ref = [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(g.token_ids)]
    assert g.logprobs == pytest.approx(ref, abs=1e-4)
    env_id = register_toy()
    from fakes.toy_env import ToyFetchEnv

    batch = collect(eng, env_id, list(ToyFetchEnv().panel())[:2], 2, SamplingParams(max_new_tokens=8, seed=0))
    assert len(batch.trajectories) == 4 and batch.samples


def test_sft_lowers_the_response_loss_and_saves(tmp_path, tiny_dir):
    from agentgym.models.sft import demo_examples, response_loss, train_sft

    model, tok = load_policy(tiny_dir)
    cfg = SFTConfig(demos=30, epochs=3, batch_size=8, lr=1e-2, bf16=False)
    examples, stats = demo_examples(register_toy(), tok, cfg)
    assert stats["episodes"] == 30 and len(examples) == stats["examples"] > 30
    assert all(e.response_ids[-1] == tok.convert_tokens_to_ids("</action>") for e in examples)
    with torch.no_grad():
        before = float(response_loss(model, examples[:32], tok.pad_token_id, False)[0]) / sum(
            len(e.response_ids) for e in examples[:32])
    m = train_sft(model, examples, cfg, pad_id=tok.pad_token_id)
    with torch.no_grad():
        after = float(response_loss(model, examples[:32], tok.pad_token_id, False)[0]) / sum(
            len(e.response_ids) for e in examples[:32])
    assert after < 0.7 * before, (before, after)
    assert m["steps"] == 3 * -(-len(examples) // 8)


def test_copy_examples_are_cued_spans_and_mixed_into_the_schedule(tiny_dir):
    from agentgym.models.sft import SFTExample, copy_examples, train_sft

    rng = np.random.default_rng(0)
    ex = copy_examples(200, range(3, 50), rng, span=(4, 9), gap=(0, 5))
    for e in ex:
        k = len(e.response_ids)
        assert 4 <= k <= 9 and e.prompt_ids[0] == e.prompt_ids[-1]  # the cue opens the span and ends the prompt
        assert e.prompt_ids[1: k + 1] == e.response_ids and len(e.prompt_ids) - k - 2 <= 5
        assert all(3 <= t < 50 for t in e.prompt_ids)
    assert len({tuple(e.response_ids) for e in ex}) == 200

    model, tok = load_policy(tiny_dir)
    demos = [SFTExample([5, 6, 7], [8, 9])] * 40  # 5 demo batches of 8 per epoch
    cfg = SFTConfig(epochs=2, batch_size=8, bf16=False, copy_warmup_steps=7, copy_mix=0.5)
    m = train_sft(model, demos, cfg, pad_id=tok.pad_token_id, copy_vocab=range(3, 40))
    assert m["steps"] == 7 + 10 + 10 and m["copy_steps"] == 17 and m["copy_final_loss"] > 0
    off = train_sft(model, demos, SFTConfig(epochs=1, batch_size=8, bf16=False), pad_id=tok.pad_token_id)
    assert off["steps"] == 5 and off["copy_steps"] == 0 and off["copy_final_loss"] is None


@pytest.mark.slow
def test_copy_warmup_teaches_a_small_qwen2_to_copy_unseen_spans(tmp_path):
    """The induction warm-up works on the default architecture: after it, spans of random tokens it has
    never seen are copied from the prompt (a fresh model copies none)."""
    from agentgym.models.sft import copy_examples, train_sft

    torch.set_num_threads(1)
    model, tok = load_policy(build_tiny(tmp_path / "m", size=ModelSize(), vocab_size=500), dtype=torch.float32)

    def copy_accuracy() -> float:
        test = copy_examples(64, range(3, len(tok)), np.random.default_rng(123), span=(6, 12))
        hits = total = 0
        with torch.no_grad():
            for e in test:
                seq = torch.tensor([e.prompt_ids + e.response_ids])
                pred = model(seq).logits[0, len(e.prompt_ids) - 1: -1].argmax(-1).tolist()
                hits += sum(p == t for p, t in zip(pred, e.response_ids, strict=True))
                total += len(e.response_ids)
        return hits / total

    assert copy_accuracy() < 0.05
    train_sft(model, [], SFTConfig(epochs=0, copy_warmup_steps=1500, lr=2e-3), pad_id=tok.pad_token_id,
              copy_vocab=range(3, len(tok)))
    assert copy_accuracy() > 0.8


def test_response_loss_counts_only_response_tokens(tiny_dir):
    from agentgym.models.sft import SFTExample, response_loss

    model, tok = load_policy(tiny_dir)
    a = SFTExample([5, 6, 7, 8], [9, 10])
    b = SFTExample([5, 6], [9, 10, 11])
    loss, n = response_loss(model, [a, b], tok.pad_token_id, False)
    assert n == 5
    with torch.no_grad():  # reference: full forward of each sequence alone, CE at response positions
        ref = 0.0
        for e in (a, b):
            seq = torch.tensor([e.prompt_ids + e.response_ids])
            lp = torch.log_softmax(model(seq).logits[0].float(), -1)
            P = len(e.prompt_ids)
            ref -= sum(lp[P - 1 + j, t].item() for j, t in enumerate(e.response_ids))
    assert float(loss.detach()) == pytest.approx(ref, rel=1e-4)


def test_sft_and_the_trainer_score_with_one_function(tiny_dir, monkeypatch):
    """SFT's loss is the trainer's scoring (`models.scoring.response_logprobs`), not a second copy of it."""
    from agentgym.models import scoring, sft
    from agentgym.trainer import loop

    assert loop.response_logprobs is scoring.response_logprobs is sft.response_logprobs
    model, tok = load_policy(tiny_dir)
    calls = []
    monkeypatch.setattr(sft, "response_logprobs", lambda *a, **k: calls.append(k) or scoring.response_logprobs(*a, **k))
    batch = [sft.SFTExample([5, 6, 7], [9, 10])]
    with torch.no_grad():
        loss, n = sft.response_loss(model, batch, tok.pad_token_id, False)
        lp, _, _ = scoring.response_logprobs(model, [[5, 6, 7]], [[9, 10]], pad_id=tok.pad_token_id)
    assert len(calls) == 1 and n == 2 and float(loss) == pytest.approx(-float(lp.sum()), rel=1e-6)


def test_prompt_loss_weight_adds_the_mean_prompt_cross_entropy(tiny_dir):
    from agentgym.models.sft import SFTExample, response_loss

    model, tok = load_policy(tiny_dir)
    batch = [SFTExample([5, 6, 7, 8], [9, 10]), SFTExample([5, 6], [9, 10, 11])]
    with torch.no_grad():
        r, n = response_loss(model, batch, tok.pad_token_id, False)
        w, n2 = response_loss(model, batch, tok.pad_token_id, False, prompt_weight=0.5)
        ce = []
        for e in batch:
            lp = torch.log_softmax(model(torch.tensor([e.prompt_ids])).logits[0].float(), -1)
            ce += [-lp[j, t].item() for j, t in enumerate(e.prompt_ids[1:])]
    assert n == n2 == 5
    assert float(w) / n == pytest.approx(float(r) / n + 0.5 * sum(ce) / len(ce), rel=1e-4)


def test_ensure_default_model_builds_once_and_keys_by_config(tmp_path, monkeypatch):
    from agentgym.models import default

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    env_id = register_toy()
    cfg = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=20, size=TINY,
                             sft=SFTConfig(demos=10, epochs=1, batch_size=16, bf16=False))
    calls = []
    real = default.build_default_model
    monkeypatch.setattr(default, "build_default_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    p1 = default.ensure_default_model(env_id, config=cfg, progress=False)
    p2 = default.ensure_default_model(env_id, config=cfg, progress=False)
    assert p1 == p2 and len(calls) == 1
    assert default.model_info(p1)["stage"] == "sft"
    assert not list(p1.parent.glob("*.tmp*")), "no half-built folder is left behind"
    p3 = default.ensure_default_model(env_id, config=DefaultModelConfig(
        env_id, vocab_size=400, tokenizer_demos=20, size=TINY, sft=SFTConfig(demos=12, epochs=1, bf16=False)),
        progress=False)
    assert p3 != p1 and len(calls) == 2
    k1 = default.model_key(default.default_config(env_id))
    k2 = default.model_key(default.default_config(env_id, {"drawers": 3, "split": "test"}))
    assert k1 != k2 and default.default_config(env_id, {"drawers": 3, "split": "test"}).sft.env_kwargs == {"drawers": 3}
    model, _ = default.load_policy(p1)
    assert model.config.hidden_size == TINY.hidden_size
    # isolated: built in a child process; an env registered only in this process is built here instead
    cfg4 = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=20, size=TINY,
                              sft=SFTConfig(demos=11, epochs=1, bf16=False))
    p4 = default.ensure_default_model(env_id, config=cfg4, progress=False, isolated=True)
    assert len(calls) == 3 and default.model_info(p4)["config"]["sft"]["demos"] == 11


def test_isolated_build_runs_in_a_child_process(tmp_path, monkeypatch):
    """A built-in env is known to a fresh interpreter: the child builds (this process never calls the
    builder) and the result is the cached folder a later in-process call returns."""
    from agentgym.models import default

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    env_id = "agentgym/ALFWorld-Small-v0"
    cfg = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=5, size=TINY,
                             sft=SFTConfig(demos=5, epochs=1, bf16=False, skill_fraction=0.0))
    calls = []
    monkeypatch.setattr(default, "build_default_model", lambda *a, **k: calls.append(1))
    p = default.ensure_default_model(env_id, config=cfg, progress=False, isolated=True)
    assert calls == [] and default.model_info(p)["config"]["sft"]["demos"] == 5
    assert default.ensure_default_model(env_id, config=cfg, progress=False) == p


def test_default_config_per_family():
    from agentgym.models.default import default_config

    ws = default_config("agentgym/WebShop-v0")
    assert ws.env_id == "agentgym/WebShop-v0" and ws.sft.noise > 0 and 0 < ws.sft.skill_fraction < 1
    assert default_config("agentgym/WebShop-v0", demos=7).sft.demos == 7
    assert ModelSize().hidden_size == 128


def test_cli_init_model_and_sft(tmp_path):
    from agentgym.cli import main

    env_id = register_toy()
    init = tmp_path / "init"
    with pytest.raises(SystemExit) as e:
        main(["init-model", "--env", env_id, "--out", str(init), "--vocab-size", "400", "--hidden-size", "32",
              "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate-size", "64", "--demos", "20"])
    assert e.value.code == 0 and (init / "config.json").is_file()
    out = tmp_path / "sft"
    with pytest.raises(SystemExit) as e:
        main(["sft", "--env", env_id, "--init", str(init), "--out", str(out), "--demos", "10", "--epochs", "1",
              "--noise", "0.2", "--threads", "1", "--no-bf16"])
    assert e.value.code == 0
    info = json.loads((out / "agentgym.json").read_text())
    assert info["stage"] == "sft" and info["config"]["sft"]["noise"] == 0.2
    with pytest.raises(SystemExit) as e:
        main(["sft", "--env", "no-such-env", "--out", str(tmp_path / "x")])
    assert e.value.code == 2


# ---- issue 16, item 11: leftovers of killed builds, model folders without a tokenizer -------------
def test_a_killed_builds_tmp_folder_is_removed_by_the_next_build(tmp_path, monkeypatch):
    """A `<final>.tmp<pid>` folder of a build killed with -9 stayed forever; a live build's stays."""
    import fcntl

    from agentgym.models import default
    from agentgym.paths import cache_dir

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    env_id = register_toy()
    cfg = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=20, size=TINY,
                             sft=SFTConfig(demos=10, epochs=1, batch_size=16, bf16=False))
    root = cache_dir("models")
    final = root / f"{default._slug(env_id)}-{default.model_key(cfg)}"
    stale = final.with_name(final.name + ".tmp999999")  # this model's own leftover
    other = root / "other-0123.tmp4242"  # another model's leftover, no lock file at all
    busy = root / "busy-0123.tmp4343"  # a build in progress elsewhere: it holds its lock
    for p in (stale / "sub", other, busy):
        p.mkdir(parents=True)

    def fake_build(cfg, out, **kw):
        out.mkdir(parents=True)
        (out / "agentgym.json").write_text("{}")

    monkeypatch.setattr(default, "build_default_model", fake_build)
    with open(root / ".busy-0123.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert default.ensure_default_model(env_id, config=cfg, progress=False) == final
    assert (final / "agentgym.json").is_file()
    assert not stale.exists() and not other.exists() and busy.is_dir()
    assert default.sweep_stale_builds(root) == [busy]  # its lock is free now


def test_a_model_folder_without_tokenizer_files_says_so(tmp_path, tiny_dir):
    """Issue 16: such a folder was reported as "no chat template" (AutoTokenizer built an empty one),
    and with only tokenizer_config.json + chat_template.jinja left it loaded and encoded text to []."""
    import shutil

    from agentgym.core.errors import AgentGymError
    from agentgym.models.load import load_tokenizer

    bare = tmp_path / "bare"
    shutil.copytree(tiny_dir, bare)
    (bare / "tokenizer.json").unlink()
    with pytest.raises(AgentGymError, match=r"no tokenizer files in .*bare \(expected tokenizer.json"):
        load_tokenizer(bare)  # tokenizer_config.json and chat_template.jinja are still there
    for f in ("tokenizer_config.json", "chat_template.jinja"):
        (bare / f).unlink()
    with pytest.raises(AgentGymError, match="no tokenizer files"):
        load_policy(bare)
    with pytest.raises(AgentGymError, match="no tokenizer files"):
        HFEngine(bare)
    # tokenizer files without a chat template still get that message
    no_tpl = tmp_path / "no_tpl"
    shutil.copytree(tiny_dir, no_tpl)
    (no_tpl / "chat_template.jinja").unlink()
    cfg = json.loads((no_tpl / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (no_tpl / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AgentGymError, match="no chat template"):
        load_tokenizer(no_tpl)
    with pytest.raises(AgentGymError, match="cannot load the tokenizer"):
        load_tokenizer(tmp_path / "no-such-folder")
    assert load_tokenizer(tiny_dir)("hello")["input_ids"]


# ---- staged recipes: continuation stages on fresh demos, resumable at stage boundaries ---------------
def _staged(env_id: str) -> DefaultModelConfig:
    first = SFTConfig(demos=10, epochs=1, batch_size=16, bf16=False)
    return DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=20, size=TINY, sft=first,
                              stages=(first.with_(seed=1, lr=1e-3), first.with_(seed=2, lr=5e-4, demos=12)))


def test_a_staged_recipe_trains_every_stage_on_its_own_demos(tmp_path, monkeypatch):
    from agentgym.models import default, sft

    env_id = register_toy()
    cfg = _staged(env_id)
    seen = []
    real = sft.generate_demos
    monkeypatch.setattr(default, "generate_demos", lambda e, st, **k: seen.append((st.seed, st.demos)) or real(e, st, **k))
    m = default.build_default_model(cfg, tmp_path / "m", progress=False)
    assert seen == [(0, 10), (1, 10), (2, 12)]
    assert [s["stage"] for s in m["stages"]] == [1, 2, 3]
    assert m["stages"][2]["demos"]["episodes"] == 12
    info = default.model_info(tmp_path / "m")
    assert [s["lr"] for s in info["config"]["stages"]] == [1e-3, 5e-4]
    # a one-stage recipe keeps the key it had before stages existed; stages are part of the key
    assert "stages" not in default.single_stage(cfg).to_dict()
    assert default.model_key(cfg) != default.model_key(default.single_stage(cfg))


def test_a_killed_staged_build_resumes_after_its_last_finished_stage(tmp_path, monkeypatch):
    from agentgym.models import default, sft

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    env_id = register_toy()
    cfg = _staged(env_id)
    real_train, calls = sft.train_sft, []

    def dies_in_stage_3(model, examples, st, **k):
        calls.append(st.seed)
        if st.seed == 2 and calls.count(2) == 1:
            raise KeyboardInterrupt  # killed during the third stage
        return real_train(model, examples, st, **k)

    monkeypatch.setattr(default, "train_sft", dies_in_stage_3)
    with pytest.raises(KeyboardInterrupt):
        default.ensure_default_model(env_id, config=cfg, progress=False)
    from agentgym.paths import cache_dir

    final = cache_dir("models") / f"{default._slug(env_id)}-{default.model_key(cfg)}"
    saved = final.with_name(final.name + ".stages")
    assert (saved / "stage1" / "config.json").is_file() and not final.exists()
    assert calls == [0, 1, 2]
    path = default.ensure_default_model(env_id, config=cfg, progress=False)
    assert calls == [0, 1, 2, 2], "the rerun trains only the unfinished stage"
    info = default.model_info(path)
    assert [s["stage"] for s in info["metrics"]["stages"]] == [1, 2, 3] and not saved.exists()
    # a saved stage of another recipe is never resumed from
    other = _staged(env_id)
    other = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=20, size=TINY, sft=other.sft,
                               stages=(other.stages[0].with_(lr=2e-3), other.stages[1]))
    assert default.stage_key(other, 1) != default.stage_key(cfg, 1)
    assert default.stage_key(other, 0) == default.stage_key(cfg, 0)


def test_cli_sft_runs_one_stage_and_build_model_runs_the_recipe(tmp_path, monkeypatch):
    from agentgym.cli import main
    from agentgym.models import default

    env_id = register_toy()
    from agentgym.core import registry
    from agentgym.core.profile import GENERIC

    # the toy env's own profile carries the staged recipe (restored afterwards)
    monkeypatch.setitem(registry._profiles, env_id, dataclasses.replace(GENERIC, model_recipe=_staged("")))
    init = tmp_path / "init"
    with pytest.raises(SystemExit) as e:
        main(["init-model", "--env", env_id, "--out", str(init), "--vocab-size", "400", "--hidden-size", "32",
              "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate-size", "64", "--demos", "20"])
    assert e.value.code == 0
    with pytest.raises(SystemExit) as e:
        main(["sft", "--env", env_id, "--init", str(init), "--out", str(tmp_path / "one"), "--threads", "1", "--think",
              "--decisive-demos", "3", "--bracket-space", "--decisive-ids"])
    assert e.value.code == 0
    info = default.model_info(tmp_path / "one")
    assert "stages" not in info["config"] and len(info["metrics"]["stages"]) == 1
    assert info["config"]["sft"]["think"] is True  # recorded (and keyed) only when set
    assert info["config"]["sft"]["decisive_demos"] == 3 and info["config"]["sft"]["bracket_space"] is True
    assert info["config"]["sft"]["decisive_ids"] is True
    assert info["metrics"]["stages"][0]["demos"]["decisive_episodes"] == 3
    assert info["init"] == str(init.resolve())
    with pytest.raises(SystemExit) as e:
        main(["build-model", "--env", env_id, "--out", str(tmp_path / "all"), "--threads", "1"])
    assert e.value.code == 0
    info = default.model_info(tmp_path / "all")
    assert len(info["config"]["stages"]) == 2 and len(info["metrics"]["stages"]) == 3
    assert not (tmp_path / "all.stages").exists() and not (tmp_path / "all.partial").exists()


def test_expert_thoughts_fill_the_think_block_only_where_the_recipe_asks(tiny_dir):
    """`SFTConfig.think`: a WebShop demo's option clicks are trained with the expert's thought in front
    (`<think>size extra large is xl</think>`); without it every response keeps an empty think block."""
    from agentgym.models.sft import demo_texts, generate_demos, render_examples

    _, tok = load_policy(tiny_dir)
    demos = generate_demos("agentgym/WebShop-v0", SFTConfig(demos=6, noise=0.0, skill_fraction=0.5, seed=3,
                                                            env_kwargs={"search": "bm25"}))
    thoughts = [s.think for d in demos for s in d.trajectory.steps if s.think]
    assert thoughts, "the WebShop expert explains its option clicks"
    plain, with_think = demo_texts("webshop", demos), demo_texts("webshop", demos, think=True)
    assert all(x.startswith("<think></think>") for x in plain if x.startswith("<think>"))
    assert all(any(f"<think>{t}</think>" in x for x in with_think) for t in thoughts)
    off = render_examples("webshop", demos, tok)
    on = render_examples("webshop", demos, tok, think=True)
    assert [e.prompt_ids for e in on] == [e.prompt_ids for e in off]  # only the responses change
    changed = [tok.decode(b.response_ids) for a, b in zip(off, on, strict=True) if a.response_ids != b.response_ids]
    assert len(changed) == len(thoughts) and all(t in c for t, c in zip(thoughts, changed, strict=True))


def test_decisive_demos_add_only_the_steps_the_expert_explains(tiny_dir):
    """`SFTConfig.decisive_demos`: more episodes after the main demos, of which only the explained steps
    (WebShop's option clicks) become examples, each with its full page prompt; the main demos are the
    same episodes as without the option."""
    from agentgym.models.sft import demo_stats, generate_demos, render_examples

    _, tok = load_policy(tiny_dir)
    cfg = SFTConfig(demos=5, noise=0.0, skill_fraction=0.5, seed=3, think=True, env_kwargs={"search": "bm25"})
    base = generate_demos("agentgym/WebShop-v0", cfg)
    more = generate_demos("agentgym/WebShop-v0", cfg.with_(decisive_demos=8))
    assert len(more) == 13 and [d.decisive_only for d in more] == [False] * 5 + [True] * 8
    assert [d.trajectory.to_dict() for d in more[:5]] == [d.trajectory.to_dict() for d in base]
    main, extra = render_examples("webshop", more[:5], tok, think=True), render_examples("webshop", more[5:], tok, think=True)
    explained = [s for d in more[5:] for s in d.trajectory.steps if s.think]
    assert explained and len(extra) == len(explained) < sum(len(d.trajectory.steps) for d in more[5:])
    for e, s in zip(extra, explained, strict=True):
        assert tok.decode(e.response_ids).startswith(f"<think>{s.think}</think>")
        assert "[SEP]" in tok.decode(e.prompt_ids)  # the page the click is made on
    assert len(render_examples("webshop", more, tok, think=True)) == len(main) + len(extra)
    assert demo_stats(more, main + extra)["decisive_episodes"] == 8


def test_decisive_ids_add_the_product_clicks_to_the_decisive_steps(tiny_dir):
    """`SFTConfig.decisive_ids`: a decisive demo also trains its clicks on a product id (the results-page
    step), spaced or not; without it those steps are left out, and the main demos are rendered alike."""
    from agentgym.models.sft import generate_demos, render_examples, space_bracket

    _, tok = load_policy(tiny_dir)
    cfg = SFTConfig(demos=2, decisive_demos=6, noise=0.0, skill_fraction=0.5, seed=4, think=True,
                    env_kwargs={"search": "bm25"})
    demos = generate_demos("agentgym/WebShop-v0", cfg)
    extra = demos[2:]
    ids = [s for d in extra for s in d.trajectory.steps if not s.think and re.fullmatch(r"click\[b0[0-9a-z]{8}\]", s.action)]
    assert ids  # every expert episode opens a product from a results page
    off = render_examples("webshop", extra, tok, think=True)
    on = render_examples("webshop", extra, tok, think=True, decisive_ids=True)
    assert len(on) == len(off) + len(ids)
    clicks = [tok.decode(e.response_ids) for e in on if "<think></think>" in tok.decode(e.response_ids)]
    assert sorted(clicks) == sorted(f"<think></think><action>{s.action}</action>" for s in ids)
    assert len(render_examples("webshop", demos[:2], tok, think=True, decisive_ids=True)) == \
        len(render_examples("webshop", demos[:2], tok, think=True))
    for d in extra:  # spaced actions (SFTConfig.bracket_space) keep ids unspaced and are still found
        for s in d.trajectory.steps:
            s.action = space_bracket(s.action, r"\bb0[0-9a-z]{8}\b")
    assert len(render_examples("webshop", extra, tok, think=True, decisive_ids=True)) == len(on)


def test_bracket_space_writes_actions_whose_argument_is_the_pages_token():
    """`SFTConfig.bracket_space`: the same episodes, their bracketed actions written `click[ x]`; the env
    reads the spaced action as the one played, and the shipped tokenizer then holds the page's own token
    for the argument (` black`), which `click[black]` does not."""
    from transformers import AutoTokenizer

    from agentgym.core.registry import make, template
    from agentgym.models.sft import generate_demos, space_bracket

    ids = template("webshop").atomic
    cfg = SFTConfig(demos=4, noise=0.3, skill_fraction=0.5, seed=5, env_kwargs={"search": "bm25"})
    plain = generate_demos("agentgym/WebShop-v0", cfg)
    spaced = generate_demos("agentgym/WebShop-v0", cfg.with_(bracket_space=True))
    env = make("agentgym/WebShop-v0", search="bm25").unwrapped
    for a, b in zip(plain, spaced, strict=True):
        acts = [s.action for s in a.trajectory.steps]
        assert [s.action for s in b.trajectory.steps] == [space_bracket(x, ids) for x in acts]
        assert all(("[ " in x) != bool(re.search(ids, x)) for x in [s.action for s in b.trajectory.steps] if "[" in x)
        env.reset(seed=0, options={"task": b.trajectory.task})
        for sa, sb in zip(a.trajectory.steps, b.trajectory.steps, strict=True):
            _, reward, *_rest, info = env.step(sb.action)
            assert (reward, info["action_valid"]) == (sa.reward, sa.action_valid)
    env.close()
    assert space_bracket("click[black]") == "click[ black]" == space_bracket("click[ black]")
    assert space_bracket("go to fridge 1") == "go to fridge 1" and space_bracket("search[]") == "search[]"
    assert space_bracket("click[b000325dga]", ids) == "click[b000325dga]"  # an atomic id keeps its one token
    assert space_bracket("click[b000325dga]") == "click[ b000325dga]"
    tok = AutoTokenizer.from_pretrained(ROOT / "agentgym" / "models" / "shipped" / "webshop-v0-e63415719afd")
    word = tok(" black", add_special_tokens=False)["input_ids"]
    assert len(word) == 1 and word[0] in tok("click[ black]", add_special_tokens=False)["input_ids"]
    assert word[0] not in tok("click[black]", add_special_tokens=False)["input_ids"]


def test_a_recipe_without_thoughts_keeps_its_cache_key():
    """Fields added to SFTConfig later are keyed only when set: shipped folders keep their names."""
    base = DefaultModelConfig("agentgym/WebShop-v0", stages=(SFTConfig(seed=1),))
    assert "think" not in base.to_dict()["sft"] and "think" not in base.to_dict()["stages"][0]
    on = dataclasses.replace(base, stages=(SFTConfig(seed=1, think=True),))
    assert on.to_dict()["stages"][0]["think"] is True and on.key() != base.key()
    assert "decisive_demos" not in base.to_dict()["sft"]
    more = dataclasses.replace(base, stages=(SFTConfig(seed=1, decisive_demos=10),))
    assert more.to_dict()["stages"][0]["decisive_demos"] == 10 and more.key() != base.key()
    assert "bracket_space" not in base.to_dict()["sft"]
    spaced = dataclasses.replace(base, stages=(SFTConfig(seed=1, bracket_space=True),))
    assert spaced.to_dict()["stages"][0]["bracket_space"] is True and spaced.key() != base.key()


def test_expert_action_is_a_plain_str_that_carries_a_thought():
    import pickle

    from agentgym import ExpertAction

    a = ExpertAction("click[xl]", "size extra large is xl")
    assert a == "click[xl]" and hash(a) == hash("click[xl]") and json.dumps(a) == '"click[xl]"'
    back = pickle.loads(pickle.dumps(a))
    assert type(back) is ExpertAction and back.think == a.think and back == a


def test_a_stage_with_think_renders_its_demos_with_thoughts(tmp_path, monkeypatch):
    """The builder passes each stage's `think` and `decisive_ids` to rendering (and the first stage's
    `think` to the tokenizer corpus)."""
    from agentgym.models import default

    env_id = register_toy()
    first = SFTConfig(demos=6, epochs=1, batch_size=16, bf16=False)
    cfg = DefaultModelConfig(env_id, vocab_size=400, tokenizer_demos=6, size=TINY, sft=first,
                             stages=(first.with_(seed=1, think=True, decisive_ids=True),))
    seen: list[tuple[str, bool]] = []
    real_render, real_texts = default.render_examples, default.demo_texts
    monkeypatch.setattr(default, "render_examples",
                        lambda *a, think=False, **k: seen.append(("render", think))
                        or seen.append(("ids", k.get("decisive_ids", False))) or real_render(*a, think=think, **k))
    monkeypatch.setattr(default, "demo_texts",
                        lambda *a, think=False, **k: seen.append(("texts", think)) or real_texts(*a, think=think, **k))
    default.build_default_model(cfg, tmp_path / "m", progress=False)
    assert ("texts", False) in seen and ("texts", True) not in seen  # stage 1 trains the tokenizer, without
    assert [t for kind, t in seen if kind == "render"] == [False, True]
    assert [t for kind, t in seen if kind == "ids"] == [False, True]
    assert default.model_info(tmp_path / "m")["config"]["stages"][0]["think"] is True

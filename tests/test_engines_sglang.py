"""The SGLang client against a faithful fake of SGLang's native HTTP API (tests/fakes/sglang_server.py).

SGLang itself cannot run in the default suite (see docs/dependencies.md); the fake is a real HTTP server
on 127.0.0.1 backed by a real tiny model, so ids and logprobs that cross the wire are real. The last
test (marker `sglang`, opt-in) runs the same checks against a real server at $AGENTGYM_SGLANG_URL.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import requests
import torch
from fakes.sglang_server import FakeSGLangServer
from fakes.tiny import build_tiny

from agentgym.engines.base import EngineError, SamplingParams, make_engine
from agentgym.engines.hf import HFEngine
from agentgym.engines.sglang import SGLangEngine
from agentgym.rollout.prompts import build_user_text, encode_prompt

FAKE_SCRIPT = str(Path(__file__).parent / "fakes" / "sglang_server.py")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("sg") / "m", seed=5)


@pytest.fixture(scope="module")
def other_dir(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("sg2") / "m", seed=9)


@pytest.fixture()
def server(model_dir):
    with FakeSGLangServer(str(model_dir)) as srv:
        yield srv


@pytest.fixture(scope="module")
def prompts(model_dir):
    from agentgym.models.load import load_tokenizer

    tok = load_tokenizer(model_dir)
    return [encode_prompt(tok, build_user_text("generic", "put the apple on the table", [], "You see drawers.", ["open drawer 1"])),
            encode_prompt(tok, "hello"), encode_prompt(tok, "Task: put the key on the table\nNow: Drawer 2 is open.")]


def forward_logprobs(model, prompt, response, temperature=1.0):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + response])).logits[0].float() / temperature, -1)
    return [lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(response)]


def test_fake_speaks_sglangs_json(server, prompts):
    """The raw wire format the client relies on (single prompt -> object, batch -> list)."""
    r = requests.post(server.url + "/generate", json={"input_ids": prompts[0], "return_logprob": True,
                                                      "sampling_params": {"max_new_tokens": 4, "temperature": 0}}, timeout=30)
    body = r.json()
    assert r.status_code == 200 and isinstance(body, dict)
    meta = body["meta_info"]
    assert meta["finish_reason"] == {"type": "length", "length": 4}
    assert [x[1] for x in meta["output_token_logprobs"]] == body["output_ids"]
    assert meta["prompt_tokens"] == len(prompts[0]) and meta["completion_tokens"] == 4
    r = requests.post(server.url + "/generate", json={"input_ids": prompts[:2]}, timeout=30)
    assert isinstance(r.json(), list) and len(r.json()) == 2
    bad = requests.post(server.url + "/generate", json={"input_ids": [10**9]}, timeout=30)
    assert bad.status_code == 400 and bad.json()["object"] == "error"
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert requests.post(server.url + "/flush_cache", timeout=5).status_code == 200


def test_client_round_trips_ids_and_logprobs(server, model_dir, prompts):
    eng = SGLangEngine(model_dir, url=server.url)
    hf = HFEngine(model_dir)
    greedy = SamplingParams(temperature=0, max_new_tokens=10)
    sg = eng.generate(prompts, greedy)
    ref = hf.generate(prompts, greedy)
    assert [g.token_ids for g in sg] == [g.token_ids for g in ref]
    for a, b in zip(sg, ref, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        assert a.text == b.text
    sampled = eng.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=10))
    for p, g in zip(prompts, sampled, strict=True):
        assert g.logprobs == pytest.approx(forward_logprobs(hf.model, p, g.token_ids), abs=1e-4)
    eng.close()


def test_logprob_semantics_follow_sglangs_original_logprob_switch(model_dir, prompts, monkeypatch):
    """Default SGLang: log_softmax(logits/T); with SGLANG_RETURN_ORIGINAL_LOGPROB=1 (what our launcher
    sets): the raw model's log_softmax(logits), the engine contract."""
    from agentgym.models.load import load_policy

    model, _ = load_policy(model_dir)
    sp = SamplingParams(temperature=0.6, max_new_tokens=8)
    for original in (False, True):
        monkeypatch.setenv("SGLANG_RETURN_ORIGINAL_LOGPROB", "1" if original else "0")
        with FakeSGLangServer(str(model_dir)) as srv:
            g = SGLangEngine(model_dir, url=srv.url).generate(prompts[:1], sp)[0]
        ref = forward_logprobs(model, prompts[0], g.token_ids, 1.0 if original else 0.6)
        assert g.logprobs == pytest.approx(ref, abs=1e-4)


def test_stop_tag_is_kept_and_reported(server, model_dir, prompts):
    eng = SGLangEngine(model_dir, url=server.url, seed_field="sampling_seed")
    free = eng.generate(prompts[:1], SamplingParams(temperature=1.0, max_new_tokens=16, seed=4))[0]
    tok = eng.tokenizer
    k = next(k for k in range(2, len(free.token_ids))
             if tok.decode([free.token_ids[k]]).strip() and tok.decode([free.token_ids[k]]) not in tok.decode(free.token_ids[:k]))
    stop = tok.decode([free.token_ids[k]])
    g = eng.generate(prompts[:1], SamplingParams(temperature=1.0, max_new_tokens=16, seed=4, stop=(stop,)))[0]
    assert g.finish_reason == "stop" and g.token_ids == free.token_ids[: k + 1]
    assert stop in g.text and stop in g.meta["server_text"]  # no_stop_trim keeps the closing tag


def test_weight_updates_from_disk_and_by_tensor_change_outputs(server, model_dir, other_dir, prompts):
    from agentgym.models.load import load_policy

    eng = SGLangEngine(model_dir, url=server.url, seed_field="sampling_seed")
    sp = SamplingParams(temperature=1.0, max_new_tokens=8, seed=2)  # seeded sampling: comparable across calls
    original, _ = load_policy(model_dir)
    other, _ = load_policy(other_dir)

    def run():
        gens = eng.generate(prompts, sp)
        return [(g.token_ids, g.logprobs) for g in gens]

    def matches(model, out):
        return all(lp == pytest.approx(forward_logprobs(model, p, ids), abs=1e-4) for p, (ids, lp) in zip(prompts, out, strict=True))

    before = run()
    assert matches(original, before)
    eng.update_weights(other_dir)
    after = run()
    assert after != before and matches(other, after) and not matches(original, after)
    flushes = server.fake.flushes
    eng.tensor_sync = True  # colocated: in-memory weights through /update_weights_from_tensor
    eng.update_weights(original)
    assert run() == before
    assert server.fake.flushes > flushes
    eng.tensor_sync = False  # not colocated: an nn.Module goes through a folder and /update_weights_from_disk
    eng.update_weights(other)
    assert run() == after
    with pytest.raises(EngineError):
        eng.update_weights(Path("/no/such/model"))
    eng.close()


def test_timeouts_and_retries(server, model_dir, prompts):
    eng = SGLangEngine(model_dir, url=server.url, timeout=0.5, retries=1)
    server.set(delay=3.0)
    with pytest.raises(EngineError, match="timed out"):
        eng.generate(prompts[:1], SamplingParams(max_new_tokens=2))
    server.set(delay=0.0, fail_next=1)  # one HTTP 500, then fine: retried
    assert len(eng.generate(prompts[:1], SamplingParams(max_new_tokens=2))[0].token_ids) == 2
    server.set(fail_next=5)
    with pytest.raises(EngineError, match="failed after"):
        eng.generate(prompts[:1], SamplingParams(max_new_tokens=2))
    server.set(fail_next=0)
    with pytest.raises(EngineError, match="no healthy"):
        SGLangEngine(model_dir, url="http://127.0.0.1:9", health_timeout=0.5)


@pytest.mark.slow  # two server processes start (about 10 s each on a loaded 2-core machine)
def test_launched_server_is_restarted_after_death(model_dir, prompts):
    """The launcher path end to end: start the server as a process, kill it, generate again."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    eng = SGLangEngine(model_dir, launch_cmd=[sys.executable, FAKE_SCRIPT], server_env=env, startup_timeout=120,
                       timeout=60, seed_field="sampling_seed")
    try:
        sp = SamplingParams(temperature=1.0, max_new_tokens=6, seed=1)
        first = [g.token_ids for g in eng.generate(prompts, sp)]
        proc = eng.server.proc
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        again = [g.token_ids for g in eng.generate(prompts, sp)]
        assert again == first and eng.restarts == 1 and eng.server.alive()
    finally:
        eng.close()
    assert eng.server is None and proc.poll() is not None


def test_launcher_reports_a_server_that_dies_on_startup(model_dir):
    with pytest.raises(EngineError, match="exited with code 3"):
        SGLangEngine(model_dir, launch_cmd=[sys.executable, "-c", "print('boom'); import sys; sys.exit(3)"],
                     startup_timeout=30)


def test_make_engine_sglang_needs_a_model_or_url():
    with pytest.raises(ValueError):
        SGLangEngine()
    with pytest.raises(ValueError):
        make_engine("sglang", None, url="http://127.0.0.1:9")  # no tokenizer source


@pytest.mark.sglang
def test_real_sglang_server(model_dir, prompts):
    """Opt-in: AGENTGYM_SGLANG_URL of a real server serving AGENTGYM_SGLANG_MODEL (a model directory)."""
    url, path = os.environ.get("AGENTGYM_SGLANG_URL"), os.environ.get("AGENTGYM_SGLANG_MODEL")
    if not url or not path:
        pytest.skip("set AGENTGYM_SGLANG_URL and AGENTGYM_SGLANG_MODEL to run against a real SGLang server")
    from agentgym.models.load import load_policy, load_tokenizer

    tok = load_tokenizer(path)
    eng = SGLangEngine(path, url=url, tokenizer=tok)
    real_prompts = [encode_prompt(tok, "Task: say hello\nNow: start")]
    hf = HFEngine(path)
    greedy = SamplingParams(temperature=0, max_new_tokens=8)
    assert [g.token_ids for g in eng.generate(real_prompts, greedy)] == [g.token_ids for g in hf.generate(real_prompts, greedy)]
    model, _ = load_policy(path)
    g = eng.generate(real_prompts, SamplingParams(temperature=1.0, max_new_tokens=8))[0]
    assert g.logprobs == pytest.approx(forward_logprobs(model, real_prompts[0], g.token_ids), abs=1e-3)
    eng.update_weights(path)


# ---- malformed replies (issue 16, item 10) ------------------------------------------------------
@pytest.fixture(scope="module")
def shared_server(model_dir):
    with FakeSGLangServer(str(model_dir)) as srv:
        yield srv


@pytest.fixture(scope="module")
def genuine(shared_server, prompts):
    """A real reply of the fake for prompts[0] (4 greedy tokens), to be broken one field at a time."""
    r = requests.post(shared_server.url + "/generate", json={
        "input_ids": prompts[0], "return_logprob": True, "sampling_params": {"max_new_tokens": 4, "temperature": 0}},
        timeout=30)
    return r.json()


def _with(reply, path, value):
    """A deep copy of `reply` with the field at `path` (keys / indexes) set to `value`."""
    import copy

    out = copy.deepcopy(reply)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


LP = ("meta_info", "output_token_logprobs")
MALFORMED = {
    "not json": (b"<html>502 Bad Gateway</html>", "not JSON"),
    "truncated json": (b'{"text": "ab', "not JSON"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    "a number": (b"42", "JSON int"),
    "no results": (b"[]", "0 results for 1 prompts"),
    "item not an object": (b"[1]", "not an object"),
    "meta_info a list": (lambda g: _with(g, ("meta_info",), []), "meta_info is a JSON list"),
    "no logprobs": (lambda g: _with(g, ("meta_info",), {}), "no meta_info.output_token_logprobs"),
    "logprobs a string": (lambda g: _with(g, LP, "abc"), "output_token_logprobs is not a list"),
    "entry too short": (lambda g: _with(g, (*LP, 0), [-0.5]), r"output_token_logprobs\[0\] is not"),
    "entry an object": (lambda g: _with(g, (*LP, 1), {"logprob": -1}), r"output_token_logprobs\[1\] is not"),
    "logprob a string": (lambda g: _with(g, (*LP, 0, 0), "-0.5"), "not a finite number"),
    "logprob a bool": (lambda g: _with(g, (*LP, 0, 0), True), "not a finite number"),
    "logprob NaN": (lambda g: json.dumps(_with(g, (*LP, 0, 0), float("nan"))).encode(), "not a finite number"),
    "logprob infinite": (lambda g: json.dumps(_with(g, (*LP, 0, 0), float("-inf"))).encode(), "not a finite number"),
    "huge token id": (lambda g: _with(g, (*LP, 0, 1), 10**30), "token id 1000000000000000000000000000000"),
    "negative token id": (lambda g: _with(g, (*LP, 0, 1), -1), "token id -1"),
    "token id past the vocabulary": (lambda g: _with(g, (*LP, 0, 1), 10**6), "token id 1000000"),
    "float token id": (lambda g: _with(g, (*LP, 0, 1), 1.5), "token id 1.5"),
    "string token id": (lambda g: _with(g, (*LP, 0, 1), "7"), "token id '7'"),
    "output_ids strings": (lambda g: _with(g, ("output_ids",), ["a"]), "output_ids is not a list"),
    "output_ids disagree": (lambda g: _with(g, ("output_ids",), g["output_ids"][::-1] + [0]), "disagree"),
    "more tokens than asked": (lambda g: _with(_with(g, LP, g[LP[0]][LP[1]] * 2), ("output_ids",), g["output_ids"] * 2),
                               "8 tokens for max_new_tokens=4"),
    "text a number": (lambda g: _with(g, ("text",), 5), "text is not a string"),
    "finish_reason a string": (lambda g: _with(g, ("meta_info", "finish_reason"), "length"), "finish_reason is a JSON str"),
    "finish_reason type odd": (lambda g: _with(g, ("meta_info", "finish_reason"), {"type": 3}), "finish_reason.type is 3"),
    "finish_reason matched odd": (lambda g: _with(g, ("meta_info", "finish_reason"), {"type": "stop", "matched": [1]}),
                                  r"finish_reason.matched is \[1\]"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_every_malformed_generate_reply_is_an_engine_error(shared_server, model_dir, prompts, genuine, case):
    """Issue 16: these surfaced as raw JSONDecodeError / AttributeError / OverflowError / ValueError /
    IndexError, or were accepted. Each must be one EngineError that names what is wrong."""
    body, match = MALFORMED[case]
    if callable(body):
        body = body(genuine)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    eng = SGLangEngine(model_dir, url=shared_server.url)
    sp = SamplingParams(temperature=0, max_new_tokens=4)
    shared_server.set(next_reply={"/generate": (200, raw)})
    with pytest.raises(EngineError, match=match):
        eng.generate(prompts[:1], sp)
    # the genuine reply itself passes, injected the same way, and the next real call works
    shared_server.set(next_reply={"/generate": (200, json.dumps(genuine).encode())})
    assert eng.generate(prompts[:1], sp)[0].token_ids == genuine["output_ids"]
    assert eng.generate(prompts[:1], sp)[0].token_ids == genuine["output_ids"]


@pytest.mark.parametrize("reply", [
    {"success": "false", "message": "Failed to load"}, {"success": 1, "message": "x"}, {"success": None},
    {"message": "no success field"}, [True], "not json",
])
@pytest.mark.parametrize("route", ["/update_weights_from_disk", "/update_weights_from_tensor"])
def test_weight_update_needs_a_real_success_true(shared_server, model_dir, reply, route):
    """Issue 16: `{"success": "false"}` counted as success (a non-empty string is truthy)."""
    eng = SGLangEngine(model_dir, url=shared_server.url, tensor_sync=route.endswith("tensor"))
    raw = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
    shared_server.set(next_reply={route: (200, raw)})
    target = model_dir if route.endswith("disk") else {"w": torch.zeros(1)}
    with pytest.raises(EngineError, match="failed"):
        eng.update_weights(target)
    eng.update_weights(model_dir)  # a genuine success still passes
    eng.close()

"""The SGLang client against a faithful fake of SGLang's native HTTP API (tests/fakes/sglang_server.py).

SGLang itself cannot run in the default suite (see docs/dependencies.md); the fake is a real HTTP server
on 127.0.0.1 backed by a real tiny model, so ids and logprobs that cross the wire are real. The opt-in
checks against a real server (marker `sglang`, `make test-sglang`) are in test_sglang_real.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
import requests
import torch
from fakes.sglang_server import FakeSGLangServer
from fakes.tiny import build_tiny

from agentgym.engines.base import EngineError, SamplingParams, make_engine
from agentgym.engines.hf import HFEngine
from agentgym.engines.sglang import CPU_SERVER_ARGS, SGLangEngine, _loads, serialize_named_tensors
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
def test_launched_server_is_restarted_after_death_with_synced_weights_and_tokenizer(model_dir, other_dir, prompts):
    """The launcher path end to end: start the server as a process, sync a state dict, kill it,
    generate again. Issue 20: the restarted server came back on a folder of weights only, without a
    tokenizer, so stop strings never matched."""
    from agentgym.models.load import load_policy

    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    eng = SGLangEngine(model_dir, launch_cmd=[sys.executable, FAKE_SCRIPT], server_env=env, startup_timeout=120,
                       timeout=60)
    other, _ = load_policy(other_dir)
    hf = HFEngine(other)
    try:
        eng.update_weights(other.state_dict())  # tied embeddings: one tensor, two names
        free = hf.generate(prompts, SamplingParams(temperature=0, max_new_tokens=12))
        stop = next(eng.tokenizer.decode([t]) for g in free for t in g.token_ids if eng.tokenizer.decode([t]))
        sp = SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))
        first = [(g.token_ids, g.finish_reason) for g in eng.generate(prompts, sp)]
        assert first == [(g.token_ids, g.finish_reason) for g in hf.generate(prompts, sp)]
        assert any(r == "stop" for _, r in first)
        proc = eng.server.proc
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        again = [(g.token_ids, g.finish_reason) for g in eng.generate(prompts, sp)]
        assert again == first and eng.restarts == 1 and eng.server.alive()
    finally:
        eng.close()
    assert eng.server is None and proc.poll() is not None


@pytest.fixture()
def own_tmp(tmp_path, monkeypatch):
    """A private temporary directory, to count the folders the engine leaves behind (issue 20, item 8)."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_launcher_reports_a_server_that_dies_on_startup(model_dir, own_tmp):
    with pytest.raises(EngineError, match="exited with code 3") as e:
        SGLangEngine(model_dir, launch_cmd=[sys.executable, "-c", "print('boom'); import sys; sys.exit(3)"],
                     startup_timeout=30)
    assert "boom" in str(e.value)  # the log's tail is in the error ...
    assert list(own_tmp.iterdir()) == []  # ... and its folder is gone


def test_a_launch_without_sglang_is_one_line_naming_what_to_set(model_dir, own_tmp):
    """Issue 20, item 5: `python -m sglang.launch_server` of an interpreter without SGLang, or a command
    that does not exist: the first line says why and names sglang_command / sglang_url."""
    with pytest.raises(EngineError) as e:
        SGLangEngine(model_dir, launch_cmd=[sys.executable, "-m", "no_such_sglang_module"], startup_timeout=60)
    first = str(e.value).splitlines()[0]
    assert "exited with code 1" in first and "No module named" in first
    with pytest.raises(EngineError, match="cannot run the SGLang launch command.*sglang_command.*sglang_url"):
        SGLangEngine(model_dir, launch_cmd=["/no/such/python", "-m", "sglang.launch_server"])
    with pytest.raises(EngineError, match="--port is set by agentgym"):
        SGLangEngine(model_dir, launch_cmd=["/no/such/python"], server_args=("--port", "1"))
    assert list(own_tmp.iterdir()) == []


def test_a_launched_server_gets_cpu_flags_sleep_on_idle_and_leaves_no_folders(model_dir, prompts, own_tmp):
    """Issue 20, items 5, 6, 8: on a machine without CUDA the launch carries the CPU flags, the CPU
    engine's environment and always --sleep-on-idle; close() removes its log and weight folders."""
    if torch.cuda.is_available():
        pytest.skip("the CPU defaults apply to machines without CUDA")
    eng = SGLangEngine(model_dir, launch_cmd=[sys.executable, FAKE_SCRIPT], startup_timeout=120, timeout=60,
                       server_env={"AGENTGYM_TEST_MARK": "x"})
    try:
        pid = eng.server.proc.pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        environ = dict(e.split("=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in e)
        assert "--sleep-on-idle" in argv and argv[argv.index("--host") + 1] == "127.0.0.1"
        assert " ".join(CPU_SERVER_ARGS) in " ".join(argv)
        assert environ["SGLANG_USE_CPU_ENGINE"] == "1" and environ["AGENTGYM_TEST_MARK"] == "x"
        assert environ["SGLANG_RETURN_ORIGINAL_LOGPROB"] == "1"
        assert eng.server_info["sleep_on_idle"] is True and eng.server_info["device"] == "cpu"
        assert eng.seeds_honoured is False  # a CPU server: seeds are ignored, and the engine knows it
        with pytest.warns(UserWarning, match="ignores sampling seeds"):
            eng.generate(prompts[:1], SamplingParams(temperature=1.0, max_new_tokens=2, seed=1))
        eng.update_weights({k: v for k, v in HFEngine(model_dir).model.state_dict().items()})
        assert len(list(own_tmp.iterdir())) == 2  # its log folder and the folder of synced weights
    finally:
        eng.close()
    assert list(own_tmp.iterdir()) == []


def test_make_engine_sglang_needs_a_model_or_url():
    with pytest.raises(ValueError):
        SGLangEngine()
    with pytest.raises(ValueError):
        make_engine("sglang", None, url="http://127.0.0.1:9")  # no tokenizer source


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


def test_the_depth_guard_counts_brackets_outside_strings_only():
    """Brackets inside strings (escaped quotes included) are text, not nesting; a deep reply is refused
    by a scan, before the recursive parser can reach the interpreter's recursion limit."""
    inside = json.dumps({"text": '\\"' + "[" * 500, "meta_info": {"ids": [[1, 2]] * 1000}}).encode()
    assert _loads(inside)["text"].endswith("[" * 500)
    assert len(_loads(inside)["meta_info"]["ids"]) == 1000
    assert _loads(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(ValueError, match="deeper than 64"):
        _loads(b"[" * 65 + b"]" * 65)


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


# ---- issue 20: what a real SGLang 0.5.23 server does, and the fake now does too ----------------------
def _post(url, route, body=None):
    return requests.post(url + route, json=body, timeout=30)


def test_tensor_sync_runs_in_a_weight_update_session_with_file_system_sharing(model_dir, other_dir, prompts):
    """Item 1: the real server refuses /update_weights_from_tensor outside begin/end_weight_update, and
    crashes on tensors shared by file descriptor (torch's default). The engine opens and closes the
    session, writes its payload with file_system sharing, and leaves the caller's tensors alone."""
    from agentgym.models.load import load_policy

    other, _ = load_policy(other_dir)
    greedy = SamplingParams(temperature=0, max_new_tokens=8)
    with FakeSGLangServer(str(model_dir)) as srv:
        named = [("model.norm.weight", torch.ones(32))]
        refused = _post(srv.url, "/update_weights_from_tensor", {"serialized_named_tensors": [serialize_named_tensors(named)]})
        assert refused.status_code == 400 and refused.json()["success"] is False
        assert "begin_weight_update" in refused.json()["message"]
        eng = SGLangEngine(model_dir, url=srv.url, tensor_sync=True)
        eng.update_weights(other)
        assert srv.fake.session_open is False  # closed again
        assert [g.token_ids for g in eng.generate(prompts, greedy)] == [g.token_ids for g in HFEngine(other).generate(prompts, greedy)]
        assert not any(p.is_shared() for p in other.parameters())  # copies were shared, not the model's own
        eng.update_weights(other.state_dict())  # a tied state dict goes by tensor too
        with pytest.raises(EngineError, match="update_weights_from_tensor failed"):
            eng.update_weights({"no.such.weight": torch.zeros(1)})
        assert srv.fake.session_open is False  # closed after a failed update as well
        eng.close()
    # the fake is as fragile as the real server: a payload shared by file descriptor brings it down
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing as tmp

    assert tmp.get_sharing_strategy() == "file_descriptor"  # the default, left as it was
    buf = io.BytesIO()
    ForkingPickler(buf).dump([("model.norm.weight", torch.ones(32))])
    with FakeSGLangServer(str(model_dir)) as srv:
        assert _post(srv.url, "/begin_weight_update", {"selector": "all"}).json()["success"] is True
        with pytest.raises(requests.ConnectionError):
            _post(srv.url, "/update_weights_from_tensor",
                  {"serialized_named_tensors": [base64.b64encode(buf.getvalue()).decode()]})
        assert srv.fake.crashed
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.url + "/health", timeout=5)


def test_state_dict_sync_of_a_tied_model_after_a_module_sync(server, model_dir, other_dir, prompts):
    """Item 3: `update_weights(model.state_dict())` failed for tied embeddings ("Some tensors share
    memory"), and after an earlier nn.Module sync with SameFileError."""
    from agentgym.models.load import load_policy

    eng = SGLangEngine(model_dir, url=server.url)
    original, _ = load_policy(model_dir)
    other, _ = load_policy(other_dir)
    sd = original.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["model.embed_tokens.weight"].data_ptr()  # tied
    greedy = SamplingParams(temperature=0, max_new_tokens=8)
    eng.update_weights(other)  # nn.Module through a folder
    assert [g.token_ids for g in eng.generate(prompts, greedy)] == [g.token_ids for g in HFEngine(other).generate(prompts, greedy)]
    eng.update_weights(sd)  # then a state dict: no SameFileError, no shared-memory error
    assert [g.token_ids for g in eng.generate(prompts, greedy)] == [g.token_ids for g in HFEngine(original).generate(prompts, greedy)]
    from safetensors.torch import load_file

    saved = load_file(str(eng._tmp_weights / "model.safetensors"))
    assert "lm_head.weight" not in saved and set(saved) == set(sd) - {"lm_head.weight"}
    eng.close()


def test_a_server_started_on_the_synced_folder_has_the_tokenizer(server, model_dir, other_dir, prompts, tmp_path):
    """Item 2: a restarted server is launched on the folder of synced weights; it must hold the
    tokenizer, or stop strings never match (the fake, like SGLang, serves a folder without one)."""
    from agentgym.models.load import load_policy

    other, _ = load_policy(other_dir)
    hf = HFEngine(other)
    free = hf.generate(prompts, SamplingParams(temperature=0, max_new_tokens=12))
    tok = hf.tokenizer
    stop = next(tok.decode([t]) for g in free for t in g.token_ids if tok.decode([t]))
    sp = SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))
    want = [(g.token_ids, g.finish_reason) for g in hf.generate(prompts, sp)]
    assert any(r == "stop" for _, r in want)
    for weights in (other, other.state_dict()):
        eng = SGLangEngine(model_dir, url=server.url)
        eng.update_weights(weights)
        folder = eng._tmp_weights
        assert (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
        with FakeSGLangServer(str(folder)) as restarted:
            e2 = SGLangEngine(model_dir, url=restarted.url)
            assert [(g.token_ids, g.finish_reason) for g in e2.generate(prompts, sp)] == want
        eng.close()
    # without tokenizer files the server still serves, but no stop string matches (what the issue saw)
    bare = tmp_path / "bare"
    other.save_pretrained(str(bare))
    with FakeSGLangServer(str(bare)) as weights_only:
        got = [g.finish_reason for g in SGLangEngine(model_dir, url=weights_only.url).generate(prompts, sp)]
    assert "stop" not in got


def test_seeds_are_honoured_only_by_a_deterministic_server(model_dir, prompts):
    """Item 7: SGLang ignores sampling_seed without --enable-deterministic-inference (a CPU server
    cannot use it): the engine warns once instead of pretending to be reproducible."""
    sp = SamplingParams(temperature=1.0, max_new_tokens=10, seed=3)
    with FakeSGLangServer(str(model_dir), device="cpu", deterministic=False, sleep_on_idle=True) as srv:
        eng = SGLangEngine(model_dir, url=srv.url)
        assert eng.seeds_honoured is False
        with pytest.warns(UserWarning, match="ignores sampling seeds"):
            eng.generate(prompts, sp)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            eng.generate(prompts, sp)  # once only
            eng.generate(prompts, SamplingParams(temperature=0, max_new_tokens=4, seed=3))  # greedy: no seed needed
    with FakeSGLangServer(str(model_dir)) as srv, warnings.catch_warnings():
        warnings.simplefilter("error")
        eng = SGLangEngine(model_dir, url=srv.url)
        assert eng.seeds_honoured is True
        assert [g.token_ids for g in eng.generate(prompts, sp)] == [g.token_ids for g in eng.generate(prompts, sp)]


def test_a_cpu_server_without_sleep_on_idle_is_flagged(model_dir):
    """Item 6: an idle CPU server without --sleep-on-idle spins a core (a run beside it went 13x slower)."""
    with FakeSGLangServer(str(model_dir), device="cpu", deterministic=False, sleep_on_idle=False) as srv, \
            pytest.warns(UserWarning, match="without --sleep-on-idle"):
        SGLangEngine(model_dir, url=srv.url)
    with FakeSGLangServer(str(model_dir), device="cpu", deterministic=False, sleep_on_idle=True) as srv, \
            warnings.catch_warnings():
        warnings.simplefilter("error")
        SGLangEngine(model_dir, url=srv.url)


def test_min_new_tokens_reaches_the_server(server, model_dir, prompts):
    """The floor is sent as SGLang's `min_new_tokens`: a stop that would end the response at token k
    cannot end it before the floor (the fake implements SGLang's rule: stops masked until then)."""
    eng = SGLangEngine(model_dir, url=server.url, seed_field="sampling_seed")
    assert eng.sampling_dict(SamplingParams(max_new_tokens=8, min_new_tokens=8))["min_new_tokens"] == 8
    assert "min_new_tokens" not in eng.sampling_dict(SamplingParams(max_new_tokens=8))
    gens = eng.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=10, min_new_tokens=10, seed=1))
    assert all(len(g.token_ids) == 10 for g in gens)

"""A faithful fake of SGLang's native HTTP API, backed by a real (tiny) transformers model.

SGLang cannot be installed on these CPU machines, so the default suite tests `SGLangEngine` against this
server. It is a real HTTP server on 127.0.0.1 that implements the parts of the API agentgym uses, with
the JSON shapes of sgl-project/sglang (`srt/entrypoints/http_server.py`, `srt/managers/io_struct.py`,
`tokenizer_manager.py`, the sampling-parameter docs):

- `GET /health`, `GET /health_generate`: 200 with an empty body when up (503 while "starting").
- `GET /get_model_info`: `{"model_path", "tokenizer_path", "is_generation", "preferred_sampling_params",
  "weight_version"}`.
- `POST|PUT /generate`: `text` or `input_ids` (one prompt or a list), `sampling_params` (dict or one per
  prompt: temperature, top_p, top_k, max_new_tokens (default 128), min_new_tokens, stop, stop_token_ids, ignore_eos,
  skip_special_tokens, no_stop_trim, sampling_seed, ...), `return_logprob`, `return_text_in_logprobs`.
  Reply per prompt: `{"text", "output_ids", "meta_info": {"id", "finish_reason", "prompt_tokens",
  "completion_tokens", "cached_tokens", "weight_version", "output_token_logprobs": [[lp, id, text|None]],
  "input_token_logprobs"}}`; a single prompt gets an object, a list a list. finish_reason is
  `{"type": "stop", "matched": <token id | stop string>}` or `{"type": "length", "length": n}`. A matched
  stop string is trimmed from `text` unless `no_stop_trim`. Log-probabilities are
  `log_softmax(logits / temperature)` of the sampled token (raw `log_softmax(logits)` when greedy or when
  the server runs with `SGLANG_RETURN_ORIGINAL_LOGPROB=1`), as in SGLang's sampler.
- `GET|POST /flush_cache`: 200, text body. `POST /update_weights_from_disk {"model_path", ...}` and
  `POST /update_weights_from_tensor {"serialized_named_tensors", "load_format", "flush_cache"}`:
  `{"success", "message"(, "num_paused_requests")}`, 400 on failure. As in SGLang 0.5.23, a tensor
  update is refused (400, `success: false`) outside a weight-update session, `POST /begin_weight_update
  {"selector"}` ... `POST /end_weight_update {}` (each `{"success", "message"}`, 400 when a session is
  already open / none is), and a payload shared with torch's `file_descriptor` strategy crashes the
  server (a real one died on it): the process exits, or, served from a thread, every later request
  gets its connection dropped. Tied state dicts (LM head sharing the embedding's memory) load.
- `GET /server_info`, `GET /get_server_info`: the launch flags agentgym reads (`device`,
  `enable_deterministic_inference`, `sleep_on_idle`, `model_path`, `tokenizer_path`).
- Seeds: `sampling_seed` is honoured only with `--enable-deterministic-inference`, which, as in SGLang,
  refuses `--attention-backend torch_native` (the CPU flags); so a fake launched with the CPU flags
  ignores seeds like a real CPU server. `FakeSGLangServer` (in a thread) defaults to a deterministic
  "GPU" server so that seeded tests can compare runs.
- Tokenizer: loaded from `--tokenizer-path` or the model folder; a folder without tokenizer files is
  served anyway, but, as a real server started that way, no stop string ever matches and `text` is
  empty.
- Errors on bad requests: 400 with `{"object": "error", "message", "type": "Bad Request", "param": null,
  "code": 400}`.

Not modelled: streaming, the radix cache (flush only counts), batching across requests (requests are
served one at a time), the OpenAI endpoints. Fault injection for tests: `delay` (seconds before each
/generate reply), `fail_next` (HTTP 500 replies to come), `next_reply` (route -> (status, raw body
bytes): the next request to that route gets exactly that reply, for malformed-reply tests), and
killing the process (run it as
`python -m fakes.sglang_server --model-path P --port N`, the same flags as `sglang.launch_server`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SAMPLING_KEYS = {
    "max_new_tokens", "stop", "stop_token_ids", "temperature", "top_p", "top_k", "min_p", "frequency_penalty",
    "presence_penalty", "repetition_penalty", "min_new_tokens", "n", "ignore_eos", "skip_special_tokens",
    "spaces_between_special_tokens", "no_stop_trim", "sampling_seed", "json_schema", "regex", "ebnf",
    "custom_params", "stream_interval", "logit_bias",
}


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


class BadRequest(Exception):
    pass


class ServerCrash(Exception):
    """What brings the whole (real) server down."""


class FakeSGLang:
    """The model side: load, generate (SGLang semantics), update weights."""

    def __init__(self, model_path: str, *, tokenizer_path: str | None = None, device: str = "cuda",
                 deterministic: bool = True, sleep_on_idle: bool = False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.device = device
        self.deterministic = deterministic
        self.sleep_on_idle = sleep_on_idle
        self.tokenizer_path = tokenizer_path or model_path
        self.session_open = False
        self.crashed = False
        self.lock = threading.Lock()
        self.original_logprob = os.environ.get("SGLANG_RETURN_ORIGINAL_LOGPROB", "").lower() in ("1", "true")
        self.weight_version = "default"
        self.flushes = 0
        self.requests = 0
        self._load(model_path)

    def _load(self, model_path: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, attn_implementation="sdpa")
        model.eval()
        self.model = model
        has_vocab = any(os.path.isfile(os.path.join(self.tokenizer_path, f)) for f in TOKENIZER_FILES)
        self.tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path) if has_vocab else None
        self.model_path = model_path
        gc = model.generation_config
        eos = gc.eos_token_id if gc is not None else None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer is not None and self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in eos:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_ids = eos

    # ---- weights -------------------------------------------------------------------------------
    def update_from_disk(self, model_path: str) -> tuple[bool, str]:
        import torch
        from transformers import AutoModelForCausalLM

        try:
            new = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).state_dict()
        except Exception as e:
            return False, f"Failed to get weights iterator: {model_path} ({type(e).__name__})."
        return self._apply(new, "Succeeded to update model weights.")

    def update_from_tensor(self, payload: list[str]) -> tuple[bool, str]:
        from multiprocessing.reduction import ForkingPickler

        import torch.multiprocessing  # noqa: F401  (torch's reductions for ForkingPickler payloads)

        if not self.session_open:
            return False, ("update_weights_from_tensor must run between begin_weight_update() and "
                           "end_weight_update()")
        try:
            raw = base64.b64decode(payload[0], validate=True)
        except Exception as e:
            return False, f"Failed to deserialize tensors: {type(e).__name__}: {e}"
        if b"rebuild_storage_fd" in raw:  # torch's default sharing: what crashed a real server
            raise ServerCrash("file-descriptor shared tensors")
        try:
            named = ForkingPickler.loads(raw)
            sd = {str(k): v for k, v in named}
        except Exception as e:
            return False, f"Failed to deserialize tensors: {type(e).__name__}: {e}"
        return self._apply(sd, "Success")

    def _apply(self, sd: dict[str, Any], ok: str) -> tuple[bool, str]:
        import torch

        own = self.model.state_dict()
        for k, v in sd.items():
            if k not in own:
                if k.endswith("lm_head.weight"):
                    continue
                return False, f"Unknown parameter {k}"
            if tuple(own[k].shape) != tuple(v.shape):
                return False, f"Shape mismatch for {k}: {tuple(own[k].shape)} vs {tuple(v.shape)}"
        with self.lock, torch.no_grad():
            for k, v in sd.items():
                if k in own:
                    own[k].copy_(v.to(own[k].dtype))
        return True, ok

    # ---- generation ----------------------------------------------------------------------------
    def generate_one(self, prompt: list[int], sp: dict[str, Any], return_logprob: bool, text_in_logprobs: bool,
                     rid: str) -> dict[str, Any]:
        import torch

        vocab = self.model.get_input_embeddings().weight.shape[0]
        if not prompt or any((not isinstance(t, int)) or t < 0 or t >= vocab for t in prompt):
            raise BadRequest(f"The input_ids {prompt[:8]}... contain an invalid token id (vocab size {vocab}).")
        unknown = set(sp) - SAMPLING_KEYS
        if unknown:
            raise BadRequest(f"SamplingParams.__init__() got an unexpected keyword argument '{sorted(unknown)[0]}'")
        max_new = int(sp.get("max_new_tokens", 128))
        temp = float(sp.get("temperature", 1.0))
        top_p = float(sp.get("top_p", 1.0))
        top_k = int(sp.get("top_k", -1))
        stop = sp.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        stop_ids = set(int(t) for t in (sp.get("stop_token_ids") or []))
        ignore_eos = bool(sp.get("ignore_eos", False))
        min_new = int(sp.get("min_new_tokens", 0) or 0)  # EOS and stop ids masked, no finish checks, until then
        skip_special = bool(sp.get("skip_special_tokens", True))
        no_trim = bool(sp.get("no_stop_trim", False))
        greedy = temp < 1e-6 or top_k == 1
        gen = torch.Generator()
        if sp.get("sampling_seed") is not None and self.deterministic:
            gen.manual_seed(int(sp["sampling_seed"]))
        else:
            gen.seed()
        out: list[int] = []
        lps: list[float] = []
        finish: dict[str, Any] = {"type": "length", "length": max_new}
        with self.lock, torch.no_grad():
            seq = list(prompt)
            for _ in range(max_new):
                logits = self.model(torch.tensor([seq])).logits[0, -1].float()
                raw = torch.log_softmax(logits, -1)
                early = len(out) < min_new
                if early and (self.eos_ids or stop_ids):
                    logits = logits.index_fill(-1, torch.tensor(sorted(set(self.eos_ids) | stop_ids)), float("-inf"))
                if greedy:
                    tok = int(logits.argmax())
                    lp = float(raw[tok])
                else:
                    scaled = logits / temp
                    if top_k > 0:
                        kth = scaled.topk(min(top_k, scaled.shape[-1])).values[-1]
                        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                    probs = torch.softmax(scaled, -1)
                    if top_p < 1.0:
                        sp_, idx = probs.sort(descending=True)
                        drop = (sp_.cumsum(-1) - sp_) >= top_p
                        probs = torch.zeros_like(probs).scatter_(-1, idx, sp_.masked_fill(drop, 0.0))
                    tok = int(torch.multinomial(probs, 1, generator=gen))
                    lp = float(raw[tok]) if self.original_logprob else float(torch.log_softmax(logits / temp, -1)[tok])
                out.append(tok)
                lps.append(lp)
                seq.append(tok)
                if early:
                    continue
                if (not ignore_eos and tok in self.eos_ids) or tok in stop_ids:
                    finish = {"type": "stop", "matched": tok}
                    break
                if stop and self.tokenizer is not None:  # no tokenizer: stop strings cannot match
                    tail = self.tokenizer.decode(out, skip_special_tokens=skip_special)
                    hit = next((s for s in stop if s in tail), None)
                    if hit is not None:
                        finish = {"type": "stop", "matched": hit}
                        break
        text = self.tokenizer.decode(out, skip_special_tokens=skip_special) if self.tokenizer is not None else ""
        if finish["type"] == "stop" and isinstance(finish["matched"], str) and not no_trim:
            text = text[: text.find(finish["matched"])]
        meta: dict[str, Any] = {
            "id": rid,
            "finish_reason": finish,
            "prompt_tokens": len(prompt),
            "weight_version": self.weight_version,
            "completion_tokens": len(out),
            "cached_tokens": 0,
        }
        if return_logprob:
            texts = ([self.tokenizer.decode([t]) for t in out] if text_in_logprobs and self.tokenizer is not None
                     else [None] * len(out))
            meta["input_token_logprobs"] = []
            meta["output_token_logprobs"] = [[lp, t, s] for lp, t, s in zip(lps, out, texts, strict=True)]
        return {"text": text, "output_ids": out, "meta_info": meta}

    def generate(self, req: dict[str, Any]) -> Any:
        if ("text" in req) == ("input_ids" in req):
            raise BadRequest("Either text or input_ids should be provided.")
        if "text" in req:
            if self.tokenizer is None:
                raise BadRequest("text input needs a tokenizer; this server has none")
            texts = req["text"]
            single = isinstance(texts, str)
            prompts = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in ([texts] if single else texts)]
        else:
            ids = req["input_ids"]
            if not isinstance(ids, list) or not ids:
                raise BadRequest("input_ids must be a non-empty list")
            single = not isinstance(ids[0], list)
            prompts = [ids] if single else ids
        sps = req.get("sampling_params") or {}
        sps = sps if isinstance(sps, list) else [sps] * len(prompts)
        if len(sps) != len(prompts):
            raise BadRequest("The number of sampling_params does not match the number of prompts.")
        self.requests += 1
        outs = [self.generate_one(p, dict(s), bool(req.get("return_logprob", False)),
                                  bool(req.get("return_text_in_logprobs", False)), uuid.uuid4().hex)
                for p, s in zip(prompts, sps, strict=True)]
        return outs[0] if single else outs


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-sglang/0.1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeSGLang:
        return self.server.fake  # type: ignore[attr-defined]

    def _send(self, code: int, body: Any = b"", ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if ctype == "application/json"
                                                     else str(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, msg: str) -> None:
        phrase = {400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(code, "Error")
        self._send(code, {"object": "error", "message": msg, "type": phrase, "param": None, "code": code})

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        return json.loads(raw)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def _route(self, method: str) -> None:
        srv = self.server
        path = self.path.split("?")[0]
        if self.fake.crashed:  # a dead server answers nothing
            self.close_connection = True
            return
        try:
            body = self._body() if method in ("POST", "PUT") else None
        except json.JSONDecodeError as e:
            return self._error(400, f"JSON decode error: {e}")
        if path in ("/health", "/health_generate") and method == "GET":
            return self._send(200 if srv.ready else 503, b"", "text/plain")
        if not srv.ready:
            return self._error(503, "server is starting")
        if srv.fail_next > 0 and path == "/generate":
            srv.fail_next -= 1
            return self._error(500, "injected failure")
        if path in srv.next_reply:
            code, raw = srv.next_reply.pop(path)
            return self._send(code, raw)
        try:
            if path == "/generate" and method in ("POST", "PUT"):
                if not isinstance(body, dict):
                    return self._error(400, "request body must be a JSON object")
                if srv.delay:
                    time.sleep(srv.delay)
                return self._send(200, self.fake.generate(body))
            if path in ("/server_info", "/get_server_info") and method == "GET":
                f = self.fake
                return self._send(200, {"model_path": f.model_path, "tokenizer_path": f.tokenizer_path,
                                        "device": f.device, "enable_deterministic_inference": f.deterministic,
                                        "sleep_on_idle": f.sleep_on_idle, "version": "fake"})
            if path == "/begin_weight_update" and method == "POST":
                if self.fake.session_open:
                    return self._send(400, {"success": False, "message": "a weight-update session is already open; "
                                                                         "call end_weight_update() first"})
                self.fake.session_open = True
                return self._send(200, {"success": True, "message": "Success"})
            if path == "/end_weight_update" and method == "POST":
                if not self.fake.session_open:
                    return self._send(400, {"success": False, "message": "no weight-update session is open; "
                                                                         "call begin_weight_update() first"})
                self.fake.session_open = False
                return self._send(200, {"success": True, "message": "Success"})
            if path == "/get_model_info" and method == "GET":
                f = self.fake
                return self._send(200, {"model_path": f.model_path, "tokenizer_path": f.tokenizer_path,
                                        "is_generation": True, "preferred_sampling_params": None,
                                        "weight_version": f.weight_version})
            if path == "/flush_cache" and method in ("GET", "POST"):
                self.fake.flushes += 1
                return self._send(200, "Cache flushed.\nPlease check backend logs for more details. (When there are "
                                       "running or waiting requests, the operation will not be performed.)\n",
                                  "text/plain")
            if path == "/update_weights_from_disk" and method == "POST":
                if not isinstance(body, dict) or "model_path" not in body:
                    return self._error(400, "model_path is required")
                ok, msg = self.fake.update_from_disk(str(body["model_path"]))
                if ok and body.get("weight_version") is not None:
                    self.fake.weight_version = str(body["weight_version"])
                return self._send(200 if ok else 400, {"success": ok, "message": msg, "num_paused_requests": 0})
            if path == "/update_weights_from_tensor" and method == "POST":
                if not isinstance(body, dict) or not body.get("serialized_named_tensors"):
                    return self._error(400, "serialized_named_tensors is required")
                ok, msg = self.fake.update_from_tensor(body["serialized_named_tensors"])
                if ok and body.get("flush_cache", True):
                    self.fake.flushes += 1
                return self._send(200 if ok else 400, {"success": ok, "message": msg})
        except BadRequest as e:
            return self._error(400, str(e))
        except ServerCrash:
            if srv.exit_on_crash:
                os._exit(1)
            self.fake.crashed = True
            self.close_connection = True
            return None
        except Exception as e:  # what SGLang would log and answer with 500
            return self._error(500, f"{type(e).__name__}: {e}")
        return self._error(404, "Not Found")


class FakeSGLangServer:
    """`FakeSGLangServer(model_path).start()` -> serves on `.url` from a background thread."""

    def __init__(self, model_path: str, host: str = "127.0.0.1", port: int = 0, **fake_kw: Any):
        self.fake = FakeSGLang(model_path, **fake_kw)
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self.fake  # type: ignore[attr-defined]
        self.httpd.ready = True  # type: ignore[attr-defined]
        self.httpd.delay = 0.0  # type: ignore[attr-defined]
        self.httpd.fail_next = 0  # type: ignore[attr-defined]
        self.httpd.next_reply = {}  # type: ignore[attr-defined]
        self.httpd.exit_on_crash = False  # type: ignore[attr-defined]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def set(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self.httpd, k, v)

    def start(self) -> FakeSGLangServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> FakeSGLangServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Same flags as `python -m sglang.launch_server` (unknown ones are accepted and ignored)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-path", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=30000)
    ap.add_argument("--startup-delay", type=float, default=0.0)
    ap.add_argument("--tokenizer-path", default=None)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--attention-backend", default=None)
    ap.add_argument("--enable-deterministic-inference", action="store_true")
    ap.add_argument("--sleep-on-idle", action="store_true")
    args, _unknown = ap.parse_known_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        raise SystemExit("the fake binds to loopback only")
    if args.enable_deterministic_inference and args.attention_backend == "torch_native":
        raise SystemExit("ValueError: deterministic inference does not support the torch_native attention backend")
    srv = FakeSGLangServer(args.model_path, args.host, args.port, tokenizer_path=args.tokenizer_path,
                           device=args.device, deterministic=args.enable_deterministic_inference,
                           sleep_on_idle=args.sleep_on_idle)
    srv.httpd.exit_on_crash = True  # type: ignore[attr-defined]
    srv.httpd.ready = args.startup_delay <= 0  # type: ignore[attr-defined]
    if args.startup_delay > 0:
        threading.Timer(args.startup_delay, lambda: srv.set(ready=True)).start()
    srv.httpd.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()

"""A client for a real SGLang server (native API), and a launcher that starts and restarts one.

    eng = SGLangEngine("path/to/model")                    # launches `python -m sglang.launch_server`
    eng = SGLangEngine(url="http://127.0.0.1:30000", tokenizer=tok)   # a server someone else runs

Protocol (SGLang's native HTTP API, checked against sgl-project/sglang's `http_server.py`, `io_struct.py`
and the sampling-parameter docs):

- `POST /generate` with `{"input_ids": [[...], ...], "sampling_params": {...}, "return_logprob": true}`
  returns one object per prompt: `{"text", "output_ids"?, "meta_info": {"finish_reason": {"type":
  "stop"|"length"|"abort", "matched"?: id|str, "length"?: n}, "prompt_tokens", "completion_tokens",
  "output_token_logprobs": [[logprob, token_id, text|null], ...], ...}}`. We read the response ids and
  their log-probabilities from `output_token_logprobs` (every version returns it; `output_ids` only
  some) and check `output_ids` against them when present. `no_stop_trim: true` keeps the closing tag.
- `GET /health` (200 when up), `POST /flush_cache`, `POST /update_weights_from_disk {"model_path"}`
  -> `{"success", "message", "num_paused_requests"}`, and, when the trainer and the server share a
  machine, `POST /update_weights_from_tensor {"serialized_named_tensors": [b64 ForkingPickler payload
  of [(name, tensor), ...]], "load_format": null, "flush_cache": true}`.

Log-probabilities: SGLang reports `log_softmax(logits / temperature)` unless the server runs with
`SGLANG_RETURN_ORIGINAL_LOGPROB=1`, in which case it reports the raw model's `log_softmax(logits)`, the
engine contract (see base.py). The launcher sets that variable. For a server given by URL the two agree
at temperature 1 (the rollout default) and for greedy decoding; at other temperatures start the server
with the variable set.

Robustness: every request has a timeout; a launched server that died is restarted (with the latest
weights) up to `max_restarts` times; a server given by URL is retried with back-off, then an
`EngineError` says what happened. Replies are checked field by field before use (types, token ids in
the vocabulary, finite log-probabilities, `output_ids` matching them, no more tokens than asked for,
`success` a real `true`): any other reply is one `EngineError` naming the route and the field.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentgym.engines.base import Engine, EngineError, Generation, SamplingParams

DEFAULT_SERVER_ARGS: tuple[str, ...] = ()
#: Flags that make SGLang run on a CPU-only machine (dependencies.md); pass as `server_args` there.
CPU_SERVER_ARGS: tuple[str, ...] = (
    "--device", "cpu", "--dtype", "float32", "--attention-backend", "torch_native", "--sampling-backend",
    "pytorch", "--grammar-backend", "none", "--skip-server-warmup", "--max-total-tokens", "4096",
    "--mem-fraction-static", "0.05",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serialize_named_tensors(named: list[tuple[str, Any]]) -> str:
    """SGLang's `MultiprocessingSerializer.serialize(obj, output_str=True)`: ForkingPickler + base64.
    Tensors travel through shared memory, so this only works when the server runs on this machine."""
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401  (registers torch's reductions with ForkingPickler)

    buf = io.BytesIO()
    ForkingPickler(buf).dump(named)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class SGLangServer:
    """A `python -m sglang.launch_server` process bound to 127.0.0.1, with its log in a file."""

    def __init__(self, model_path: str | Path, *, port: int | None = None, server_args: tuple[str, ...] = (),
                 launch_cmd: list[str] | None = None, env: dict[str, str] | None = None,
                 startup_timeout: float = 600.0, log_dir: str | Path | None = None):
        self.model_path = str(model_path)
        self.port = port or free_port()
        self.server_args = tuple(server_args)
        self.launch_cmd = list(launch_cmd or [sys.executable, "-m", "sglang.launch_server"])
        self.env = {**os.environ, "SGLANG_RETURN_ORIGINAL_LOGPROB": "1", **(env or {})}
        self.startup_timeout = startup_timeout
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="agentgym-sglang-"))
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "server.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, model_path: str | Path | None = None) -> None:
        import requests

        if model_path is not None:
            self.model_path = str(model_path)
        self.stop()
        cmd = [*self.launch_cmd, "--model-path", self.model_path, "--host", "127.0.0.1", "--port", str(self.port),
               *self.server_args]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise EngineError(f"SGLang server exited with code {self.proc.returncode} during startup; "
                                  f"log tail:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise EngineError(f"SGLang server not healthy after {self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        """End the server's process group (only the processes this object started)."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=grace)


class SGLangEngine(Engine):
    """Generate through SGLang's native `/generate`. See the module docstring for the protocol.

    - `model_path`: the model to serve (and to load the tokenizer from). With no `url`, a server is
      launched on a free 127.0.0.1 port with `server_args` (e.g. `CPU_SERVER_ARGS`).
    - `url`: an already running server; `tokenizer` (or `model_path`) is then needed for decoding.
    - `tensor_sync`: send in-memory weights through `/update_weights_from_tensor` (colocated only);
      otherwise they are saved to a folder and loaded with `/update_weights_from_disk`.
    - `seed_field`: SGLang's per-request seed key (e.g. "sampling_seed"); None sends no seed (SGLang
      honours seeds only with `--enable-deterministic-inference`).
    """

    name = "sglang"

    def __init__(self, model_path: str | Path | None = None, *, url: str | None = None, tokenizer: Any = None,
                 server_args: tuple[str, ...] = DEFAULT_SERVER_ARGS, launch_cmd: list[str] | None = None,
                 server_env: dict[str, str] | None = None, port: int | None = None, timeout: float = 300.0,
                 startup_timeout: float = 600.0, max_restarts: int = 3, retries: int = 3,
                 tensor_sync: bool = False, seed_field: str | None = None, health_timeout: float = 10.0):
        import requests

        if model_path is None and url is None:
            raise ValueError("SGLangEngine needs model_path (to launch a server) or url (of a running one)")
        self.model_path = str(model_path) if model_path is not None else None
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.max_restarts = int(max_restarts)
        self.restarts = 0
        self.tensor_sync = tensor_sync
        self.seed_field = seed_field
        self.health_timeout = health_timeout
        self.session = requests.Session()
        self._tmp_weights: Path | None = None
        self._pending_weights: Any = None  # in-memory weights sent by tensor that a restart must reload
        if tokenizer is None:
            if self.model_path is None:
                raise ValueError("SGLangEngine(url=...) needs tokenizer= or model_path= for decoding")
            from agentgym.models.load import load_tokenizer

            tokenizer = load_tokenizer(self.model_path)
        self.tokenizer = tokenizer
        self.vocab_limit = _vocab_limit(tokenizer, self.model_path)
        self.server: SGLangServer | None = None
        if url is None:
            assert self.model_path is not None
            self.server = SGLangServer(self.model_path, port=port, server_args=server_args, launch_cmd=launch_cmd,
                                       env=server_env, startup_timeout=startup_timeout)
            self.server.start()
            self.url = self.server.url
        else:
            self.url = url.rstrip("/")
            if not self.healthy():
                raise EngineError(f"no healthy SGLang server at {self.url} (GET /health failed)")

    # ---- plumbing ------------------------------------------------------------------------------
    def healthy(self) -> bool:
        import requests

        try:
            return self.session.get(self.url + "/health", timeout=self.health_timeout).status_code == 200
        except requests.RequestException:
            return False

    def _restart(self, why: str) -> None:
        if self.server is None:
            raise EngineError(f"SGLang server at {self.url} failed ({why}) and was not launched by agentgym")
        if self.restarts >= self.max_restarts:
            raise EngineError(f"SGLang server failed ({why}) after {self.restarts} restarts; log tail:\n"
                              f"{self.server.log_tail()}")
        self.restarts += 1
        path = self.model_path
        if self._pending_weights is not None:  # weights that only ever reached the server by tensor
            path = str(self._save_weights(self._pending_weights))
            self._pending_weights = None
        self.server.start(path)
        self.url = self.server.url

    def _post(self, route: str, payload: dict[str, Any] | None = None, *, timeout: float | None = None):
        """POST with timeout; restart a dead launched server, retry a flaky given one."""
        import requests

        last = ""
        for attempt in range(self.retries + 1):
            if self.server is not None and not self.server.alive():
                self._restart("process died")
            try:
                r = self.session.post(self.url + route, json=payload, timeout=timeout or self.timeout)
            except requests.Timeout as e:
                raise EngineError(f"SGLang {route} timed out after {timeout or self.timeout:.0f}s") from e
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                last = f"connection error: {e}"
                if self.server is not None and not self.server.alive():
                    continue  # restarted at the top of the loop
                time.sleep(min(5.0, 0.5 * 2**attempt))
                continue
            except requests.RequestException as e:  # a reply requests cannot even read
                raise EngineError(f"SGLang {route}: unreadable reply ({type(e).__name__}: {e})") from e
            if r.status_code >= 500:
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                time.sleep(min(5.0, 0.5 * 2**attempt))
                continue
            return r
        raise EngineError(f"SGLang {route} failed after {self.retries + 1} attempts: {last}")

    # ---- generation ----------------------------------------------------------------------------
    def sampling_dict(self, sp: SamplingParams) -> dict[str, Any]:
        d: dict[str, Any] = {
            "temperature": float(sp.temperature),
            "top_p": float(sp.top_p),
            "max_new_tokens": int(sp.max_new_tokens),
            "no_stop_trim": True,
            "skip_special_tokens": True,
        }
        if sp.stop:
            d["stop"] = list(sp.stop)
        if sp.seed is not None and self.seed_field:
            d[self.seed_field] = int(sp.seed)
        return d

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        if not prompt_ids:
            return []
        payload = {"input_ids": [list(map(int, p)) for p in prompt_ids], "sampling_params": self.sampling_dict(sampling),
                   "return_logprob": True}
        r = self._post("/generate", payload)
        if r.status_code != 200:
            raise EngineError(f"SGLang /generate: HTTP {r.status_code}: {r.text[:300]}")
        data = _reply_json(r, "/generate")
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise EngineError(f"SGLang /generate answered a JSON {type(data).__name__}, not an object or a list")
        if len(data) != len(prompt_ids):
            raise EngineError(f"SGLang returned {len(data)} results for {len(prompt_ids)} prompts")
        return [self._parse(item, sampling, i) for i, item in enumerate(data)]

    def _parse(self, item: Any, sp: SamplingParams, index: int = 0) -> Generation:
        """One `/generate` result, checked field by field: a malformed one is an `EngineError`."""

        def bad(what: str) -> EngineError:
            return EngineError(f"SGLang /generate result {index} is malformed: {what}")

        if not isinstance(item, dict):
            raise bad(f"a JSON {type(item).__name__}, not an object")
        meta = item.get("meta_info")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise bad(f"meta_info is a JSON {type(meta).__name__}, not an object")
        lps = meta.get("output_token_logprobs")
        if lps is None:
            raise EngineError("SGLang reply has no meta_info.output_token_logprobs (was return_logprob ignored?)")
        if not isinstance(lps, list):
            raise bad("meta_info.output_token_logprobs is not a list")
        ids: list[int] = []
        logprobs: list[float] = []
        for j, entry in enumerate(lps):
            if not isinstance(entry, list) or len(entry) < 2:
                raise bad(f"output_token_logprobs[{j}] is not a [logprob, token_id, ...] list")
            lp, tid = entry[0], entry[1]
            if not _is_number(lp) or not math.isfinite(lp):
                raise bad(f"output_token_logprobs[{j}] has logprob {lp!r}, not a finite number")
            if not _is_token_id(tid, self.vocab_limit):
                raise bad(f"output_token_logprobs[{j}] has token id {tid!r}, not an integer in 0..{self.vocab_limit - 1}")
            ids.append(tid)
            logprobs.append(float(lp))
        if len(ids) > sp.max_new_tokens:
            raise bad(f"{len(ids)} tokens for max_new_tokens={sp.max_new_tokens}")
        out_ids = item.get("output_ids")
        if out_ids is not None:
            if not isinstance(out_ids, list) or not all(_is_token_id(t, self.vocab_limit) for t in out_ids):
                raise bad("output_ids is not a list of token ids")
            if out_ids != ids:
                raise EngineError("SGLang output_ids disagree with output_token_logprobs ids")
        server_text = item.get("text")
        if server_text is not None and not isinstance(server_text, str):
            raise bad("text is not a string")
        fr = meta.get("finish_reason")
        if fr is None:
            fr = {}
        if not isinstance(fr, dict):
            raise bad(f"finish_reason is a JSON {type(fr).__name__}, not an object")
        kind, matched = fr.get("type"), fr.get("matched")
        if kind is not None and kind not in ("stop", "length", "abort"):
            raise bad(f"finish_reason.type is {kind!r}")
        if matched is not None and not isinstance(matched, str) and not _is_token_id(matched, 1 << 62):
            raise bad(f"finish_reason.matched is {matched!r}")
        if kind == "abort":
            raise EngineError(f"SGLang aborted a request: {str(fr.get('message', ''))[:300]}")
        if kind == "length":
            reason = "length"
        elif isinstance(matched, int):
            reason = "eos" if ids and ids[-1] == matched and matched not in self._stop_ids(sp) else "stop"
        else:
            reason = "stop"
        try:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        except (OverflowError, ValueError, TypeError, IndexError) as e:
            raise bad(f"its token ids do not decode ({type(e).__name__}: {e})") from None
        return Generation(ids, logprobs, text, reason, meta={"server_text": server_text, "finish": fr})

    def _stop_ids(self, sp: SamplingParams) -> set[int]:
        out = set()
        for s in sp.stop:
            ids = self.tokenizer(s, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                out.add(int(ids[0]))
        return out

    # ---- weights -------------------------------------------------------------------------------
    def _save_weights(self, weights: Any) -> Path:
        """Write in-memory weights as a model folder the server can load (reused between calls)."""
        import torch
        from safetensors.torch import save_file

        if self._tmp_weights is None:
            self._tmp_weights = Path(tempfile.mkdtemp(prefix="agentgym-sglang-weights-"))
        if isinstance(weights, torch.nn.Module):
            weights.save_pretrained(str(self._tmp_weights))
        else:
            if self.model_path is None:
                raise EngineError("a state dict can only be synced when the engine knows model_path (for config.json)")
            for f in ("config.json", "generation_config.json"):
                if (Path(self.model_path) / f).is_file():
                    shutil.copy(Path(self.model_path) / f, self._tmp_weights / f)
            sd = {k: v.detach().contiguous().cpu() for k, v in dict(weights).items()}
            save_file(sd, str(self._tmp_weights / "model.safetensors"))
        return self._tmp_weights

    def update_weights(self, weights: Any) -> None:
        """A model directory (`/update_weights_from_disk`), or an `nn.Module` / state dict (by tensor when
        `tensor_sync`, else through a folder). Outputs change on the next `generate`."""
        import torch

        if isinstance(weights, (str, Path)):
            path = str(Path(weights).resolve())
            r = self._post("/update_weights_from_disk", {"model_path": path})
            body = _json(r)
            if r.status_code != 200 or body.get("success") is not True:  # "false" is truthy: only `true` counts
                raise EngineError(f"SGLang update_weights_from_disk failed: {_why(r, body)}")
            self.model_path = path
            self._pending_weights = None
        elif self.tensor_sync:
            sd = weights.state_dict() if isinstance(weights, torch.nn.Module) else dict(weights)
            named = [(k, v.detach().contiguous().cpu()) for k, v in sd.items()]
            payload = {"serialized_named_tensors": [serialize_named_tensors(named)], "load_format": None,
                       "flush_cache": True}
            r = self._post("/update_weights_from_tensor", payload)
            body = _json(r)
            if r.status_code != 200 or body.get("success") is not True:
                raise EngineError(f"SGLang update_weights_from_tensor failed: {_why(r, body)}")
            self._pending_weights = {k: v.clone() for k, v in named}
        else:
            self.update_weights(self._save_weights(weights))
            return
        self.flush_cache()

    def flush_cache(self) -> None:
        r = self._post("/flush_cache", None, timeout=min(self.timeout, 60.0))
        if r.status_code != 200:
            raise EngineError(f"SGLang /flush_cache: HTTP {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._tmp_weights is not None:
            shutil.rmtree(self._tmp_weights, ignore_errors=True)
            self._tmp_weights = None
        self.session.close()


def _json(r) -> dict[str, Any]:
    """The reply's JSON object, or {} when it is not one (callers then see no `success: true`)."""
    try:
        body = r.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _reply_json(r, route: str) -> Any:
    """The reply's JSON, or an `EngineError` that says it was none (JSONDecodeError is a ValueError)."""
    try:
        return r.json()
    except (ValueError, RecursionError) as e:
        raise EngineError(f"SGLang {route} answered something that is not JSON ({type(e).__name__}): "
                          f"{r.text[:200]!r}") from None


def _why(r, body: dict[str, Any]) -> str:
    """The server's failure message for an error line: its `message`, else the start of the body."""
    msg = body.get("message")
    if isinstance(msg, str) and msg:
        return msg[:300]
    return f"HTTP {r.status_code}: {r.text[:200]}"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_token_id(x: Any, limit: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < limit


def _vocab_limit(tokenizer: Any, model_path: str | None) -> int:
    """One past the largest valid token id: the tokenizer's size, or the model's (padded) embedding rows
    from config.json when larger. An id at or past it would break decoding or the trainer's lookup."""
    sizes = []
    with contextlib.suppress(TypeError):
        sizes.append(len(tokenizer))
    if model_path is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            v = json.loads((Path(model_path) / "config.json").read_text()).get("vocab_size")
            if _is_token_id(v, 1 << 31):
                sizes.append(v)
    return max(sizes) if sizes else 1 << 31

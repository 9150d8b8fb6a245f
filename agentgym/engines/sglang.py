"""A client for a real SGLang server (native API), and a launcher that starts and restarts one.

    eng = SGLangEngine("path/to/model")                    # launches `python -m sglang.launch_server`
    eng = SGLangEngine(url="http://127.0.0.1:30000", tokenizer=tok)   # a server someone else runs

Protocol (SGLang's native HTTP API, checked against a real SGLang 0.5.23 server and sgl-project/sglang's
`http_server.py`, `io_struct.py` and the sampling-parameter docs):

- `POST /generate` with `{"input_ids": [[...], ...], "sampling_params": {...}, "return_logprob": true}`
  returns one object per prompt: `{"text", "output_ids"?, "meta_info": {"finish_reason": {"type":
  "stop"|"length"|"abort", "matched"?: id|str, "length"?: n}, "prompt_tokens", "completion_tokens",
  "output_token_logprobs": [[logprob, token_id, text|null], ...], ...}}`. We read the response ids and
  their log-probabilities from `output_token_logprobs` (every version returns it; `output_ids` only
  some) and check `output_ids` against them when present. `no_stop_trim: true` keeps the closing tag.
- `GET /health` (200 when up), `POST /flush_cache`, `POST /update_weights_from_disk {"model_path"}`
  -> `{"success", "message", "num_paused_requests"}`, and, when the trainer and the server share a
  machine, `POST /update_weights_from_tensor {"serialized_named_tensors": [b64 ForkingPickler payload
  of [(name, tensor), ...]], "load_format": null, "flush_cache": true}`. SGLang 0.5.23 refuses a tensor
  update (400, `success: false`) unless it runs inside a weight-update session, `POST
  /begin_weight_update {"selector": "all"}` ... `POST /end_weight_update {}`; a server without those
  routes (404: an older SGLang) takes the update alone.
- `GET /server_info` (older: `/get_server_info`): the server's resolved flags; we read `device`,
  `enable_deterministic_inference` and `sleep_on_idle` to warn about what the server will not do.

Log-probabilities: SGLang reports `log_softmax(logits / temperature)` unless the server runs with
`SGLANG_RETURN_ORIGINAL_LOGPROB=1`, in which case it reports the raw model's `log_softmax(logits)`, the
engine contract (see base.py). The launcher sets that variable. For a server given by URL the two agree
at temperature 1 (the rollout default) and for greedy decoding; at other temperatures start the server
with the variable set.

Tensors through shared memory: with torch's default `file_descriptor` strategy the server has to fetch
each file descriptor from this process over a socket, and a real server crashed on that request; the
`file_system` strategy (named shared-memory files) works, so payloads are always written with it.

Weights through a folder: an `nn.Module` or a state dict is written to a temporary folder together with
the config and the tokenizer, since a restarted server is launched on that folder and, without tokenizer
files, serves with no way to match stop strings. Tied tensors (embedding and LM head share memory,
which safetensors refuses) are written once.

Launching: `launch_cmd` (default: this interpreter's `-m sglang.launch_server`), then `--model-path`,
`--host 127.0.0.1`, `--port`, `server_args` (default: `CPU_SERVER_ARGS` on a machine without CUDA), and
always `--sleep-on-idle` (an idle scheduler otherwise spins a core at 100%: a training run beside it went
13x slower on 2 cores). Without CUDA, `SGLANG_USE_CPU_ENGINE=1` joins the server's environment. Its log
lives in a temporary folder that `close()` removes (a failed start quotes the log's tail first).

Seeds: SGLang honours `sampling_seed` only when launched with `--enable-deterministic-inference`, which
on CPU refuses the `torch_native` attention backend, so sampling through a CPU server is not
reproducible. The engine sends the seed anyway and warns once when the server says it ignores it.

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
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import requests
import torch
import torch.multiprocessing as torch_mp  # also registers torch's reductions with ForkingPickler
from safetensors.torch import save_file

from agentgym.engines.base import Engine, EngineError, Generation, SamplingParams
from agentgym.engines.load import load_tokenizer

#: Flags that make SGLang run on a CPU-only machine (dependencies.md); the default there.
CPU_SERVER_ARGS: tuple[str, ...] = (
    "--device", "cpu", "--dtype", "float32", "--attention-backend", "torch_native", "--sampling-backend",
    "pytorch", "--grammar-backend", "none", "--skip-server-warmup", "--max-total-tokens", "4096",
    "--mem-fraction-static", "0.05",
)
#: The environment SGLang's CPU path needs.
CPU_SERVER_ENV: dict[str, str] = {"SGLANG_USE_CPU_ENGINE": "1"}
#: Always passed to a launched server (see the module docstring).
IDLE_FLAG = "--sleep-on-idle"
#: Set by the launcher itself; given in `server_args` they would contradict it.
OWN_FLAGS = ("--model-path", "--host", "--port")
#: Where `tools/sglang_rig.sh` builds its test interpreter (named in launch errors).
RIG_PYTHON = "~/.cache/agentgym/sglang-venv/bin/python"
LAUNCH_HINT = (f"set sglang_command (--sglang-command) to a command that runs SGLang's server, e.g. "
               f"'{RIG_PYTHON} -m sglang.launch_server' (tools/sglang_rig.sh builds that test rig), or "
               "sglang_url (--sglang-url) to a running server")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def default_launch_cmd() -> list[str]:
    return [sys.executable, "-m", "sglang.launch_server"]


def default_server_args() -> tuple[str, ...]:
    """The CPU flags on a machine without CUDA; SGLang's own defaults on a GPU machine."""
    return () if cuda_available() else CPU_SERVER_ARGS


def default_server_env() -> dict[str, str]:
    return {} if cuda_available() else dict(CPU_SERVER_ENV)


def serialize_named_tensors(named: list[tuple[str, Any]]) -> str:
    """SGLang's `MultiprocessingSerializer.serialize(obj, output_str=True)`: ForkingPickler + base64,
    with torch's `file_system` sharing (see the module docstring). Tensors travel through shared
    memory, so this only works when the server runs on this machine, and they must stay alive until
    the server has answered."""
    before = torch_mp.get_sharing_strategy()
    torch_mp.set_sharing_strategy("file_system")
    try:
        buf = io.BytesIO()
        ForkingPickler(buf).dump(named)
    finally:
        torch_mp.set_sharing_strategy(before)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class SGLangServer:
    """A `python -m sglang.launch_server` process bound to 127.0.0.1, with its log in a file.

    `close()` ends it and removes the log folder it created; `stop()` only ends it (restarts)."""

    def __init__(self, model_path: str | Path, *, port: int | None = None, server_args: tuple[str, ...] = (),
                 launch_cmd: list[str] | None = None, env: dict[str, str] | None = None,
                 startup_timeout: float = 600.0, log_dir: str | Path | None = None):
        self.model_path = str(model_path)
        self.port = port or free_port()
        self.server_args = tuple(server_args) + (() if IDLE_FLAG in server_args else (IDLE_FLAG,))
        self.launch_cmd = list(launch_cmd or default_launch_cmd())
        if not self.launch_cmd:
            raise EngineError(f"the SGLang launch command is empty; {LAUNCH_HINT}")
        self.env = {**os.environ, "SGLANG_RETURN_ORIGINAL_LOGPROB": "1", **(env or {})}
        self.startup_timeout = startup_timeout
        self._own_log_dir = log_dir is None
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

    def start(self, model_path: str | Path | None = None, extra_args: tuple[str, ...] = ()) -> None:
        if model_path is not None:
            self.model_path = str(model_path)
        self.stop()
        cmd = [*self.launch_cmd, "--model-path", self.model_path, "--host", "127.0.0.1", "--port", str(self.port),
               *self.server_args, *extra_args]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                             start_new_session=True)
            except OSError as e:  # no such program, not executable
                raise EngineError(f"cannot run the SGLang launch command {self.launch_cmd[0]!r} "
                                  f"({e.strerror or e}); {LAUNCH_HINT}") from None
        self.starts += 1
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise EngineError(self._failure(f"exited with code {self.proc.returncode} during startup"))
            try:
                if requests.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise EngineError(self._failure(f"was not healthy after {self.startup_timeout:.0f} s "
                                        "(raise sglang_startup_timeout_s if it is just slow)"))

    def _failure(self, what: str) -> str:
        """One first line that names the cause and what to set, then the log's tail."""
        tail = self.log_tail()
        cause = next((ln.strip() for ln in reversed(tail.splitlines())
                      if "No module named" in ln or re.match(r"\s*\w*(Error|Exception)\b", ln)), "")
        missing = "No module named" in cause  # SGLang, or a package it needs, is not where the command runs
        hint = LAUNCH_HINT if missing else "its flags are sglang_args (--sglang-args), its environment sglang_env (--sglang-env)"
        first = f"SGLang server ({shlex.join(self.launch_cmd)}) {what}" + (f": {cause[:200]}" if cause else "")
        return f"{first}; {hint}\nlog tail:\n{tail}"

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

    def close(self) -> None:
        """Stop the server and remove the log folder this object created. Idempotent."""
        self.stop()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


class SGLangEngine(Engine):
    """Generate through SGLang's native `/generate`. See the module docstring for the protocol.

    - `model_path`: the model to serve (and to load the tokenizer and config from). With no `url`, a
      server is launched on a free 127.0.0.1 port with `launch_cmd`, `server_args` (None: the CPU flags
      on a machine without CUDA) and `server_env` (added to the CPU defaults).
    - `url`: an already running server; `tokenizer` (or `model_path`) is then needed for decoding.
    - `tensor_sync`: send in-memory weights through `/update_weights_from_tensor` (colocated only);
      otherwise they are saved to a folder and loaded with `/update_weights_from_disk`.
    - `seed_field`: SGLang's per-request seed key; None sends no seed. SGLang honours it only with
      `--enable-deterministic-inference` (not available on CPU): see `seeds_honoured`.
    """

    name = "sglang"

    def __init__(self, model_path: str | Path | None = None, *, url: str | None = None, tokenizer: Any = None,
                 server_args: tuple[str, ...] | None = None, launch_cmd: list[str] | None = None,
                 server_env: dict[str, str] | None = None, port: int | None = None, timeout: float = 300.0,
                 startup_timeout: float = 600.0, max_restarts: int = 3, retries: int = 3,
                 tensor_sync: bool = False, seed_field: str | None = "sampling_seed", health_timeout: float = 10.0):
        if model_path is None and url is None:
            raise ValueError("SGLangEngine needs model_path (to launch a server) or url (of a running one)")
        self.model_path = str(model_path) if model_path is not None else None
        #: the original model folder: config.json and tokenizer files for the folders we write
        self.source_path = self.model_path
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
        self._warned_seeds = False
        if tokenizer is None:
            if self.model_path is None:
                raise ValueError("SGLangEngine(url=...) needs tokenizer= or model_path= for decoding")

            tokenizer = load_tokenizer(self.model_path)
        self.tokenizer = tokenizer
        self.vocab_limit = _vocab_limit(tokenizer, self.model_path)
        self.server: SGLangServer | None = None
        if url is None:
            assert self.model_path is not None
            args = default_server_args() if server_args is None else tuple(server_args)
            bad = [a for a in args if a.split("=")[0] in OWN_FLAGS]
            if bad:
                raise EngineError(f"server flag {bad[0]} is set by agentgym itself; leave it out of the server flags")
            self.server = SGLangServer(self.model_path, port=port, server_args=args, launch_cmd=launch_cmd,
                                       env={**default_server_env(), **(server_env or {})},
                                       startup_timeout=startup_timeout)
            try:
                self.server.start()
            except BaseException:
                self.server.close()  # no log folder left behind (its tail is in the error)
                raise
            self.url = self.server.url
        else:
            self.url = url.rstrip("/")
            if not self.healthy():
                raise EngineError(f"no healthy SGLang server at {self.url} (GET /health failed)")
        self.server_info = self._server_info()
        self._check_server_flags(launched=url is None)

    # ---- plumbing ------------------------------------------------------------------------------
    def healthy(self) -> bool:
        try:
            return self.session.get(self.url + "/health", timeout=self.health_timeout).status_code == 200
        except requests.RequestException:
            return False

    def _server_info(self) -> dict[str, Any]:
        """The server's resolved flags, or {} when it does not say (older versions, other servers)."""
        for route in ("/server_info", "/get_server_info"):
            try:
                r = self.session.get(self.url + route, timeout=self.health_timeout)
            except requests.RequestException:
                return {}
            if r.status_code == 200 and _json(r):
                return _json(r)
        return {}

    @property
    def seeds_honoured(self) -> bool | None:
        """Whether the server samples reproducibly from `sampling_seed` (None: it did not say)."""
        if "enable_deterministic_inference" not in self.server_info:
            return None
        return self.server_info["enable_deterministic_inference"] is True

    def _check_server_flags(self, launched: bool) -> None:
        info = self.server_info
        if not launched and info.get("sleep_on_idle") is False and info.get("device") == "cpu":
            warnings.warn(f"the SGLang server at {self.url} runs without {IDLE_FLAG}: its idle scheduler spins a "
                          "CPU core at 100% and slows everything beside it", stacklevel=3)

    def _restart(self, why: str) -> None:
        if self.server is None:
            raise EngineError(f"SGLang server at {self.url} failed ({why}) and was not launched by agentgym")
        if self.restarts >= self.max_restarts:
            raise EngineError(f"SGLang server failed ({why}) after {self.restarts} restarts; log tail:\n"
                              f"{self.server.log_tail()}")
        self.restarts += 1
        if self._pending_weights is not None:  # weights that only ever reached the server by tensor
            self.model_path = str(self._save_weights(self._pending_weights))
            self._pending_weights = None
        path = self.model_path
        assert path is not None
        extra: tuple[str, ...] = ()
        if not _has_tokenizer(path):  # a user's weights-only folder: the tokenizer comes from elsewhere
            extra = ("--tokenizer-path", str(self._tokenizer_dir()))
        self.server.start(path, extra_args=extra)
        self.url = self.server.url

    def _post(self, route: str, payload: dict[str, Any] | None = None, *, timeout: float | None = None):
        """POST with timeout; restart a dead launched server, retry a flaky given one."""
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
        if sp.min_new_tokens:
            d["min_new_tokens"] = int(sp.min_new_tokens)
        if sp.seed is not None and self.seed_field:
            d[self.seed_field] = int(sp.seed)
        return d

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        if not prompt_ids:
            return []
        if sampling.seed is not None and not sampling.greedy and self.seeds_honoured is False and not self._warned_seeds:
            self._warned_seeds = True
            warnings.warn(f"the SGLang server at {self.url} ignores sampling seeds (it runs without "
                          "--enable-deterministic-inference, which CPU servers cannot use): sampled rollouts and "
                          "evals through it are not reproducible", stacklevel=2)
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
    def _weights_dir(self) -> Path:
        """The temporary folder in-memory weights are written to, emptied for each write (the files
        of an earlier sync, e.g. other shards, must not mix with the new ones)."""
        if self._tmp_weights is None:
            self._tmp_weights = Path(tempfile.mkdtemp(prefix="agentgym-sglang-weights-"))
        for f in self._tmp_weights.iterdir():
            shutil.rmtree(f) if f.is_dir() else f.unlink()
        return self._tmp_weights

    def _save_weights(self, weights: Any) -> Path:
        """Write in-memory weights as a model folder a server can be launched on: weights, config and
        tokenizer."""
        if not isinstance(weights, torch.nn.Module):
            src = Path(self.source_path) if self.source_path is not None else None
            if src is None or not (src / "config.json").is_file():
                raise EngineError("a state dict can only be synced when the engine knows the model's folder "
                                  "(model_path=, for its config.json)")
        folder = self._weights_dir()
        if isinstance(weights, torch.nn.Module):
            weights.save_pretrained(str(folder), safe_serialization=True)
        else:
            for f in ("config.json", "generation_config.json"):
                if (src / f).is_file():
                    shutil.copyfile(src / f, folder / f)
            sd = _unshared(dict(weights), drop_tied_head=_ties_embeddings(src))
            save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})
        self._save_tokenizer(folder)
        return folder

    def _save_tokenizer(self, folder: Path) -> None:
        """The engine's tokenizer files next to the weights (a server launched on `folder` loads them)."""
        if hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(str(folder))
        elif self.source_path is not None and _has_tokenizer(self.source_path):
            for f in _TOKENIZER_FILES + ("special_tokens_map.json", "merges.txt"):
                if (Path(self.source_path) / f).is_file():
                    shutil.copyfile(Path(self.source_path) / f, folder / f)

    def _tokenizer_dir(self) -> Path:
        """A folder with this engine's tokenizer files (for `--tokenizer-path`)."""
        if self.source_path is not None and _has_tokenizer(self.source_path):
            return Path(self.source_path)
        if self._tmp_weights is None:
            self._tmp_weights = Path(tempfile.mkdtemp(prefix="agentgym-sglang-weights-"))
        self._save_tokenizer(self._tmp_weights)
        return self._tmp_weights

    def update_weights(self, weights: Any) -> None:
        """A model directory (`/update_weights_from_disk`), or an `nn.Module` / state dict (by tensor when
        `tensor_sync`, else through a folder). Outputs change on the next `generate`."""
        if isinstance(weights, (str, Path)):
            path = str(Path(weights).resolve())
            r = self._post("/update_weights_from_disk", {"model_path": path})
            body = _json(r)
            if r.status_code != 200 or body.get("success") is not True:  # "false" is truthy: only `true` counts
                raise EngineError(f"SGLang update_weights_from_disk failed: {_why(r, body)}")
            self.model_path = path
            self._pending_weights = None
        elif self.tensor_sync:
            self._update_by_tensor(weights)
        else:
            self.update_weights(self._save_weights(weights))
            return
        self.flush_cache()

    def _update_by_tensor(self, weights: Any) -> None:
        """`/update_weights_from_tensor` inside a begin/end weight-update session."""
        sd = weights.state_dict() if isinstance(weights, torch.nn.Module) else dict(weights)
        # copies: sharing moves a tensor's storage into shared memory, which must not happen to the caller's
        named = [(k, v.detach().to("cpu", copy=True).contiguous()) for k, v in sd.items()]
        payload = {"serialized_named_tensors": [serialize_named_tensors(named)], "load_format": None,
                   "flush_cache": True}
        session = self._weight_session("begin")
        ok = False
        try:
            r = self._post("/update_weights_from_tensor", payload)
            body = _json(r)
            ok = r.status_code == 200 and body.get("success") is True
        finally:
            if session:
                self._weight_session("end", quiet=not ok)
        if not ok:
            raise EngineError(f"SGLang update_weights_from_tensor failed: {_why(r, body)}")
        self._pending_weights = dict(named)

    def _weight_session(self, what: str, *, quiet: bool = False) -> bool:
        """Open (`begin`) or close (`end`) a weight-update session; False when the server has none."""
        route = f"/{what}_weight_update"
        r = self._post(route, {"selector": "all"} if what == "begin" else {})
        if r.status_code == 404:
            return False
        body = _json(r)
        if body.get("success") is not True and what == "begin" and "already open" in str(body.get("message", "")):
            self._post("/end_weight_update", {})  # left open by a client that died mid-update
            r = self._post(route, {"selector": "all"})
            body = _json(r)
        if body.get("success") is not True and not quiet:
            raise EngineError(f"SGLang {what}_weight_update failed: {_why(r, body)}")
        return True

    def flush_cache(self) -> None:
        r = self._post("/flush_cache", None, timeout=min(self.timeout, 60.0))
        if r.status_code != 200:
            raise EngineError(f"SGLang /flush_cache: HTTP {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._tmp_weights is not None:
            shutil.rmtree(self._tmp_weights, ignore_errors=True)
            self._tmp_weights = None
        self._pending_weights = None
        self.session.close()


_MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _loads(raw: bytes) -> Any:
    """`json.loads` that refuses nesting deeper than `_MAX_JSON_DEPTH` before parsing.

    The stdlib parser recurses per level, so a reply of 100k brackets drives it to the recursion
    limit; any finalizer that runs down there fails as an unraisable error, outside our except.
    A linear scan of the brackets outside strings never recurses."""
    if raw.count(b"[") + raw.count(b"{") > _MAX_JSON_DEPTH:
        depth = 0
        for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
            depth += 1 if m.group() in (b"[", b"{") else -1
            if depth > _MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
    return json.loads(raw)


def _json(r) -> dict[str, Any]:
    """The reply's JSON object, or {} when it is not one (callers then see no `success: true`)."""
    try:
        body = _loads(r.content)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _reply_json(r, route: str) -> Any:
    """The reply's JSON, or an `EngineError` that says it was none (JSONDecodeError is a ValueError)."""
    try:
        return _loads(r.content)
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


def _has_tokenizer(path: str | Path) -> bool:
    return any((Path(path) / f).is_file() for f in _TOKENIZER_FILES)


def _ties_embeddings(model_dir: Path) -> bool:
    """Whether the model's config ties the LM head to the input embedding (transformers' default: yes)."""
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and cfg.get("tie_word_embeddings", True) is True


def _unshared(sd: dict[str, Any], *, drop_tied_head: bool) -> dict[str, Any]:
    """CPU tensors that share no memory, for safetensors ("Some tensors share memory"): an LM head tied
    to the embedding is left out when the config ties them (loading ties it again), any other tensor
    that shares memory with an earlier one is copied."""
    out: dict[str, Any] = {}
    seen: dict[int, Any] = {}  # storage address -> the first tensor kept on it
    for name in sorted(sd, key=lambda k: k.endswith("lm_head.weight")):  # heads last: the alias is the head
        t = sd[name].detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr and ptr in seen:
            first = seen[ptr]
            alias = (t.storage_offset(), t.shape, t.stride()) == (first.storage_offset(), first.shape, first.stride())
            if alias and drop_tied_head and name.endswith("lm_head.weight"):
                continue
            t = t.clone()
        elif ptr:
            seen[ptr] = t
        out[name] = t
    return out

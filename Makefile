# Two commands do everything on a fresh machine: `make demo` and `make test` (each sets itself up first).
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-slow test-all lint clean-cache

setup:
	@bash tools/setup.sh

## The main job: SDAR on WebShop with the embedded default policy (built on first use), before/after eval.
demo: setup
	$(VENV)/bin/agentgym train --backend sdar --env webshop

## The default test suite (fast: no slow, Java, browser or SGLang tests) plus ruff.
test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

## The slow, Java (pyserini) and browser (Chromium) tests; CI runs these too.
test-slow: setup
	$(PY) -m pytest -m "(slow or java or browser) and not sglang"

test-all: test test-slow

lint: setup
	$(VENV)/bin/ruff check .

## The opt-in real-SGLang tests: builds the CPU test rig (tools/sglang_rig.sh: SGLang 0.5.23 in its own
## venv under ~/.cache/agentgym, idempotent), then runs the tests marked sglang against servers that
## agentgym launches on 127.0.0.1 (--sleep-on-idle) and closes. About 3.3 GB and 6 minutes the first
## time; then about 3 minutes on 2 cores (three server starts of 15-50 s each).
.PHONY: test-sglang
test-sglang: setup
	@bash tools/sglang_rig.sh
	AGENTGYM_SGLANG_PYTHON=$$(bash tools/sglang_rig.sh --python) $(PY) -m pytest -m sglang tests/test_sglang_real.py

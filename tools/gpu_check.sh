#!/usr/bin/env bash
# The GPU path in one short run (tools/gpu_check.py): a random model of Qwen2.5-0.5B's shapes, 3 SDAR
# steps on ALFWorld with plain torch, DeepSpeed ZeRO-2 and LoRA; prints step time, tokens/s, peak memory.
#   bash tools/gpu_check.sh            # on one large GPU, no network, a few minutes
#   bash tools/gpu_check.sh --tiny     # the same on CPU with a 2-layer model
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "${PYTHON:-.venv/bin/python}" tools/gpu_check.py "$@"

#!/usr/bin/env bash
# The real-SGLang test rig (docs/training.md, "Scale: DeepSpeed and SGLang"): SGLang 0.5.23 in its own virtualenv under the
# agentgym cache, runnable on a CPU-only machine. `pip install sglang` cannot work here (it pins a CUDA
# torch and CUDA-only kernels), so: sglang with --no-deps, its CPU-safe dependencies, the project's torch
# CPU pin (constraints.txt), and import shims for two GPU-only modules that SGLang imports on the CPU path
# but never calls (sgl_kernel, torchvision). Registries only; idempotent (a stamp: a second run takes
# a second). This is a test rig for `make test-sglang`, not a user install.
#
#   tools/sglang_rig.sh            build (or check) the rig
#   tools/sglang_rig.sh --python   print the rig's interpreter (build first if needed), nothing else on stdout
#
# Override the location with AGENTGYM_SGLANG_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RIG=${AGENTGYM_SGLANG_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/agentgym/sglang-venv}
SGLANG_VERSION=0.5.23
export PIP_CONSTRAINT=$ROOT/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK=1

# SGLang 0.5.23's own pins where they matter (transformers, tokenizers), the base packages it needs, and
# its CPU-safe dependencies (the list is kept here, so a clean clone has it).
DEPS=(
  "torch==2.13.0" "transformers==5.19.0" "tokenizers==0.23.2" numpy packaging pydantic regex tqdm
  aiohttp anthropic "blobfile==3.0.0" build "compressed-tensors==0.18.0" datasets distro easydict einops
  fastapi gguf interegular IPython "llguidance<2,>=1.7.6" "mistral_common>=1.11.5" msgspec ninja
  "numba==0.65.1" nvidia-ml-py "openai==2.8.0" "openai-harmony==0.0.4" orjson "outlines==0.1.11"
  partial_json_parser pillow "prometheus-client>=0.20.0" psutil py-spy pybase64 "python-dateutil<3"
  python-multipart "pyzmq>=25.1.2" requests scipy "sentencepiece==0.2.1" setproctitle
  "smg-grpc-servicer>=0.9.0" "soundfile==0.13.1" tiktoken "uvicorn>=0.51" uvloop watchfiles
  "xgrammar==0.2.7" xxhash zstandard
)

log() { echo "[sglang-rig] $*" >&2; }

print_python=0
[ "${1:-}" = "--python" ] && print_python=1

stamp_src=$( (cat "$0" constraints.txt; echo "$SGLANG_VERSION") | sha256sum | cut -d' ' -f1)
stamp_file=$RIG/.agentgym-rig-stamp
if [ -x "$RIG/bin/python" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_src" ]; then
  [ $print_python = 1 ] && echo "$RIG/bin/python" || log "up to date ($RIG)"
  exit 0
fi

log "building $RIG (sglang $SGLANG_VERSION, CPU; about 6 minutes, 3.3 GB)"
mkdir -p "$(dirname "$RIG")"
[ -x "$RIG/bin/python" ] || python3 -m venv "$RIG"
PIP="$RIG/bin/python -m pip"
quiet() { { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2; }  # local-index noise
$PIP install -q "${DEPS[@]}" 2>&1 | quiet
$PIP install -q --no-deps "sglang==$SGLANG_VERSION" 2>&1 | quiet

# Import shims: a module that imports, and whose attributes (and submodules) are placeholders that raise
# if anything ever calls them, so a GPU-only code path fails loudly instead of silently.
SITE=$("$RIG/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$SITE/_agentgym_gpu_shim.py" <<'EOF'
"""Placeholders for GPU-only modules that SGLang imports on its CPU path (agentgym's test rig)."""
import importlib.abc
import importlib.machinery
import sys
import types


class _Missing:
    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is a shim in agentgym's CPU SGLang rig (GPU-only code was reached)")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._name}.{attr}")

    def __bool__(self):
        return False


class _ShimModule(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self.__name__}.{attr}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, root):
        self.root = root

    def find_spec(self, name, path=None, target=None):
        if name.startswith(self.root + "."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = _ShimModule(spec.name)
        mod.__path__ = []
        return mod

    def exec_module(self, module):
        pass


def install(module):
    """Turn the package `module` into a shim: unknown attributes and submodules are placeholders."""
    module.__class__ = _ShimModule
    sys.meta_path.append(_Finder(module.__name__))
EOF
for mod in sgl_kernel torchvision; do
  mkdir -p "$SITE/$mod"
  printf '"""agentgym CPU rig shim (tools/sglang_rig.sh)."""\nimport sys\n\nimport _agentgym_gpu_shim\n\n__version__ = "0.0.0+agentgym.shim"\n_agentgym_gpu_shim.install(sys.modules[__name__])\n' \
    > "$SITE/$mod/__init__.py"
done

"$RIG/bin/python" -c "import sglang, torch; print('sglang', sglang.__version__, 'torch', torch.__version__)" >&2
echo "$stamp_src" > "$stamp_file"
log "done: $RIG"
[ $print_python = 1 ] && echo "$RIG/bin/python"
exit 0

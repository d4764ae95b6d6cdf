#!/usr/bin/env bash
# Create ./.venv and install phylaw into it.
#   bash install.sh          # phylaw and its runtime dependencies
#   bash install.sh --test   # plus pytest, ruff and ray (the real-cluster test run by .ci/run)
# On a machine without an NVIDIA GPU the CPU build of torch is installed first (pinned to 2.13.0,
# which is small); with a GPU, or when torch is already importable in the venv, torch is left alone,
# so GPU users can install their own CUDA build before running this script.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip on some machines warns about every missing local index folder; keep the log readable
vpip() { .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
VPIP=vpip
$VPIP install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        $VPIP install -q "torch>=2.2"
    else
        # TORCH_INDEX lets a machine point at a CPU wheel index (e.g. PyTorch's /whl/cpu);
        # by default the pinned 2.13.0 CPU wheel is taken from the local wheel cache / PyPI.
        if [ -n "${TORCH_INDEX:-}" ]; then
            $VPIP install -q "torch==2.13.0" --index-url "$TORCH_INDEX"
        else
            $VPIP install -q "torch==2.13.0"
        fi
    fi
fi
EXTRA=""
[ "${1:-}" = "--test" ] && EXTRA="[test]"
$VPIP install -q -e ".${EXTRA}"
echo "phylaw installed in $(pwd)/.venv"

#!/usr/bin/env bash
# phylaw's GPU checks in one command, sized for a 10-minute lease on one H100/H200, most valuable first:
#   1. environment (GPU, driver, torch, CPU);
#   2. the CUDA tests (pytest -m gpu: bf16 SDPA/DiT vs references, deterministic CUDA training and sampling,
#      DDP over NCCL under torchrun, VAE + latent DiT);
#   3. the training loop against a bare step, with and without runtime.deterministic (benchmarks/train_loop.py);
#   4. DiT-B/L throughput and MFU at the paper's 2,048 tokens (benchmarks/train.py), eager and torch.compile;
#   5. the demo at 128 px (--preset gpu128; 4 min on an H200 on 2026-11-26), if the time left allows it.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]  (OUT_DIR default: $OUT or /tmp/phylaw-gpu). Each step has its
# own time limit; results go to OUT_DIR (summary.txt, logs, a tarball of the demo report without data or
# checkpoints). PHYLAW_GPU_SKIP="bench demo ..." leaves steps out (names: tests loop bench compile demo).
# A dry run of the script's logic on a CPU machine: PY=.venv/bin/python PHYLAW_GPU_BUDGET=400
#   PHYLAW_DEMO_SET="--set train_procs=1 --set steps=20 --set vae_steps=5" bash benchmarks/gpu_check.sh
# Packages the GPU machine lacks (diffusers, av) travel as wheels in .whl/ (see the device tool's notes).
set -u
OUT_DIR=${1:-${OUT:-/tmp/phylaw-gpu}}
BUDGET=${PHYLAW_GPU_BUDGET:-540}  # seconds for the whole script
SKIP=" ${PHYLAW_GPU_SKIP:-} "
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
PY=${PY:-python3}
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
say() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$OUT_DIR/summary.txt"; }
want() { [[ "$SKIP" != *" $1 "* ]]; }
table() {  # the report's velocity-error tables of a demo run
    awk '/^## (Velocity error|Error of the mean|Per level)/{p=1} /^## / && !/^## (Velocity error|Error of the mean|Per level)/{p=0} p' "$1/report/report.md" 2>/dev/null \
        | tee -a "$OUT_DIR/summary.txt"
}

say "== 1. environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0), 'sm', torch.cuda.get_device_capability(0))"
  nproc; grep -m1 'model name' /proc/cpuinfo
  $PY -c "import diffusers, av, phylaw; print('diffusers', diffusers.__version__, 'av', av.__version__, 'phylaw', phylaw.__version__)"
} 2>&1 | tee -a "$OUT_DIR/summary.txt"

if want tests; then
    say "== 2. CUDA tests"
    timeout 150 $PY -m pytest -q -rs -m gpu -p no:cacheprovider tests/train > "$OUT_DIR/pytest_gpu.txt" 2>&1
    say "pytest -m gpu exit $? : $(tail -1 "$OUT_DIR/pytest_gpu.txt")"
fi

if want loop; then
    say "== 3. training loop vs bare step (cpu-tiny, 256 tokens)"
    timeout 120 $PY benchmarks/train_loop.py --device cuda > "$OUT_DIR/train_loop.txt" 2>&1
    say "train_loop exit $?"; tail -4 "$OUT_DIR/train_loop.txt" | tee -a "$OUT_DIR/summary.txt"
fi

if want bench; then
    say "== 4. throughput (bf16, 2,048 tokens, eager)"
    timeout 90 $PY benchmarks/train.py --cases B-paper,L-paper --device cuda --bf16 --peak-tflops 989 --steps 10 \
        --warmup 3 > "$OUT_DIR/bench.txt" 2>&1
    say "bench exit $?"; grep -v "^torch\|analytic" "$OUT_DIR/bench.txt" | tee -a "$OUT_DIR/summary.txt"
fi
if want compile; then
    say "== 4b. DiT-B at batch 32, eager and torch.compile"
    timeout 150 $PY benchmarks/train.py --cases B-paper --batch 32 --compile --device cuda --bf16 --peak-tflops 989 \
        --steps 10 --warmup 3 > "$OUT_DIR/bench_compile.txt" 2>&1
    say "bench --compile exit $?"; grep -v "^torch\|analytic" "$OUT_DIR/bench_compile.txt" | tee -a "$OUT_DIR/summary.txt"
fi

if want demo && [ "$(left)" -ge 280 ]; then
    say "== 5. demo at 128 px (--preset gpu128)"
    D128=/tmp/phylaw-demo128
    timeout $(( $(left) - 10 )) $PY -m phylaw demo --out $D128 --preset gpu128 ${PHYLAW_DEMO_SET:-} > $D128.log 2>&1
    rc=$?; cp $D128.log $D128/demo.log 2>/dev/null
    tar czf "$OUT_DIR/demo128.tgz" --exclude='*.h5' --exclude='*.pt' --exclude='tb' -C $D128 . 2>/dev/null
    say "demo 128 exit $rc"; table $D128
    grep -o 'wall time.*' $D128.log | tail -1 | tee -a "$OUT_DIR/summary.txt"
elif want demo; then
    say "== 5. demo skipped: $(left) s left, it needs about 280"
fi
say "== done"

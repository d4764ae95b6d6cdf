#!/usr/bin/env bash
# phylaw's GPU checks in one command (sized for a 10-minute lease on one H100/H200):
#   1. environment (GPU, driver, torch, CPU);
#   2. the CUDA tests (pytest -m gpu: bf16 SDPA/DiT vs references, deterministic CUDA training and sampling,
#      DDP over NCCL under torchrun);
#   3. the demo at 128 px on the GPU (the OOD/ID gap at a resolution 2 CPU cores cannot train in 15 minutes);
#   4. training throughput at the paper's token count (benchmarks/train.py, bf16, MFU vs the 989 TFLOP/s peak);
#   5. the demo at 64 px with as many DiT steps as the time left allows (does OOD/ID grow with training?).
# A dry run of the script's logic on a CPU machine: PY=.venv/bin/python PHYLAW_GPU_BUDGET=400 PHYLAW_MIN_STEPS=1
#   PHYLAW_DEMO_SET="--set train_procs=1 --set vae_steps=5 --set grid_r=4 --set grid_v=8" bash benchmarks/gpu_check.sh
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]  (OUT_DIR default: $OUT or /tmp/phylaw-gpu). Each step has its
# own time limit; results go to OUT_DIR (logs, tarballs of the demo reports without data or checkpoints).
set -u
OUT_DIR=${1:-${OUT:-/tmp/phylaw-gpu}}
BUDGET=${PHYLAW_GPU_BUDGET:-510}  # seconds for the whole script
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then  # packages the machine lacks, carried as wheels (see the script's notes)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
PY=${PY:-python3}
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
say() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$OUT_DIR/summary.txt"; }
table() {  # the report's velocity-error table and per-level table of a demo run
    awk '/^## (Velocity error|Error of the mean|Per level)/{p=1} /^## / && !/^## (Velocity error|Error of the mean|Per level)/{p=0} p' "$1/report/report.md" 2>/dev/null \
        | tee -a "$OUT_DIR/summary.txt"
}
pack() {  # pack DEMO_DIR NAME: the report, CSVs and JSON of a demo run, without data and checkpoints
    tar czf "$OUT_DIR/$2.tgz" --exclude='*.h5' --exclude='*.pt' --exclude='tb' -C "$1" . 2>/dev/null
}

say "== 1. environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0), 'sm', torch.cuda.get_device_capability(0))"
  nproc; grep -m1 'model name' /proc/cpuinfo; grep -o -m1 -w 'avx512_bf16\|amx_bf16' /proc/cpuinfo | head -1
  $PY -c "import diffusers, av, phylaw; print('diffusers', diffusers.__version__, 'av', av.__version__, 'phylaw', phylaw.__version__)"
} 2>&1 | tee -a "$OUT_DIR/summary.txt"

say "== 2. CUDA tests"
timeout 150 $PY -m pytest -q -rs -m gpu -p no:cacheprovider tests/train > "$OUT_DIR/pytest_gpu.txt" 2>&1
say "pytest -m gpu exit $? : $(tail -1 "$OUT_DIR/pytest_gpu.txt")"

say "== 3. demo at 128 px (resolution=128, vae_steps=800, one micro-batch per step)"
D128=/tmp/phylaw-demo128
timeout $(( $(left) - 200 > 150 ? $(left) - 200 : 150 )) $PY -m phylaw demo --out $D128 --set resolution=128 \
    --set vae_steps=800 --set micro_batch_size=16 ${PHYLAW_DEMO_SET:-} > $D128.log 2>&1
rc=$?; cp $D128.log $D128/demo.log 2>/dev/null; pack $D128 demo128
say "demo 128 exit $rc"; table $D128
grep -o 'wall time.*' $D128.log | tail -1 | tee -a "$OUT_DIR/summary.txt"

if [[ "${PHYLAW_GPU_SKIP:-}" != *bench* ]]; then  # PHYLAW_GPU_SKIP=bench: leave the throughput step out
    say "== 4. throughput (bf16, 2,048 tokens)"
    timeout 90 $PY benchmarks/train.py --cases B-paper,L-paper --device cuda --bf16 --peak-tflops 989 --steps 10 \
        --warmup 3 > "$OUT_DIR/bench.txt" 2>&1
    say "bench exit $?"; cat "$OUT_DIR/bench.txt" | tee -a "$OUT_DIR/summary.txt"
fi

# 5. as many 64 px DiT steps as fit: samples/s measured in step 3 (train metrics), 55 % of the time left for the DiT
RATE=$($PY - <<'PY' 2>/dev/null
import csv, glob
rows = [r for f in glob.glob("/tmp/phylaw-demo128/cells/*/train/metrics.csv") for r in csv.DictReader(open(f))]
print(int(sorted(float(r["samples_per_s"]) for r in rows)[len(rows) // 2]) if rows else 0)
PY
)
STEPS=$(( ${RATE:-0} * ($(left) - 90) * 55 / 100 / 16 ))
STEPS=$(( STEPS > 30000 ? 30000 : STEPS ))
say "== 5. demo at 64 px with $STEPS DiT steps (128 px rate ${RATE:-?} samples/s; $(left) s left)"
if [ "$STEPS" -ge "${PHYLAW_MIN_STEPS:-4500}" ]; then
    D64=/tmp/phylaw-demo64
    timeout $(( $(left) - 5 )) $PY -m phylaw demo --out $D64 --set steps=$STEPS --set micro_batch_size=16 ${PHYLAW_DEMO_SET:-} > $D64.log 2>&1
    rc=$?; cp $D64.log $D64/demo.log 2>/dev/null; pack $D64 demo64
    say "demo 64 exit $rc"; table $D64
    grep -o 'wall time.*' $D64.log | tail -1 | tee -a "$OUT_DIR/summary.txt"
else
    say "skipped: too little time left"
fi
say "== done"

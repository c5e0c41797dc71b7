#!/usr/bin/env bash
# Every GPU check of texgs in one run, on a machine with an NVIDIA GPU, nvcc and PyTorch with
# CUDA (the figures in README "Performance" and docs/BAKING.md / docs/CUDA.md come from it):
#
#   tools/device/gpu_checks.sh WHEEL_DIR TEXTURES OUT_DIR
#
# WHEEL_DIR: pycuda's sdist and its dependencies' wheels (docs/CUDA.md, offline route);
# TEXTURES: a copy of ../shared/textures/single; OUT_DIR: logs, JSON and plots land here.
# Steps (each under its own time limit, each run whatever failed before it):
#   1. build pycuda (in the background) while tests/test_render_cuda.py runs (GPU baking:
#      tile lists, values and gradients against the CPU kernel, bakes, bake-dir);
#   2. texgs bakes of every texture at 0.25..4 bpt into an eval bake cache (8 processes
#      sharing the GPU), packed as OUT_DIR/evalcache.tar for `texgs eval --bake-cache`;
#   3. the PyCUDA decoder's GPU tests (tests/test_cuda.py);
#   4. benchmarks on the otherwise idle GPU: decode throughput (bench_cuda_decode.py), bake
#      time and quality (bench_gpu_bake.py), scaling (bench_scaling.py).
set -u
WHEELS=$1
TEX=$2
OUT=$3
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TEXGS_CACHE_DIR=/tmp/texgs-cache PIP_ROOT_USER_ACTION=ignore
LOG=$OUT/log.txt
say() { echo "=== $(date +%T) $*" | tee -a "$LOG"; }
run() { local t=$1; shift; say "$*"; timeout "$t" "$@" 2>&1 | tee -a "$LOG" | tail -25; }

say "device"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader \
  | tee -a "$LOG"
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$LOG"

( tools/device/build_pycuda.sh "$WHEELS" /tmp/site > "$OUT/pycuda_build.log" 2>&1
  echo "build_pycuda exit $?" >> "$OUT/pycuda_build.log" ) &
BUILD=$!

run 150 python3 -m pytest -q -p no:cacheprovider tests/test_render_cuda.py

say "eval bakes"
mapfile -t FILES < <(ls "$TEX"/*.png)
for i in 0 1 2 3 4 5 6 7; do
  part=()
  for ((j = i; j < ${#FILES[@]}; j += 8)); do part+=("${FILES[j]}"); done
  [ ${#part[@]} -gt 0 ] || continue
  timeout 240 python3 -m texgs eval "${part[@]}" -o "/tmp/evalrep$i" --codecs texgs \
    --bake-cache /tmp/evalcache --device cuda --json > "/tmp/eval$i.log" 2>&1 &
done
wait $(jobs -p | grep -v "^$BUILD$") 2>/dev/null
for i in 0 1 2 3 4 5 6 7; do tail -2 "/tmp/eval$i.log" 2>/dev/null | tee -a "$LOG"; done
ls /tmp/evalcache | wc -l | tee -a "$LOG"
tar -C /tmp -cf "$OUT/evalcache.tar" evalcache

say "waiting for the pycuda build"
wait $BUILD
tail -5 "$OUT/pycuda_build.log" | tee -a "$LOG"
export PYTHONPATH=/tmp/site:.
run 150 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py
run 150 python3 bench/bench_cuda_decode.py --json "$OUT/decode.json"
run 120 python3 bench/bench_gpu_bake.py --sizes 512 1024 2048 --cpu-sizes \
  --texture "$TEX/stktex_generic_WoodF.png" --json "$OUT/gpu_bake.json"
run 200 python3 bench/bench_scaling.py --device cuda --texture "$TEX/stktex_generic_WoodF.png" \
  --json "$OUT/scaling.json" --plot "$OUT/scaling.png"
say "done"

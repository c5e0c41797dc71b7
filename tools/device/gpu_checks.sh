#!/usr/bin/env bash
# Every GPU check of texgs in one run, from the repository root, on a machine with an NVIDIA
# GPU, nvcc and PyTorch with CUDA. The GPU figures in README "Performance", docs/BAKING.md
# "Baking on a GPU" and docs/CUDA.md come from it.
#
#   tools/device/gpu_checks.sh WHEEL_DIR TEXTURES OUT_DIR
#
# WHEEL_DIR: pycuda's sdist and its dependencies' wheels (docs/CUDA.md, the offline route);
# TEXTURES: a folder of PNG textures (a copy of ../shared/textures/single); OUT_DIR: logs,
# JSON, a plot and the eval bake cache land here. Steps, each under its own time limit; all
# steps run whatever failed before them:
#   1. pycuda built in the background (tools/device/build_pycuda.sh) while
#      tests/test_render_cuda.py runs (GPU baking: tile lists, values and gradients against
#      the CPU kernel, whole bakes, bake-dir on the GPU);
#   2. texgs bakes of every texture at 0.25..4 bits per texel into an eval bake cache, eight
#      `texgs eval --codecs texgs` processes sharing the GPU; packed as evalcache.tar for
#      `texgs eval --bake-cache` (docs/EVAL.md);
#   3. the PyCUDA decoder's GPU tests (tests/test_cuda.py) and the decode bench's tests;
#   4. on the otherwise idle GPU: bake time and quality (bench_gpu_bake.py, which also keeps
#      2048 and 4096 bakes), decode throughput on those real bakes and on synthesized assets
#      (bench_cuda_decode.py), scaling (bench_scaling.py).
set -u
WHEELS=$1
TEX=$2
OUT=$3
. tools/device/common.sh
export TEXGS_CACHE_DIR=/tmp/texgs-cache
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
  >> "$LOG" 2>&1

( timeout 400 tools/device/build_pycuda.sh "$WHEELS" /tmp/site > "$OUT/pycuda_build.log" 2>&1
  echo "build_pycuda exit $?" >> "$OUT/pycuda_build.log" ) &
BUILD=$!

step 180 python3 -m pytest -q -rs -p no:cacheprovider tests/test_render_cuda.py

say "eval bakes"
mapfile -t FILES < <(ls "$TEX"/*.png)
EVALS=()
for i in 0 1 2 3 4 5 6 7; do
  part=()
  for ((j = i; j < ${#FILES[@]}; j += 8)); do part+=("${FILES[j]}"); done
  [ ${#part[@]} -gt 0 ] || continue
  timeout 240 python3 -m texgs eval "${part[@]}" -o "/tmp/evalrep$i" --codecs texgs \
    --bake-cache /tmp/evalcache --device cuda --json > "/tmp/eval$i.log" 2>&1 &
  EVALS+=($!)
done
wait "${EVALS[@]}"
for i in 0 1 2 3 4 5 6 7; do tail -c 300 "/tmp/eval$i.log" >> "$LOG" 2>/dev/null; echo >> "$LOG"; done
say "eval cache: $(ls /tmp/evalcache | wc -l) assets"
tar -C /tmp -cf "$OUT/evalcache.tar" evalcache

say "waiting for the pycuda build"
wait $BUILD
tail -4 "$OUT/pycuda_build.log" >> "$LOG"
export PYTHONPATH=/tmp/site:$PWD
step 180 python3 -m pytest -q -rs -s -p no:cacheprovider tests/test_cuda.py \
  -k "(gpu and not without_gpu and not emulated) or report_max_errors"
step 120 python3 -m pytest -q -rs -p no:cacheprovider tests/test_bench_cuda_decode.py -k "not emulated"

step 150 python3 bench/bench_gpu_bake.py --sizes 512 1024 2048 4096 --cpu-sizes \
  --texture "$TEX/stktex_generic_WoodF.png" --save-assets /tmp/bakes --json "$OUT/gpu_bake.json"
step 120 python3 bench/bench_cuda_decode.py --asset /tmp/bakes/max_2048.tgs \
  --asset /tmp/bakes/max_4096.tgs --json "$OUT/decode_real.json"
step 120 python3 bench/bench_cuda_decode.py --json "$OUT/decode_synth.json"
step 200 python3 bench/bench_scaling.py --device cuda --counts 0.25 1 4 \
  --texture "$TEX/stktex_generic_WoodF.png" --json "$OUT/scaling.json" --plot "$OUT/scaling.png"
say "done"

#!/usr/bin/env bash
# Every GPU check of the CUDA decoder in one run, from the repository root (docs/CUDA.md):
# pycuda built offline into $SITE unless it is there already (tools/device/build_pycuda.sh),
# the GPU tests (tests/test_cuda.py -k gpu, with the largest errors measured; less the
# no-GPU CLI test, whose child process does not see $SITE), the bench's own tests, then
# bench/bench_cuda_decode.py. Logs and the bench's JSON go to OUT_DIR.
#
#   tools/device/gpu_check.sh [WHEEL_DIR (.whl)] [OUT_DIR ($OUT, else /tmp/gpu_check)]
#   SITE=/tmp/site BENCH_ARGS="--sizes 2048 4096" tools/device/gpu_check.sh
#
# Each step has a time limit; all steps run. Exit: the build's code if the build fails
# (3: no usable driver), else 0 when the tests and the bench pass, else 1.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
WHEELS=${1:-.whl}
OUTDIR=${2:-${OUT:-/tmp/gpu_check}}
SITE=${SITE:-/tmp/site}
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR"
for d in /usr/local/cuda/bin; do
    case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$PATH:$d";; esac
done
export PATH
START=$(date +%s)
step() { echo "== gpu_check: $* ($(( $(date +%s) - START ))s)"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    || nvidia-smi; } > "$OUTDIR/nvidia-smi.txt" 2>&1
cat "$OUTDIR/nvidia-smi.txt"

if ls "$SITE"/pycuda/_driver*.so >/dev/null 2>&1; then
    step "pycuda already in $SITE"
else
    step "building pycuda into $SITE"
    PYTHON=$PY timeout 540 tools/device/build_pycuda.sh "$WHEELS" "$SITE" 2>&1 \
        | tee "$OUTDIR/build.log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then step "build failed (exit $rc)"; exit "$rc"; fi
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"

step "GPU tests"
timeout 300 "$PY" -m pytest tests/test_cuda.py -q -rs -s -p no:cacheprovider \
    -k "(gpu and not without_gpu) or report_max_errors" 2>&1 | tee "$OUTDIR/tests.log"
trc=${PIPESTATUS[0]}
step "bench tests"
timeout 300 "$PY" -m pytest tests/test_bench_cuda_decode.py -q -rs -p no:cacheprovider 2>&1 \
    | tee "$OUTDIR/tests_bench.log"
brc=${PIPESTATUS[0]}
step "bench"
# shellcheck disable=SC2086
timeout 300 "$PY" bench/bench_cuda_decode.py ${BENCH_ARGS:-} --json "$OUTDIR/bench_cuda.json" \
    2>&1 | tee "$OUTDIR/bench.txt"
xrc=${PIPESTATUS[0]}
step "done: tests exit $trc, bench tests exit $brc, bench exit $xrc"
[ "$trc" -eq 0 ] && [ "$brc" -eq 0 ] && [ "$xrc" -eq 0 ]

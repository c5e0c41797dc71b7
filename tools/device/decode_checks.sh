#!/usr/bin/env bash
# The CUDA decoder's GPU checks and figures in one short run (about 8 minutes on an H100),
# from the repository root, on a machine with an NVIDIA GPU and nvcc: what issue 6's decode
# targets need, sized for a 15-minute device window (tools/device/gpu_checks.sh is the full
# run, bakes and evaluation included, about 20 minutes).
#
#   tools/device/decode_checks.sh WHEEL_DIR OUT_DIR
#
# WHEEL_DIR: pycuda's sdist and its dependencies' wheels (docs/CUDA.md, the offline route);
# OUT_DIR: log.txt, the JSON of each bench and the pycuda build log land here. Steps, each
# under its own time limit, the most needed first (a run cut short by its caller's limit
# loses the last); every step runs whatever failed before it:
#   1. pycuda built offline into /tmp/site (tools/device/build_pycuda.sh);
#   2. the decoder's GPU tests (tests/test_cuda.py: kernels against the NumPy reference,
#      exact against generic top-K builds, expanded against packed records) and the decode
#      bench's tests;
#   3. the tile kernel's phase profile at 4096^2 on the fastest configuration measured on
#      2026-11-27 (10.4 Gtexel/s, docs/RUNTIME.md "Measured on an H100": expanded records,
#      fixed-width lists over 8-texel index tiles; bench_cuda_profile.py: the plain builds'
#      Gtexel/s and where a warp's cycles go, issue or latency), beside the plain builds of
#      the revision exported to .baseline/ where the run carries one (common.sh);
#   4. decode throughput on synthesized 1 bpp assets of 2048^2 and 4096^2, sigma about the
#      spacing, every decode mode, build and record form (bench_cuda_decode.py), over
#      8-texel index tiles;
#   5. ptxas's report of the kernels for this GPU's architecture and the candidate loops'
#      SASS instruction counts on this toolkit, to set the profile against
#      (bench_cuda_resources.py --sass);
#   6. where Nsight Compute's ncu is installed (and may read the counters), its scheduler,
#      warp-state and occupancy sections of the plain tile kernels at 2048^2;
#   7. the decode bench over the default 32-texel index (last: the least needed).
set -u
[ $# -eq 2 ] || { echo "usage: $0 WHEEL_DIR OUT_DIR" >&2; exit 1; }
WHEELS=$1
OUT=$2
. tools/device/common.sh
python3 -c "import numpy; print('numpy', numpy.__version__)" >> "$LOG" 2>&1
build_pycuda "$WHEELS"

step 240 python3 -m pytest -q -rs -s -p no:cacheprovider tests/test_cuda.py \
  -k "(gpu and not without_gpu and not emulated) or report_max_errors"
step 120 python3 -m pytest -q -rs -p no:cacheprovider tests/test_bench_cuda_decode.py \
  tests/test_bench_cuda_profile.py -k "not emulated"
step 210 python3 bench/bench_cuda_profile.py --sizes 4096 --json "$OUT/profile_tile8.json" $BASELINE
step 150 python3 bench/bench_cuda_decode.py --index-tile 8 --json "$OUT/decode_synth_tile8.json"
# registers, occupancy and the candidate loops' machine instructions on this toolkit
step 90 python3 bench/bench_cuda_resources.py --archs "${ARCH:-90}" --sass --json "$OUT/sass.json"
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$NCU" ]; then
  step 120 "$NCU" --target-processes all -k "regex:texgs_decode_tiles2?_kernel_k5" \
    --section LaunchStats --section Occupancy --section SchedulerStats \
    --section WarpStateStats --csv --log-file "$OUT/ncu_tiles.csv" \
    python3 bench/bench_cuda_profile.py --sizes 2048 --repeats 1 --warmup 0
else
  say "ncu not found: no Nsight Compute sections"
fi
step 150 python3 bench/bench_cuda_decode.py --json "$OUT/decode_synth.json"
say "done"

#!/usr/bin/env bash
# The quick GPU check after a change to the tile kernel, from the repository root, on a
# machine with an NVIDIA GPU and nvcc (a few minutes by estimate, where decode_checks.sh
# takes about eight): pycuda built offline, the tile kernel's GPU tests, the plain builds'
# times and the phase profile of the fastest decode at 2048^2 and 4096^2
# (bench_cuda_profile.py; beside the revision exported to .baseline/ where there is one:
# common.sh), and the candidate loops' SASS counts on the device's toolkit.
#
#   tools/device/profile_checks.sh WHEEL_DIR OUT_DIR
#
# WHEEL_DIR, OUT_DIR: as for tools/device/decode_checks.sh.
set -u
[ $# -eq 2 ] || { echo "usage: $0 WHEEL_DIR OUT_DIR" >&2; exit 1; }
WHEELS=$1
OUT=$2
. tools/device/common.sh
build_pycuda "$WHEELS"

step 150 python3 -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py \
  -k "gpu and tile and not emulated"
step 200 python3 bench/bench_cuda_profile.py --sizes 2048 4096 --json "$OUT/profile.json" $BASELINE
step 90 python3 bench/bench_cuda_resources.py --archs "${ARCH:-90}" --sass --json "$OUT/sass.json"
say "done"

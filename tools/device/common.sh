# Shared by the device scripts (sourced, from the repository root, with OUT set): the CUDA
# toolkit on PATH, unbuffered Python, the log $OUT/log.txt with the GPU's name, driver,
# clock and memory at its top, and
#   say TEXT              a line "=== <seconds since start>s TEXT" into the log and stdout;
#   step SECONDS CMD ...  CMD under a time limit, its output into the log, then its exit;
#   build_pycuda WHEELS   pycuda built offline into /tmp/site (tools/device/build_pycuda.sh,
#                         its log in $OUT/pycuda_build.log), then PYTHONPATH=/tmp/site:$PWD.
# ARCH: the GPU's compute capability without the dot (90 on an H100), empty without a GPU.
# BASELINE: "--baseline .baseline" where .baseline/cuda/texgs_kernels.cu exists, else empty:
# an earlier revision's kernels for bench_cuda_profile.py to time beside these. The device
# machine gets the working tree without its history, so export one there first, here:
#   rm -rf .baseline && mkdir .baseline && echo REV > .baseline/REV &&
#   git archive REV cuda engine_shaders/texgs_layout.h | tar -x -C .baseline
# (.baseline/ is ignored: .gitignore) and name .baseline in the run's carry.
case ":$PATH:" in *":/usr/local/cuda/bin:"*) ;; *) PATH="$PATH:/usr/local/cuda/bin";; esac
export PATH PYTHONUNBUFFERED=1 PIP_ROOT_USER_ACTION=ignore
mkdir -p "$OUT"
LOG=$OUT/log.txt
START=$(date +%s)
say() { echo "=== $(( $(date +%s) - START ))s $*" | tee -a "$LOG"; }
step() { local t=$1; shift; say "$*"; timeout "$t" "$@" >> "$LOG" 2>&1; say "exit $?"; }
build_pycuda() {
  say "building pycuda"
  timeout 300 tools/device/build_pycuda.sh "$1" /tmp/site > "$OUT/pycuda_build.log" 2>&1
  say "build_pycuda exit $?"
  tail -3 "$OUT/pycuda_build.log" >> "$LOG"
  export PYTHONPATH=/tmp/site:$PWD
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader \
  >> "$LOG" 2>&1
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
BASELINE=
if [ -f .baseline/cuda/texgs_kernels.cu ]; then
  BASELINE="--baseline .baseline"
  say "baseline kernels: .baseline ($(cat .baseline/REV 2>/dev/null || echo 'revision not noted'))"
fi

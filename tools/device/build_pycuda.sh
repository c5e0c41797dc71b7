#!/usr/bin/env bash
# Build and install pycuda offline, from its sdist and a folder of wheels (docs/CUDA.md
# "Installing pycuda", the offline route).
#
#   tools/device/build_pycuda.sh WHEEL_DIR TARGET_SITE_DIR
#   PYTHONPATH=TARGET_SITE_DIR:. python3 -c "import texgs.cuda_decoder as c; c.CudaDecoder()"
#
# WHEEL_DIR holds pycuda-*.tar.gz and the wheels of its runtime dependencies (pytools,
# platformdirs, mako, markupsafe, siphash24; typing_extensions is installed from there only
# when the interpreter lacks it), and optionally cpython-X.Y.Z-include.tar.gz, Python's
# headers, used only when the interpreter has none (no pythonX.Y-dev); and optionally
# pytest and its dependencies (pluggy, iniconfig, packaging, pygments), installed only when
# the interpreter has no pytest, for running tests/. The interpreter ($PYTHON, default python3) must already
# have numpy, setuptools and wheel (setuptools < 70.1), and a C++ compiler must be on PATH:
# the build uses no network and no build isolation.
#
# Steps: the wheels into TARGET_SITE_DIR (pip install --no-index --no-deps --target, or
# unzipped where the interpreter has no pip); the sdist unpacked into a temporary folder;
# the CUDA toolkit found ($CUDA_ROOT, else the TOP that `nvcc -dryrun` reports, else the
# folder above the real nvcc, else /usr/local/cuda: the first with include/cuda.h);
# pycuda's configure.py pointed at a libcuda.so to link against: the toolkit's stub
# (lib64/stubs/libcuda.so) or, where the toolkit has none, one generated from cuda.h and
# cudaProfiler.h (every cu* function, returning CUDA_ERROR_STUB_LIBRARY); curand only where
# the toolkit has libcurand; an rpath to the folder of the real libcuda.so.1 when it is
# found outside the loader's cache (e.g. /usr/local/nvidia/lib64); a wheel built with the
# compiler calls run $JOBS at a time (default: all cores), installed into TARGET_SITE_DIR;
# last, in a fresh interpreter: import pycuda.driver, cuInit, compile an empty kernel.
#
# Exit: 0 built and installed, the driver initialises and nvcc compiles through pycuda;
# 3 built and installed, but no usable NVIDIA driver here (the extension is then loaded
# against the generated stub to check that it links: only cuInit may fail); 4 the driver
# works but SourceModule (nvcc) fails; 1 anything else. Prints the time taken.
set -euo pipefail

usage() { echo "usage: $0 WHEEL_DIR TARGET_SITE_DIR" >&2; exit 1; }
[ $# -eq 2 ] || usage
WHEELS=$(cd "$1" && pwd) || { echo "build_pycuda: no wheel folder $1" >&2; exit 1; }
mkdir -p "$2"
TARGET=$(cd "$2" && pwd)
PY=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
START=$(date +%s)
export PIP_ROOT_USER_ACTION=ignore
say() { echo "build_pycuda: $*"; }
die() { echo "build_pycuda: FAILED: $*" >&2; exit 1; }
elapsed() { echo $(( $(date +%s) - START ))s; }

SDIST=$(ls "$WHEELS"/pycuda-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$SDIST" ] || die "no pycuda-*.tar.gz in $WHEELS"
"$PY" -c "import numpy, setuptools, wheel" 2>/dev/null \
    || "$PY" -c "import numpy, setuptools; from setuptools.command import bdist_wheel" \
    2>/dev/null || die "$PY needs numpy, setuptools and wheel to build pycuda"
say "$("$PY" -c 'import sys, numpy, setuptools; print("Python", sys.version.split()[0],
"numpy", numpy.__version__, "setuptools", setuptools.__version__)')"

# -- 1. the runtime dependencies ------------------------------------------------------------
PIP=0
"$PY" -m pip --version >/dev/null 2>&1 && PIP=1
install_wheels() {  # NAME...: wheels from WHEEL_DIR into TARGET, no index, no dependencies
    if [ "$PIP" = 1 ]; then
        "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
            --upgrade --find-links "$WHEELS" --target "$TARGET" "$@"
        return
    fi
    # no pip: a wheel is a zip of the site-packages tree; take the one for this interpreter
    "$PY" - "$WHEELS" "$TARGET" "$@" <<'EOF'
import re, sys, zipfile
from pathlib import Path
wheels, target, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
ver = sys.version_info[0] * 100 + sys.version_info[1]
def fits(whl):
    py, abi, plat = whl.name[:-4].split("-")[-3:]
    if plat != "any" and not plat.endswith("x86_64"):
        return False
    if abi == "none":
        return py.startswith("py3")
    m = re.fullmatch(r"cp(\d)(\d+)", py)
    if not m:
        return False
    wv = int(m.group(1)) * 100 + int(m.group(2))
    return wv == ver if abi.startswith("cp") else abi == "abi3" and wv <= ver
for name in names:
    ok = [w for w in wheels.glob("*.whl")
          if re.sub(r"[-_.]+", "_", w.name.split("-")[0]).lower() == name.lower() and fits(w)]
    if not ok:
        sys.exit(f"no wheel of {name} for this Python in {wheels}")
    zipfile.ZipFile(sorted(ok)[-1]).extractall(target)
EOF
}
DEPS="pytools platformdirs mako markupsafe siphash24"
"$PY" -c "import typing_extensions" 2>/dev/null || DEPS="$DEPS typing_extensions"
# shellcheck disable=SC2086
install_wheels $DEPS || die "installing $DEPS from $WHEELS"
say "dependencies in $TARGET ($DEPS) after $(elapsed)"
# pytest for tests/ (optional): only where the interpreter has none and WHEEL_DIR has it
if ! "$PY" -c "import pytest" 2>/dev/null && ls "$WHEELS"/pytest-*.whl >/dev/null 2>&1; then
    TDEPS="pytest"
    for m in pluggy iniconfig packaging pygments; do
        "$PY" -c "import $m" 2>/dev/null || TDEPS="$TDEPS $m"
    done
    # shellcheck disable=SC2086
    if install_wheels $TDEPS; then say "pytest installed in $TARGET ($TDEPS)"
    else say "warning: could not install $TDEPS from $WHEELS (tests need pytest)"; fi
fi

# -- 2. the CUDA toolkit --------------------------------------------------------------------
has_cuda_h() { [ -n "$1" ] && [ -f "$1/include/cuda.h" ]; }
ROOT=""
for cand in "${CUDA_ROOT:-}" \
        "$(nvcc -dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)" \
        "$(command -v nvcc >/dev/null && dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")" \
        "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if has_cuda_h "$cand"; then ROOT=$(readlink -f "$cand"); break; fi
done
[ -n "$ROOT" ] || die "no CUDA toolkit (include/cuda.h) found: put nvcc on PATH or set CUDA_ROOT"
command -v nvcc >/dev/null || say "warning: nvcc is not on PATH; texgs compiles its kernels with it at run time (add $ROOT/bin)"
say "CUDA toolkit $ROOT"

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/pycuda-build.XXXXXX")
[ -n "${KEEP_BUILD:-}" ] || trap 'rm -rf "$BUILD"' EXIT
tar xzf "$SDIST" -C "$BUILD"
SRC=$(ls -d "$BUILD"/pycuda-*/ | head -n 1)
SRC=${SRC%/}

# the compilers Python's sysconfig names (Debian/Ubuntu: x86_64-linux-gnu-gcc), else gcc/g++
SYSCC=$("$PY" -c 'import sysconfig; print((sysconfig.get_config_var("CC") or "cc").split()[0])')
if [ -z "${CC:-}" ] && ! command -v "$SYSCC" >/dev/null; then
    for pair in "gcc g++" "cc c++" "clang clang++"; do
        set -- $pair
        if command -v "$1" >/dev/null && command -v "$2" >/dev/null; then
            export CC=$1 CXX=$2 LDSHARED="$1 -shared" LDCXXSHARED="$2 -shared"
            say "$SYSCC (Python's compiler) not found: building with $CC/$CXX"
            break
        fi
    done
    [ -n "${CC:-}" ] || die "no C/C++ compiler found ($SYSCC, gcc/g++, cc/c++)"
fi
command -v "${CXX:-g++}" >/dev/null || command -v c++ >/dev/null || die "no C++ compiler (g++ or c++) found"
HOSTCC=${CC:-}
for c in "$SYSCC" gcc cc clang; do
    if [ -z "$HOSTCC" ] && command -v "$c" >/dev/null; then HOSTCC=$c; fi
done

# a stub libcuda.so made from the toolkit's headers: every cu* function returns
# CUDA_ERROR_STUB_LIBRARY (34), the error-string functions answer; SONAME libcuda.so.1
MYSTUB="$BUILD/stub"
mkdir -p "$MYSTUB"
{
    printf '#include <cuda.h>\n#include <cudaProfiler.h>\n' \
        | "$HOSTCC" -E -P -I"$ROOT/include" -x c - | tr '\n' ' ' \
        | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | sed -E 's/[[:space:](]//g' \
        | sort -u | grep -vxE 'cuGetError(String|Name)' | sed 's/.*/int &(void) { return 34; }/'
    echo 'int cuGetErrorString(int e, const char **s) { *s = "CUDA driver stub library (no NVIDIA driver)"; return 0; }'
    echo 'int cuGetErrorName(int e, const char **s) { *s = "CUDA_ERROR_STUB_LIBRARY"; return 0; }'
} > "$MYSTUB/libcuda_stub.c"
[ "$(wc -l < "$MYSTUB/libcuda_stub.c")" -gt 100 ] || die "no cu* functions found in $ROOT/include/cuda.h"
"$HOSTCC" -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$MYSTUB/libcuda.so" "$MYSTUB/libcuda_stub.c" \
    || die "building a stub libcuda.so"
ln -sf libcuda.so "$MYSTUB/libcuda.so.1"

# the libcuda.so to link against: the toolkit's stub, else ours (no rpath to either: at run
# time the loader finds the driver's libcuda.so.1)
STUB=""
for d in "$ROOT/lib64/stubs" "$ROOT/lib/stubs" "$ROOT"/targets/*/lib/stubs; do
    if [ -f "$d/libcuda.so" ]; then STUB=$d; break; fi
done
if [ -n "$STUB" ]; then
    say "linking against the toolkit stub $STUB/libcuda.so"
else
    STUB=$MYSTUB
    say "no stub libcuda.so in the toolkit: linking against one made from cuda.h and cudaProfiler.h ($(wc -l < "$STUB/libcuda_stub.c") functions)"
fi

# the real driver library, for an rpath when the loader would not find it by itself
DRIVER=""
for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/nvidia/lib64 /usr/local/nvidia/lib \
        /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/lib/wsl/lib; do
    if [ -e "$d/libcuda.so.1" ] && [ "$(readlink -f "$d")" != "$(readlink -f "$MYSTUB")" ]; then
        DRIVER=$(readlink -f "$d"); break
    fi
done
CONF=(--python-exe="$PY" --cuda-root="$ROOT" --cudadrv-lib-dir="$STUB")
if [ -n "$DRIVER" ]; then
    if ! /sbin/ldconfig -p 2>/dev/null | grep -q "libcuda.so.1 .*=> $DRIVER/"; then
        CONF+=(--ldflags="-Xlinker,-rpath,-Xlinker,$DRIVER")  # a list: configure splits at commas
        say "driver library $DRIVER/libcuda.so.1 (not in the loader cache: rpath added)"
    else
        say "driver library $DRIVER/libcuda.so.1"
    fi
else
    say "warning: no libcuda.so.1 (NVIDIA driver) found; pycuda will build but cannot run here"
fi
CURAND=""
for d in "$ROOT/lib64" "$ROOT/lib" "$ROOT"/targets/*/lib; do
    if [ -e "$d/libcurand.so" ]; then CURAND=$d; break; fi
done
if [ -n "$CURAND" ]; then CONF+=(--curand-lib-dir="$CURAND")
else CONF+=(--no-cuda-enable-curand); say "no libcurand in the toolkit: pycuda.curandom left out"; fi

# Python's headers: the interpreter's, else a cpython-X.Y.*-include.tar.gz from WHEEL_DIR
# (any CPython X.Y build's Include/ and pyconfig.h for x86-64 Linux: the C API of a minor
# version is stable across its patch releases)
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ ! -f "$PYINC/Python.h" ] || [ -n "${FORCE_BUNDLED_PYTHON_H:-}" ]; then
    PV=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    TB=$(ls "$WHEELS"/cpython-"$PV".*-include.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$TB" ] || die "no Python.h in $PYINC: install python$PV-dev, or put cpython-$PV.*-include.tar.gz in $WHEELS"
    mkdir -p "$BUILD/pyinc"
    tar xzf "$TB" -C "$BUILD/pyinc"
    [ -f "$BUILD/pyinc/python$PV/Python.h" ] || die "$TB has no python$PV/Python.h"
    CONF+=(--cxxflags="-I$BUILD/pyinc/python$PV")
    say "no Python.h in $PYINC: using the headers of $(basename "$TB")"
fi

cd "$SRC"
"$PY" configure.py "${CONF[@]}" >/dev/null || die "configure.py ${CONF[*]}"

# -- 3. build the wheel (compiler calls in parallel) and install it -------------------------
say "building $(basename "$SDIST") with $JOBS parallel compiles ..."
"$PY" - "$BUILD/dist" "$JOBS" > "$BUILD/build.log" 2>&1 <<'EOF' || { tail -n 40 "$BUILD/build.log" >&2; die "building the pycuda wheel (log above)"; }
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
out, jobs = sys.argv[1], max(1, int(sys.argv[2]))
sys.argv = ["setup.py"]
sys.path.insert(0, os.getcwd())

# setuptools compiles an extension's sources one after another; run them `jobs` at a time
# (the body of CCompiler.compile, with a thread pool around _compile)
try:
    from setuptools._distutils import ccompiler
except ImportError:
    from distutils import ccompiler
base = ccompiler.CCompiler
if jobs > 1 and hasattr(base, "_setup_compile") and hasattr(base, "_get_cc_args"):
    def compile(self, sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                extra_preargs=None, extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)

        def one(obj):
            if obj in build:
                src, ext = build[obj]
                t0 = time.perf_counter()
                self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)
                print(f"compiled {time.perf_counter() - t0:.1f} s {src}", flush=True)

        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, objects))
        return objects
    base.compile = compile
    print(f"parallel compile: {jobs} jobs", flush=True)

from setuptools import build_meta
os.makedirs(out, exist_ok=True)
print("built", build_meta.build_wheel(out), flush=True)
EOF
WHL=$(ls "$BUILD"/dist/pycuda-*.whl | head -n 1)
SLOW=$(grep '^compiled ' "$BUILD/build.log" | sort -k2,2 -g | tail -n 1 | cut -d' ' -f2- || true)
say "built $(basename "$WHL") after $(elapsed)${SLOW:+ (slowest compile: $SLOW)}"
cd /
if [ "$PIP" = 1 ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --upgrade \
        --target "$TARGET" "$WHL" || die "installing $WHL"
else
    "$PY" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
        "$WHL" "$TARGET" || die "unpacking $WHL"
fi
EXT=$(ls "$TARGET"/pycuda/_driver*.so | head -n 1)
if command -v readelf >/dev/null; then
    readelf -d "$EXT" | grep -q 'NEEDED.*libcuda\.so\.1' \
        || die "$EXT does not link libcuda.so.1 (readelf -d)"
fi
say "pycuda installed in $TARGET after $(elapsed)"

# -- 4. check it --------------------------------------------------------------------------
CHECK='import pycuda, pycuda.driver as d
d.init()
n = d.Device.count()
print("pycuda", pycuda.VERSION_TEXT, "driver", d.get_driver_version(), "devices", n,
      *(d.Device(i).name() for i in range(n)))'
COMPILE='import pycuda.autoprimaryctx, pycuda.compiler as c
c.SourceModule("__global__ void k(float *x) { x[0] = 1.0f; }").get_function("k")
print("SourceModule ok")'
if OUT=$(PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "$CHECK" 2>&1); then
    say "$OUT"
    if OUT=$(PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "$COMPILE" 2>&1); then
        say "$OUT"
        say "done in $(elapsed): PYTHONPATH=$TARGET"
        exit 0
    fi
    echo "$OUT" | tail -n 15 >&2
    say "FAILED: the driver works but pycuda's SourceModule does not compile (nvcc on PATH?) (exit 4)"
    exit 4
fi
say "no usable NVIDIA driver here: $(echo "$OUT" | tail -n 1)"
# the extension against our stub: it must load and fail only in cuInit
STUBOUT=$(LD_LIBRARY_PATH="$MYSTUB" PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c \
    'import pycuda.driver as d, pycuda.compiler
try:
    d.init()
except d.Error as e:
    print("import ok; cuInit ->", e)' 2>&1 | tail -n 1 || true)
say "with the stub library: $STUBOUT"
case "$STUBOUT" in "import ok; cuInit ->"*) ;; *) die "pycuda does not import against the stub";; esac
say "built and installed in $(elapsed), but it cannot run without an NVIDIA driver (exit 3)"
exit 3

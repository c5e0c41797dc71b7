"""Decode throughput of the CUDA decoder (texgs.cuda_decoder.CudaDecoder) on 2048^2 and
4096^2 textures, against the NumPy reference (texgs.decode), in one run.

Modes, per texture:
- decode: texgs_decode_grid_kernel, the whole texture at its own size (every texel), one
          thread per texel, each dequantizing its tile's candidates;
- decode tiles: texgs_decode_tiles_kernel, the same texels (bit-identical, checked), one
          thread block per --block x --block texels (default 8, or the index tile when
          smaller) dequantizing its tile's candidates once and keeping those that can reach
          the block (what CudaDecoder.decode_texture runs at the asset's own size); each
          tile row runs on one launch block per texel block, and again on a persistent grid
          (", persistent": as many launch blocks as the GPU holds at once, each walking
          several texel blocks and validating the buffers once; CudaDecoder's default);
- uv:     texgs_decode_uv_kernel at --points random UV points (one lookup = one texel);
          "uv ... binned": the same points binned by texel block on the GPU (memset, count,
          scan and fill kernels, timed with it) and decoded by texgs_decode_uv_blocks_kernel,
          whose blocks share their candidates in shared memory (the same bits, checked);
- index:  the tile index built on the GPU (memset + count, scan and fill kernels).

- expand: texgs_expand_kernel, the expanded records (docs/RUNTIME.md "Expanded records":
          float geometry and colours, made once per upload); its rate is Gaussians per second.
          The "expanded" rows decode from them (the same bits, checked); "uv ... expanded
          fixed ids" also reads fixed-width tile lists instead of Rice-coded ones.

Each decode mode runs the kernel build of the asset's top-K (K 1..8: the K best held in
registers, `<kernel>_k<K>`; what CudaDecoder runs). Where that is an exact build, the same
mode also runs the generic build (`... generic K` rows: capacity 32, K read at run time), as
a baseline in the same run; its results must equal the exact build's bit for bit.

"ms" of a cuda row is the median of --repeats runs timed with CUDA events around the
launches alone, after --warmup runs, with the buffers already on the device. "e2e ms" is the
median wall time of the same work through the decoder's host path: uploading the four
runtime buffers (and the UV points), the launch, and the read-back of the result (decode:
texels and candidate counts; index: offsets and ids). Neither includes building the buffers
in NumPy (texgs.runtime.build_gpu_buffers, the "prep" time, done once per texture, as an
engine does at load).

The index time includes pycuda's host-side cost of its four calls (tens of microseconds
each), which can be a large share of it on small textures.

Baseline, same run: the NumPy reference on a --ref-crop x --ref-crop region at texel centres
(decode) and at --ref-points random UV points (uv), with the tile index prebuilt, and
build_gpu_buffers (index); "ms" of a numpy row is one run, its rate texels per second;
"x numpy" is a cuda row's kernel rate over the numpy rate of the same mode. The GPU results of the crop
and of the first --ref-points UV points are compared with the reference (at most 1e-3, as
tests/test_cuda.py), and the GPU index's offsets with the NumPy index's.

Device limits from pycuda's device attributes (name, MULTIPROCESSOR_COUNT, CLOCK_RATE) and
an arithmetic bound:

    bound [texel/s] = SMs x LANES FP32 lanes per SM x clock [Hz] / OPS operations per texel

with LANES = 128 (Hopper, Ada, GA10x; an A100 has 64: --lanes-per-sm) and OPS = 300
(--ops-per-texel); "of bound" is the decode rate over it.

Inputs: --asset FILE.tgs (repeatable) or, by default, one asset per --sizes entry
synthesized like a 1 bit-per-texel RGB bake with BakeConfig's defaults: the Gaussian count
and LOD split of texgs.bake.config.plan_budget, 12/8/8-bit position/scale/angle and 8-bit
sRGB colour fields, top_k 5, tile 16, 5 LODs, clamp addressing; positions uniform, sigma
about the spacing sqrt(W H / N) (log2 sigma ~ N(log2 spacing, 0.25) per Gaussian, the two
axes apart by |N(0, 0.5)| in log2: mildly anisotropic), random rotations and colours.

    PYTHONPATH=/tmp/site:. python3 bench/bench_cuda_decode.py [--sizes 2048 4096]
        [--asset A.tgs ...] [--json out.json]
    python3 bench/bench_cuda_decode.py --save-assets DIR    # write the synthesized assets,
                                                            # no GPU needed

Exit: 0; 5 when pycuda, an NVIDIA driver or a GPU is missing (one line on stderr);
1 when a GPU result differs from the reference; 2 for bad arguments or an unreadable asset.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from texgs import cuda_decoder as cd  # noqa: E402  (imports pycuda only when used)
from texgs import format as fmt  # noqa: E402
from texgs import layout as L  # noqa: E402
from texgs.bake.config import BakeConfig, plan_budget  # noqa: E402
from texgs.decode import decode_uv  # noqa: E402
from texgs.errors import TexgsError, UnsupportedError  # noqa: E402
from texgs.runtime import (MAX_DECODE_BLOCK, GpuBuffers, build_gpu_buffers,  # noqa: E402
                           DEFAULT_INDEX_TILE, decode_block, dequantize)

PROG = "bench_cuda_decode"
LANES_PER_SM = 128
OPS_PER_TEXEL = 300
MAX_INDEX_TILE = 256  # an option limit of this bench, not of the format
MATCH_TOL = 1e-3  # tests/test_cuda.py SPARSE_MAX_TOL
TIE_ULPS = 4  # a rank near-tie: two candidates' q within this many float32 ulps
MAX_TIE_SHARE = 1e-3  # more points excused as near-ties than this share: a mismatch


def near_tie(g, k: int, index, px: float, py: float) -> bool:
    """Whether the point (texel units, float32, wrapped) has a ranking near-tie the math
    libraries may break either way (docs/RUNTIME.md "Accuracy"): the K-th and (K+1)-th
    smallest q of its tile list within TIE_ULPS float32 ulps of each other, or a q that
    close to the cutoff. g: the reference's dequantized Gaussians; q in float64."""
    t = min(int(py // index.tile), index.tiles_y - 1) * index.tiles_x + \
        min(int(px // index.tile), index.tiles_x - 1)
    cand = index.candidates(t)
    dx = float(px) - g.means[cand, 0].astype(np.float64)
    dy = float(py) - g.means[cand, 1].astype(np.float64)
    a, b, c = (g.conics[cand, j].astype(np.float64) for j in range(3))
    q = np.sort(a * dx * dx + 2.0 * b * dx * dy + c * dy * dy)

    def gap(v: float) -> float:  # TIE_ULPS float32 ulps at v
        return TIE_ULPS * float(np.spacing(np.float32(max(abs(v), 1e-30))))

    cut = gap(fmt.CUTOFF_Q)
    if np.any(np.abs(q - fmt.CUTOFF_Q) <= cut):
        return True
    q = q[q < fmt.CUTOFF_Q]  # those past the cutoff are never kept
    return bool(q.size > k and q[k] - q[k - 1] <= gap(q[k]))


def compare_to_reference(got: np.ndarray, ref: np.ndarray, asset: fmt.Asset, index,
                         px: np.ndarray, py: np.ndarray) -> tuple[float, int]:
    """(largest error over the points without a near tie, how many points differ by more
    than MATCH_TOL at a near tie). got, ref: [P, C]; px, py: the points in texel units.
    More ties than MAX_TIE_SHARE of the points (at least one allowed) is a mismatch:
    see :func:`ties_ok`."""
    err = np.abs(got.astype(np.float64) - ref).max(1)
    bad = np.flatnonzero(err > MATCH_TOL)
    g = dequantize(asset, asset.gaussian_count) if bad.size else None
    px, py = px.astype(np.float32), py.astype(np.float32)  # as the decoders compute them
    ties = [i for i in bad if near_tie(g, asset.top_k, index, px[i], py[i])]
    err[ties] = 0.0
    return float(err.max(initial=0.0)), len(ties)


def ties_ok(ties: int, points: int) -> bool:
    """Whether ``ties`` excused points out of ``points`` compared is few enough."""
    return ties <= max(1, MAX_TIE_SHARE * points)


# --- inputs ----------------------------------------------------------------------------------

def synth_asset(width: int, height: int, seed: int = 0, cfg: BakeConfig | None = None,
                sigma_scale: float = 1.0) -> fmt.Asset:
    """An RGB asset shaped like a bake of a ``width`` x ``height`` texture at ``cfg``
    (default BakeConfig(): 1 bpp, top_k 5, tile 16, 5 LODs), from seeded random fields
    (see the module docstring), sigma about ``sigma_scale`` x the spacing. Returned as read
    back from its bytes."""
    cfg = cfg or BakeConfig()
    chans = [fmt.ChannelInfo(fmt.MAP_BASECOLOR, c, fmt.ENCODING_SRGB, cfg.color_bits,
                             0.0, 1.0, 0.5) for c in range(3)]
    layout = fmt.RecordLayout(cfg.pos_bits, cfg.scale_bits, cfg.rot_bits,
                              tuple(ch.bits for ch in chans))
    counts = plan_budget(width, height, len(chans), cfg)
    n = sum(counts)
    rng = np.random.default_rng(seed)
    spacing = math.sqrt(width * height / n)
    base = math.log2(spacing * sigma_scale) + rng.normal(0.0, 0.25, n)
    spread = np.abs(rng.normal(0.0, 0.5, n))  # log2 of the axis ratio
    l1, l2 = base + spread / 2, base - spread / 2
    smin = float(np.float32(min(l1.min(), l2.min())))
    smax = float(np.float32(max(l1.max(), l2.max())))
    levels = (1 << cfg.scale_bits) - 1
    fields = np.zeros((n, 5 + len(chans)), np.uint32)
    fields[:, 0:2] = rng.integers(0, 1 << cfg.pos_bits, (n, 2))
    for k, lv in ((2, l1), (3, l2)):
        fields[:, k] = np.clip(np.round((lv - smin) / (smax - smin) * levels), 0, levels)
    fields[:, 4] = rng.integers(0, 1 << cfg.rot_bits, n)
    fields[:, 5:] = rng.integers(0, 1 << cfg.color_bits, (n, len(chans)))
    asset = fmt.Asset(width=width, height=height, channels=chans, layout=layout,
                      log2_scale_min=smin, log2_scale_max=smax, fields=fields,
                      lod_counts=counts, top_k=cfg.top_k, tile_size=cfg.tile,
                      address_x=fmt.ADDRESS_CLAMP, address_y=fmt.ADDRESS_CLAMP)
    return fmt.read_asset(fmt.write_asset(asset))


@dataclass
class Case:
    label: str  # "2048x2048 synth" or the file name
    asset: fmt.Asset
    source: str  # "synthesized (seed S)" or the path


def load_cases(args: argparse.Namespace) -> list[Case]:
    if args.asset:
        return [Case(f"{p.name}", fmt.read_asset_file(p), str(p)) for p in args.asset]
    return [Case(f"{s}x{s} synth", synth_asset(s, s, args.seed, sigma_scale=args.sigma_scale),
                 f"synthesized (seed {args.seed}, sigma scale {args.sigma_scale:g})")
            for s in args.sizes]


# --- timing ----------------------------------------------------------------------------------

def median_event_ms(cuda, launch, repeats: int, warmup: int) -> tuple[float, list[float]]:
    """Median of ``repeats`` CUDA-event timings (ms) of ``launch()`` after ``warmup`` runs."""
    for _ in range(warmup):
        launch()
    cuda.Context.synchronize()
    start, end = cuda.Event(), cuda.Event()
    times = []
    for _ in range(repeats):
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(start.time_till(end))
    return statistics.median(times), times


def median_wall_ms(cuda, fn, repeats: int, warmup: int) -> float:
    """Median wall time (ms) of ``fn()`` (which ends in a blocking read-back)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        cuda.Context.synchronize()
        t0 = time.perf_counter()
        fn()
        cuda.Context.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def device_info(cuda, lanes: int, ops: int) -> dict:
    dev = cuda.Context.get_device()
    attr = cuda.device_attribute
    sms = dev.get_attribute(attr.MULTIPROCESSOR_COUNT)
    info = {"name": dev.name(), "compute_capability": "{}.{}".format(*dev.compute_capability()),
            "sms": sms, "clock_mhz": None, "memory_gib": dev.total_memory() / 2**30,
            "driver_version": cuda.get_driver_version(),
            "lanes_per_sm": lanes, "ops_per_texel": ops, "bound_gtexel_s": None}
    try:  # kHz; an attribute a future driver may drop
        clock_khz = dev.get_attribute(attr.CLOCK_RATE)
        info["clock_mhz"] = clock_khz / 1e3
        info["bound_gtexel_s"] = sms * lanes * clock_khz * 1e3 / ops / 1e9
    except Exception as e:  # noqa: BLE001
        info["clock_error"] = str(e)
    try:
        mem_khz = dev.get_attribute(attr.MEMORY_CLOCK_RATE)
        bus = dev.get_attribute(attr.GLOBAL_MEMORY_BUS_WIDTH)
        info["dram_peak_gb_s"] = 2 * mem_khz * 1e3 * bus / 8 / 1e9
    except Exception as e:  # noqa: BLE001  (attribute missing in an old pycuda or driver)
        info["dram_peak_gb_s_error"] = str(e)
    return info


# --- one texture ----------------------------------------------------------------------------

@dataclass
class Row:
    case: str
    mode: str
    backend: str
    items: int  # texels (decode, index: the texture's) or UV points
    ms: float | None = None  # cuda: CUDA events around the launches; numpy: one run
    e2e_ms: float | None = None
    extra: dict = field(default_factory=dict)

    def rate(self, ms: float | None) -> float | None:
        return None if not ms else self.items / (ms * 1e-3) / 1e9


def _region(w: int, h: int, crop: int) -> tuple[int, int, int, int]:
    cw, ch = min(crop, w), min(crop, h)
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def bench_case(dec, case: Case, args: argparse.Namespace) -> tuple[list[Row], dict]:
    """The GPU rows and the NumPy rows of one texture, and its facts (prep time, checks)."""
    cuda = dec.cuda
    asset = case.asset
    w, h, c = asset.width, asset.height, asset.channel_count
    texels = w * h
    facts: dict = {"case": case.label, "source": case.source, "width": w, "height": h,
                   "channels": c, "gaussians": asset.gaussian_count,
                   "lod_counts": list(asset.lod_counts), "top_k": asset.top_k,
                   "tile": asset.tile_size}
    t0 = time.perf_counter()
    bufs = build_gpu_buffers(asset, tile=args.index_tile)
    prep_ms = (time.perf_counter() - t0) * 1e3
    facts.update(prep_ms=prep_ms, id_bits=bufs.id_bits, buffer_bytes=bufs.total_bytes,
                 index_bytes=bufs.index_bytes,
                 index_tile=int(bufs.meta[L.META_TILE]))
    rows: list[Row] = []
    rep, warm = args.repeats, args.warmup

    # device copies, made once for the kernel timings
    buf_args, keep = dec._buffer_args(bufs)
    status, host_status = dec._status()
    fn = dec._fn

    # (a) whole-texture decode at every texel
    out = cuda.mem_alloc(4 * texels * c)
    cand = cuda.mem_alloc(4 * texels)
    bx, by, _ = cd.GRID_BLOCK
    grid2 = ((w + bx - 1) // bx, (h + by - 1) // by)
    zero4 = [np.uint32(0)] * 4

    k = asset.top_k
    generic = cd.decode_kernel("texgs_decode_grid_kernel", k) == "texgs_decode_grid_kernel"
    builds = [(k, "")] + ([] if generic else [(0, " generic K")])  # k 0: the generic build

    # the expanded records, made on the device once per upload (load-time work, timed here)
    n_g = int(bufs.meta[L.META_COUNT])
    geo = cuda.mem_alloc(20 * n_g)
    col = cuda.mem_alloc(4 * n_g * c)
    grid_g = ((n_g + cd.POINT_BLOCK - 1) // cd.POINT_BLOCK, 1)

    def launch_expand():
        fn["texgs_expand_kernel"](*buf_args, geo, col, status, block=(cd.POINT_BLOCK, 1, 1),
                                  grid=grid_g)

    x_ms, x_all = median_event_ms(cuda, launch_expand, rep, warm)
    dec._check(status, host_status)
    args_x = [*buf_args[:8], geo, np.uint32(5 * n_g), col, np.uint32(n_g * c)]
    facts["expanded_bytes"] = 4 * n_g * (5 + c)

    def launch_grid(kb=k, a=buf_args):
        fn[cd.decode_kernel("texgs_decode_grid_kernel", kb)](
            *a, np.uint32(w), np.uint32(h), np.float32(0.0), *zero4, out, cand, status,
            block=cd.GRID_BLOCK, grid=grid2)

    def timed_equal(launch, ref: np.ndarray, n_out: int, what: str):
        """Time ``launch`` (output poisoned with NaN first) and check its output equals
        ``ref`` bit for bit -> (median ms, all ms)."""
        cuda.memset_d32(out_mem[0], 0xFFFFFFFF, n_out)
        t_ms, t_all = median_event_ms(cuda, launch, rep, warm)
        dec._check(status, host_status)
        got = np.empty_like(ref)
        cuda.memcpy_dtoh(got, out_mem[0])
        if not np.array_equal(got, ref):
            raise SystemExit(f"{case.label}: {what} differs from the exact build's decode "
                             f"(max {np.nanmax(np.abs(got - ref))})")
        return t_ms, t_all

    out_mem = [out]
    k_ms, k_all = median_event_ms(cuda, launch_grid, rep, warm)
    dec._check(status, host_status)
    vals = np.empty((h, w, c), np.float32)
    cnt = np.empty((h, w), np.uint32)
    cuda.memcpy_dtoh(vals, out)
    cuda.memcpy_dtoh(cnt, cand)
    try:  # the tile-cooperative decode's block (None: the default does not divide the tile)
        blk = decode_block(int(bufs.meta[L.META_TILE]), args.block)
    except ValueError as e:  # --block does not divide this texture's index tile
        print(f"{PROG}: {case.label}: --block: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    facts["block"] = blk
    e2e = median_wall_ms(cuda, lambda: dec.decode_buffers(bufs, (w, h), 0.0, block=blk),
                         rep, 1)
    # e2e: decode_buffers, which runs the tile-cooperative kernel at this size on a
    # persistent grid (the row "decode tiles, persistent" below)
    rows.append(Row(case.label, "decode", "cuda", texels, k_ms, None,
                    {"kernel_ms_all": k_all, "candidates_mean": float(cnt.mean()),
                     "candidates_p99": float(np.percentile(cnt, 99)),
                     "candidates_max": int(cnt.max()),
                     "kernel": cd.decode_kernel("texgs_decode_grid_kernel", k)}))
    if not generic:
        g_ms, g_all = timed_equal(lambda: launch_grid(0), vals, texels * c,
                                  "the generic per-texel build")
        rows.append(Row(case.label, "decode generic K", "cuda", texels, g_ms, None,
                        {"kernel_ms_all": g_all, "kernel": "texgs_decode_grid_kernel"}))
    g_ms, g_all = timed_equal(lambda: launch_grid(k, args_x), vals, texels * c,
                              "the per-texel decode from the expanded records")
    rows.append(Row(case.label, "decode expanded", "cuda", texels, g_ms, None,
                    {"kernel_ms_all": g_all,
                     "kernel": cd.decode_kernel("texgs_decode_grid_kernel", k)}))
    # the same lists coded at fixed width: each thread reads its own entries (no serial
    # Rice walk), for the UV and tile-cooperative decodes
    fixed = build_gpu_buffers(asset, tile=args.index_tile, coding=L.INDEX_CODING_FIXED)
    args_f, keep_f = dec._buffer_args(fixed)
    args_fx = [*args_f[:8], *args_x[8:]]
    facts["fixed_index_bytes"] = fixed.index_bytes
    g_ms, g_all = timed_equal(lambda: launch_grid(k, args_fx), vals, texels * c,
                              "the per-texel decode from the expanded records (fixed ids)")
    rows.append(Row(case.label, "decode expanded fixed ids", "cuda", texels, g_ms, None,
                    {"kernel_ms_all": g_all,
                     "kernel": cd.decode_kernel("texgs_decode_grid_kernel", k)}))
    if blk is not None:
        tile = int(bufs.meta[L.META_TILE])
        variants = [*((kb, sx, buf_args, blk, 1) for kb, sx in builds),
                    (k, " expanded", args_x, blk, 1), (k, " expanded fixed ids", args_fx, blk, 1)]
        variants += [(k, f" expanded fixed ids, block {b2}", args_fx, b2, 1)
                     for b2 in (4, 16, 32) if b2 != blk and b2 <= tile and tile % b2 == 0]
        if not generic:  # the two-row builds: two texels per thread (exact K only)
            variants += [(k, f" expanded fixed ids, block {b2}, 2 rows", args_fx, b2, 2)
                         for b2 in (blk, 16) if b2 <= tile and tile % b2 == 0 and b2 % 2 == 0]
        for (kb, suffix, a, b2, nrows), persistent in itertools.product(variants,
                                                                        (False, True)):
            name = (cd.decode_kernel("texgs_decode_tiles_kernel", kb) if nrows == 1
                    else f"{cd.TWO_ROW_TILES_KERNEL}_k{kb}")
            if b2 * b2 // nrows > dec._max_threads(fn[name]):
                continue  # more threads than this build's registers allow
            # one launch block per texel block, or as many as the GPU holds at once, each
            # walking several (decode_buffers' default)
            grid_b = dec.tile_grid(fn[name], b2, b2 * b2 // nrows, (w, h), persistent)
            suffix += ", persistent" if persistent else ""

            def launch_tiles(name=name, a=a, b2=b2, grid_b=grid_b, nrows=nrows):
                fn[name](*a, *zero4, out, cand, status, block=(b2, b2 // nrows, 1),
                         grid=grid_b)

            # NaN first: every texel must be rewritten, equal to the per-texel decode
            t_ms, t_all = timed_equal(launch_tiles, vals, texels * c,
                                      f"the tile-cooperative decode ({name}{suffix})")
            rows.append(Row(case.label, "decode tiles" + suffix, "cuda", texels, t_ms,
                            e2e if suffix == ", persistent" else None,
                            {"kernel_ms_all": t_all, "equal_to_per_texel": True,
                             "block": b2, "rows_per_thread": nrows, "kernel": name,
                             "grid": list(grid_b)}))
    rows.append(Row(case.label, "expand", "cuda", n_g, x_ms, None,
                    {"kernel_ms_all": x_all, "gaussians": n_g,
                     "gaussians_per_s": n_g / (x_ms * 1e-3)}))
    out.free()
    cand.free()

    # (b) random UV lookups
    rng = np.random.default_rng(args.seed + 1)
    pts = args.points
    uv = rng.uniform(0.0, 1.0, (pts, 2))
    d_uv, _ = dec._upload(uv)
    d_out = cuda.mem_alloc(4 * pts * c)
    grid1 = ((pts + cd.POINT_BLOCK - 1) // cd.POINT_BLOCK, 1)

    def launch_uv(kb=k, a=buf_args):
        fn[cd.decode_kernel("texgs_decode_uv_kernel", kb)](
            *a, d_uv, np.uint32(pts), d_out, status, block=(cd.POINT_BLOCK, 1, 1),
            grid=grid1)

    k_ms, k_all = median_event_ms(cuda, launch_uv, rep, warm)
    dec._check(status, host_status)
    uv_vals = np.empty((pts, c), np.float32)
    cuda.memcpy_dtoh(uv_vals, d_out)
    uv_more = []  # the generic build; the expanded records, with the Rice and fixed lists
    out_mem[0] = d_out
    if not generic:
        g_ms, g_all = timed_equal(lambda: launch_uv(0), uv_vals, pts * c,
                                  "the generic UV build")
        uv_more.append(Row(case.label, f"uv {pts:,} generic K", "cuda", pts, g_ms, None,
                           {"kernel_ms_all": g_all, "kernel": "texgs_decode_uv_kernel"}))
    for a, label, index in ((args_x, "expanded", "rice"), (args_fx, "expanded fixed ids",
                                                            "fixed")):
        x_ms2, x_all2 = timed_equal(lambda a=a: launch_uv(k, a), uv_vals, pts * c,
                                    f"the UV decode from the expanded records ({index})")
        uv_more.append(Row(case.label, f"uv {pts:,} {label}", "cuda", pts, x_ms2, None,
                           {"kernel_ms_all": x_all2, "index": index,
                            "kernel": cd.decode_kernel("texgs_decode_uv_kernel", k)}))

    # the same points binned by texel block, then decoded cooperatively (CudaDecoder
    # decode_uv_buffers(binned=True)); timed with the binning (memset, count, scan, fill)
    bb = decode_block(int(bufs.meta[L.META_TILE]), args.block)
    bfn = fn[cd.decode_kernel("texgs_decode_uv_blocks_kernel", k)]
    if bb is not None and bb * bb <= dec._max_threads(bfn):
        nblk = -(-w // bb) * -(-h // bb)
        b_off = cuda.mem_alloc(4 * (nblk + 1))
        b_of = cuda.mem_alloc(4 * pts)
        b_cur = cuda.mem_alloc(4 * nblk)
        b_ord = cuda.mem_alloc(4 * pts)
        b_grid = (min(nblk, dec.resident_blocks(bfn, bb * bb)), 1)

        def launch_binned(a):
            cuda.memset_d32(b_off, 0, nblk + 1)
            fn["texgs_uv_bin_count_kernel"](*a, d_uv, np.uint32(pts), np.uint32(bb), b_off,
                                            b_of, status, block=(cd.POINT_BLOCK, 1, 1),
                                            grid=grid1)
            fn["texgs_index_scan_kernel"](np.uint32(nblk), b_off, b_cur,
                                          block=(cd.SCAN_BLOCK, 1, 1), grid=(1, 1))
            fn["texgs_uv_bin_fill_kernel"](np.uint32(pts), b_of, b_cur, b_ord,
                                           block=(cd.POINT_BLOCK, 1, 1), grid=grid1)
            bfn(*a, d_uv, np.uint32(bb), b_off, b_ord, d_out, status, block=(bb * bb, 1, 1),
                grid=b_grid)

        for a, label, index in ((buf_args, "binned", "rice"),
                                (args_fx, "binned, expanded fixed ids", "fixed")):
            b_ms, b_all = timed_equal(lambda a=a: launch_binned(a), uv_vals, pts * c,
                                      f"the binned UV decode ({label})")
            uv_more.append(Row(case.label, f"uv {pts:,} {label}", "cuda", pts, b_ms, None,
                               {"kernel_ms_all": b_all, "index": index, "block": bb,
                                "grid": list(b_grid), "with_binning": True,
                                "kernel": cd.decode_kernel("texgs_decode_uv_blocks_kernel",
                                                           k)}))
        for mem in (b_off, b_of, b_cur, b_ord):
            mem.free()

    def e2e_uv():  # the decoder's decode_uv without its NumPy buffer build
        ba, bk = dec._buffer_args(bufs)
        st, hst = dec._status()
        du, _ = dec._upload(uv)
        do = cuda.mem_alloc(4 * pts * c)
        fn[cd.decode_kernel("texgs_decode_uv_kernel", k)](
            *ba, du, np.uint32(pts), do, st, block=(cd.POINT_BLOCK, 1, 1), grid=grid1)
        dec._check(st, hst)
        res = np.empty((pts, c), np.float32)
        cuda.memcpy_dtoh(res, do)
        return res, bk

    e2e = median_wall_ms(cuda, e2e_uv, rep, 1)
    rows.append(Row(case.label, f"uv {pts:,}", "cuda", pts, k_ms, e2e,
                    {"kernel_ms_all": k_all,
                     "kernel": cd.decode_kernel("texgs_decode_uv_kernel", k)}))
    rows += uv_more
    d_uv.free()
    d_out.free()
    for mem in (geo, col, *keep_f):
        mem.free()

    # (c) tile index
    meta = np.asarray(bufs.meta, np.uint32)
    n = int(meta[L.META_COUNT])
    tiles = int(meta[L.META_TILES_X]) * int(meta[L.META_TILES_Y])
    empty = np.zeros(0, np.uint32)
    noidx = GpuBuffers(meta, bufs.records, empty, empty, 32, bufs.index)
    iargs, ikeep = dec._buffer_args(noidx)
    offsets = cuda.mem_alloc(4 * (tiles + 1))
    cursors = cuda.mem_alloc(4 * max(tiles, 1))
    # the GPU index kernels build the full lists, which the NumPy index equals before its
    # pruning (build_gpu_buffers prunes by default)
    full_index = build_gpu_buffers(asset, tile=args.index_tile, prune=False).index
    total = int(full_index.offsets[-1])
    ids = cuda.mem_alloc(4 * max(total, 1))
    gridn = ((n + cd.POINT_BLOCK - 1) // cd.POINT_BLOCK, 1)
    pblock = (cd.POINT_BLOCK, 1, 1)

    def launch_index():
        cuda.memset_d32(offsets, 0, tiles + 1)
        fn["texgs_index_count_kernel"](*iargs, offsets, status, block=pblock, grid=gridn)
        fn["texgs_index_scan_kernel"](np.uint32(tiles), offsets, cursors,
                                      block=(cd.SCAN_BLOCK, 1, 1), grid=(1, 1))
        fn["texgs_index_fill_kernel"](*iargs, cursors, ids, status, block=pblock, grid=gridn)

    k_ms, k_all = median_event_ms(cuda, launch_index, rep, warm)
    dec._check(status, host_status)
    gpu_off = np.empty(tiles + 1, np.uint32)
    cuda.memcpy_dtoh(gpu_off, offsets)
    e2e = median_wall_ms(cuda, lambda: dec.build_index(bufs), rep, 1)
    rows.append(Row(case.label, "index", "cuda", texels, k_ms, e2e,
                    {"kernel_ms_all": k_all, "gaussians": n, "tiles": tiles,
                     "entries": total, "gaussians_per_s": n / (k_ms * 1e-3)}))
    for mem in (offsets, cursors, ids, *keep, *ikeep):
        mem.free()

    # the NumPy reference, on a crop and a subset, index prebuilt
    checks: dict = {"index_offsets_equal": bool(np.array_equal(
        gpu_off.astype(np.int64), full_index.offsets))}
    ties_fine = True
    if args.ref_crop > 0:
        x0, y0, cw, chh = _region(w, h, args.ref_crop)
        xs = (np.arange(x0, x0 + cw) + 0.5) / w
        ys = (np.arange(y0, y0 + chh) + 0.5) / h
        cuv = np.stack([np.tile(xs, chh), np.repeat(ys, cw)], 1)
        t0 = time.perf_counter()
        ref = decode_uv(asset, cuv, index=bufs.index)
        ms = (time.perf_counter() - t0) * 1e3
        rows.append(Row(case.label, f"decode crop {cw}x{chh}", "numpy", cw * chh, ms))
        got = vals[y0:y0 + chh, x0:x0 + cw].reshape(-1, c)
        checks["decode_crop_max_err"], checks["decode_crop_near_ties"] = compare_to_reference(
            got, ref, asset, bufs.index, cuv[:, 0] * w, cuv[:, 1] * h)
        ties_fine &= ties_ok(checks["decode_crop_near_ties"], cw * chh)
    if args.ref_points > 0:
        m = min(args.ref_points, pts)
        t0 = time.perf_counter()
        ref = decode_uv(asset, uv[:m], index=bufs.index)
        ms = (time.perf_counter() - t0) * 1e3
        rows.append(Row(case.label, f"uv {m:,}", "numpy", m, ms))
        checks["uv_max_err"], checks["uv_near_ties"] = compare_to_reference(
            uv_vals[:m], ref, asset, bufs.index, uv[:m, 0] * w, uv[:m, 1] * h)
        ties_fine &= ties_ok(checks["uv_near_ties"], m)
    rows.append(Row(case.label, "index (build_gpu_buffers)", "numpy", texels, prep_ms))
    facts["checks"] = checks
    facts["ok"] = checks["index_offsets_equal"] and all(
        v <= MATCH_TOL for k, v in checks.items() if k.endswith("_err")) and ties_fine
    return rows, facts


# --- output ----------------------------------------------------------------------------------

def _f(v: float | None, width: int, spec: str, unit: str = "") -> str:
    return ("-" if v is None else format(v, spec) + unit).rjust(width)


def print_table(rows: list[Row], dev: dict) -> None:
    """One line per row: kernel time and rate, share of the arithmetic bound, end-to-end
    time and rate, speed-up of the kernel over the NumPy row of the same mode, mean
    candidates per texel (decode)."""
    bound = dev["bound_gtexel_s"]
    numpy_rate = {(r.case, r.mode.split()[0]): r.rate(r.ms) for r in rows
                  if r.backend == "numpy"}
    head = (f"{'texture':<20} {'mode':<26} {'backend':<7} {'ms':>10} {'Gtexel/s':>9} "
            f"{'of bound':>8} {'e2e ms':>9} {'e2e Gtex/s':>10} {'x numpy':>8} {'cand/tx':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        kr, er = r.rate(r.ms), r.rate(r.e2e_ms)
        texel_mode = r.backend == "cuda" and r.mode not in ("index", "expand")
        frac = kr / bound if (kr and bound and texel_mode) else None
        base = numpy_rate.get((r.case, r.mode.split()[0])) if r.backend == "cuda" else None
        print(f"{r.case:<20} {r.mode:<26} {r.backend:<7} {_f(r.ms, 10, '.3f')} "
              f"{_f(kr, 9, '.4g')} {_f(None if frac is None else 100 * frac, 8, '.1f', '%')} "
              f"{_f(r.e2e_ms, 9, '.2f')} {_f(er, 10, '.4g')} "
              f"{_f(kr / base if (kr and base) else None, 8, '.0f')} "
              f"{_f(r.extra.get('candidates_mean'), 7, '.1f')}")


def add_case_options(ap: argparse.ArgumentParser, sizes: list[int], index_tile: int) -> None:
    """The input options this bench shares with bench_cuda_profile.py: --asset, --sizes,
    --index-tile, --block, --seed, --sigma-scale (check them with check_case_options)."""
    ap.add_argument("--asset", type=Path, action="append", default=[],
                    help="a .tgs file (repeatable); default: synthesized assets of --sizes")
    ap.add_argument("--sizes", type=int, nargs="+", default=sizes,
                    help="square sizes of the synthesized assets (default %s)"
                    % " ".join(map(str, sizes)))
    ap.add_argument("--index-tile", type=int, default=index_tile,
                    help="the tile index's tile in texels (1..%d, default %d): smaller tiles "
                    "give each texel fewer candidates for a larger index" % (
                        MAX_INDEX_TILE, index_tile))
    ap.add_argument("--block", type=int, default=None,
                    help="decode tiles: blocks of BLOCK x BLOCK texels (1..32, dividing the "
                    "index tile; default 8, or the index tile when smaller)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sigma-scale", type=float, default=1.0,
                    help="synthesized assets: sigma about this x the spacing sqrt(W H / N) "
                    "(default 1; 0.55 gives the ~27 candidates per texel measured on real "
                    "1 bpp bakes, docs/RUNTIME.md)")


def check_case_options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """ap.error (exit 2) for an option of add_case_options out of its range."""
    if not 0.05 <= args.sigma_scale <= 20:
        ap.error("--sigma-scale must lie in 0.05..20")
    if not 1 <= args.index_tile <= MAX_INDEX_TILE:
        ap.error(f"--index-tile must lie in 1..{MAX_INDEX_TILE}")
    if args.block is not None and not 1 <= args.block <= MAX_DECODE_BLOCK:
        ap.error(f"--block must lie in 1..{MAX_DECODE_BLOCK}")
    if any(not 1 <= s <= fmt.MAX_DIMENSION for s in args.sizes):
        ap.error(f"--sizes must lie in 1..{fmt.MAX_DIMENSION}")


def open_decoder(prog: str, args: argparse.Namespace, profile: bool = False):
    """(CudaDecoder, seconds it took to be ready, the cases of ``args``), or the exit code
    after one line on stderr: 5 without pycuda, a driver or a GPU, 2 for an unreadable
    asset. ``profile``: the decoder with the phase-profile builds."""
    t0 = time.perf_counter()
    try:
        dec = cd.CudaDecoder(profile=profile)
    except UnsupportedError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 5
    ready_s = time.perf_counter() - t0
    try:
        cases = load_cases(args)
    except (TexgsError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return dec, ready_s, cases


def args_json(args: argparse.Namespace) -> dict:
    """The options as JSON values (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "asset" else v)
            for k, v in vars(args).items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_case_options(ap, [2048, 4096], DEFAULT_INDEX_TILE)
    ap.add_argument("--points", type=int, default=4_000_000,
                    help="random UV points of the uv mode (default 4000000)")
    ap.add_argument("--repeats", type=int, default=10, help="timed runs per mode (median)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs before them")
    ap.add_argument("--ref-crop", type=int, default=256,
                    help="NumPy baseline: decode a centred crop this wide (0: skip)")
    ap.add_argument("--ref-points", type=int, default=65536,
                    help="NumPy baseline: UV points (0: skip)")
    ap.add_argument("--lanes-per-sm", type=int, default=LANES_PER_SM)
    ap.add_argument("--ops-per-texel", type=int, default=OPS_PER_TEXEL)
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    ap.add_argument("--save-assets", type=Path, default=None, metavar="DIR",
                    help="write the synthesized assets to DIR as .tgs and exit (no GPU)")
    args = ap.parse_args(argv)
    for name in ("points", "repeats", "lanes_per_sm", "ops_per_texel"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("warmup", "ref_crop", "ref_points"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must not be negative")
    check_case_options(ap, args)
    if args.points >= 2**32:
        ap.error("--points must be below 2^32")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.save_assets is not None:
        args.save_assets.mkdir(parents=True, exist_ok=True)
        for s in args.sizes:
            p = args.save_assets / f"synth_{s}x{s}_seed{args.seed}.tgs"
            p.write_bytes(fmt.write_asset(synth_asset(s, s, args.seed,
                                                      sigma_scale=args.sigma_scale)))
            print(p)
        return 0
    opened = open_decoder(PROG, args)
    if isinstance(opened, int):
        return opened
    dec, ready_s, cases = opened
    dev = device_info(dec.cuda, args.lanes_per_sm, args.ops_per_texel)
    clock = "?" if dev["clock_mhz"] is None else f"{dev['clock_mhz']:.0f}"
    print(f"device: {dev['name']} (sm_{dev['compute_capability'].replace('.', '')}), "
          f"{dev['sms']} SMs at {clock} MHz, {dev['memory_gib']:.0f} GiB"
          + (f", DRAM peak {dev['dram_peak_gb_s']:.0f} GB/s" if "dram_peak_gb_s" in dev else "")
          + f"; decoder ready (kernels compiled or cached) in {ready_s:.1f} s")
    if dev["bound_gtexel_s"] is None:
        print(f"arithmetic bound: no clock rate from the driver ({dev.get('clock_error')})")
    else:
        print(f"arithmetic bound = SMs x {dev['lanes_per_sm']} FP32 lanes x clock / "
              f"{dev['ops_per_texel']} ops per texel = {dev['sms']} x {dev['lanes_per_sm']} x "
              f"{dev['clock_mhz'] / 1e3:.3f} GHz / {dev['ops_per_texel']} = "
              f"{dev['bound_gtexel_s']:.1f} Gtexel/s")
    print(f"ms: cuda = CUDA events around the kernel launches, median of {args.repeats} after "
          f"{args.warmup} warm-up; numpy = texgs.decode, one run. e2e: the decoder's host "
          "path with host<->device copies, wall clock (median)")
    rows: list[Row] = []
    facts: list[dict] = []
    for case in cases:
        r, f = bench_case(dec, case, args)
        rows += r
        facts.append(f)
        print(f"{case.label}: {f['gaussians']} Gaussians (LODs {f['lod_counts']}), top_k "
              f"{f['top_k']}, tile {f['tile']} (index tile {f['index_tile']}, decode "
              f"block {f['block']}), {f['id_bits']}-bit ids, "
              f"{f['buffer_bytes'] / 2**20:.1f} MiB of buffers (Rice index "
              f"{f['index_bytes'] / 2**20:.1f} MiB; expanded records "
              f"{f['expanded_bytes'] / 2**20:.1f} MiB more, fixed-id index "
              f"{f['fixed_index_bytes'] / 2**20:.1f} MiB); prep (NumPy buffers) "
              f"{f['prep_ms'] / 1e3:.2f} s; checks {f['checks']}"
              + ("" if f["ok"] else "  MISMATCH"), flush=True)
    print()
    print_table(rows, dev)
    ok = all(f["ok"] for f in facts)
    if not ok:
        print(f"{PROG}: GPU results differ from the NumPy reference (see checks)",
              file=sys.stderr)
    if args.json is not None:
        out = {"device": dev, "args": args_json(args),
               "host": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine()},
               "decoder_ready_s": ready_s, "textures": facts,
               "rows": [{"texture": r.case, "mode": r.mode, "backend": r.backend,
                         "items": r.items, "ms": r.ms, "gtexel_s": r.rate(r.ms),
                         "of_bound": (r.rate(r.ms) / dev["bound_gtexel_s"]
                                      if r.backend == "cuda"
                                      and r.mode not in ("index", "expand")
                                      and dev["bound_gtexel_s"] else None),
                         "e2e_ms": r.e2e_ms, "e2e_gtexel_s": r.rate(r.e2e_ms), **r.extra}
                        for r in rows], "ok": ok}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""bench/bench_cuda_decode.py without a GPU: its options, the synthesized bake-like assets
(size, budget, read-back, NumPy decode) and its one-line exit 5 when pycuda or a GPU is
missing. Where pycuda and a GPU are present, the last test runs the bench on a small texture
instead (a smoke test of its GPU path)."""

from __future__ import annotations

import ctypes
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from cuda_emulated import EmulatedKernels, compile_kernels, emulated_pycuda, run_gpu_bench
from cuda_standin import Harness, compile_harness, fake_pycuda

from texgs import cuda_decoder as cd
from texgs import format as fmt
from texgs.bake.config import BakeConfig, plan_budget
from texgs.decode import decode_texture
from texgs.runtime import dequantize

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_cuda_decode.py"
sys.path.insert(0, str(BENCH.parent))

import bench_cuda_decode as bench  # noqa: E402


def test_options_and_their_limits():
    a = bench.parse_args([])
    assert a.sizes == [2048, 4096] and a.asset == [] and a.points == 4_000_000
    assert a.repeats >= 10 and a.json is None
    a = bench.parse_args(["--asset", "x.tgs", "--asset", "y.tgs", "--sizes", "512",
                          "--json", "o.json"])
    assert a.asset == [Path("x.tgs"), Path("y.tgs")] and a.sizes == [512]
    assert a.index_tile == 32 and bench.parse_args(["--index-tile", "8"]).index_tile == 8
    for bad in (["--index-tile", "0"], ["--index-tile", "257"], ["--repeats", "0"], ["--sizes", "0"], ["--points", "0"], ["--warmup", "-1"],
                ["--sizes"], ["--bogus"]):
        with pytest.raises(SystemExit) as e:
            bench.parse_args(bad)
        assert e.value.code == 2


def test_synthesized_asset_is_a_1bpp_bake_shape_and_decodes():
    cfg = BakeConfig()
    asset = bench.synth_asset(256, 256)
    counts = plan_budget(256, 256, 3, cfg)
    assert asset.lod_counts == counts and asset.gaussian_count == sum(counts)
    assert (asset.top_k, asset.tile_size, len(asset.lod_counts)) == (cfg.top_k, cfg.tile,
                                                                     cfg.lod_levels)
    data = fmt.write_asset(asset)
    assert len(data) * 8 <= 256 * 256 * cfg.bpp
    back = fmt.read_asset(data)
    np.testing.assert_array_equal(back.fields, asset.fields)
    assert back.channels == asset.channels and back.lod_counts == asset.lod_counts
    # sigma about the spacing, mildly anisotropic, every rotation used
    g = dequantize(back)
    a, b, c = (g.conics[:, i].astype(np.float64) for i in range(3))
    tr, det = a + c, a * c - b * b
    disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0))
    s_big, s_small = 1 / np.sqrt(tr / 2 - disc), 1 / np.sqrt(tr / 2 + disc)
    spacing = math.sqrt(256 * 256 / asset.gaussian_count)
    assert abs(np.mean(np.log2(np.sqrt(s_big * s_small))) - math.log2(spacing)) < 0.1
    ratio = np.median(s_big / s_small)
    assert 1.1 < ratio < 1.6, ratio
    assert len(np.unique(back.fields[:, 4])) > 200
    img = decode_texture(back)
    assert img.shape == (256, 256, 3) and np.isfinite(img).all()
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.02
    assert bench.synth_asset(256, 256).fields.tobytes() == asset.fields.tobytes()  # seeded


def test_save_assets_writes_readable_files(tmp_path):
    assert bench.main(["--save-assets", str(tmp_path), "--sizes", "64", "300"]) == 0
    for s in (64, 300):
        asset = fmt.read_asset_file(tmp_path / f"synth_{s}x{s}_seed0.tgs")
        assert (asset.width, asset.height) == (s, s)


def test_without_pycuda_or_gpu_exit_5_with_one_line_else_runs(tmp_path):
    out = tmp_path / "r.json"
    res = run_gpu_bench(BENCH, ["--sizes", "64", "--points", "5000", "--repeats", "2",
                                "--json", str(out)], tmp_path, out)
    if res is not None:  # a GPU: the bench itself, on a small texture
        assert "arithmetic bound" in res.stdout
        rows = json.loads(out.read_text())["rows"]
        assert {r["mode"].split()[0] for r in rows if r["backend"] == "cuda"} == \
            {"decode", "expand", "uv", "index"}


# --- the bench's GPU path on the CPU --------------------------------------------------------

@pytest.mark.parametrize("backend", ["harness", "emulated"])
@pytest.mark.parametrize("index_tile, blocks", [(32, [8, 8, 8, 8, 4, 16, 32, 8, 16]),
                                               (8, [8, 8, 8, 8, 4, 8])])
def test_gpu_path_runs_on_the_cpu_in_place_of_the_gpu(tmp_path, monkeypatch, index_tile,
                                                      blocks, backend):
    """bench_case end to end without a GPU, on a stand-in pycuda whose kernel launches run
    the CPU harness of the same kernels (tests/cuda_standin.py) or the kernels themselves on
    the CPU model of CUDA (tests/cuda_emulated.py): the launch arguments, the K-build choice
    (the asset's exact build, then the generic one as baseline), the bit-for-bit checks
    between builds, kernels and grids and the checks against NumPy all pass, and every mode
    has its row, each tile-cooperative one on one launch block per texel block and on a
    persistent grid."""
    builds: list = []
    if backend == "harness":
        so = compile_harness(tmp_path / "harness.so", ["-O2", "-shared", "-fPIC"])
        mods = fake_pycuda(Harness(ctypes.CDLL(str(so))), builds=builds)
    else:
        launched: list = []
        mods = emulated_pycuda(EmulatedKernels(compile_kernels(tmp_path / "k.so")), launched)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    cd._compiled_module.cache_clear()
    try:
        dec = cd.CudaDecoder()
        args = bench.parse_args(["--sizes", "80", "--repeats", "1", "--warmup", "0",
                                 "--points", "400", "--ref-crop", "24", "--ref-points", "100",
                                 "--index-tile", str(index_tile)])
        rows, facts = bench.bench_case(dec, bench.load_cases(args)[0], args)
    finally:
        cd._compiled_module.cache_clear()
    assert facts["ok"] and facts["checks"]["index_offsets_equal"], facts["checks"]
    n2 = 2 if index_tile == 32 else 1  # the two-row rows: blocks 8 and 16 where they fit
    tiles = ["decode tiles",
             "decode tiles generic K", "decode tiles expanded", "decode tiles expanded fixed ids",
             *(f"decode tiles expanded fixed ids, block {b}" for b in blocks[4:-n2]),
             *(f"decode tiles expanded fixed ids, block {b}, 2 rows" for b in blocks[-n2:])]
    assert [r.mode for r in rows if r.backend == "cuda"] == [
        "decode", "decode generic K", "decode expanded", "decode expanded fixed ids",
        *(m + p for m in tiles for p in ("", ", persistent")),
        "expand", "uv 400",
        "uv 400 generic K", "uv 400 expanded", "uv 400 expanded fixed ids", "uv 400 binned",
        "uv 400 binned, expanded fixed ids", "index"]
    assert facts["index_tile"] == index_tile and facts["block"] == 8
    tile_rows = [r for r in rows if r.mode.startswith("decode tiles")]
    assert [r.extra["block"] for r in tile_rows] == [b for b in blocks for _ in (0, 1)]
    for r in tile_rows:  # 80 x 80 texels; the stand-in GPU holds 32 blocks of 64 threads
        b = r.extra["block"]
        full = [-(-80 // b)] * 2
        assert r.extra["grid"] == (full if "persistent" not in r.mode else
                                   [min(full[0] * full[1], dec.resident_blocks(
                                       dec._fn[r.extra["kernel"]],
                                       b * b // r.extra["rows_per_thread"])), 1])
    assert [r.e2e_ms is not None for r in tile_rows] == [r.mode == "decode tiles, persistent"
                                                         for r in tile_rows]
    if backend == "emulated":  # the kernels themselves ran, on the grids the rows give
        tile_launches = {(n, g) for n, g, _b in launched if "tiles" in n}
        assert {(r.extra["kernel"], tuple(r.extra["grid"])) for r in tile_rows} <= tile_launches
        builds += [n for n, _g, _b in launched]
    assert facts["expanded_bytes"] == 4 * facts["gaussians"] * (5 + facts["channels"])
    k = facts["top_k"]
    assert 1 <= k <= cd.TOPK_EXACT_MAX
    for kernel in ("grid", "tiles", "uv"):
        name = f"texgs_decode_{kernel}_kernel"
        assert f"{name}_k{k}" in builds and name in builds
    assert f"texgs_decode_uv_blocks_kernel_k{k}" in builds  # the binned rows, checked equal
    binned = [r for r in rows if "binned" in r.mode]
    assert all(r.extra["with_binning"] and r.extra["block"] == 8 for r in binned)
    assert f"texgs_decode_tiles2_kernel_k{k}" in builds


def test_a_reference_mismatch_is_excused_only_at_a_ranking_near_tie():
    """bench.near_tie finds the points whose K-th and (K+1)-th candidates tie (where the math
    libraries' ulps may keep either), and compare_to_reference excuses a mismatch there
    only: two Gaussians of one shape placed symmetrically about a point have exactly equal
    q, a tie at rank K when K - 1 candidates are nearer, none when K is one more."""
    import dataclasses

    from texgs.runtime import build_gpu_buffers

    asset = bench.synth_asset(128, 128, seed=3)
    f = asset.fields.copy()
    f[1, 2:5] = f[0, 2:5]  # Gaussian 1: Gaussian 0's shape...
    f[1, 0:2] = f[0, 0:2] + np.array([4, 0], np.uint32)  # ...4 position steps to its right
    base = dataclasses.replace(asset, fields=f)
    g = dequantize(base)
    px, py = (g.means[0] + g.means[1]) / 2  # the midpoint, exact in float32
    assert px - g.means[0, 0] == g.means[1, 0] - px and g.means[0, 1] == g.means[1, 1] == py
    index = build_gpu_buffers(base).index
    t = int(py // index.tile) * index.tiles_x + int(px // index.tile)
    cand = index.candidates(t)
    dx = np.float64(px) - g.means[cand, 0]
    dy = np.float64(py) - g.means[cand, 1]
    a, b, c = (g.conics[cand, j].astype(np.float64) for j in range(3))
    q = a * dx * dx + 2 * b * dx * dy + c * dy * dy
    q0 = q[list(cand).index(0)]
    assert q0 == q[list(cand).index(1)] and q0 < fmt.CUTOFF_Q
    rank = int((q < q0).sum())  # candidates nearer than the pair
    assert rank + 2 <= 32
    tie_k = rank + 1
    assert bench.near_tie(g, tie_k, index, px, py)
    assert not bench.near_tie(g, tie_k + 1, index, px, py)
    ref = np.zeros((2, 3))
    got = ref.copy()
    got[0] += 0.05  # the tie point differs
    tie_asset = dataclasses.replace(base, top_k=tie_k)
    xs, ys = np.array([px, px]), np.array([py, py])
    assert bench.compare_to_reference(got, ref, tie_asset, index, xs, ys) == (0.0, 1)
    none_asset = dataclasses.replace(base, top_k=tie_k + 1)
    err, ties = bench.compare_to_reference(got, ref, none_asset, index, xs, ys)
    assert ties == 0 and err == pytest.approx(0.05)
    # how many excused points a run allows: one in a thousand, at least one
    assert bench.ties_ok(1, 10) and bench.ties_ok(65, 65536)
    assert not bench.ties_ok(2, 10) and not bench.ties_ok(66, 65536)


def test_rank_order_model_counts_warp_insertions():
    """bench/bench_rank_order.py's model: in ascending order only the first K candidates
    are inserted, in descending order every one; a candidate counts for a warp when any of
    its 32 lanes inserts it, and q at or above the cutoff is never inserted."""
    import bench_rank_order as model

    up = np.tile(np.arange(6, dtype=np.float64), (64, 1))  # q 0..5 at every texel
    assert model.warp_insertions(up, 2) == (2 * 2, 2 * 6)
    assert model.warp_insertions(up[:, ::-1].copy(), 2) == (2 * 6, 2 * 6)
    one_lane = np.full((64, 3), 20.0)
    one_lane[40] = [3.0, 2.0, 1.0]  # a lane of the second warp only
    assert model.warp_insertions(one_lane, 2) == (3, 3)

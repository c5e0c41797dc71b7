"""bench/bench_rank_order.py, the model of the tile kernel's warp-level insertions and of
per-quarter lists, on a small synthesized texture: its table's invariants."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_rank_order as ro  # noqa: E402


def test_warp_insertions_by_hand():
    """Two warps of 32 texels, 3 candidates, K = 1: warp 0's lanes all see q = 1, 2, 0.5
    (each later one better: every candidate inserts), warp 1's 5, 9.5, 4 (the second beyond
    the cutoff, reaching no lane)."""
    q = np.array([[1.0, 2.0, 0.5]] * 32 + [[5.0, 9.5, 4.0]] * 32)
    ins, reach = ro.warp_insertions(q, 1)
    assert (ins, reach) == (2 + 2, 3 + 2)  # warp 0: 1, 0.5 insert; warp 1: 5, 4


def test_table_and_quarters(capsys):
    assert ro.main(["--size", "128", "--blocks", "30", "--quarters"]) == 0
    out = capsys.readouterr().out
    rows = {m[0]: tuple(map(float, m[1:])) for m in
            re.findall(r"^(list|random|sorted)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)}
    assert set(rows) == {"list", "random", "sorted"}
    cands = {r[0] for r in rows.values()}
    assert len(cands) == 1  # the same candidates in every order
    for c, ins, reach in rows.values():
        assert 0 < ins <= reach <= c
    m = re.search(r"walks ([\d.]+) \(the longer.*against ([\d.]+)", out)
    # a 4-texel tile's pruned list is part of its 8-texel tile's
    assert m and 0 < float(m[1]) <= float(m[2]) == cands.pop()


def test_rank32_ties_by_hand():
    """Key parts (float bits without the low 6) equal between adjacent ones of the K + 1
    smallest below the cutoff make a texel fall back; equal parts further down, or among
    refused ones, do not."""
    one = np.float32(1.0)
    near = np.nextafter(one, np.float32(2))  # 1 ulp up: the same key part
    far = (np.array([one]).view(np.int32) + 64).view(np.float32)[0]  # 64 ulps: the next part
    q = np.array([[one, near, 3.0],        # K = 1: the two smallest tie
                  [one, far, 3.0],         # distinct parts
                  [one, 3.0, 5.0],         # K = 1 looks at 2 only: 1, 3
                  [3.0, 5.0, 9.0],         # 9 is refused
                  [9.5, 9.5, 1.0],         # refused twins: no tie
                  [-1.0, -2.0, 4.0]],      # negative keys clamp to 0 together
                 np.float32)
    assert ro.rank32_ties(q, 1).tolist() == [True, False, False, False, False, True]
    q2 = np.array([[1.0, 2.0, 3.0, 3.0]], np.float32)  # the tie is 3rd/4th
    assert ro.rank32_ties(q2, 1).tolist() == [False]
    assert ro.rank32_ties(q2, 3).tolist() == [True]  # K + 1 = 4 reaches it


def test_kernel_q_is_the_float32_quadratic_form():
    """kernel_q against q in float64 (within float32 rounding), wrapping a repeat axis to
    the nearest image of the centre."""
    g = np.array([[10.0, 20.0, 0.5, 0.1, 0.25], [1.0, 1.0, 2.0, -0.3, 1.0]], np.float32)
    px, py = np.array([12.5, 0.5]), np.array([19.5, 30.5])
    got = ro.kernel_q(g, px, py, 32, 32, False, False)
    assert got.dtype == np.float32
    dx = px[:, None] - g[:, 0].astype(np.float64)
    dy = py[:, None] - g[:, 1].astype(np.float64)
    want = g[:, 2] * dx * dx + 2 * g[:, 3] * dx * dy + g[:, 4] * dy * dy
    np.testing.assert_allclose(got, want, rtol=1e-6)
    wrapped = ro.kernel_q(g, px, py, 32, 32, False, True)  # 18.5 -> -13.5, 29.5 -> -2.5
    dyw = np.array([[-0.5, -13.5], [10.5, -2.5]])
    want_w = g[:, 2] * dx * dx + 2 * g[:, 3] * dx * dyw + g[:, 4] * dyw * dyw
    np.testing.assert_allclose(wrapped, want_w, rtol=1e-6)


def test_rank32_line(capsys):
    assert ro.main(["--size", "128", "--blocks", "30", "--rank32"]) == 0
    m = re.search(r"32-bit ranking words: (\d+) of (\d+) texels .* (\d+) of (\d+) warps .* "
                  r"(\d+) of (\d+) blocks", capsys.readouterr().out)
    assert m
    texels, all_texels, warps, all_warps, long_lists, blocks = map(int, m.groups())
    assert (all_texels, all_warps, blocks) == (64 * 30, 60, 30)
    assert warps <= texels <= all_texels and warps <= all_warps and long_lists <= blocks


def test_asset_file_and_a_missing_one(tmp_path, capsys):
    """--asset reads a texgs asset (a golden vector of 17x33 texels, repeat in x: its edge
    blocks' texels outside the texture are not counted); a file that is not an asset exits
    2 with one line."""
    golden = Path(__file__).resolve().parent / "golden" / "gray_repeat_x.tgs"
    assert ro.main(["--asset", str(golden), "--blocks", "1000", "--rank32"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gray_repeat_x.tgs (17x33)")
    m = re.search(r"(\d+) of (\d+) texels .* (\d+) of (\d+) warps .* (\d+) of (\d+) blocks",
                  out)
    from texgs import format as fmt

    asset = fmt.read_asset_file(golden)
    blocks = ((asset.width + 7) // 8) * ((asset.height + 7) // 8)  # every block sampled
    warps = ((asset.width + 7) // 8) * ((asset.height + 3) // 4)  # 8x4 texels, some inside
    assert m and int(m[6]) == blocks and int(m[2]) == asset.width * asset.height
    assert int(m[4]) == warps
    bad = tmp_path / "not.tgs"
    bad.write_bytes(b"nope")
    assert ro.main(["--asset", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bench_rank_order: error: {bad}:")

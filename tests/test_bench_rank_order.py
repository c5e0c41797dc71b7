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

"""Checks of the reach test of random-access sampling (docs/RUNTIME.md "Sampling a point")
shared by the GLSL and HLSL test files: the same assertions on either runner class
(``GlslDecoder`` / ``HlslDecoder``, constructed with extra shader defines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from texgs import format as fmt
from texgs import layout
from texgs.decode import wrap_points
from texgs.runtime import decode_buffers, dequantize, inverse_variances, reach_counts

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.tgs"))


def expected_reach(asset, size: tuple[int, int] | None = None, filtered: bool = False,
                   tile: int | None = None) -> np.ndarray:
    """texgs.runtime.reach_counts at the texel centres of a decode to ``size``: uint32 [H', W']."""
    bufs, (w, h), fvar = decode_buffers(asset, size=size, filtered=filtered, tile=tile)
    g = dequantize(asset)
    ys, xs = np.mgrid[0:h, 0:w]
    f32 = np.float32
    px = (xs.ravel().astype(f32) + f32(0.5)) * (f32(asset.width) / f32(w))
    py = (ys.ravel().astype(f32) + f32(0.5)) * (f32(asset.height) / f32(h))
    px, py = wrap_points(g, px, py)
    # the shader's f: min(filter_var, meta FILTER_MAX_VAR)
    fmax = bufs.meta[layout.META_FILTER_MAX_VAR:layout.META_FILTER_MAX_VAR + 1].view(f32)[0]
    f = min(f32(fvar), fmax)
    return reach_counts(g, inverse_variances(asset), bufs.index, px, py, f).reshape(h, w)


def check_reached_counts_match_numpy(cls, name: str) -> None:
    """The conics the shader rebuilds per texel (TEXGS_STATS_REACHED) are the candidates
    texgs.runtime.may_reach passes (but at an edge case or so), unfiltered at native size, filtered at half
    size, and with 8-texel index tiles (under REACH_MIN_TILE: no test, every candidate's
conic), and never more than the candidates walked."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    dec = cls(defines={"TEXGS_STATS_REACHED": 1})
    plain = cls()
    size = (max(1, asset.width // 2), max(1, asset.height // 2))
    for kw in ({}, {"size": size, "filtered": True}, {"tile": 8}):
        _, reached = dec.decode_compute(asset, **kw)
        _, cand = plain.decode_compute(asset, **kw)
        # the shader's exp2, cos and sin are not NumPy's, so a candidate at the very edge of
        # the test may fall either way (on 1 bpp bakes: 12 of 1,048,576 texels, off by one);
        # each decoder's skip is safe for its own conic (check_reach_test_changes_no_value)
        diff = reached.astype(np.int64) - expected_reach(asset, **kw)
        assert np.abs(diff).max() <= 1 and (diff != 0).mean() <= 1e-3
        assert (reached <= cand).all()
        if "tile" not in kw:  # 32-texel lists: the test skips most of them here (a third kept)
            assert reached.sum() < 0.5 * cand.sum()
        else:  # under REACH_MIN_TILE the shaders leave the test off
            np.testing.assert_array_equal(reached, cand)


def check_reach_test_changes_no_value(cls) -> None:
    """Decoding with the reach test and without it (TEXGS_REACH_TEST 0, every conic rebuilt)
    gives the same bits, on every golden asset, filtered and not."""
    on, off = cls(), cls(defines={"TEXGS_REACH_TEST": 0})
    off_stats = cls(defines={"TEXGS_REACH_TEST": 0, "TEXGS_STATS_REACHED": 1})
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        size = (max(1, asset.width * 2 // 3), max(1, asset.height * 2 // 3))
        for kw in ({}, {"size": size, "filtered": True}):
            a, cand = on.decode_compute(asset, **kw)
            b, _ = off.decode_compute(asset, **kw)
            np.testing.assert_array_equal(a, b)
            # without the test every valid candidate's conic is rebuilt
            _, built = off_stats.decode_compute(asset, **kw)
            np.testing.assert_array_equal(built, cand)


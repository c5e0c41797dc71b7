"""The reach test of random-access sampling (texgs.runtime.may_reach, docs/RUNTIME.md
"Sampling a point"): a candidate it refuses has q at or beyond the cutoff as the reference
decoder computes it, for Gaussians of every anisotropy the format can store, filtered or not;
and it refuses what is clearly out of reach, so it is not a test that keeps everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs.decode import _widen, wrap_points
from texgs.format import CUTOFF_Q
from texgs.layout import REACH_Q, REACH_SLACK
from texgs.runtime import (conic_from_scales, dequantize, inverse_variances, may_reach,
                           reach_counts, sampling_index)

GOLDEN = Path(__file__).parent / "golden"
F32 = np.float32


def _tangent_points(n: int, seed: int):
    """Gaussians of 8-bit log-scales over [-1.5, 8.75] (anisotropy up to 2^10.25, beyond any
    bake here) and 8-bit angles, each with a point near where its cutoff ellipse touches
    the circle of radius 3 sigma_max: along the major axis, at 3 sigma_max (1 +- 0.3 %).
    There the bound is tight, so rounding decides. Returns (dx, dy, conics, i1, i2)."""
    rng = np.random.default_rng(seed)
    smin, smax = F32(-1.5), F32(8.75)
    sstep = (smax - smin) / F32(255)
    l1 = smin + rng.integers(0, 256, n).astype(F32) * sstep
    l2 = smin + rng.integers(0, 256, n).astype(F32) * sstep
    theta = rng.integers(0, 256, n).astype(F32) * F32(np.pi / 256)
    conics = conic_from_scales(l1, l2, theta)
    i1 = np.exp2(F32(-2.0) * l1).astype(F32)
    i2 = np.exp2(F32(-2.0) * l2).astype(F32)
    major = np.where(l1 >= l2, theta, theta + np.pi / 2).astype(np.float64)
    ang = major + rng.normal(0.0, 1e-3, n)
    r = 3.0 * np.exp2(np.maximum(l1, l2).astype(np.float64)) * (1 + rng.uniform(-3e-3, 3e-3, n))
    mu = rng.uniform(0, 2048, (n, 2)).astype(F32)
    p = (mu + np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)).astype(F32)
    dx = (p[:, 0] - mu[:, 0]).astype(F32)
    dy = (p[:, 1] - mu[:, 1]).astype(F32)
    return dx, dy, conics, i1, i2


@pytest.mark.parametrize("fv", [0.0, 0.3, 5.0, 100.0])
def test_a_refused_candidate_is_beyond_the_cutoff_at_every_anisotropy(fv):
    dx, dy, conics, i1, i2 = _tangent_points(400_000, seed=int(fv * 10) + 1)
    a, b, c = conics[:, 0], conics[:, 1], conics[:, 2]
    if fv > 0:  # the reference decoder's widening (texgs.decode.eval_points)
        a, b, c, _ = _widen(a, b, c, F32(fv))
    q = (a * dx * dx + F32(2) * b * dx * dy + c * dy * dy).astype(F32)
    d2 = (dx * dx + dy * dy).astype(F32)
    ok = may_reach(d2, i1, i2, fv)
    assert (q[~ok] >= F32(CUTOFF_Q)).all()
    # the test is tight where it can be: for Gaussians up to 4:1, every point 0.1 % beyond
    # 3 sigma_max (in d2) is refused (for thinner ones REACH_SLACK widens the margin)
    lo = np.minimum(i1, i2) / (1 + fv * np.minimum(i1, i2))
    beyond = d2.astype(np.float64) * lo > REACH_Q * 1.001
    roundish = np.maximum(i1, i2) <= 16 * np.minimum(i1, i2)
    assert (beyond & roundish).sum() > 2_000
    assert not ok[beyond & roundish].any()
    # and the margin is real: q falls short of d2 / (sigma_max^2 + f) by far less than
    # REACH_SLACK times d2 / sigma_min^2 (the constant's comment says 4e-7 at most)
    deficit = (d2.astype(np.float64) * lo - q) / (d2.astype(np.float64) * np.maximum(i1, i2))
    assert deficit.max() < REACH_SLACK / 10


def test_round_gaussian_is_refused_just_beyond_three_sigma_and_kept_inside():
    i = np.full(4, F32(1.0 / 16.0))  # sigma 4 texels on both axes
    d2 = np.array([(12 * 0.999) ** 2, (12 * 1.002) ** 2, 0.0, 1e6], F32)
    np.testing.assert_array_equal(may_reach(d2, i, i), [True, False, True, False])
    # a footprint widens it: sigma^2 16 + 9 = 25, so 15 texels is the edge
    d2f = np.array([(15 * 0.999) ** 2, (15 * 1.002) ** 2, (12 * 1.002) ** 2], F32)
    np.testing.assert_array_equal(may_reach(d2f, i[:3], i[:3], 9.0), [True, False, True])


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.tgs")))
def test_on_golden_assets_every_selected_candidate_passes(name):
    """At every texel centre and for every candidate of its 32-texel list, q < cutoff
    implies may_reach; and reach_counts counts what may_reach passes."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    g = dequantize(asset)
    iv = inverse_variances(asset)
    index = sampling_index(g, 32, asset.top_k)
    ys, xs = np.mgrid[0:asset.height, 0:asset.width]
    px, py = wrap_points(g, xs.ravel().astype(F32) + F32(0.5), ys.ravel().astype(F32) + F32(0.5))
    counts = reach_counts(g, iv, index, px, py)
    total = 0
    for j in range(px.shape[0]):
        t = min(int(py[j] // 32), index.tiles_y - 1) * index.tiles_x + min(int(px[j] // 32),
                                                                         index.tiles_x - 1)
        cand = index.candidates(t)
        dx = px[j] - g.means[cand, 0]
        dy = py[j] - g.means[cand, 1]
        if g.repeat_x:
            dx = dx - F32(g.width) * np.floor(dx / F32(g.width) + F32(0.5))
        if g.repeat_y:
            dy = dy - F32(g.height) * np.floor(dy / F32(g.height) + F32(0.5))
        a, b, c = g.conics[cand].T
        q = (a * dx * dx + F32(2) * b * dx * dy + c * dy * dy).astype(F32)
        ok = may_reach((dx * dx + dy * dy).astype(F32), iv[0][cand], iv[1][cand])
        assert ok[q < F32(CUTOFF_Q)].all()
        assert counts[j] == ok.sum()
        total += cand.shape[0]
    assert counts.sum() < total

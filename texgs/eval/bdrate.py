"""Bjøntegaard delta rate (BD-rate): the average bit-rate difference between two
rate-distortion curves at equal quality.

Each curve is a set of (rate, PSNR) points. Over the PSNR interval both curves cover,
log10(rate) is interpolated as a function of PSNR, each interpolant is integrated, and the
mean difference of the logs becomes a percentage::

    BD-rate = (10 ** (mean(log10 R_test) - mean(log10 R_anchor)) - 1) * 100

over that interval. -50 % means the tested codec needs half the bits of the anchor for the
same PSNR; positive values mean it needs more.

Two interpolants (NumPy only, written here):

- ``"pchip"`` (default): piecewise cubic Hermite, monotone (Fritsch-Carlson slopes), through
  every point; works from 2 points. Integrated exactly, interval by interval.
- ``"cubic"``: the classic Bjøntegaard (VCEG-M33) fit, one least-squares cubic polynomial
  in PSNR; needs at least 4 points. Integrated exactly as a polynomial.

Before fitting, each curve is reduced to its efficient points: sorted by rate, a point is
kept only if its PSNR is higher than that of every cheaper point (a codec never has to spend
more bits for less quality), so PSNR is strictly increasing along the curve.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["bd_rate", "efficient_points", "pchip_slopes", "pchip_integral"]

METHODS = ("pchip", "cubic")


def efficient_points(rates: Sequence[float], psnrs: Sequence[float]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve no cheaper point beats: ``(rates, psnrs)`` sorted by rate with
    PSNR strictly increasing. Points with a non-positive or non-finite rate or a non-finite
    PSNR (e.g. lossless ``inf``) are dropped."""
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(psnrs, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError(f"rates and psnrs must be 1D of equal length, got {r.shape} and "
                         f"{q.shape}")
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((-q, r))  # by rate, the best PSNR first among equal rates
    keep_r: list[float] = []
    keep_q: list[float] = []
    for i in order:
        if not keep_q or q[i] > keep_q[-1]:
            if keep_r and r[i] == keep_r[-1]:
                continue
            keep_r.append(float(r[i]))
            keep_q.append(float(q[i]))
    return np.array(keep_r), np.array(keep_q)


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives at the knots ``x`` (strictly increasing) of the monotone
    piecewise cubic Hermite interpolant of ``y``: the weighted harmonic mean of neighbouring
    secants inside, zero where the secants change sign, a shape-preserving three-point
    formula at the ends; two points give the secant (a straight line)."""
    n = len(x)
    h = np.diff(x)
    delta = np.diff(y) / h
    if n == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros(n)
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0: float, h1: float, d0: float, d1: float) -> float:
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            return 3 * d0
        return s

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _hermite_eval(x: np.ndarray, y: np.ndarray, d: np.ndarray, t: float) -> tuple[int, float]:
    """Index of the interval holding ``t`` and the interpolant's value there."""
    k = int(np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2))
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    h00 = 2 * s**3 - 3 * s**2 + 1
    h10 = s**3 - 2 * s**2 + s
    h01 = -2 * s**3 + 3 * s**2
    h11 = s**3 - s**2
    return k, h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def _hermite_integral_from_knot(x, y, d, k: int, t: float) -> float:
    """Integral of the Hermite piece on interval k from x[k] to t (x[k] <= t <= x[k+1])."""
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    # antiderivatives of the Hermite basis in s, times h
    i00 = s**4 / 2 - s**3 + s
    i10 = s**4 / 4 - 2 * s**3 / 3 + s**2 / 2
    i01 = -s**4 / 2 + s**3
    i11 = s**4 / 4 - s**3 / 3
    return h * (i00 * y[k] + i10 * h * d[k] + i01 * y[k + 1] + i11 * h * d[k + 1])


def pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral from ``lo`` to ``hi`` (inside ``[x[0], x[-1]]``) of the monotone
    piecewise cubic Hermite interpolant of ``(x, y)``."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    d = pchip_slopes(x, y)

    def primitive(t: float) -> float:  # integral from x[0] to t
        k, _ = _hermite_eval(x, y, d, t)
        whole = sum(_hermite_integral_from_knot(x, y, d, j, x[j + 1]) for j in range(k))
        return whole + _hermite_integral_from_knot(x, y, d, k, t)

    return primitive(hi) - primitive(lo)


def _mean_log_rate(psnr: np.ndarray, log_rate: np.ndarray, lo: float, hi: float,
                   method: str) -> float:
    if method == "pchip":
        return pchip_integral(psnr, log_rate, lo, hi) / (hi - lo)
    coeffs = np.polyfit(psnr, log_rate, 3)
    primitive = np.polyint(coeffs)
    return float((np.polyval(primitive, hi) - np.polyval(primitive, lo)) / (hi - lo))


def bd_rate(anchor_rates: Sequence[float], anchor_psnrs: Sequence[float],
            test_rates: Sequence[float], test_psnrs: Sequence[float],
            method: str = "pchip") -> float | None:
    """BD-rate of the tested codec against the anchor, in percent (negative: fewer bits).

    Returns ``None`` when it is undefined: a curve with fewer than 2 efficient points (4 for
    ``"cubic"``), or PSNR ranges that do not overlap.
    """
    if method not in METHODS:
        raise ValueError(f"unknown BD-rate method {method!r}; known: {', '.join(METHODS)}")
    need = 4 if method == "cubic" else 2
    ra, qa = efficient_points(anchor_rates, anchor_psnrs)
    rt, qt = efficient_points(test_rates, test_psnrs)
    if len(ra) < need or len(rt) < need:
        return None
    lo = max(qa[0], qt[0])
    hi = min(qa[-1], qt[-1])
    if not hi > lo:
        return None
    mean_anchor = _mean_log_rate(qa, np.log10(ra), lo, hi, method)
    mean_test = _mean_log_rate(qt, np.log10(rt), lo, hi, method)
    return (math.pow(10.0, mean_test - mean_anchor) - 1.0) * 100.0

"""Image quality metrics, NumPy only.

Conventions
-----------
* Images are float arrays with values in ``[0, 1]`` (use :func:`to_float` to convert
  ``uint8`` / ``uint16`` data), shaped ``(H, W)`` for one channel or ``(H, W, C)``.
* ``ref`` is the reference (original) image, ``test`` the reconstruction; both must have
  exactly the same shape. Channels are compared as stored (no colour conversion, no
  gamma handling, alpha is treated like any other channel).
* Computation is done in float64 whatever the input dtype.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["to_float", "psnr", "ssim", "gaussian_window", "flip", "MetricUnavailable"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_float(img: np.ndarray) -> np.ndarray:
    """Convert an integer image to float32 in ``[0, 1]``.

    ``uint8`` is divided by 255, ``uint16`` by 65535. Floating-point input is returned
    as float32 unchanged in value (no clipping). The shape is preserved.

    Raises ``TypeError`` for any other dtype (e.g. signed integers, bool).
    """
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32, copy=False)
    raise TypeError(f"to_float expects uint8, uint16 or float data, got {a.dtype}")


def _check_pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: ref {a.shape} vs test {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, C) images, got shape {a.shape}")
    return a, b


def psnr(ref: np.ndarray, test: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all values of all channels.

    ``PSNR = 10 * log10(peak**2 / MSE)`` where MSE is the mean of the squared
    differences over every element of the ``(H, W)`` or ``(H, W, C)`` arrays (one pooled
    MSE, not a per-channel average of PSNRs). Returns ``float('inf')`` when the images
    are identical.
    """
    a, b = _check_pair(ref, test)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(peak * peak / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1D Gaussian taps (float64, sum 1), centred, length ``size``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2D array with ``outer(taps, taps)``.

    Output shape is ``(H - k + 1, W - k + 1)`` for ``k = len(taps)``. The Gaussian is
    symmetric, so correlation and convolution coincide.
    """
    k = len(taps)
    h, w = img.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i, t in enumerate(taps):
        rows += t * img[i:i + h - k + 1, :]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j, t in enumerate(taps):
        out += t * rows[:, j:j + w - k + 1]
    return out


def _ssim_channel(x: np.ndarray, y: np.ndarray, taps: np.ndarray, c1: float,
                  c2: float) -> float:
    mu_x = _filter_valid(x, taps)
    mu_y = _filter_valid(y, taps)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _filter_valid(x * x, taps) - mu_xx
    var_y = _filter_valid(y * y, taps) - mu_yy
    cov_xy = _filter_valid(x * y, taps) - mu_xy
    num = (2.0 * mu_xy + c1) * (2.0 * cov_xy + c2)
    den = (mu_xx + mu_yy + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), mean over the SSIM map and channels.

    Settings: 11x11 Gaussian window with sigma 1.5, ``C1 = (0.01 * L)**2``,
    ``C2 = (0.03 * L)**2`` with data range ``L = 1.0``; local statistics are computed with
    'valid' filtering (no padding), so the SSIM map of an ``(H, W)`` channel is
    ``(H - 10, W - 10)``. Variances/covariance use the weighted population form
    ``E[x^2] - E[x]^2``. Each channel of an ``(H, W, C)`` image is scored separately
    and the per-channel means are averaged. Both images must be at least 11x11.
    Identical images give exactly 1.0.
    """
    a, b = _check_pair(ref, test)
    if a.shape[0] < SSIM_WINDOW or a.shape[1] < SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, "
                         f"got {a.shape[:2]}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    taps = gaussian_window()
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2
    vals = [_ssim_channel(a[..., c], b[..., c], taps, c1, c2) for c in range(a.shape[2])]
    return float(np.mean(vals))


class MetricUnavailable(RuntimeError):
    """The library a metric needs is not installed (or failed to load)."""


def flip(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean LDR-FLIP error (NVIDIA's perceptual difference, 0 = identical, 1 = worst) via
    the ``flip-evaluator`` package, at its default 67 pixels per degree.

    Both images are ``(H, W, 3)`` floats in ``[0, 1]``, read as sRGB-encoded colour (FLIP's
    LDR convention); ``(H, W)`` or ``(H, W, 1)`` grey is repeated to RGB. Raises
    :class:`MetricUnavailable` when flip-evaluator is missing.
    """
    a, b = _check_pair(ref, test)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.shape[2] == 1:
        a, b = np.repeat(a, 3, axis=2), np.repeat(b, 3, axis=2)
    if a.shape[2] != 3:
        raise ValueError(f"flip compares RGB images, got {a.shape[2]} channels")
    try:
        import flip_evaluator
    except Exception as exc:
        raise MetricUnavailable(f"FLIP needs the 'flip-evaluator' package: {exc}") from exc
    _, mean_error, _ = flip_evaluator.evaluate(
        np.ascontiguousarray(np.clip(a, 0, 1), np.float32),
        np.ascontiguousarray(np.clip(b, 0, 1), np.float32), "LDR", applyMagma=False)
    return float(mean_error)

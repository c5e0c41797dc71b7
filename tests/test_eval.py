"""Tests for texgs.eval (metrics, baselines) and samples/make_samples.py."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from texgs.eval import baselines
from texgs.eval.baselines import (ASTC_BLOCKS, BaselineResult, BaselineUnavailable, astc,
                                  jpeg_at_rate)
from texgs.eval.metrics import gaussian_window, psnr, ssim, to_float

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def load_sample(name: str) -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / f"{name}.png").convert("RGB"))


# ----------------------------------------------------------------------------- metrics


def test_to_float():
    a8 = np.array([[0, 255]], np.uint8)
    a16 = np.array([[0, 65535]], np.uint16)
    assert to_float(a8).dtype == np.float32
    np.testing.assert_array_equal(to_float(a8), [[0.0, 1.0]])
    np.testing.assert_array_equal(to_float(a16), [[0.0, 1.0]])
    assert to_float(np.zeros((2, 2, 3), np.float64)).dtype == np.float32
    with pytest.raises(TypeError):
        to_float(np.zeros((2, 2), np.int32))


def test_psnr_identical_is_inf():
    a = np.random.default_rng(1).random((16, 16, 3))
    assert psnr(a, a) == float("inf")
    assert psnr(a[..., 0], a[..., 0].copy()) == float("inf")


@pytest.mark.parametrize("offset", [0.1, 0.01, 1 / 255])
def test_psnr_constant_offset_closed_form(offset):
    ref = np.full((8, 9, 3), 0.4)
    test = ref + offset
    assert psnr(ref, test) == pytest.approx(20 * math.log10(1 / offset), abs=1e-9)
    assert psnr(ref, test, peak=2.0) == pytest.approx(20 * math.log10(2 / offset), abs=1e-9)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_ssim_identical_is_one():
    a = np.random.default_rng(2).random((32, 40, 3))
    assert ssim(a, a) == 1.0
    assert ssim(a[..., 1], a[..., 1]) == 1.0


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(3)
    ref = to_float(load_sample("bricks")[:64, :64])
    scores = [ssim(ref, np.clip(ref + s * rng.standard_normal(ref.shape), 0, 1))
              for s in (0.01, 0.03, 0.1, 0.3)]
    assert all(s < 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)


def _ssim_brute(x: np.ndarray, y: np.ndarray) -> float:
    """Non-separable reference: explicit 11x11 weighted window at every valid position."""
    g = gaussian_window(11, 1.5)
    w = np.outer(g, g)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    per_channel = []
    for c in range(x.shape[2]):
        vals = []
        for i in range(x.shape[0] - 10):
            for j in range(x.shape[1] - 10):
                px = x[i:i + 11, j:j + 11, c]
                py = y[i:i + 11, j:j + 11, c]
                mx, my = np.sum(w * px), np.sum(w * py)
                vx = np.sum(w * (px - mx) ** 2)
                vy = np.sum(w * (py - my) ** 2)
                cxy = np.sum(w * (px - mx) * (py - my))
                vals.append((2 * mx * my + c1) * (2 * cxy + c2)
                            / ((mx * mx + my * my + c1) * (vx + vy + c2)))
        per_channel.append(np.mean(vals))
    return float(np.mean(per_channel))


@pytest.mark.parametrize("shape", [(24, 24), (24, 24, 3)])
def test_ssim_matches_brute_force(shape):
    rng = np.random.default_rng(4)
    x = rng.random(shape)
    y = np.clip(x + 0.2 * rng.standard_normal(shape), 0, 1)
    assert ssim(x, y) == pytest.approx(_ssim_brute(x, y), abs=1e-6)


def test_ssim_too_small():
    with pytest.raises(ValueError):
        ssim(np.zeros((10, 20)), np.zeros((10, 20)))


# ----------------------------------------------------------------------------- ASTC


@pytest.fixture(scope="module")
def crop64() -> np.ndarray:
    return load_sample("bricks")[:64, :64].copy()


def test_astc_blocks_table():
    assert ASTC_BLOCKS["astc12x12"] == (12, 12)
    assert set(ASTC_BLOCKS) == {"astc12x12", "astc10x10", "astc8x8", "astc6x6", "astc4x4"}


def test_astc_12x12_and_8x8(crop64):
    pytest.importorskip("astc_encoder")
    ref = to_float(crop64)
    r12 = astc(crop64, (12, 12), quality=100.0)
    assert isinstance(r12, BaselineResult)
    assert r12.name == "astc12x12"
    assert r12.bits_per_texel == 128 / 144
    assert r12.size_bytes == math.ceil(64 / 12) ** 2 * 16  # partial edge blocks count
    assert r12.decoded.shape == (64, 64, 3) and r12.decoded.dtype == np.float32
    assert 0.0 <= r12.decoded.min() and r12.decoded.max() <= 1.0
    p12 = psnr(ref, r12.decoded)
    assert 20.0 < p12 < 60.0
    r8 = astc(crop64, ASTC_BLOCKS["astc8x8"], quality=100.0)
    assert r8.bits_per_texel == 2.0 and r8.size_bytes == 64 * 16
    assert psnr(ref, r8.decoded) > p12


def test_astc_rgba_and_odd_size():
    pytest.importorskip("astc_encoder")
    rgb = load_sample("sign")[:37, :50]
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    r = astc(np.concatenate([rgb, alpha], axis=2), (6, 6), quality=10.0)
    assert r.decoded.shape == (37, 50, 4)
    assert r.size_bytes == math.ceil(50 / 6) * math.ceil(37 / 6) * 16
    assert np.abs(r.decoded[..., 3] - 200 / 255).max() < 8 / 255  # lossy, but kept


def test_astc_isolated_from_earlier_runs(crop64):
    """A quality-100 run in this process must not change a later quality-60 result."""
    pytest.importorskip("astc_encoder")
    first = astc(crop64, (12, 12), quality=60.0)
    baselines._astc_roundtrip_inprocess(  # pollute this process's codec state
        np.concatenate([crop64, np.full((64, 64, 1), 255, np.uint8)], axis=2), (12, 12), 100.0)
    second = astc(crop64, (12, 12), quality=60.0)
    np.testing.assert_array_equal(first.decoded, second.decoded)


def test_astc_rejects_bad_input(crop64):
    with pytest.raises(ValueError):
        astc(crop64, (7, 7))
    with pytest.raises(ValueError):
        astc(crop64[..., 0], (12, 12))


# ----------------------------------------------------------------------------- JPEG


def test_jpeg_at_rate_meets_target():
    ic = pytest.importorskip("imagecodecs")
    img = load_sample("bricks")
    target = 2.0
    r = jpeg_at_rate(img, target)
    assert r.name == "jpeg"
    assert r.bits_per_texel <= target
    assert r.bits_per_texel == r.size_bytes * 8 / (256 * 256)
    assert r.decoded.shape == img.shape and r.decoded.dtype == np.float32
    q = r.params["quality"]
    assert 1 <= q <= 100
    if q < 100:  # the next quality up is over budget
        nxt = ic.jpeg_encode(img, level=q + 1, optimize=True)
        assert len(nxt) * 8 / (256 * 256) > target
    assert psnr(to_float(img), r.decoded) > 20.0


def test_jpeg_at_rate_unachievable_returns_quality_1():
    pytest.importorskip("imagecodecs")
    img = load_sample("noise")
    r = jpeg_at_rate(img, 0.01)
    assert r.params["quality"] == 1
    assert r.bits_per_texel > 0.01


def test_missing_codec_raises_baseline_unavailable(monkeypatch, crop64):
    assert issubclass(BaselineUnavailable, RuntimeError)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # makes `import` fail
    with pytest.raises(BaselineUnavailable):
        jpeg_at_rate(crop64, 2.0)
    monkeypatch.setitem(sys.modules, "astc_encoder", None)
    with pytest.raises(BaselineUnavailable):
        astc(crop64, (12, 12), isolate=False)


# ----------------------------------------------------------------------------- samples


def _load_make_samples():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_samples_deterministic(tmp_path):
    mod = _load_make_samples()
    a = mod.main(tmp_path / "a")
    mod.main(tmp_path / "b")
    names = sorted(p.name for p in a)
    assert names == ["bricks.png", "gradient.png", "noise.png", "sign.png"]
    for pa in a:
        pb = tmp_path / "b" / pa.name
        assert pa.read_bytes() == pb.read_bytes(), pa.name
        assert pa.stat().st_size < 200 * 1024
        with Image.open(pa) as im:
            assert im.size == (256, 256) and im.mode == "RGB"


def test_committed_samples_present():
    for name in ("bricks", "sign", "gradient", "noise"):
        assert load_sample(name).shape == (256, 256, 3)

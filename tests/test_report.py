"""Tests for the evaluation report (texgs.eval.report, `texgs eval`), BD-rate
(texgs.eval.bdrate) and the baselines the report adds (BC1/BC7, WebP/AVIF/JPEG XL, FLIP)."""

from __future__ import annotations

import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from texgs.eval import baselines
from texgs.eval.bdrate import bd_rate, efficient_points, pchip_integral, pchip_slopes
from texgs.eval.metrics import psnr, to_float
from texgs.eval.report import (ALL_CODECS, ASTC_LADDER, EvalConfig, detail_window,
                               parse_rates, probe_missing, run_report)
from texgs.errors import OptionError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "textures" / "single"
COLOUR_TEXTURE = SHARED / "stktex_generic_WoodF.png"
NORMAL_TEXTURE = SHARED / "stk_goatSkull_a_n.png"
RATES = (1.0, 2.0)


def shared_crop(src: Path, dst: Path, size: int, x0: int = 0, y0: int = 0) -> Path:
    """Write a size x size RGB crop of a shared texture to dst (skip if textures absent)."""
    if not src.exists():
        pytest.skip(f"shared texture {src} not available")
    rgb = np.asarray(Image.open(src).convert("RGB"))[y0:y0 + size, x0:x0 + size]
    Image.fromarray(np.ascontiguousarray(rgb)).save(dst)
    return dst


# ----------------------------------------------------------------------------- BD-rate

LADDER = np.array([0.25, 0.5, 1.0, 2.0, 4.0])


def wiggly_psnr(rates: np.ndarray) -> np.ndarray:
    """An increasing but not straight PSNR curve."""
    return 28.0 + 6.0 * np.log2(rates) + np.array([0.0, 0.4, -0.2, 0.3, 0.0])[:len(rates)]


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_half_the_bits_is_minus_50(method):
    q = wiggly_psnr(LADDER)
    assert bd_rate(LADDER, q, LADDER / 2, q, method) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(LADDER, q, LADDER * 2, q, method) == pytest.approx(100.0, abs=1e-9)
    assert bd_rate(LADDER, q, LADDER, q, method) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_known_answer_at_other_sample_points():
    # PSNR linear in log2(rate): the test codec needs 0.8x the bits at every PSNR, sampled
    # at rates unlike the anchor's. PCHIP reproduces straight lines, so exactly -20 %.
    anchor_r = np.array([0.3, 0.7, 1.5, 3.0, 6.0])
    test_r = np.array([0.2, 0.45, 1.1, 2.6])
    curve = lambda r: 30.0 + 5.0 * np.log2(r)
    assert bd_rate(anchor_r, curve(anchor_r), test_r, curve(test_r / 0.8)) == \
        pytest.approx(-20.0, abs=1e-9)
    # a better codec at 2 points only (PCHIP is a straight line between them)
    assert bd_rate(anchor_r, curve(anchor_r), [0.5, 2.0], curve(np.array([1.0, 4.0]))) == \
        pytest.approx(-50.0, abs=1e-9)


def test_bd_rate_undefined_cases():
    q = wiggly_psnr(LADDER)
    # no PSNR overlap
    assert bd_rate(LADDER, q, LADDER, q + 100) is None
    # fewer than 2 points / fewer than 4 for the cubic fit
    assert bd_rate(LADDER, q, [1.0], [30.0]) is None
    assert bd_rate(LADDER, q, LADDER[:3], q[:3], "cubic") is None
    with pytest.raises(ValueError):
        bd_rate(LADDER, q, LADDER, q, "linear")


def test_efficient_points_drop_dominated_and_invalid_points():
    r, q = efficient_points([2.0, 1.0, 1.5, 3.0, 0.0, 4.0, 5.0],
                            [40.0, 35.0, 34.0, 39.0, 50.0, math.inf, 45.0])
    # 1.5 (worse than the cheaper 1.0) and 3.0 (worse than 2.0) are dominated; a zero rate
    # and an infinite PSNR are dropped
    np.testing.assert_array_equal(r, [1.0, 2.0, 5.0])
    np.testing.assert_array_equal(q, [35.0, 40.0, 45.0])


def test_pchip_matches_closed_forms():
    x = np.array([30.0, 33.0, 35.5, 40.0, 41.0])
    # a straight line: slopes are the line's slope, the integral is the trapezoid
    y = 0.1 * x - 2
    np.testing.assert_allclose(pchip_slopes(x, y), 0.1)
    assert pchip_integral(x, y, 31.0, 40.5) == pytest.approx(
        (40.5 - 31.0) * (0.1 * (31.0 + 40.5) / 2 - 2), abs=1e-12)
    # monotone data: slopes keep the sign, zero slope where the data turns flat
    y2 = np.array([0.0, 1.0, 1.0, 2.0, 5.0])
    d = pchip_slopes(x, y2)
    assert d[1] == 0.0 and d[2] == 0.0 and np.all(d >= 0)


def test_pchip_matches_scipy_when_available():
    interp = pytest.importorskip("scipy.interpolate")
    x = np.array([30.0, 33.0, 35.5, 40.0, 41.0])
    y = np.log10([0.3, 0.7, 1.2, 3.0, 4.5])
    ref = interp.PchipInterpolator(x, y)
    np.testing.assert_allclose(pchip_slopes(x, y), ref.derivative()(x), rtol=1e-12)
    assert pchip_integral(x, y, 31.0, 40.5) == pytest.approx(ref.integrate(31.0, 40.5),
                                                             rel=1e-12)


# ----------------------------------------------------------------------------- baselines


@pytest.fixture(scope="module")
def colour_rgb8(tmp_path_factory) -> np.ndarray:
    p = shared_crop(COLOUR_TEXTURE, tmp_path_factory.mktemp("c") / "c.png", 64, 128, 128)
    return np.asarray(Image.open(p).convert("RGB"))


@pytest.mark.parametrize("fmt_name,bytes_per_block", [("bc1", 8), ("bc7", 16)])
def test_bc_formats_rate_and_channel_order(fmt_name, bytes_per_block, colour_rgb8):
    pytest.importorskip("etcpak")
    pytest.importorskip("texture2ddecoder")
    img = colour_rgb8[:30, :42]  # not a multiple of 4: padded to 44x32
    r = baselines.block_compress(img, fmt_name)
    assert r.size_bytes == 11 * 8 * bytes_per_block
    assert r.bits_per_texel == pytest.approx(r.size_bytes * 8 / (30 * 42))
    assert r.decoded.shape == (30, 42, 3)
    assert psnr(to_float(img), r.decoded) > 28.0
    # flat primaries come back as the same primaries (catches a BGRA/RGBA mix-up)
    flat = np.zeros((8, 8, 3), np.uint8)
    flat[..., 0] = 255
    flat[:, 4:] = (0, 0, 255)
    out = baselines.block_compress(flat, fmt_name).decoded
    np.testing.assert_allclose(out, to_float(flat), atol=2 / 255)


@pytest.mark.parametrize("codec", baselines.IMAGE_CODECS)
def test_download_codecs_land_at_or_under_the_rate(codec, colour_rgb8):
    for target in (1.0, 3.0):
        r = baselines.image_codec_at_rate(codec, colour_rgb8, target)
        assert r.bits_per_texel == r.size_bytes * 8 / (64 * 64)
        assert r.bits_per_texel <= target
        assert r.decoded.shape == colour_rgb8.shape
    low = baselines.image_codec_at_rate(codec, colour_rgb8, 1.0)
    high = baselines.image_codec_at_rate(codec, colour_rgb8, 3.0)
    assert psnr(to_float(colour_rgb8), high.decoded) > psnr(to_float(colour_rgb8),
                                                           low.decoded)
    with pytest.raises(ValueError):
        baselines.image_codec_at_rate("jpeg2000", colour_rgb8, 1.0)


def test_parse_rates():
    assert parse_rates("2, 0.5,1") == (0.5, 1.0, 2.0)
    for bad in ("", "1,,2", "1,abc", "0", "65", "nan", "1,1"):
        with pytest.raises(OptionError, match="--bpp"):
            parse_rates(bad)


def test_detail_window_finds_the_textured_region():
    img = np.full((64, 96, 3), 0.5, np.float32)
    img[30:50, 60:80] = np.random.default_rng(0).random((20, 20, 3))
    x0, y0, side = detail_window(img, 16)
    assert side == 16 and 60 <= x0 <= 64 and 30 <= y0 <= 34
    assert detail_window(img, 128)[2] == 64  # never larger than the image


# ----------------------------------------------------------------------------- the report


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.links.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory):
    """`texgs eval` on a 64x64 colour crop and a 48x48 normal-map crop at 1 and 2 bpp."""
    tmp = tmp_path_factory.mktemp("report")
    colour = shared_crop(COLOUR_TEXTURE, tmp / "wood.png", 64, 128, 128)
    normal = shared_crop(NORMAL_TEXTURE, tmp / "skull_n.png", 48, 200, 200)
    out = tmp / "out"
    proc = run_cli("eval", str(colour), str(normal), "-o", str(out), "--bpp", "1,2",
                   "--steps", "40", "--json")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout), {"wood": (64, 64), "skull_n": (48, 48)}


def test_report_html_references_only_existing_files(cli_report):
    out, summary, _ = cli_report
    assert Path(summary["index"]) == out / "index.html"
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    assert "results.json" in parser.links and "results.md" in parser.links
    assert any(s.startswith("plots/") for s in parser.links)
    assert sum(s.endswith("_error.png") for s in parser.links) >= 2 * len(RATES) * 3
    for link in parser.links:
        assert not link.startswith("/") and "://" not in link, link  # relative: movable
        assert (out / link).is_file(), link
    for name in ("wood", "skull_n"):
        assert f"crops/{name}_original.png" in parser.links
        assert f"crops/{name}_texgs_1.png" in parser.links
        assert f"crops/{name}_jpeg_2_error.png" in parser.links
        with Image.open(out / f"crops/{name}_original.png") as im:  # nearest x2
            assert im.size == tuple(2 * s for s in cli_report[2][name])


def test_report_json_has_every_codec_at_every_rate(cli_report):
    out, _, sizes = cli_report
    data = json.loads((out / "results.json").read_text())
    missing = probe_missing(ALL_CODECS)
    assert data["missing"] == missing  # whatever is missing here is reported, nothing else
    by_key = {(m["texture"], m["codec"], m["target_bpp"]): m for m in data["measurements"]}
    for name, (w, h) in sizes.items():
        for codec in ALL_CODECS:
            if codec in missing:
                continue
            targets = RATES if codec in ("texgs", *baselines.IMAGE_CODECS) else (None,)
            for target in targets:
                m = by_key[(name, codec, target)]
                assert m["bits_per_texel"] == pytest.approx(m["size_bytes"] * 8 / (w * h))
                assert m["psnr"] > 15 and 0 < m["ssim"] <= 1
                if "flip" not in missing:
                    assert 0 <= m["flip"] < 1
                if target is not None and codec == "texgs":
                    assert m["bits_per_texel"] <= target
                if target is not None and not m["over_budget"]:
                    assert m["bits_per_texel"] <= target
                if codec in ASTC_LADDER:
                    bw, bh = ASTC_LADDER[codec]
                    assert m["size_bytes"] == math.ceil(w / bw) * math.ceil(h / bh) * 16
                is_normal = name == "skull_n"
                assert (m["angular_mean_deg"] is not None) == is_normal
        tex = next(t for t in data["textures"] if t["name"] == name)
        assert tex["normal_map"] == (name == "skull_n")
        assert set(tex["bd_rate_percent"]) >= {"astc", "jpeg", "jpeg (download)",
                                               "astc (GPU memory)"}
        for m in data["measurements"]:
            if m["texture"] == name and m["codec"] == "texgs":  # its container's size
                assert 0 < m["download_bits_per_texel"] < 2 * m["bits_per_texel"]
                # on the GPU: at least the records (72 bits each) plus the tile index
                gpu_bytes = m["params"]["gpu_bytes"]
                assert gpu_bytes > m["params"]["gaussians"] * 72 / 8
                assert m["gpu_bits_per_texel"] == pytest.approx(gpu_bytes * 8 / (w * h))
            elif m["texture"] == name:
                assert m["download_bits_per_texel"] is None
                assert m["gpu_bits_per_texel"] is None
    assert set(data["bd_rate_mean_percent"]) >= {"astc", "bc", "jpeg", "jpeg (download)",
                                                 "astc (GPU memory)", "bc (GPU memory)"}
    md = (out / "results.md").read_text()
    assert "## wood" in md and "## skull_n" in md and "| astc12x12 |" in md
    for plot in ("overall", "wood", "skull_n"):
        with Image.open(out / "plots" / f"{plot}.png") as im:
            assert im.format == "PNG"


def test_missing_codecs_and_metric_are_reported_not_fatal(tmp_path, monkeypatch):
    src = shared_crop(COLOUR_TEXTURE, tmp_path / "wood.png", 32, 128, 128)
    # a None entry in sys.modules makes `import etcpak` raise ImportError
    monkeypatch.setitem(sys.modules, "etcpak", None)
    monkeypatch.setitem(sys.modules, "flip_evaluator", None)
    cfg = EvalConfig(rates=(2.0,), codecs=("bc1", "bc7", "jpeg"))
    report = run_report([src], tmp_path / "out", cfg)
    assert set(report.missing) == {"bc1", "bc7", "flip"}
    assert "etcpak" in report.missing["bc1"] and "flip-evaluator" in report.missing["flip"]
    [tex] = report.textures
    assert [m.codec for m in tex.measurements] == ["jpeg"]
    assert tex.measurements[0].flip is None
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(data["missing"]) == {"bc1", "bc7", "flip"}
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Missing" in page and "etcpak" in page


def test_eval_cli_errors(tmp_path):
    src = shared_crop(COLOUR_TEXTURE, tmp_path / "wood.png", 32)
    cases = [
        (("eval", str(tmp_path / "nope.png"), "-o", str(tmp_path / "r")), 2, "nope.png"),
        (("eval", str(src), "-o", str(tmp_path / "r"), "--bpp", "1,x"), 1, "--bpp"),
        (("eval", str(src), "-o", str(tmp_path / "r"), "--bpp", "1,100"), 1, "--bpp"),
        (("eval", str(src), "-o", str(tmp_path / "r"), "--codecs", "jpeg,bc9"), 1,
         "--codecs"),
        (("eval", str(src), "-o", str(src)), 2, "not a folder"),
        (("eval", str(src), "-o", str(tmp_path / "r"), "--device", "tpu"), 1, "--device"),
        (("eval", str(tmp_path), "-o", str(tmp_path / "r")), 2, "directory"),
    ]
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():  # no GPU: --device cuda is refused before any work
        cases.append((("eval", str(src), "-o", str(tmp_path / "r"), "--device", "cuda"), 5,
                      "--device cuda"))
    for args, code, needle in cases:
        proc = run_cli(*args)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("texgs: error:"), proc.stderr
        assert needle in lines[0]
        assert not (tmp_path / "r").exists()  # nothing written before the checks pass


def test_bake_cache_reuses_bakes_made_elsewhere(tmp_path):
    """`--codecs texgs --bake-cache DIR` fills the cache (as a GPU machine would); a full run
    with the same cache reuses those bakes byte for byte instead of baking again."""
    src = shared_crop(COLOUR_TEXTURE, tmp_path / "wood.png", 64, 128, 128)
    cache = tmp_path / "cache"
    first = run_cli("eval", str(src), "-o", str(tmp_path / "a"), "--bpp", "2", "--steps", "20",
                    "--codecs", "texgs", "--bake-cache", str(cache), "--device", "cpu",
                    "--json")
    assert first.returncode == 0, first.stderr
    [cached] = list(cache.glob("*.tgs"))
    # mark the cached asset: a different (but valid) asset under the same key must be used
    from texgs import format as fmt
    asset = fmt.read_asset(cached.read_bytes())
    asset.fields[:, 5] = 0  # every Gaussian's red at the channel's low end
    cached.write_bytes(fmt.write_asset(asset))
    second = run_cli("eval", str(src), "-o", str(tmp_path / "b"), "--bpp", "2", "--steps", "20",
                     "--codecs", "texgs,jpeg", "--bake-cache", str(cache), "--json")
    assert second.returncode == 0, second.stderr
    rows = json.loads((tmp_path / "b" / "results.json").read_text())
    texgs_rows = [m for m in rows["measurements"] if m["codec"] == "texgs"]
    before = json.loads((tmp_path / "a" / "results.json").read_text())
    old = [m for m in before["measurements"] if m["codec"] == "texgs"]
    assert texgs_rows[0]["params"]["baked_by"] == "cache"
    assert old[0]["params"]["baked_by"] == "cpu-kernel"
    assert texgs_rows[0]["psnr"] < old[0]["psnr"] - 1  # the marked asset was the one decoded
    assert len(list(cache.glob("*.tgs"))) == 1
    bad = run_cli("eval", str(src), "-o", str(tmp_path / "c"), "--bake-cache", str(src))
    assert bad.returncode == 1 and "--bake-cache" in bad.stderr


def test_download_and_gpu_bd_rates_use_those_sizes():
    """Against a download codec, "(download)" puts texgs at its container's size: a texgs
    curve at twice the codec's rate for the same PSNR is +100 % at its file size and 0 %
    at a container half that size. Against a block format, "(GPU memory)" puts it at
    records plus index: level with ASTC by file size, +25 % at 1.25x that."""
    from texgs.eval.report import Measurement, texture_bd_rates

    def m(codec, bpp, q, dl=None):
        return Measurement("t", codec, "texgs" if codec == "texgs" else "download", bpp, bpp,
                           1, q, 0.9, None, download_bits_per_texel=dl)

    rates, quality = [0.25, 0.5, 1.0, 2.0], [30.0, 33.0, 36.0, 39.0]
    ms = [m("jpeg", r, q) for r, q in zip(rates, quality)]
    ms += [m("texgs", 2 * r, q, dl=r) for r, q in zip(rates, quality)]
    # an ASTC-like anchor at the texgs file's rates; texgs keeps 1.25x that on the GPU
    ms += [Measurement("t", "astc8x8", "astc", None, 2 * r, 1, q, 0.9, None)
           for r, q in zip(rates, quality)]
    for x in ms:
        if x.codec == "texgs":
            x.gpu_bits_per_texel = 1.25 * x.bits_per_texel
    bd = texture_bd_rates(ms)
    assert bd["jpeg"] == pytest.approx(100.0, abs=1e-6)
    assert bd["jpeg (download)"] == pytest.approx(0.0, abs=1e-6)
    assert bd["astc"] == pytest.approx(0.0, abs=1e-6)
    assert bd["astc (GPU memory)"] == pytest.approx(25.0, abs=1e-6)


def test_a_cached_asset_of_an_earlier_bake_is_put_in_morton_order():
    """An asset whose chunks are not in Morton order (a bake cache from before the record
    order) is evaluated as the baker writes it now: the same records in each chunk, sorted,
    decoding to the same texture."""
    from texgs import format as fmt
    from texgs.decode import decode_texture
    from texgs.eval.report import _in_morton_order
    from texgs.record_order import is_morton_ordered

    data = (Path(__file__).parent / "golden" / "rgb_clamp.tgs").read_bytes()
    asset = fmt.read_asset(data)
    out, sorted_asset, reordered = _in_morton_order(data, asset)
    assert reordered and out != data
    start = 0
    for n in asset.lod_counts:
        a, b = asset.fields[start:start + n], sorted_asset.fields[start:start + n]
        assert is_morton_ordered(b)
        assert sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))
        start += n
    np.testing.assert_allclose(decode_texture(sorted_asset), decode_texture(asset), atol=1e-6)
    again, _, flag = _in_morton_order(out, sorted_asset)
    assert again == out and not flag

"""Rate control (docs/BAKING.md "Rate control"): --bpp hits the file size, --psnr finds the
smallest asset reaching a target, --match finds one at least as good as a GPU format."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import run_cli, sample_crop
from PIL import Image

from texgs import format as fmt
from texgs.bake import rate
from texgs.bake.config import BakeConfig, plan_budget
from texgs.errors import OptionError, RateTargetError

# --- --bpp: the file size the budget plans, written by the real writer (no fit) -----------

LAYOUTS = {
    "grey": (8,), "grey+alpha": (8, 8), "rgb": (8, 8, 8), "rgba": (8, 8, 8, 8),
    "hdr rgb": (10, 10, 10),
    # a set: base colour RGB, normal x, y (z rebuilt), gloss; 0-bit channels in the table
    "set": (8, 8, 8, 8, 8, 0, 8),
    "set with constants": (8, 8, 8, 0, 8, 8, 0, 0, 8, 0),
}


def _maps_for(bits: tuple[int, ...], w: int, h: int) -> list[fmt.MapInfo]:
    """Maps of at most 4 channels covering ``bits`` in order (generic kind)."""
    maps, first = [], 0
    while first < len(bits):
        n = min(4, len(bits) - first)
        maps.append(fmt.MapInfo(fmt.MAP_GENERIC, w, h, first, n))
        first += n
    return maps


def _written_size(w: int, h: int, bits: tuple[int, ...], counts: list[int]) -> int:
    maps = _maps_for(bits, w, h)
    chans = []
    for m in maps:
        for j in m.channel_range:
            b = bits[j]
            chans.append(fmt.ChannelInfo(fmt.MAP_GENERIC, j - m.first_channel,
                                         fmt.ENCODING_LINEAR, b, 0.0, 1.0 if b else 0.0, 0.0))
    n = sum(counts)
    asset = fmt.Asset(width=w, height=h, channels=chans,
                      layout=fmt.RecordLayout(12, 8, 8, bits), log2_scale_min=-1.5,
                      log2_scale_max=3.0, fields=np.zeros((n, 5 + len(bits)), np.uint32),
                      lod_counts=counts, maps=maps)
    return len(fmt.write_asset(asset))


def test_bpp_gives_the_planned_file_size_within_one_record():
    """Over many sizes, rates, channel layouts and LOD counts: the real file never exceeds
    R W H / 8 bytes, falls short by less than one record plus one word of padding, and so
    is within 2 % wherever one record and a word are under 2 % of the budget."""
    worst = 0.0
    checked = 0
    for w, h in ((64, 64), (72, 72), (100, 37), (128, 128), (256, 512), (1000, 1000)):
        for r in (0.1, 0.25, 0.5, 0.77, 1.0, 2.0, 4.0):
            for name, bits in LAYOUTS.items():
                for levels in (1, 3, 5, 8):
                    n_maps = len(_maps_for(bits, w, h))
                    cfg = BakeConfig(bpp=r, lod_levels=levels)
                    try:
                        counts = plan_budget(w, h, bits, cfg, n_maps=n_maps)
                    except OptionError:
                        continue  # budget too small for the LOD levels
                    size = _written_size(w, h, bits, counts)
                    budget = r * w * h / 8
                    rbits = fmt.RecordLayout(12, 8, 8, bits).record_bits
                    assert size <= budget, (w, h, r, name, levels)
                    assert (budget - size) * 8 < rbits + 32 + 1, (w, h, r, name, levels)
                    if r * w * h >= 50 * (rbits + 32):
                        dev = 1 - size / budget
                        assert dev <= 0.02, (w, h, r, name, levels, dev)
                        worst = max(worst, dev)
                    checked += 1
    assert checked > 500
    assert worst < 0.02


def test_bpp_on_the_shared_texture_sizes_is_within_a_tenth_of_a_percent():
    """The sizes of ../shared/textures (512 to 1024 texels a side, RGB or RGBA, sets of
    three maps) at 0.25 to 4 bits per texel: the largest shortfall, in percent."""
    worst = 0.0
    for w, h in ((512, 512), (1024, 1024), (1024, 512), (512, 1024)):
        for r in (0.25, 0.5, 1.0, 2.0, 4.0):
            for bits in ((8, 8, 8), (8, 8, 8, 8), LAYOUTS["set"]):
                counts = plan_budget(w, h, bits, BakeConfig(bpp=r),
                                     n_maps=len(_maps_for(bits, w, h)))
                worst = max(worst, 1 - _written_size(w, h, bits, counts) / (r * w * h / 8))
    assert worst < 0.001, worst


@pytest.fixture(scope="module")
def sign_png(tmp_path_factory):
    p = tmp_path_factory.mktemp("rate") / "sign64.png"
    Image.fromarray((sample_crop("sign", 64, 96, 96) * 255 + 0.5).astype(np.uint8)).save(p)
    return p


def test_a_real_bake_hits_the_bpp(sign_png, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "a.tgs"
    res = run_cli("bake", str(sign_png), "-o", str(out), "--bpp", "1.5", "--steps", "3",
                  "--json")
    assert res.returncode == 0, res.stderr
    budget = 1.5 * 64 * 64 / 8
    assert budget - (72 + 32) / 8 <= out.stat().st_size <= budget


# --- the search, on synthetic tries (no fit) -------------------------------------------------

def _try(bpt: float, psnr: float, target: float) -> rate.RateTry:
    return rate.RateTry(bpp=bpt, size_bytes=int(bpt * 512), bits_per_texel=bpt, gaussians=1,
                        psnr=psnr, lod_psnr=[psnr], lod_bits_per_texel=[bpt],
                        reached=psnr >= target, seconds=0.0)


def test_next_budget_extrapolates_then_interpolates_then_stops():
    curve = lambda b: 30 + 5 * math.log2(b)  # 5 dB per doubling
    target = 36.0  # reached at 2^(6/5) = 2.297 bits/texel
    tries = [_try(1.0, curve(1.0), target)]
    b = rate.next_budget(tries, target, 0.05, 16, None)
    assert 2.0 < b <= 4.0  # up along the prior slope, a margin above the target
    seen = [1.0]
    while b is not None:
        seen.append(b)
        tries.append(_try(b, curve(b), target))
        b = rate.next_budget(tries, target, 0.05, 16, None)
        assert len(tries) < 10
    best = min((t for t in tries if t.reached), key=lambda t: t.bits_per_texel)
    assert best.bits_per_texel < 2.297 * 1.05


def test_next_budget_goes_down_from_a_pass_and_respects_bounds():
    target = 30.0
    b = rate.next_budget([_try(4.0, 40.0, target)], target, 0.05, 16, None)
    assert b == pytest.approx(4.0 * 2 ** ((target + rate.MARGIN_DOWN - 40.0) / 5.0))
    b = rate.next_budget([_try(4.0, 50.0, target)], target, 0.05, 16, None)
    assert b == pytest.approx(1.0)  # at most 4x down in one step
    assert rate.next_budget([_try(0.05, 40.0, target)], target, 0.05, 16, None) is None
    # failing at the largest allowed budget: nothing left to try
    assert rate.next_budget([_try(16.0, 20.0, target)], target, 0.05, 16, None) is None
    # a LOD prefix that reached the target at 1.5 bits/texel caps the next try
    b = rate.next_budget([_try(1.0, 25.0, target)], target, 0.05, 16, 1.5)
    assert b == pytest.approx(1.5)
    # a pass within DB_TOL of the target: done
    assert rate.next_budget([_try(2.0, target + 0.05, target)], target, 0.05, 16, None) is None


def test_match_names():
    assert rate.parse_match("ASTC8x8") == "astc-8x8"
    assert rate.parse_match("bc7") == "bc7"
    with pytest.raises(OptionError, match="astc-12x12"):
        rate.parse_match("astc-7x7")


# --- real searches on tiny bakes ------------------------------------------------------------

def _prepared(img: np.ndarray):
    from texgs.material import MapSource, prepare_map

    return [prepare_map(MapSource(fmt.MAP_BASECOLOR, "sign"), img, hdr=False)]


def test_psnr_search_reaches_the_target_and_a_smaller_budget_does_not():
    pytest.importorskip("torch")
    from texgs.bake.fit import bake_set

    maps = _prepared(sample_crop("sign", 64, 96, 96))
    cfg = BakeConfig(steps=40)
    target = 30.0
    res = rate.bake_to_psnr(maps, cfg, target)
    r = res.result
    assert r.psnr >= target
    assert res.tries[res.chosen].bits_per_texel == r.bits_per_texel
    assert len(res.tries) <= rate.MAX_TRIES
    assert all(not t.reached for t in res.tries if t.bits_per_texel < r.bits_per_texel)
    # honest: a bake at 90 % of the chosen budget, same settings, misses the target
    smaller = bake_set(maps, BakeConfig(steps=40, bpp=0.9 * r.bits_per_texel))
    assert smaller.psnr < target, (smaller.psnr, smaller.bits_per_texel)


def test_unreachable_target_is_a_rate_error():
    pytest.importorskip("torch")
    maps = _prepared(sample_crop("sign", 64, 96, 96))
    with pytest.raises(RateTargetError, match="--max-bpp 2"):
        rate.bake_to_psnr(maps, BakeConfig(steps=5), 80.0, max_bpp=2.0)


# --- the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--psnr", "30", "--bpp", "1"], "--psnr and --bpp are exclusive"),
    (["--psnr", "30", "--gaussians", "100"], "--psnr and --gaussians are exclusive"),
    (["--match", "bc1", "--bpp", "1"], "--match and --bpp are exclusive"),
    (["--psnr", "30", "--match", "bc1"], "--psnr and --match are exclusive"),
    (["--max-bpp", "4"], "--max-bpp applies to --psnr or --match"),
    (["--psnr", "0"], "--psnr 0 outside"),
    (["--psnr", "30", "--max-bpp", "100"], "--max-bpp 100 outside"),
    (["--match", "astc-7x7"], "--match 'astc-7x7'"),
])
def test_rate_option_conflicts_are_refused_before_any_work(sign_png, tmp_path, args, words):
    out = tmp_path / "a.tgs"
    res = run_cli("bake", str(tmp_path / "missing.png"), "-o", str(out), *args)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("texgs: error:") and words in lines[0]
    assert not out.exists()


def test_cli_psnr_prints_the_tries_and_json_has_them(sign_png, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "a.tgs"
    res = run_cli("bake", str(sign_png), "-o", str(out), "--psnr", "28", "--steps", "40",
                  "--json")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["psnr_db"] >= 28 and out.stat().st_size == s["size_bytes"]
    r = s["rate"]
    assert r["target_psnr_db"] == 28 and r["match"] is None
    chosen = r["tries"][r["chosen_try"] - 1]
    assert chosen["size_bytes"] == s["size_bytes"] and chosen["reached"]
    res = run_cli("bake", str(sign_png), "-o", str(out), "--psnr", "28", "--steps", "40",
                  "--quiet")
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().replace("\n", " ")
    assert "--psnr 28.00 dB: try" in line and "tried" in line


def test_cli_unreachable_target_exits_6(sign_png, tmp_path):
    pytest.importorskip("torch")
    res = run_cli("bake", str(sign_png), "-o", str(tmp_path / "a.tgs"), "--psnr", "90",
                  "--max-bpp", "1", "--steps", "3", "--quiet")
    assert res.returncode == 6, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("texgs: error: --psnr 90: not "
                                                         "reachable within --max-bpp 1")
    assert not (tmp_path / "a.tgs").exists()


def test_cli_match_astc_is_at_least_as_good(sign_png, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("astc_encoder")
    out = tmp_path / "a.tgs"
    res = run_cli("bake", str(sign_png), "-o", str(out), "--match", "astc-12x12", "--steps",
                  "40", "--json")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    m = s["rate"]["match"]
    assert m["format"] == "astc-12x12"
    assert m["bits_per_texel"] == pytest.approx(36 * 128 / 4096)  # 6x6 blocks of 16 bytes
    assert s["psnr_db"] >= m["psnr_db"]
    # the format's PSNR is measured as the bake measures its own
    from texgs.eval.baselines import astc
    from texgs.quality import psnr

    img = np.asarray(Image.open(sign_png))
    assert m["psnr_db"] == pytest.approx(psnr(img / 255.0, astc(img, (12, 12)).decoded),
                                         abs=1e-6)


def test_format_psnr_of_a_grey_map():
    pytest.importorskip("astc_encoder")
    from texgs.material import MapSource, prepare_map

    grey = sample_crop("sign", 32, 96, 96)[..., :1]
    maps = [prepare_map(MapSource(fmt.MAP_ROUGHNESS, "r"), grey, hdr=False)]
    info = rate.format_psnr(maps, "astc-6x6")
    assert 20 < info.psnr < 80 and info.bits_per_texel == pytest.approx(
        16 * 6 * 6 * 8 / (32 * 32))

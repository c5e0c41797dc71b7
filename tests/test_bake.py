"""The baker end to end on small real images: budget, determinism, LOD order, quality."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import sample_crop  # noqa: E402
from texgs import format as fmt  # noqa: E402
from texgs.bake import BakeConfig, bake_array, plan_budget  # noqa: E402
from texgs.errors import OptionError  # noqa: E402
from texgs.eval.metrics import psnr  # noqa: E402
from texgs.images import channel_infos_for  # noqa: E402


def _bake(img, **kw):
    cfg = BakeConfig(**{"steps": 60, **kw})
    return bake_array(img, channel_infos_for(img.shape[2]), cfg)


def test_same_seed_same_bytes_other_seed_other_bytes():
    img = sample_crop("bricks", 64)
    a = _bake(img, seed=3)
    b = _bake(img, seed=3)
    c = _bake(img, seed=4)
    assert a.data == b.data
    assert a.data != c.data


@pytest.mark.parametrize("bpp", [0.5, 1.0, 2.0])
def test_file_size_meets_the_bpp_budget(bpp):
    img = sample_crop("noise", 128)
    r = _bake(img, bpp=bpp, steps=3)
    rbits = fmt.RecordLayout(12, 8, 8, (8, 8, 8)).record_bits
    texels = 128 * 128
    assert r.bits_per_texel <= bpp
    # within one record plus one word of padding of the target
    assert r.bits_per_texel >= bpp - (rbits + 32) / texels
    assert r.size_bytes == len(r.data)


def test_plan_budget_levels_are_chunk_aligned():
    counts = plan_budget(512, 512, 3, BakeConfig(bpp=1.0, lod_levels=5))
    assert len(counts) == 5 and all(c % 4 == 0 for c in counts[:-1])
    assert plan_budget(64, 64, 3, BakeConfig(bpp=None, gaussians=101, lod_levels=3))[-1] > 0
    assert sum(plan_budget(64, 64, 3, BakeConfig(bpp=None, gaussians=101, lod_levels=3))) == 101
    with pytest.raises(OptionError):
        plan_budget(8, 8, 3, BakeConfig(bpp=0.05, lod_levels=5))


def test_lod_prefixes_rise_in_quality_and_decode():
    img = sample_crop("sign", 64, 96, 96)
    r = _bake(img, bpp=2.0, steps=150, lod_levels=4)
    assert len(r.lod_psnr) == 4
    assert all(b > a for a, b in zip(r.lod_psnr, r.lod_psnr[1:])), r.lod_psnr
    # the reported PSNR is the decoded asset's, measured independently here
    assert abs(psnr(img, r.decoded) - r.psnr) < 1e-6


def test_bake_quality_and_quantization_drop():
    img = sample_crop("gradient", 64, 100, 100)
    r = _bake(img, bpp=1.0, steps=150)
    assert r.psnr > 38.0, r.psnr
    assert r.psnr_float - r.psnr < 1.0  # float-to-stored drop stays small
    # over 45 dB the max preset's colour search runs; 10-bit records leave too few
    # Gaussians for five LOD levels here, so it keeps the first bake
    assert r.psnr < BakeConfig().color_search_above or r.color_search.endswith(
        "10-bit: budget too small; kept 8-bit"), r.color_search


def test_repeat_bake_has_no_seam():
    """A tiling texture baked with --wrap repeat: differences across the wrap edge are like
    those inside the texture."""
    img = sample_crop("noise", 48)
    img = np.concatenate([img, img[:, ::-1]], 1)[:, ::2].copy()  # periodic in x by symmetry
    r = _bake(img, steps=120, bpp=2.0, repeat_x=True, repeat_y=True)
    d = r.decoded
    inside = np.abs(np.diff(d, axis=1)).mean()
    across = np.abs(d[:, 0] - d[:, -1]).mean()
    assert across < 2.0 * inside


def test_torch_fallback_renderer_bakes_too(monkeypatch):
    from texgs.bake import fit, render_ref

    img = sample_crop("gradient", 64)
    ref = _bake(img, steps=30, bpp=2.0)
    monkeypatch.setattr(fit, "render", render_ref._render_tiled_torch)
    alt = _bake(img, steps=30, bpp=2.0)
    assert abs(alt.psnr - ref.psnr) < 0.5
    assert math.isfinite(alt.psnr)


def test_same_bytes_whatever_the_thread_count():
    img = sample_crop("bricks", 64)
    one = _bake(img, seed=5, threads=1)
    two = _bake(img, seed=5, threads=2)
    four = _bake(img, seed=5, threads=4)
    assert one.data == two.data == four.data


def test_quality_presets_fill_unset_settings_and_validate():
    from texgs.bake.config import QUALITY_PRESETS

    assert BakeConfig().quality == "balanced"
    for name, preset in QUALITY_PRESETS.items():
        cfg = BakeConfig(quality=name)
        cfg.validate()
        assert cfg.steps == preset["steps"]
        assert cfg.coarse_fraction == preset["coarse_fraction"]
        assert cfg.sparse_fraction == preset["sparse_fraction"]
        assert cfg.rank_every == preset["rank_every"]
    assert BakeConfig(quality="fast", steps=77).steps == 77  # explicit settings win
    assert BakeConfig(quality="max").coarse_fraction == 0.0  # max: the full recipe
    with pytest.raises(OptionError):
        BakeConfig(quality="ultra")
    with pytest.raises(OptionError):
        BakeConfig(coarse_fraction=1.5).validate()
    with pytest.raises(OptionError):
        BakeConfig(sparse_fraction=-0.1).validate()


def test_coarse_to_fine_bake_is_deterministic_and_fits():
    img = sample_crop("sign", 64, 96, 96)
    a = _bake(img, bpp=2.0, steps=120, coarse_fraction=0.4)
    b = _bake(img, bpp=2.0, steps=120, coarse_fraction=0.4)
    full = _bake(img, bpp=2.0, steps=120, coarse_fraction=0.0)
    assert a.data == b.data
    assert abs(a.psnr - full.psnr) < 1.5, (a.psnr, full.psnr)
    assert all(y > x for x, y in zip(a.lod_psnr, a.lod_psnr[1:])), a.lod_psnr


def test_lod_prefix_psnrs_from_the_kernel_match_the_decoder():
    """The end-of-bake LOD-prefix PSNRs come from the compiled kernel; they must equal the
    reference decoder's."""
    from texgs.bake import render_cpu
    from texgs.bake.fit import _decode_maps_with_kernel
    from texgs.decode import decode_maps

    if render_cpu.load_kernel() is None:
        pytest.skip(f"compiled kernel unavailable: {render_cpu.status()}")
    img = sample_crop("bricks", 64)
    r = _bake(img, bpp=2.0, steps=20, lod_levels=3)
    for lod in (1, 2, 3):
        fast = _decode_maps_with_kernel(r.asset, lod)[0]
        ref = decode_maps(r.asset, lod=lod)[0]
        np.testing.assert_allclose(fast, ref, atol=2e-6, rtol=1e-5)
    assert abs(psnr(img, _decode_maps_with_kernel(r.asset, 2)[0]) - r.lod_psnr[1]) < 1e-3


def test_cli_rejects_an_unknown_quality_preset():
    from conftest import run_cli

    res = run_cli("bake", "samples/bricks.png", "-o", "/tmp/never.tgs", "--quality", "ultra")
    assert res.returncode == 1
    assert "--quality" in res.stderr


def test_cli_sparse_steps_are_checked_and_used(tmp_path, crop_png):
    from conftest import run_cli

    res = run_cli("bake", "samples/bricks.png", "-o", str(tmp_path / "x.tgs"),
                  "--sparse-steps", "1.5")
    assert res.returncode == 1 and "--sparse-steps" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.tgs").exists()
    src = crop_png("bricks", 64)
    outs = []
    for frac in ("0", "0.5"):
        out = tmp_path / f"s{frac}.tgs"
        res = run_cli("bake", str(src), "-o", str(out), "--steps", "40", "--sparse-steps",
                      frac, "--quiet")
        assert res.returncode == 0, res.stderr
        outs.append(out.read_bytes())
    assert outs[0] != outs[1] and len(outs[0]) == len(outs[1])


def _fitter(img, **kw):
    from texgs.bake.fit import _Fitter
    from texgs.material import MapSource, prepare_map
    pm = prepare_map(MapSource(channel_infos_for(3)[0].map_kind, "array"), img, hdr=False)
    return _Fitter([pm], BakeConfig(**kw), torch.device("cpu"))


def _brute_force_shares(means, conics, colors, fallback, W, H, K):
    """(mass [N], contrast [N]) from every Gaussian's q at every texel centre
    (docs/FORMAT.md "Decoding", clamp mode; top-K by q inside the cutoff): mass sums
    s_i = w_i / den over texels; contrast sums s_i * sum_c (c_ic - T_c)^2 / texels, with
    T the blend."""
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    p = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).double()
    d = p[:, None, :] - means.double()[None]
    a, b, c = (conics.double()[:, i] for i in range(3))
    q = a * d[..., 0] ** 2 + 2 * b * d[..., 0] * d[..., 1] + c * d[..., 1] ** 2
    q = torch.where(q < fmt.CUTOFF_Q, q, torch.inf)
    qk, ik = torch.topk(q, K, dim=1, largest=False, sorted=True)
    w = torch.clamp(torch.exp(-qk / 2) - math.exp(-fmt.CUTOFF_Q / 2), min=0)
    w = torch.where(torch.isfinite(qk), w, torch.zeros_like(w))
    den = fmt.BLEND_EPS + w.sum(1, keepdim=True)
    share = w / den
    cols = colors.double()[ik]  # [P, K, C]
    blend = (fmt.BLEND_EPS * fallback.double() + (w[..., None] * cols).sum(1)) / den
    contrast = share * ((cols - blend[:, None, :]) ** 2).sum(-1) / (W * H)
    zeros = torch.zeros(means.shape[0], dtype=torch.float64)
    return (zeros.clone().index_add_(0, ik.reshape(-1), share.reshape(-1)),
            zeros.clone().index_add_(0, ik.reshape(-1), contrast.reshape(-1)))


def test_blend_mass_and_contrast_match_a_brute_force_blend():
    img = sample_crop("bricks", 40)
    fit = _fitter(img)
    model = fit.initial(30)
    uv, log2s, theta, colors = (t.detach() for t in model.tensors())
    means, conics = fit.geometry(uv, log2s, theta)
    mass, contrast = _brute_force_shares(means, conics, colors, fit.fallback, 40, 40,
                                         fit.cfg.top_k)
    got_mass, got_contrast = fit.blend_scores(model)
    torch.testing.assert_close(got_mass.double(), mass, rtol=1e-4, atol=1e-4)
    assert float(mass.sum()) == pytest.approx(40 * 40, rel=1e-2)  # every texel shared out
    # one map: channel weights 1/3 each
    torch.testing.assert_close(got_contrast.double(), contrast / 3,
                               rtol=1e-3, atol=1e-9)
    assert float(contrast.max()) > 10 * float(contrast.min())  # it does tell them apart


@pytest.mark.parametrize("by", ["contrast", "mass"])
def test_relocate_moves_only_the_least_used_gaussians(by):
    img = sample_crop("bricks", 48)
    fit = _fitter(img, relocate_by=by)
    model = fit.initial(60)
    mass = fit.blend_scores(model)[0 if by == "mass" else 1]
    with torch.no_grad():
        images = fit.render(model, None)
    moved = fit.relocate(model, images, 0.2, 60)
    low = set(torch.argsort(mass, stable=True)[:12].tolist())
    before = torch.cat([t.detach() for t in (model.uv, model.log2s, model.theta[:, None],
                                              model.colors)], 1)
    after = torch.cat([t.detach() for t in (moved.uv, moved.log2s, moved.theta[:, None],
                                             moved.colors)], 1)
    assert after.shape == before.shape
    changed = {i for i in range(60) if not torch.equal(before[i], after[i])}
    assert changed == low
    assert bool(((moved.uv >= 0) & (moved.uv <= 1)).all())
    assert all(t.requires_grad for t in moved.tensors())


def test_bake_with_relocation_is_deterministic_and_fits():
    img = sample_crop("sign", 64, 96, 96)
    a = _bake(img, bpp=2.0, steps=120, relocate_at=(0.3, 0.45))
    b = _bake(img, bpp=2.0, steps=120, relocate_at=(0.3, 0.45))
    plain = _bake(img, bpp=2.0, steps=120, relocate_at=())
    assert a.data == b.data and a.data != plain.data
    assert len(a.data) == len(plain.data)
    assert abs(a.psnr - plain.psnr) < 1.5, (a.psnr, plain.psnr)


@pytest.mark.parametrize("repeat", [False, True])
def test_each_texel_lattice_renders_the_full_images_texels(repeat):
    """A sparse step's lattice (one texel of each 2x2 block, its own grid at half the tile
    size) sees exactly the full render's texels (px + 2i, py + 2j), and its target is the
    full target's."""
    img = sample_crop("bricks", 64)
    fit = _fitter(img, repeat_x=repeat, repeat_y=repeat, tile=16)
    assert fit.can_sparse
    model = fit.initial(200)
    with torch.no_grad():
        full = fit.render(model, None)[0]
        for phase in range(4):
            fit.use_lattice(phase)
            px, py = phase % 2, phase // 2
            sub = fit.render(model, None)[0]
            assert sub.shape == (32, 32, 3)
            torch.testing.assert_close(sub, full[py::2, px::2], rtol=0, atol=2e-5)
            assert torch.equal(fit.groups[0].target, fit.full_groups[0].target[py::2, px::2])
        fit.use_coarse(False)
        assert torch.equal(fit.render(model, None)[0], full)


def test_odd_sized_repeat_textures_take_no_sparse_steps():
    img = np.ascontiguousarray(sample_crop("bricks", 64)[:, :63])
    assert not _fitter(img, repeat_x=True).can_sparse  # no periodic lattice on 63 wide
    assert _fitter(img).can_sparse


def test_sparse_bake_is_deterministic_and_fits():
    img = sample_crop("sign", 64, 96, 96)
    a = _bake(img, bpp=2.0, steps=120, sparse_fraction=0.5)
    b = _bake(img, bpp=2.0, steps=120, sparse_fraction=0.5)
    full = _bake(img, bpp=2.0, steps=120, sparse_fraction=0.0)
    assert a.data == b.data and a.data != full.data
    assert abs(a.psnr - full.psnr) < 1.0, (a.psnr, full.psnr)


@pytest.mark.parametrize("name", ["sign", "bricks"])
def test_colour_search_keeps_the_best_of_the_widths_it_bakes(name):
    """The search's asset is byte for byte the best-PSNR one of plain bakes at 8, 10 and
    12-bit colours, as far as the search went (it stops at the first width that does not
    gain). On this sign crop a wider width gains (the search goes past 8 bits)."""
    img = sample_crop(name, 64)
    kw = dict(bpp=2.0, steps=150, relocate_at=(), rank_every=1)
    plain = {b: _bake(img, color_bits=b, color_search=False, **kw) for b in (8, 10, 12)}
    got = _bake(img, color_search=True, color_search_above=0.0, **kw)
    tried = [8]
    for b in (10, 12):
        tried.append(b)
        if plain[b].psnr <= max(plain[t].psnr for t in tried[:-1]):
            break
    best = max(tried, key=lambda b: plain[b].psnr)
    assert got.color_search == ("colour widths tried: " + ", ".join(
        f"{b}-bit {plain[b].psnr:.2f} dB" for b in tried) + f"; kept {best}-bit")
    assert got.data == plain[best].data
    assert len(got.data) <= math.floor(2.0 * 64 * 64 / 8)  # the budget holds at any width
    if name == "sign":
        assert best > 8, {b: r.psnr for b, r in plain.items()}


def test_colour_search_stays_off_below_its_thresholds():
    img = sample_crop("bricks", 64)
    kw = dict(bpp=1.0, steps=60)
    got = _bake(img, color_search=True, color_search_above=99.0, color_search_loss=99.0, **kw)
    assert got.color_search == ""
    assert got.data == _bake(img, color_search=False, **kw).data
    assert BakeConfig(quality="max").color_search is True
    assert BakeConfig(quality="balanced").color_search is True
    assert BakeConfig(quality="fast").color_search is False

"""Material texture sets (issue 4): discovery, manifests, map semantics, joint bakes of maps
of different sizes, normal maps, alpha coverage, HDR round trips, address modes per axis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from texgs import format as fmt
from texgs.errors import InputError, OptionError
from texgs.material import (
    KIND_BY_NAME,
    MapSource,
    discover_maps,
    kind_from_filename,
    parse_map_option,
    parse_weight_option,
    prepare_map,
    read_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "textures"
SETS = SHARED / "sets"
needs_shared = pytest.mark.skipif(not SETS.is_dir(), reason="../shared/textures not present")




def _shared_crop(path: Path, size: int, reduce: int = 1) -> np.ndarray:
    """uint8 centre crop (size x size) of a shared texture, optionally box-reduced first."""
    im = Image.open(path)
    if reduce > 1:
        im = im.reduce(reduce)
    a = np.asarray(im)
    h, w = a.shape[:2]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(a[y0:y0 + size, x0:x0 + size])


@needs_shared
def test_discover_maps_names_every_map_of_the_shared_sets():
    for folder in sorted(p for p in SETS.iterdir() if p.is_dir()):
        found = discover_maps(folder)
        assert [m.kind for m in found] == [fmt.MAP_BASECOLOR, fmt.MAP_NORMAL, fmt.MAP_GLOSS]
        assert Path(found[0].path).name == f"{folder.name}.png"


@pytest.mark.parametrize("name,kind", [
    ("brick_Normal.png", fmt.MAP_NORMAL), ("skull_n.png", fmt.MAP_NORMAL),
    ("rock_nm.tga", fmt.MAP_NORMAL), ("rock-NRM.png", fmt.MAP_NORMAL),
    ("metal_rough.png", fmt.MAP_ROUGHNESS), ("metal_Roughness.png", fmt.MAP_ROUGHNESS),
    ("box_gloss.png", fmt.MAP_GLOSS), ("box_orm.png", fmt.MAP_ORM),
    ("box_metal.png", fmt.MAP_METALNESS), ("box_ao.png", fmt.MAP_OCCLUSION),
    ("box_emissive.png", fmt.MAP_EMISSIVE), ("leaf_alpha.png", fmt.MAP_ALPHA),
    ("box_albedo.png", fmt.MAP_BASECOLOR), ("box_mask.png", fmt.MAP_MASK),
    ("brick.png", None), ("brick_old.png", None),
])
def test_kind_from_filename(name, kind):
    assert kind_from_filename(name) == kind


def test_discover_refuses_ambiguous_folders(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    for n in ("a.png", "b.png"):
        Image.fromarray(img).save(tmp_path / n)
    with pytest.raises(InputError, match="cannot tell"):
        discover_maps(tmp_path)
    (tmp_path / "b.png").unlink()
    Image.fromarray(img).save(tmp_path / "a_n.png")
    Image.fromarray(img).save(tmp_path / "a_Normal.png")
    with pytest.raises(InputError, match="two normal maps"):
        discover_maps(tmp_path)


def test_manifest_reads_paths_weights_and_wrap(tmp_path):
    (tmp_path / "m.toml").write_text(
        'wrap = "repeat-x"\n[maps]\nbasecolor = "c.png"\n'
        'normal = { path = "sub/n.png", weight = 2.5 }\n')
    maps, extra = read_manifest(tmp_path / "m.toml")
    assert [(m.kind, Path(m.path), m.weight) for m in maps] == [
        (fmt.MAP_BASECOLOR, tmp_path / "c.png", 1.0),
        (fmt.MAP_NORMAL, tmp_path / "sub" / "n.png", 2.5)]
    assert extra == {"wrap": "repeat-x"}


@pytest.mark.parametrize("text,needle", [
    ("[maps\n", "not a valid TOML"),
    ("wrap = 'repeat'\n", "[maps]"),
    ("[maps]\nbumpy = 'x.png'\n", "unknown map kind"),
    ("[maps]\nnormal = { path = 'x.png', weight = -1 }\n", "positive"),
    ("[maps]\nnormal = { path = 'x.png', scale = 2 }\n", "unknown keys"),
    ("[maps]\nnormal = 3\n", "path must be a string"),
    ("colour = 1\n[maps]\nnormal = 'x.png'\n", "unknown manifest keys"),
])
def test_manifest_errors_name_the_file(tmp_path, text, needle):
    p = tmp_path / "m.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=needle.replace("[", r"\[")) as e:
        read_manifest(p)
    assert str(e.value).startswith(str(p))


def test_normal_maps_weigh_two_by_default_everywhere_a_set_is_built(tmp_path):
    (tmp_path / "m.toml").write_text('[maps]\nbasecolor = "c.png"\nnormal = "n.png"\n'
                                     'gloss = { path = "g.png", weight = 3 }\n')
    maps, _ = read_manifest(tmp_path / "m.toml")
    assert [m.weight for m in maps] == [1.0, 2.0, 3.0]
    for name in ("c.png", "c_Normal.png", "c_rough.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    assert [(m.kind, m.weight) for m in discover_maps(tmp_path)] == [
        (fmt.MAP_BASECOLOR, 1.0), (fmt.MAP_NORMAL, 2.0), (fmt.MAP_ROUGHNESS, 1.0)]
    assert parse_map_option("normal=n.png").weight == 2.0
    assert MapSource(fmt.MAP_NORMAL, "n.png").weight == 2.0  # the API, glTF and batch paths
    assert MapSource(fmt.MAP_NORMAL, "n.png", 0.5).weight == 0.5
    assert MapSource(fmt.MAP_GLOSS, "g.png").weight == 1.0


def test_map_and_weight_options():
    assert parse_map_option("normal=a=b.png").path == "a=b.png"
    assert parse_weight_option("Roughness=0.5") == (fmt.MAP_ROUGHNESS, 0.5)
    for bad in ("normal", "=x.png", "normal="):
        with pytest.raises(OptionError):
            parse_map_option(bad)


def _rand(h, w, c, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def _unit_normals(h, w, seed=0):
    """Encoded unit tangent-space normals [h, w, 3] in [0, 1] (z > 0)."""
    v = np.random.default_rng(seed).normal(size=(h, w, 3)) * [0.4, 0.4, 0.0]
    v[..., 2] = 1.0
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    return ((v + 1) / 2).astype(np.float32)


def test_a_normal_map_that_is_not_unit_tangent_space_keeps_all_three_channels():
    """z is rebuilt only for unit tangent-space normals; a map with other content (here:
    random RGB, or a real object-space-like map) is stored as x, y, z, with a note."""
    unit = prepare_map(MapSource(fmt.MAP_NORMAL, "n.png"), _unit_normals(16, 16), False)
    assert unit.flags == fmt.MAP_FLAG_NORMAL_Z and unit.fitted == [0, 1] and not unit.note
    odd = prepare_map(MapSource(fmt.MAP_NORMAL, "n.png"), _rand(16, 16, 3), False)
    assert odd.flags == 0 and odd.fitted == [0, 1, 2]
    assert "not unit-length tangent-space normals" in odd.note
    # 1 % of texels off is tolerated (8-bit rounding, a few bad texels), 5 % is not
    img = _unit_normals(20, 20)
    img.reshape(-1, 3)[:4] = 0.5  # zero vectors
    assert prepare_map(MapSource(fmt.MAP_NORMAL, "n.png"), img, False).flags == \
        fmt.MAP_FLAG_NORMAL_Z
    img.reshape(-1, 3)[:20] = 0.5
    assert prepare_map(MapSource(fmt.MAP_NORMAL, "n.png"), img, False).flags == 0


@pytest.mark.parametrize("kind,channels,encodings,fitted,flags", [
    (fmt.MAP_BASECOLOR, 3, ["srgb"] * 3, [0, 1, 2], 0),
    (fmt.MAP_BASECOLOR, 4, ["srgb"] * 3 + ["linear"], [0, 1, 2, 3], fmt.MAP_FLAG_ALPHA),
    (fmt.MAP_BASECOLOR, 2, ["srgb", "linear"], [0, 1], fmt.MAP_FLAG_ALPHA),
    (fmt.MAP_EMISSIVE, 3, ["srgb"] * 3, [0, 1, 2], 0),
    (fmt.MAP_NORMAL, 3, ["linear"] * 3, [0, 1], fmt.MAP_FLAG_NORMAL_Z),
    (fmt.MAP_ROUGHNESS, 1, ["linear"], [0], 0),
    (fmt.MAP_GLOSS, 1, ["linear"], [0], 0),
    (fmt.MAP_METALNESS, 1, ["linear"], [0], 0),
    (fmt.MAP_OCCLUSION, 1, ["linear"], [0], 0),
    (fmt.MAP_ORM, 3, ["linear"] * 3, [0, 1, 2], 0),
    (fmt.MAP_MASK, 4, ["linear"] * 4, [0, 1, 2, 3], 0),
    (fmt.MAP_ALPHA, 1, ["linear"], [0], 0),
])
def test_each_semantic_gets_its_encoding(kind, channels, encodings, fitted, flags):
    img = _unit_normals(8, 8) if kind == fmt.MAP_NORMAL else _rand(8, 8, channels)
    pm = prepare_map(MapSource(kind, "x.png"), img, False)
    assert [fmt.ENCODING_NAMES[c.encoding] for c in pm.channels] == encodings
    assert pm.fitted == fitted and pm.flags == flags
    assert pm.target.shape == (8, 8, len(fitted))


def test_constant_channels_are_not_fitted_and_cost_no_bits():
    img = _rand(8, 8, 4)
    img[..., 1] = 0.0  # a gloss map whose G and B are unused
    img[..., 2] = 0.0
    img[..., 3] = 1.0
    pm = prepare_map(MapSource(fmt.MAP_GLOSS, "g.png"), img, False)
    assert pm.fitted == [0] and pm.informative == [0]
    assert [(c.bits, c.lo) for c in pm.channels[1:]] == [(0, 0.0), (0, 0.0), (0, 1.0)]


def test_normal_map_needs_three_channels():
    with pytest.raises(InputError, match="x, y, z"):
        prepare_map(MapSource(fmt.MAP_NORMAL, "n.png"), _rand(8, 8, 1), False)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """A real set cut from ../shared (brickA): 64x64 base colour, 64x64 RGBA normal map,
    32x32 gloss map (the real set's gloss map is half size as well), baked via the CLI."""
    if not SETS.is_dir():
        pytest.skip("../shared/textures not present")
    d = tmp_path_factory.mktemp("set")
    src = SETS / "stk_generic_brickA"
    Image.fromarray(_shared_crop(src / "stk_generic_brickA.png", 64, 2)).save(d / "brick.png")
    Image.fromarray(_shared_crop(src / "stk_generic_brickA_Normal.png", 64, 2)).save(
        d / "brick_Normal.png")
    Image.fromarray(_shared_crop(src / "stk_generic_brickA_gloss.png", 32, 2)).save(
        d / "brick_gloss.png")
    out = d / "brick.tgs"
    res = run_cli("bake", str(d), "-o", str(out), "--bpp", "6", "--steps", "300", "--json")
    assert res.returncode == 0, res.stderr
    return d, out, json.loads(res.stdout)


def test_set_bake_reports_every_map(small_set):
    d, out, summary = small_set
    maps = {m["map"]: m for m in summary["maps"]}
    assert list(maps) == ["basecolor", "normal", "gloss"]
    assert [m["loss_weight"] for m in maps.values()] == [1.0, 2.0, 1.0]  # the defaults
    assert (maps["gloss"]["width"], maps["gloss"]["height"]) == (32, 32)
    assert (maps["normal"]["width"], maps["normal"]["height"]) == (64, 64)
    assert summary["bits_per_texel"] <= 6.0
    assert out.stat().st_size * 8 / (64 * 64) == pytest.approx(summary["bits_per_texel"])
    for m in maps.values():
        assert m["psnr_db"] > 20 and len(m["lod_psnr_db"]) == 5
    assert 0 < maps["normal"]["angular_mean_deg"] < maps["normal"]["angular_p99_deg"] < 60
    assert summary["psnr_db"] == pytest.approx(np.mean([m["psnr_db"] for m in maps.values()]))


def test_set_decodes_every_map_at_its_size_and_encoding(small_set, tmp_path):
    d, out, summary = small_set
    res = run_cli("decode", str(out), "-o", str(tmp_path / "maps"), "--json")
    assert res.returncode == 0, res.stderr
    files = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert files == ["brick_basecolor.png", "brick_gloss.png", "brick_normal.png"]
    base = Image.open(tmp_path / "maps" / "brick_basecolor.png")
    normal = Image.open(tmp_path / "maps" / "brick_normal.png")
    gloss = Image.open(tmp_path / "maps" / "brick_gloss.png")
    assert (base.size, base.mode) == ((64, 64), "RGB")
    assert (normal.size, normal.mode) == ((64, 64), "RGBA")
    assert (gloss.size, gloss.mode) == ((32, 32), "RGB")
    # the normal map's z was rebuilt: unit length up to 8-bit rounding; alpha kept
    n = np.asarray(normal).astype(np.float64)
    length = np.linalg.norm(n[..., :3] / 255 * 2 - 1, axis=-1)
    assert np.abs(length - 1).max() < 0.02
    assert (n[..., 3] == 255).all()
    # the gloss map's constant channels come back exactly
    g = np.asarray(gloss)
    assert (g[..., 1:] == 0).all()
    # independent check of the reported normal error from the written file
    src = np.asarray(Image.open(d / "brick_Normal.png")).astype(np.float64)
    from texgs.quality import normal_angles_deg
    ang = normal_angles_deg(src / 255, n / 255).mean()
    reported = [m for m in summary["maps"] if m["map"] == "normal"][0]["angular_mean_deg"]
    assert abs(ang - reported) < 0.5
    # decoded with a flat normal everywhere, the error would be far larger
    flat = np.zeros_like(src) + [127.5, 127.5, 255, 255]
    assert ang < 0.8 * normal_angles_deg(src / 255, flat / 255).mean()


def test_set_info_and_single_map_decode(small_set, tmp_path):
    _, out, _ = small_set
    res = run_cli("info", str(out), "--json")
    info = json.loads(res.stdout)
    assert [(m["map"], m["width"], m["normal_z_rebuilt"]) for m in info["maps"]] == [
        ("basecolor", 64, False), ("normal", 64, True), ("gloss", 32, False)]
    normal = info["maps"][1]
    assert normal["stored_channels"] == normal["channels"][:2]  # z and alpha are not stored
    res = run_cli("decode", str(out), "--map", "gloss", "-o", str(tmp_path / "g.png"),
                  "--size", "16x16")
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "g.png").size == (16, 16)
    for args, needle in ((["-o", str(tmp_path / "x.png")], "needs a folder"),
                         (["-o", str(tmp_path / "m"), "--size", "8x8"], "--size"),
                         (["-o", str(tmp_path / "x.png"), "--map", "roughness"], "holds")):
        res = run_cli("decode", str(out), *args)
        assert res.returncode == 1 and needle in res.stderr, res.stderr


def test_one_lookup_decodes_the_whole_set(small_set):
    """One geometry: a single blend returns every channel of every map."""
    from texgs.decode import decode_uv

    _, out, _ = small_set
    asset = fmt.read_asset_file(out)
    vals = decode_uv(asset, np.array([[0.3, 0.7], [0.5, 0.5]], np.float32))
    assert vals.shape == (2, 3 + 4 + 3)  # RGB base colour, RGBA normal map, RGB gloss


@needs_shared
def test_alpha_tested_foliage_keeps_its_coverage(tmp_path):
    """stk_grassAlpha: the fraction of texels whose side of alpha 0.5 flips is reported and
    small, far below what a blurred (mean-alpha) texture would give."""
    crop = _shared_crop(SHARED / "single" / "stk_grassAlpha.png", 64, 2)
    Image.fromarray(crop).save(tmp_path / "grass.png")
    res = run_cli("bake", str(tmp_path / "grass.png"), "-o", str(tmp_path / "g.tgs"), "--bpp",
                  "4", "--steps", "200", "--json")
    assert res.returncode == 0, res.stderr
    flips = json.loads(res.stdout)["maps"][0]["alpha_flip_fraction"]
    a = crop[..., 3] / 255.0
    blurred = np.asarray(Image.fromarray(crop[..., 3]).resize((8, 8), Image.BOX).resize(
        (64, 64), Image.BILINEAR)) / 255.0
    trivial = np.mean((a >= 0.5) != (blurred >= 0.5))
    assert flips < 0.05 and flips < trivial / 2, (flips, trivial)


@pytest.mark.parametrize("suffix", [".exr", ".tif"])
def test_hdr_round_trip_holds_bright_and_dark(tmp_path, suffix):
    pytest.importorskip("OpenEXR")
    pytest.importorskip("tifffile")
    from texgs.hdr_io import load_hdr, write_hdr

    y, x = np.mgrid[0:48, 0:48] / 48.0
    img = np.stack([10 ** (5 * x - 2.5), 10 ** (4 * y - 2) * (1.2 + np.sin(9 * x)),
                    np.full_like(x, 0.25)], -1).astype(np.float32)
    write_hdr(tmp_path / f"h{suffix}", img)
    res = run_cli("bake", str(tmp_path / f"h{suffix}"), "-o", str(tmp_path / "h.tgs"),
                  "--bpp", "6", "--steps", "300", "--json")
    assert res.returncode == 0, res.stderr
    rel_reported = json.loads(res.stdout)["maps"][0]["relative_error"]
    res = run_cli("decode", str(tmp_path / "h.tgs"), "-o", str(tmp_path / "d.exr"))
    assert res.returncode == 0, res.stderr
    d, _ = load_hdr(tmp_path / "d.exr")
    rel = np.abs(d - img) / (img + fmt.LOG2_OFFSET)
    assert rel[..., 0][img[..., 0] > 30].mean() < 0.08  # bright (x > 30)
    assert rel[..., 0][img[..., 0] < 0.03].mean() < 0.08  # dark, 1000x darker
    assert np.abs(d[..., 2] - 0.25).max() < 1e-6  # a constant channel is kept exactly
    assert abs(rel[..., :2].mean() - rel_reported) < 1e-3
    # a PNG output for an HDR map is refused before any work
    res = run_cli("decode", str(tmp_path / "h.tgs"), "-o", str(tmp_path / "d.png"))
    assert res.returncode == 1 and ".exr" in res.stderr


def test_repeat_x_only(tmp_path, crop_png):
    src = crop_png("noise", 32)
    res = run_cli("bake", str(src), "-o", str(tmp_path / "a.tgs"), "--wrap", "repeat-x",
                  "--steps", "5", "--bpp", "8", "-q")
    assert res.returncode == 0, res.stderr
    a = fmt.read_asset_file(tmp_path / "a.tgs")
    assert (a.address_x, a.address_y) == (fmt.ADDRESS_REPEAT, fmt.ADDRESS_CLAMP)


def test_map_options_build_a_set_with_per_map_weights(tmp_path, crop_png):
    base = crop_png("bricks", 32)
    rough = tmp_path / "r.png"
    Image.fromarray(np.asarray(Image.open(base).convert("L")) // 2).save(rough)
    emis = tmp_path / "e.png"
    Image.open(base).save(emis)
    res = run_cli("bake", "-o", str(tmp_path / "s.tgs"), "--map", f"basecolor={base}",
                  "--map", f"roughness={rough}", "--map", f"emissive={emis}", "--weight",
                  "roughness=0.25", "--steps", "5", "--bpp", "16", "--json")
    assert res.returncode == 0, res.stderr
    assert [m["loss_weight"] for m in json.loads(res.stdout)["maps"]] == [1.0, 0.25, 1.0]
    text = run_cli("bake", "-o", str(tmp_path / "t.tgs"), "--map", f"basecolor={base}",
                   "--map", f"roughness={rough}", "--weight", "roughness=0.25", "--steps", "5",
                   "--bpp", "16").stdout
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith("  ")}
    assert lines["roughness"].endswith("(loss weight 0.25)")
    assert "loss weight" not in lines["basecolor"]
    info = json.loads(run_cli("info", str(tmp_path / "s.tgs"), "--json").stdout)
    assert [m["map"] for m in info["maps"]] == ["basecolor", "roughness", "emissive"]
    assert [c["encoding"] for c in info["channels"]] == ["srgb"] * 3 + ["linear"] + ["srgb"] * 3


def test_more_than_twelve_channels(tmp_path):
    """Five maps, 18 channels (no fixed cap at 12): bakes, and every map decodes back."""
    pytest.importorskip("torch")
    from texgs.bake import BakeConfig, bake_maps
    from texgs.decode import decode_maps

    rng = np.random.default_rng(3)
    x = np.mgrid[0:24, 0:24][1] / 24.0
    specs = [("basecolor", 4), ("normal", 4), ("orm", 3), ("emissive", 3), ("mask", 4)]
    sources = []
    for i, (kind, c) in enumerate(specs):
        img = np.stack([np.sin(3 * x + k + i) * 0.4 + 0.5 + 0.05 * rng.random(x.shape)
                        for k in range(c)], -1)
        if kind == "normal":  # a valid normal map: z follows from x and y
            n = img[..., :3] * 0.6 - 0.3
            n[..., 2] = np.sqrt(1 - n[..., 0] ** 2 - n[..., 1] ** 2)
            img[..., :3] = (n + 1) / 2
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        sources.append(MapSource(KIND_BY_NAME[kind], str(tmp_path / f"{i}.png")))
    res = bake_maps(sources, tmp_path / "s.tgs", BakeConfig(bpp=40.0, steps=60))
    asset = fmt.read_asset_file(tmp_path / "s.tgs")
    assert asset.channel_count == 18 and len(asset.maps) == 5
    maps = decode_maps(asset)
    assert [m.shape[2] for m in maps] == [4, 4, 3, 3, 4]
    assert all(m.psnr > 20 for m in res.maps), [m.psnr for m in res.maps]


def test_shared_goat_skull_normal_map_is_stored_with_all_three_channels():
    """../shared/textures/single/stk_goatSkull_a_n.png is named like a normal map but 44 % of
    its texels are not unit tangent-space normals (z rebuilt from x, y would change them:
    13.2 dB against 38.7 dB fitted as RGB, measured in session 3); the real sets' normal maps
    are unit length and keep the two-channel storage."""
    path = SHARED / "single" / "stk_goatSkull_a_n.png"
    if not path.exists():
        pytest.skip(f"{path} not found")
    pm = prepare_map(MapSource(fmt.MAP_NORMAL, str(path)))
    assert pm.flags == 0 and pm.fitted == [0, 1, 2]
    assert pm.note.startswith("44%")
    for normal in sorted((SHARED / "sets").glob("*/*_Normal.png")):
        assert prepare_map(MapSource(fmt.MAP_NORMAL, str(normal))).flags == \
            fmt.MAP_FLAG_NORMAL_Z, normal


@needs_shared
def test_psnr_set_loss_in_one_pass_has_the_log_loss_gradient():
    """A set's loss in PSNR form (sum_m w_m log MSE_m) is not a fixed weighted sum of channel
    MSEs, so its first step takes two passes; afterwards the one-pass kernel weights each
    channel by 1 / its map's MSE at the step before. With the same parameters that gives the
    log loss's gradient (autograd through ``_Fitter.loss``), maps of two sizes (two groups)."""
    import torch

    from texgs.bake import BakeConfig
    from texgs.bake.fit import _Fitter

    src = SETS / "stk_generic_brickA"
    maps = [prepare_map(MapSource(kind, "array", weight), _shared_crop(src / name, size, 4)
                        .astype(np.float32) / 255.0, False)
            for kind, name, size, weight in (
                (fmt.MAP_BASECOLOR, "stk_generic_brickA.png", 48, 1.0),
                (fmt.MAP_NORMAL, "stk_generic_brickA_Normal.png", 48, 2.0),
                (fmt.MAP_GLOSS, "stk_generic_brickA_gloss.png", 24, 1.0))]
    fit = _Fitter(maps, BakeConfig(), torch.device("cpu"))
    assert len(fit.groups) == 2 and not fit.loss_is_linear
    model = fit.initial(60)

    def grads(loss):
        for t in model.tensors():
            t.grad = None
        loss.backward()
        return [t.grad.clone() for t in model.tensors()]

    images, chan = fit.render_mse(model, None)
    want = grads(fit.loss(images, chan))
    fit.note_map_mse(chan)
    assert fit.loss_is_linear
    _, mse, loss = fit.render_loss(model, None)
    got = grads(loss)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=2e-4, atol=1e-7)
    # the three maps' MSEs differ, so the weights really change the gradient
    e = [float(x) for x in fit.last_map_mse]
    assert max(e) > 2 * min(e)
    # a sum with the fixed weights (set_loss="mse") has another gradient
    plain = _Fitter(maps, BakeConfig(set_loss="mse"), torch.device("cpu"))
    other = grads(plain.render_loss(model, None)[2])
    assert not torch.allclose(other[3], want[3], rtol=1e-2)

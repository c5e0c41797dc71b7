"""`texgs gltf` and texgs.gltf: glTF scenes baked into TEXGS_texture_gaussian textures.

Each output is checked with the Khronos validator (tools/gltf, Node; errors none, warnings
only the two for our own images), decoded through the extension with the NumPy reference
decoder, and compared byte for byte with the standalone bake of the same maps.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli

pygltflib = pytest.importorskip("pygltflib")

from texgs import format as fmt  # noqa: E402
from texgs.bake.config import BakeConfig  # noqa: E402
from texgs.gltf import (EXTENSION_NAME, TGS_MIME_TYPE, bake_gltf,  # noqa: E402
                        decode_texture_image, read_gaussian_textures)

SCENE = ROOT / "samples" / "scene" / "scene.gltf"
BRICK = ROOT.parent / "shared" / "textures" / "sets" / "stk_generic_brickA"
TOOLS = ROOT / "tools" / "gltf"
TINY = ["--gaussians", "60", "--steps", "40", "--lod-levels", "2"]


def tiny_config(**kw) -> BakeConfig:
    """The BakeConfig the CLI builds from TINY (seed 0)."""
    return BakeConfig(bpp=None, gaussians=60, steps=40, lod_levels=2, **kw)


def _load_validator():
    spec = importlib.util.spec_from_file_location("khronos_validate",
                                                  TOOLS / "khronos_validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


validator = _load_validator()
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def assert_valid(path: Path) -> dict:
    """The Khronos validator finds no error and no warning but the two for our images."""
    if not validator.validator_available():
        pytest.fail(f"node is installed but the validator is not: run `npm ci` in {TOOLS}")
    report, bad = validator.check(path)
    assert bad == [], json.dumps(bad, indent=1)
    assert report["issues"]["numErrors"] == 0
    codes = {m["code"] for m in report["issues"]["messages"] if m["severity"] == 1}
    assert codes <= {"VALUE_NOT_IN_LIST", "IMAGE_UNRECOGNIZED_FORMAT"}
    return report


def standalone_bake(maps: list[tuple[int, Path]], cfg: BakeConfig, tmp: Path) -> bytes:
    """`bake_maps` of the same files: the bytes a standalone `texgs bake` writes."""
    from texgs.bake import bake_maps
    from texgs.material import MapSource

    out = tmp / "standalone.tgs"
    bake_maps([MapSource(k, str(p)) for k, p in maps], out, cfg)
    return out.read_bytes()


def one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("texgs: error: "), lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- sample scene


@pytest.fixture(scope="module")
def scene_glb(tmp_path_factory) -> tuple[Path, dict]:
    """The sample scene baked by the CLI with the original images as fallback."""
    out = tmp_path_factory.mktemp("scene") / "scene.glb"
    res = run_cli("gltf", str(SCENE), "-o", str(out), *TINY, "--json")
    assert res.returncode == 0, res.stderr
    return out, json.loads(res.stdout)


def test_sample_scene_sets_and_summary(scene_glb):
    out, summary = scene_glb
    assert summary["materials"] == 3
    sets = {tuple(s["materials"]): s for s in summary["sets"]}
    assert set(sets) == {("tiles_a", "tiles_b"), ("leaf_mask",)}
    tiles = sets[("tiles_a", "tiles_b")]
    assert [m["name"] for m in tiles["maps"]] == ["basecolor", "normal", "orm"]
    assert tiles["wrap"] == ["repeat", "repeat"]
    assert "angular_mean_deg" in tiles["maps"][1]
    leaf = sets[("leaf_mask",)]
    assert leaf["wrap"] == ["clamp", "clamp"]
    assert "alpha_flip_fraction" in leaf["maps"][0]  # MASK: the alpha channel was baked
    assert summary["output_bytes"] == out.stat().st_size
    assert summary["asset_bytes"] == sum(s["size_bytes"] for s in summary["sets"])


@needs_node
def test_sample_scene_validates(scene_glb):
    report = assert_valid(scene_glb[0])
    pointers = {m["pointer"] for m in report["issues"]["messages"] if m["severity"] == 1}
    assert pointers == {"/images/5", "/images/5/mimeType", "/images/6", "/images/6/mimeType"}


def test_sample_scene_extension_and_fallback(scene_glb):
    js, textures = read_gaussian_textures(scene_glb[0])
    assert js["extensionsUsed"] == [EXTENSION_NAME]
    assert "extensionsRequired" not in js
    assert len(textures) == len(js["textures"]) == 5
    by_map = {(t.image, t.map): t for t in textures}
    assert len({t.image for t in textures}) == 2  # one asset per set
    for t in textures:
        assert js["images"][t.image]["mimeType"] == TGS_MIME_TYPE
        assert t.fallback_source is not None
        assert js["images"][t.fallback_source]["mimeType"] == "image/png"
    # metallicRoughness and occlusion share one texture, which reads the ORM map
    mat = js["materials"][0]
    assert mat["occlusionTexture"]["index"] == \
        mat["pbrMetallicRoughness"]["metallicRoughnessTexture"]["index"]
    orm = [t for t in textures if t.map == "orm"]
    assert len(orm) == 1 and orm[0].channels == (0, 1, 2, -1)
    leaf_base = [t for t in textures if t.map == "basecolor" and t.channels[3] == 3]
    assert len(leaf_base) == 1 and (leaf_base[0].image, "normal") in by_map


def test_sample_scene_matches_standalone_bake(scene_glb, tmp_path):
    _, textures = read_gaussian_textures(scene_glb[0])
    d = SCENE.parent
    tiles = next(t for t in textures if t.map == "orm").asset_bytes
    assert tiles == standalone_bake(
        [(fmt.MAP_BASECOLOR, d / "tiles_basecolor.png"), (fmt.MAP_NORMAL, d / "tiles_normal.png"),
         (fmt.MAP_ORM, d / "tiles_orm.png")], tiny_config(repeat_x=True, repeat_y=True),
        tmp_path)
    leaf = next(t for t in textures if t.map == "basecolor" and t.channels[3] == 3).asset_bytes
    assert leaf == standalone_bake(
        [(fmt.MAP_BASECOLOR, d / "leaf_basecolor.png"), (fmt.MAP_NORMAL, d / "leaf_normal.png")],
        tiny_config(), tmp_path)


def test_sample_scene_decodes_close_to_the_source(scene_glb):
    _, textures = read_gaussian_textures(scene_glb[0])
    d = SCENE.parent
    compared = []
    for t in textures:
        img = decode_texture_image(t)
        assert img.dtype == np.float32 and np.isfinite(img).all()
        if t.map == "orm":
            src = np.asarray(Image.open(d / "tiles_orm.png"), np.float32) / 255
        elif t.map == "basecolor" and t.channels[3] == 3:
            src = np.asarray(Image.open(d / "leaf_basecolor.png"), np.float32) / 255
        else:
            continue
        assert img.shape == src.shape
        assert np.abs(img - src).mean() < 0.12  # a coarse 60-Gaussian fit, not noise
        compared.append(t.map)
    assert sorted(compared) == ["basecolor", "orm"]


def test_shared_set_is_baked_once(tmp_path, monkeypatch):
    import texgs.gltf as gltf_mod

    calls = []
    real = gltf_mod._bake_prepared

    def counting(prepared, cfg, progress):
        calls.append([m.name for m in prepared])
        return real(prepared, cfg, progress)

    monkeypatch.setattr(gltf_mod, "_bake_prepared", counting)
    events = []
    result = bake_gltf(SCENE, tmp_path / "out.glb", tiny_config(), progress=events.append)
    assert sorted(calls) == [["basecolor", "normal"], ["basecolor", "normal", "orm"]]
    assert len(result.sets) == 2 and result.materials == 3
    assert {e.set_count for e in events} == {2}
    assert {e.set_index for e in events if e.bake is None} == {0, 1}


# ----------------------------------------------------------------------------- brick scene


def _write_brick_scene(folder: Path, size: int = 48) -> dict[str, Path]:
    """A quad glTF using crops of stk_generic_brickA: base colour (embedded as a data URI),
    normal, and a metallicRoughness image made from the gloss map (half the size)."""
    import base64

    folder.mkdir(parents=True, exist_ok=True)
    base = Image.open(BRICK / "stk_generic_brickA.png").convert("RGB").crop((0, 0, size, size))
    normal = Image.open(BRICK / "stk_generic_brickA_Normal.png").convert("RGB") \
        .crop((0, 0, size, size))
    gloss = np.asarray(Image.open(BRICK / "stk_generic_brickA_gloss.png").convert("RGB"))
    g = gloss[:size // 2, :size // 2, 0]
    mr = np.stack([np.full_like(g, 255), 255 - g, np.zeros_like(g)], axis=-1)
    paths = {"basecolor": folder / "brick.png", "normal": folder / "brick_normal.png",
             "mr": folder / "brick_mr.png"}
    base.save(paths["basecolor"])
    normal.save(paths["normal"])
    Image.fromarray(mr).save(paths["mr"])

    pos = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float32)
    nrm = np.tile(np.array([0, 0, 1], np.float32), (4, 1))
    tan = np.tile(np.array([1, 0, 0, 1], np.float32), (4, 1))
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
    idx = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    blob = pos.tobytes() + nrm.tobytes() + tan.tobytes() + uv.tobytes() + idx.tobytes()
    (folder / "quad.bin").write_bytes(blob)
    gl = pygltflib
    data_uri = "data:image/png;base64," + base64.b64encode(
        paths["basecolor"].read_bytes()).decode()
    gltf = gl.GLTF2(
        asset=gl.Asset(version="2.0"), scene=0, scenes=[gl.Scene(nodes=[0])],
        nodes=[gl.Node(mesh=0)],
        meshes=[gl.Mesh(primitives=[gl.Primitive(
            attributes=gl.Attributes(POSITION=0, NORMAL=1, TANGENT=2, TEXCOORD_0=3), indices=4,
            material=0)])],
        buffers=[gl.Buffer(uri="quad.bin", byteLength=len(blob))],
        bufferViews=[gl.BufferView(buffer=0, byteOffset=0, byteLength=48),
                     gl.BufferView(buffer=0, byteOffset=48, byteLength=48),
                     gl.BufferView(buffer=0, byteOffset=96, byteLength=64),
                     gl.BufferView(buffer=0, byteOffset=160, byteLength=32),
                     gl.BufferView(buffer=0, byteOffset=192, byteLength=12)],
        accessors=[gl.Accessor(bufferView=0, componentType=gl.FLOAT, count=4, type=gl.VEC3,
                               min=[-1, -1, 0], max=[1, 1, 0]),
                   gl.Accessor(bufferView=1, componentType=gl.FLOAT, count=4, type=gl.VEC3),
                   gl.Accessor(bufferView=2, componentType=gl.FLOAT, count=4, type=gl.VEC4),
                   gl.Accessor(bufferView=3, componentType=gl.FLOAT, count=4, type=gl.VEC2),
                   gl.Accessor(bufferView=4, componentType=gl.UNSIGNED_SHORT, count=6,
                               type=gl.SCALAR)],
        samplers=[gl.Sampler(wrapS=10497, wrapT=10497)],
        images=[gl.Image(uri=data_uri), gl.Image(uri="brick_normal.png"),
                gl.Image(uri="brick_mr.png")],
        textures=[gl.Texture(sampler=0, source=i) for i in range(3)],
        materials=[gl.Material(
            name="brick",
            pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorTexture=gl.TextureInfo(index=0),
                metallicRoughnessTexture=gl.TextureInfo(index=2)),
            normalTexture=gl.NormalMaterialTexture(index=1))])
    (folder / "brick.gltf").write_text(gltf.gltf_to_json(), encoding="utf-8")
    paths["gltf"] = folder / "brick.gltf"
    return paths


@pytest.fixture(scope="module")
def brick_scene(tmp_path_factory) -> dict[str, Path]:
    return _write_brick_scene(tmp_path_factory.mktemp("brick"))


@pytest.fixture(scope="module")
def brick_glb(brick_scene) -> tuple[Path, dict]:
    out = brick_scene["gltf"].parent / "brick_nofallback.glb"
    res = run_cli("gltf", str(brick_scene["gltf"]), "-o", str(out), *TINY, "--no-fallback",
                  "--json")
    assert res.returncode == 0, res.stderr
    return out, json.loads(res.stdout)


def test_brick_no_fallback_requires_the_extension(brick_glb):
    js, textures = read_gaussian_textures(brick_glb[0])
    assert js["extensionsRequired"] == [EXTENSION_NAME]
    assert js["extensionsUsed"] == [EXTENSION_NAME]
    assert all("source" not in t for t in js["textures"])
    assert [img["mimeType"] for img in js["images"]] == [TGS_MIME_TYPE]  # PNGs dropped
    assert sorted(t.map for t in textures) == ["basecolor", "normal", "orm"]
    assert brick_glb[1]["fallback_bytes"] == 0


@needs_node
def test_brick_validates(brick_glb):
    assert_valid(brick_glb[0])


def test_brick_matches_standalone_bake_and_decodes(brick_glb, brick_scene, tmp_path):
    _, textures = read_gaussian_textures(brick_glb[0])
    assert len({t.asset_bytes for t in textures}) == 1
    expected = standalone_bake([(fmt.MAP_BASECOLOR, brick_scene["basecolor"]),
                                (fmt.MAP_NORMAL, brick_scene["normal"]),
                                (fmt.MAP_ORM, brick_scene["mr"])],
                               tiny_config(repeat_x=True, repeat_y=True), tmp_path)
    assert textures[0].asset_bytes == expected
    asset = fmt.read_asset(expected)
    assert (asset.address_x, asset.address_y) == (fmt.ADDRESS_REPEAT, fmt.ADDRESS_REPEAT)
    sizes = {t.map: decode_texture_image(t).shape for t in textures}
    assert sizes == {"basecolor": (48, 48, 3), "normal": (48, 48, 3), "orm": (24, 24, 3)}
    normal = decode_texture_image(next(t for t in textures if t.map == "normal"))
    length = np.linalg.norm(normal * 2 - 1, axis=-1)
    assert np.allclose(length, 1.0, atol=2e-3)  # unit normals after decode


@needs_node
def test_brick_decoded_fallback(brick_scene, tmp_path):
    out = tmp_path / "decoded.glb"
    result = bake_gltf(brick_scene["gltf"], out, tiny_config(), fallback="decoded",
                       fallback_size=16)
    js, textures = read_gaussian_textures(out)
    assert "extensionsRequired" not in js
    for t in textures:
        img = js["images"][t.fallback_source]
        assert img["mimeType"] == "image/png"
        view = js["bufferViews"][img["bufferView"]]
        data = out.read_bytes()
        chunk_start = 20 + int.from_bytes(data[12:16], "little") + 8
        png = data[chunk_start + view["byteOffset"]:chunk_start + view["byteOffset"] +
                   view["byteLength"]]
        import io
        fb = Image.open(io.BytesIO(png))
        assert max(fb.size) == 16 and fb.mode == "RGB"
        small = np.asarray(fb, np.float32) / 255
        full = decode_texture_image(t)
        ref = np.asarray(Image.fromarray((full * 255 + 0.5).astype(np.uint8)).resize(
            fb.size, Image.Resampling.LANCZOS), np.float32) / 255
        assert np.abs(small - ref).max() <= 1 / 255 + 1e-6
    assert result.fallback_bytes > 0
    assert_valid(out)


def test_mirrored_repeat_is_baked_as_clamp_with_a_note(brick_scene, tmp_path):
    js = json.loads(brick_scene["gltf"].read_text())
    js["samplers"][0]["wrapS"] = 33648
    src = brick_scene["gltf"].parent / "mirrored.gltf"
    src.write_text(json.dumps(js))
    result = bake_gltf(src, tmp_path / "m.glb", tiny_config())
    assert result.sets[0].wrap == ("clamp", "repeat")
    assert any("MIRRORED_REPEAT" in n for n in result.notes)
    out_js, _ = read_gaussian_textures(tmp_path / "m.glb")
    assert out_js["samplers"][0]["wrapS"] == 33648  # the sampler is kept


def test_different_texcoords_bake_per_texture(brick_scene, tmp_path):
    js = json.loads(brick_scene["gltf"].read_text())
    js["materials"][0]["normalTexture"]["extensions"] = {
        "KHR_texture_transform": {"scale": [2.0, 2.0]}}
    js["extensionsUsed"] = ["KHR_texture_transform"]
    src = brick_scene["gltf"].parent / "transform.gltf"
    src.write_text(json.dumps(js))
    result = bake_gltf(src, tmp_path / "t.glb", tiny_config())
    # one texture differs: every texture of the material is baked on its own
    assert sorted(tuple(m.name for m in s.maps) for s in result.sets) == \
        [("basecolor",), ("normal",), ("orm",)]
    out_js, _ = read_gaussian_textures(tmp_path / "t.glb")
    assert out_js["materials"][0]["normalTexture"]["extensions"] == \
        js["materials"][0]["normalTexture"]["extensions"]  # kept untouched
    assert set(out_js["extensionsUsed"]) == {"KHR_texture_transform", EXTENSION_NAME}


# ----------------------------------------------------------------------------- errors


def test_error_missing_image(brick_scene, tmp_path):
    js = json.loads(brick_scene["gltf"].read_text())
    js["images"][1]["uri"] = "nowhere.png"
    src = brick_scene["gltf"].parent / "missing.gltf"
    src.write_text(json.dumps(js))
    res = run_cli("gltf", str(src), "-o", str(tmp_path / "x.glb"), *TINY)
    assert res.returncode == 2
    line = one_error_line(res)
    assert str(src) in line and "nowhere.png" in line and "missing" in line
    assert not (tmp_path / "x.glb").exists()


def test_error_not_gltf(tmp_path):
    bad = tmp_path / "notes.gltf"
    bad.write_text("this is not json")
    res = run_cli("gltf", str(bad), "-o", str(tmp_path / "x.glb"), *TINY)
    assert res.returncode == 2
    assert f"{bad}: not a glTF 2.0 file" in one_error_line(res)


def test_error_unsupported_image(brick_scene, tmp_path):
    js = json.loads(brick_scene["gltf"].read_text())
    (brick_scene["gltf"].parent / "fake.ktx2").write_bytes(b"\xabKTX 20\xbb\r\n\x1a\n" + bytes(64))
    js["images"][1] = {"uri": "fake.ktx2", "mimeType": "image/ktx2"}
    src = brick_scene["gltf"].parent / "ktx.gltf"
    src.write_text(json.dumps(js))
    res = run_cli("gltf", str(src), "-o", str(tmp_path / "x.glb"), *TINY)
    assert res.returncode == 5
    line = one_error_line(res)
    assert str(src) in line and "unsupported image type" in line


def test_error_output_is_input(brick_glb):
    res = run_cli("gltf", str(brick_glb[0]), "-o", str(brick_glb[0]), *TINY)
    assert res.returncode == 1
    assert "output would overwrite the input" in one_error_line(res)


@pytest.mark.parametrize("args, text", [
    (["--fallback", "webp"], "--fallback 'webp'"),
    (["--no-fallback", "--fallback", "decoded"], "--no-fallback and --fallback"),
    (["--fallback-size", "64"], "--fallback-size applies to --fallback decoded"),
    (["--fallback", "decoded", "--fallback-size", "0"], "--fallback-size 0"),
    (["--bpp", "1", "--gaussians", "60"], "--bpp and --gaussians are exclusive"),
])
def test_option_errors(args, text, tmp_path):
    res = run_cli("gltf", str(SCENE), "-o", str(tmp_path / "x.glb"), *args)
    assert res.returncode == 1
    assert text in one_error_line(res)


# ----------------------------------------------------------------------------- glTF-Transform


def gltf_transform(*args: str) -> subprocess.CompletedProcess:
    """The glTF-Transform CLI installed by `npm ci` in tools/gltf."""
    exe = TOOLS / "node_modules" / ".bin" / "gltf-transform"
    if not exe.exists():
        pytest.fail(f"node is installed but glTF-Transform is not: run `npm ci` in {TOOLS}")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=TOOLS,
                          timeout=120)


def _asset_by_texture(path: Path) -> dict[tuple[str, tuple], bytes]:
    """(map, channels) of every texgs texture -> its asset bytes (maps differ per set here,
    so the key also tells the sets apart by their map lists)."""
    _, textures = read_gaussian_textures(path)
    return {(t.map, t.channels, len(t.asset_bytes)): t.asset_bytes for t in textures}


@needs_node
@pytest.mark.parametrize("command", ["copy", "dedup"])
def test_gltf_transform_with_config_keeps_the_extension(scene_glb, brick_glb, tmp_path,
                                                        command):
    config = str(TOOLS / "gltf-transform.config.mjs")
    for src in (scene_glb[0], brick_glb[0]):
        out = tmp_path / f"{src.stem}.{command}.glb"
        res = gltf_transform(command, str(src), str(out), "--config", config)
        assert res.returncode == 0, res.stderr + res.stdout
        js_in, tex_in = read_gaussian_textures(src)
        js_out, tex_out = read_gaussian_textures(out)
        assert _asset_by_texture(out) == _asset_by_texture(src)  # .tgs bytes unchanged
        assert js_out.get("extensionsRequired") == js_in.get("extensionsRequired")
        # every material slot still reads the same map with the same fallback image bytes
        for m_in, m_out in zip(js_in["materials"], js_out["materials"]):
            for holder, slot in (("pbr", "baseColorTexture"), ("pbr", "metallicRoughnessTexture"),
                                 ("mat", "normalTexture"), ("mat", "occlusionTexture")):
                get = (lambda m: m.get("pbrMetallicRoughness", {})) if holder == "pbr" else \
                    (lambda m: m)
                a, b = get(m_in).get(slot), get(m_out).get(slot)
                assert (a is None) == (b is None)
                if a is None:
                    continue
                ta = next(t for t in tex_in if t.texture == a["index"])
                tb = next(t for t in tex_out if t.texture == b["index"])
                assert (ta.map, ta.channels, ta.asset_bytes) == (tb.map, tb.channels,
                                                                 tb.asset_bytes)
                assert (ta.fallback_source is None) == (tb.fallback_source is None)
        assert_valid(out)


@needs_node
def test_gltf_transform_without_config_strips_the_extension(scene_glb, brick_glb, tmp_path):
    out = tmp_path / "plain.glb"
    res = gltf_transform("copy", str(scene_glb[0]), str(out))
    assert res.returncode == 0, res.stderr + res.stdout
    assert "Missing optional extension" in res.stdout + res.stderr
    js, textures = read_gaussian_textures(out)
    assert textures == [] and EXTENSION_NAME not in js.get("extensionsUsed", [])
    assert all(t.get("source") is not None for t in js["textures"])  # the fallback images
    # without a fallback the extension is required: glTF-Transform refuses the file
    res = gltf_transform("copy", str(brick_glb[0]), str(tmp_path / "none.glb"))
    assert res.returncode != 0
    assert f'Missing required extension, "{EXTENSION_NAME}"' in res.stdout + res.stderr

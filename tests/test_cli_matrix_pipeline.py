"""The bad-inputs matrix for the pipeline commands (bake-dir, gltf, eval): missing file,
folder instead of file, empty file, truncated PNG, zero-size image, decompression bomb,
output under a regular file, output equal to the input, unknown and conflicting options.
Each gets one `texgs: error:` line naming the file or the flag and a documented exit code;
bake-dir reports bad images per texture (exit 4) and still writes the good ones."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

USAGE, IO, BATCH = 1, 2, 4


def _png_bytes(w: int, h: int) -> bytes:
    """A PNG whose header declares w x h (no pixel data worth reading)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pipeline_matrix")
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(d / "img.png")
    good = (d / "img.png").read_bytes()
    (d / "empty.png").write_bytes(b"")
    (d / "trunc.png").write_bytes(good[: len(good) // 2])
    (d / "zero.png").write_bytes(_png_bytes(0, 0))
    (d / "huge.png").write_bytes(_png_bytes(100000, 100000))
    (d / "afile").write_text("a regular file\n")
    (d / "dirimg.png").mkdir()
    (d / "empty.glb").write_bytes(b"")
    (d / "lib").mkdir()
    shutil.copy(d / "img.png", d / "lib" / "good.png")
    (d / "badlib").mkdir()
    for name in ("empty", "trunc", "zero", "huge"):
        shutil.copy(d / f"{name}.png", d / "badlib" / f"{name}.png")
    shutil.copy(d / "img.png", d / "badlib" / "good.png")
    for name in ("trunc", "huge", "empty"):
        doc = {"asset": {"version": "2.0"}, "images": [{"uri": f"{name}.png"}],
               "textures": [{"source": 0}],
               "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]}
        (d / f"{name}.gltf").write_text(json.dumps(doc))
    doc["images"][0]["uri"] = "img.png"
    (d / "good.gltf").write_text(json.dumps(doc))
    return d


TINY = ["--gaussians", "30", "--steps", "2", "--lod-levels", "1"]
CASES = [
    # bake-dir
    (["bake-dir", "{d}/nope", "-o", "{t}/o"], IO, ["nope"]),
    (["bake-dir", "{d}/img.png", "-o", "{t}/o"], IO, ["img.png", "not a folder"]),
    (["bake-dir", "{d}/lib", "-o", "{d}/afile/o", *TINY], IO, ["afile"]),
    (["bake-dir", "{d}/lib", "-o", "{d}/lib"], USAGE, ["-o"]),
    (["bake-dir", "{d}/lib", "-o", "{t}/o", "--bogus"], USAGE, ["--bogus"]),
    (["bake-dir", "{d}/lib", "-o", "{t}/o", "--bpp", "1", "--gaussians", "5"], USAGE,
     ["--bpp", "--gaussians"]),
    (["bake-dir", "{d}/lib", "-o", "{t}/o", "--quality", "ultra"], USAGE, ["--quality"]),
    (["bake-dir", "{d}/lib", "-o", "{t}/o", "--device", "tpu"], USAGE, ["--device"]),
    # gltf
    (["gltf", "{d}/nope.gltf", "-o", "{t}/o.glb"], IO, ["nope.gltf"]),
    (["gltf", "{d}/dirimg.png", "-o", "{t}/o.glb"], IO, ["dirimg.png"]),
    (["gltf", "{d}/empty.glb", "-o", "{t}/o.glb"], IO, ["empty.glb"]),
    (["gltf", "{d}/trunc.gltf", "-o", "{t}/o.glb", *TINY], IO, ["trunc.gltf", "trunc.png"]),
    (["gltf", "{d}/huge.gltf", "-o", "{t}/o.glb", *TINY], IO, ["huge.gltf", "huge.png"]),
    (["gltf", "{d}/empty.gltf", "-o", "{t}/o.glb", *TINY], IO, ["empty.gltf", "empty.png"]),
    (["gltf", "{d}/good.gltf", "-o", "{d}/afile/o.glb", *TINY], IO, ["afile"]),
    (["gltf", "{d}/good.gltf", "-o", "{d}/good.gltf"], USAGE, ["good.gltf"]),
    (["gltf", "{d}/good.gltf", "-o", "{t}/o.glb", "--bogus"], USAGE, ["--bogus"]),
    (["gltf", "{d}/good.gltf", "-o", "{t}/o.glb", "--fallback", "decoded", "--no-fallback"],
     USAGE, ["--no-fallback"]),
    # eval
    (["eval", "{d}/nope.png", "-o", "{t}/r"], IO, ["nope.png"]),
    (["eval", "{d}/dirimg.png", "-o", "{t}/r"], IO, ["dirimg.png"]),
    (["eval", "{d}/empty.png", "-o", "{t}/r"], IO, ["empty.png"]),
    (["eval", "{d}/trunc.png", "-o", "{t}/r"], IO, ["trunc.png"]),
    (["eval", "{d}/zero.png", "-o", "{t}/r"], IO, ["zero.png"]),
    (["eval", "{d}/huge.png", "-o", "{t}/r"], IO, ["huge.png"]),
    (["eval", "{d}/img.png", "-o", "{d}/afile/r"], IO, ["afile"]),
    (["eval", "{d}/img.png", "-o", "{d}/img.png"], IO, ["img.png"]),
    (["eval", "{d}/img.png", "-o", "{t}/r", "--bogus"], USAGE, ["--bogus"]),
    (["eval", "{d}/img.png", "-o", "{t}/r", "--bpp", "1,,2"], USAGE, ["--bpp"]),
]


@pytest.mark.parametrize("argv,code,needles", CASES,
                         ids=[f"{c[0][0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gives_one_line_and_its_code(d, tmp_path, argv, code, needles):
    if argv[0] == "gltf":
        pytest.importorskip("pygltflib", reason="the gltf extra is not installed")
    t = tmp_path / "t"
    t.mkdir()
    res = run_cli(*[a.replace("{d}", str(d)).replace("{t}", str(t)) for a in argv])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert len(lines) == 1 and lines[0].startswith("texgs: error:"), lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert list(t.iterdir()) == []  # nothing written


def test_bake_dir_reports_each_bad_image_and_writes_the_good_one(d, tmp_path):
    out = tmp_path / "out"
    res = run_cli("bake-dir", str(d / "badlib"), "-o", str(out), *TINY, "--json")
    assert res.returncode == BATCH, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)["results"]}
    assert rows["good"]["status"] == "baked" and (out / "good.tgs").is_file()
    for name in ("empty", "trunc", "zero", "huge"):
        r = rows[name]
        assert r["status"] == "failed" and r["exit_code"] == IO, r
        assert f"{name}.png" in r["error"] and "\n" not in r["error"]
        assert not (out / f"{name}.tgs").exists()

"""Bad-inputs matrix for every CLI command (issue "Reliability", item 3).

Every command form (bake of a single image, of a folder set, of a .toml manifest, with --map
options; decode of a single-map asset, of a set to a folder, with --map; info; the bare
program) is given the inputs users get wrong: a missing file, a directory instead of a file,
an empty file, a truncated PNG, the wrong extension, a zero-size image, a decompression bomb,
NaN/Inf in float inputs, an unwritable output folder, the output equal to the input, unknown
and conflicting options. Each must give exactly one stderr line starting with
``texgs: error:`` that names the file or flag, no traceback, and the exit code documented in
docs/CLI.md ("Exit codes") and docs/ERRORS.md.

Then every valid command is re-run with each argument dropped in turn (and each option with
its value dropped): never a traceback, only exit codes 0, 1, 2, 3 or 5.

Runs in-process through ``texgs.cli.main`` (capsys) except for a few real subprocesses
(``python -m texgs.cli``), at least one per command. Bakes are 16x16 texels, ``--steps 2``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from texgs.cli import (
    EXIT_BATCH_FAILED,
    EXIT_INVALID_ASSET,
    EXIT_IO,
    EXIT_OK,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    main,
)

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_CODES = {EXIT_OK, EXIT_USAGE, EXIT_IO, EXIT_INVALID_ASSET, EXIT_BATCH_FAILED,
                    EXIT_UNSUPPORTED, 6}  # 6: bake --psnr / --match target not reached
U, IO, A, X = EXIT_USAGE, EXIT_IO, EXIT_INVALID_ASSET, EXIT_UNSUPPORTED
TINY = ["--steps", "2", "--bpp", "16", "--quiet"]  # a bake that finishes in a blink
HAS_EXR = importlib.util.find_spec("OpenEXR") is not None
HAS_ZSTD = importlib.util.find_spec("zstandard") is not None
HAS_TIFF = importlib.util.find_spec("tifffile") is not None


# --- fixtures --------------------------------------------------------------------------------


def _png_bytes(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (RGB, 8 bits) whatever the pixels:
    Pillow cannot save a 0x0 image, and a 100000x100000 one would be 30 GB."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(idat))
            + chunk(b"IEND", b""))


def _patch_header(data: bytes, offset: int, fmt_: str, value) -> bytes:
    """The asset ``data`` with one fixed-header field replaced and the header CRC recomputed,
    so the reader gets past the CRC to the field's own check."""
    hsize = struct.unpack_from("<H", data, 6)[0]
    head = bytearray(data[:hsize])
    struct.pack_into(fmt_, head, offset, value)
    struct.pack_into("<I", head, 60, 0)
    struct.pack_into("<I", head, 60, zlib.crc32(bytes(head)))
    return bytes(head) + data[hsize:]


def _rgb(rng, size: int = 16) -> np.ndarray:
    return (rng.random((size, size, 3)) * 255).astype(np.uint8)


def _write_exr_raw(path: Path, img: np.ndarray) -> None:
    """float32 RGB EXR written with OpenEXR directly (texgs.hdr_io.write_hdr refuses NaN/Inf)."""
    import OpenEXR

    chans = {n: np.ascontiguousarray(img[..., i], np.float32) for i, n in enumerate("RGB")}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 chans).write(str(path))


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _tree_digest(root: Path) -> str:
    """Names and bytes of every file under ``root`` (to prove a failed run changed nothing)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A folder of good and bad inputs, plus three assets baked from the good ones."""
    pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("matrix")
    rng = np.random.default_rng(7)
    Image.fromarray(_rgb(rng)).save(d / "img.png")
    Image.fromarray(_rgb(rng)).save(d / "img2.png")
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(d / "grey.png")
    nrm = np.zeros((16, 16, 3), np.uint8)
    nrm[..., 0] = (rng.random((16, 16)) * 60 + 98).astype(np.uint8)
    nrm[..., 1] = 128
    nrm[..., 2] = 250
    Image.fromarray(nrm).save(d / "nrm.png")
    good = (d / "img.png").read_bytes()
    (d / "empty.png").write_bytes(b"")
    (d / "trunc.png").write_bytes(good[: len(good) // 2])
    (d / "zero.png").write_bytes(_png_bytes(0, 0))
    (d / "zerow.png").write_bytes(_png_bytes(0, 16))
    (d / "huge.png").write_bytes(_png_bytes(100000, 100000))  # decompression bomb
    (d / "wide.png").write_bytes(_png_bytes(17000, 8))  # over the 16384 texel limit
    (d / "png.tgs").write_bytes(good)  # a PNG named like an asset
    (d / "empty.tgs").write_bytes(b"")
    (d / "afile").write_text("a regular file, not a folder\n")
    (d / "lib" / "sub").mkdir(parents=True)  # a small library for bake-dir
    (d / "lib" / "img.png").write_bytes(good)
    (d / "lib" / "sub" / "img_n.png").write_bytes((d / "nrm.png").read_bytes())
    for sub in ("emptydir", "dirimg.png", "dir.tgs", "dir.toml"):
        (d / sub).mkdir()
    if HAS_TIFF:
        import tifffile

        a = rng.random((16, 16, 3)).astype(np.float32)
        a[3, 5, 0] = np.nan
        tifffile.imwrite(d / "nan.tif", a, photometric="rgb")
    if HAS_EXR:
        from texgs.hdr_io import write_hdr

        b = rng.random((16, 16, 3)).astype(np.float32) * 4
        write_hdr(d / "pos.exr", b)
        write_hdr(d / "neg.exr", b - 1.0)
        b[2, 2, 1] = np.inf
        _write_exr_raw(d / "inf.exr", b)

    # folder sets
    def make_set(name: str, files: dict[str, bytes | Path]) -> None:
        (d / name).mkdir()
        for fname, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            (d / name / fname).write_bytes(data)

    make_set("set", {"brick.png": d / "img.png", "brick_normal.png": d / "nrm.png",
                     "brick_rough.png": d / "grey.png"})
    make_set("set_trunc", {"brick.png": d / "trunc.png", "brick_normal.png": d / "nrm.png"})
    make_set("set_zero", {"brick.png": d / "img.png", "brick_rough.png": d / "zero.png"})
    make_set("set_bomb", {"brick.png": d / "img.png", "brick_normal.png": d / "huge.png"})
    make_set("set_amb", {"a.png": d / "img.png", "b.png": d / "img2.png"})
    make_set("set_dup", {"brick_n.png": d / "nrm.png", "brick_normal.png": d / "nrm.png"})
    if HAS_EXR:
        make_set("set_nan", {"brick.png": d / "img.png", "brick_emissive.exr": d / "inf.exr"})

    # manifests
    manifests = {
        "m.toml": 'wrap = "repeat"\n[maps]\nbasecolor = "set/brick.png"\n'
                  'normal = { path = "set/brick_normal.png", weight = 2.0 }\n',
        "bad.toml": "[maps\nbasecolor = ",
        "empty.toml": "",
        "miss.toml": '[maps]\nbasecolor = "nope.png"\n',
        "dirm.toml": '[maps]\nbasecolor = "emptydir"\n',
        "trunc.toml": '[maps]\nbasecolor = "trunc.png"\n',
        "zero.toml": '[maps]\nbasecolor = "zero.png"\n',
        "nan.toml": '[maps]\nbasecolor = "img.png"\nemissive = "nan.tif"\n',
        "nanw.toml": '[maps]\nbasecolor = { path = "img.png", weight = nan }\n',
        "infw.toml": '[maps]\nbasecolor = { path = "img.png", weight = inf }\n',
        "wrap.toml": 'wrap = "mirror"\n[maps]\nbasecolor = "img.png"\n',
        "keys.toml": 'size = 3\n[maps]\nbasecolor = "img.png"\n',
        "kind.toml": '[maps]\nbumpy = "img.png"\n',
        "num.toml": "[maps]\nbasecolor = 3\n",
    }
    for name, text in manifests.items():
        (d / name).write_text(text)
    (d / "bin.toml").write_bytes(b"\xff\xfe\x00\x81 not utf-8")

    # assets
    for argv in (["bake", str(d / "img.png"), "-o", str(d / "single.tgs"), *TINY],
                 ["bake", str(d / "set"), "-o", str(d / "set.tgs"), *TINY]):
        assert main(argv) == EXIT_OK, argv
    if HAS_EXR:
        assert main(["bake", str(d / "pos.exr"), "-o", str(d / "hdr.tgs"), *TINY,
                     "--lod-levels", "1"]) == EXIT_OK
    asset = (d / "single.tgs").read_bytes()
    (d / "trunc.tgs").write_bytes(asset[:-5])
    (d / "trunc_set.tgs").write_bytes((d / "set.tgs").read_bytes()[:100])
    flip = bytearray(asset)
    flip[-3] ^= 0x40  # inside the last LOD chunk: its CRC no longer matches
    (d / "flip.tgs").write_bytes(bytes(flip))
    (d / "zero.tgs").write_bytes(_patch_header(asset, 8, "<I", 0))  # width 0
    (d / "huge.tgs").write_bytes(_patch_header(asset, 8, "<I", 100000))  # width 100000
    (d / "nanhdr.tgs").write_bytes(_patch_header(asset, 32, "<f", float("nan")))  # log2 range
    (d / "asset.png").write_bytes(asset)  # an asset named like an image
    if importlib.util.find_spec("zstandard") is not None:
        assert main(["pack", str(d / "single.tgs"), "-o", str(d / "single.tgsz")]) == EXIT_OK
        (d / "trunc.tgsz").write_bytes((d / "single.tgsz").read_bytes()[:-5])
    return d


# --- the matrix ------------------------------------------------------------------------------
# (argv template, exit code, substrings the error line must contain: the file or the flag)
# {d}: the shared input folder; {t}: this case's own empty folder (outputs go there).

BAKE_SINGLE = [
    (["bake", "{d}/nope.png", "-o", "{t}/out.tgs"], IO, ["nope.png", "no such file"]),
    (["bake", "{d}/dirimg.png", "-o", "{t}/out.tgs"], IO, ["dirimg.png"]),
    (["bake", "{d}/empty.png", "-o", "{t}/out.tgs"], IO, ["empty.png"]),
    (["bake", "{d}/trunc.png", "-o", "{t}/out.tgs"], IO, ["trunc.png", "truncated"]),
    (["bake", "{d}/single.tgs", "-o", "{t}/out.tgs"], IO, ["single.tgs"]),
    (["bake", "{d}/zero.png", "-o", "{t}/out.tgs"], IO, ["zero.png"]),
    (["bake", "{d}/zerow.png", "-o", "{t}/out.tgs"], IO, ["zerow.png"]),
    (["bake", "{d}/huge.png", "-o", "{t}/out.tgs"], IO, ["huge.png", "decompression bomb"]),
    (["bake", "{d}/wide.png", "-o", "{t}/out.tgs"], IO, ["wide.png", "16384"]),
    (["bake", "{d}/nan.tif", "-o", "{t}/out.tgs"], IO, ["nan.tif", "NaN"]),
    (["bake", "{d}/inf.exr", "-o", "{t}/out.tgs"], IO, ["inf.exr", "infinite"]),
    (["bake", "{d}/neg.exr", "-o", "{t}/out.tgs"], IO, ["neg.exr", "negative"]),
    (["bake", "{d}/img.png", "-o", "{d}/afile/out.tgs", *TINY], IO, ["afile"]),
    (["bake", "{d}/img.png", "-o", "{d}/img.png"], U, ["img.png", "overwrite the input"]),
    (["bake", "{d}/img.png", "-o", "{d}/emptydir", *TINY], IO, ["emptydir"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--bogus"], U, ["--bogus"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--bpp", "2", "--gaussians", "9"], U,
     ["--bpp", "--gaussians"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--bpp", "nan"], U, ["--bpp"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--bpp", "inf"], U, ["--bpp"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--bpp", "0"], U, ["--bpp"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--gaussians", "0"], U, ["--gaussians"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--steps", "abc"], U, ["--steps"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--steps", "-1"], U, ["--steps"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--top-k", "0"], U, ["--top-k"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--lod-levels", "0"], U, ["--lod-levels"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--steps", "2", "--lod-levels", "32"], U,
     ["--lod-levels"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--threads", "0"], U, ["--threads"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--threads", "100000"], U, ["--threads"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--seed", str(2**70)], U, ["--seed"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--wrap", "mirror"], U, ["--wrap"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--loss", "l2"], U, ["--loss"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--device", "gpu"], U, ["--device"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--device", "cuda", "--bpp", "16"], X,
     ["--device cuda"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--kind", "bumpy"], U, ["--kind", "bumpy"]),
    (["bake", "{d}/grey.png", "-o", "{t}/out.tgs", "--kind", "normal"], IO,
     ["grey.png", "normal map"]),
    (["bake", "{d}/pos.exr", "-o", "{t}/out.tgs", "--kind", "normal"], IO, ["pos.exr"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--weight", "basecolor=nan"], U, ["--weight"]),
    (["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--weight", "normal=2"], U,
     ["--weight", "normal"]),
    (["bake", "{d}/img.png", "-o"], U, ["-o"]),
    (["bake", "{d}/img.png"], U, ["--output"]),
    (["bake", "{d}/img.png", "{d}/img2.png", "-o", "{t}/out.tgs"], U, ["img2.png"]),
]

BAKE_FOLDER = [
    (["bake", "{d}/noset", "-o", "{t}/out.tgs"], IO, ["noset", "no such file"]),
    (["bake", "{d}/emptydir", "-o", "{t}/out.tgs"], IO, ["emptydir", "no image files"]),
    (["bake", "{d}/set_trunc", "-o", "{t}/out.tgs"], IO, ["set_trunc/brick.png"]),
    (["bake", "{d}/set_zero", "-o", "{t}/out.tgs"], IO, ["set_zero/brick_rough.png"]),
    (["bake", "{d}/set_bomb", "-o", "{t}/out.tgs"], IO, ["set_bomb/brick_normal.png"]),
    (["bake", "{d}/set_nan", "-o", "{t}/out.tgs"], IO, ["set_nan/brick_emissive.exr"]),
    (["bake", "{d}/set_amb", "-o", "{t}/out.tgs"], IO, ["set_amb", "a.png"]),
    (["bake", "{d}/set_dup", "-o", "{t}/out.tgs"], IO, ["set_dup", "two normal maps"]),
    (["bake", "{d}/set", "-o", "{d}/afile/out.tgs", *TINY], IO, ["afile"]),
    (["bake", "{d}/set", "-o", "{d}/set/brick_normal.png"], U,
     ["brick_normal.png", "overwrite the input"]),
    (["bake", "{d}/set", "-o", "{d}/set"], U, ["set", "overwrite the input"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--kind", "normal"], U, ["--kind", "folder"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--bpp", "1", "--gaussians", "50"], U,
     ["--gaussians"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--weight", "alpha=2"], U, ["--weight", "alpha"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--map", "normal={d}/nrm.png"], U,
     ["two normal maps"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--size", "8x8"], U, ["--size"]),
]

BAKE_MANIFEST = [
    (["bake", "{d}/nope.toml", "-o", "{t}/out.tgs"], IO, ["nope.toml", "no such file"]),
    (["bake", "{d}/dir.toml", "-o", "{t}/out.tgs"], IO, ["dir.toml"]),
    (["bake", "{d}/empty.toml", "-o", "{t}/out.tgs"], IO, ["empty.toml", "[maps]"]),
    (["bake", "{d}/bad.toml", "-o", "{t}/out.tgs"], IO, ["bad.toml", "TOML"]),
    (["bake", "{d}/bin.toml", "-o", "{t}/out.tgs"], IO, ["bin.toml"]),
    (["bake", "{d}/miss.toml", "-o", "{t}/out.tgs"], IO, ["nope.png", "no such file"]),
    (["bake", "{d}/dirm.toml", "-o", "{t}/out.tgs"], IO, ["emptydir"]),
    (["bake", "{d}/trunc.toml", "-o", "{t}/out.tgs"], IO, ["trunc.png"]),
    (["bake", "{d}/zero.toml", "-o", "{t}/out.tgs"], IO, ["zero.png"]),
    (["bake", "{d}/nan.toml", "-o", "{t}/out.tgs"], IO, ["nan.tif", "NaN"]),
    (["bake", "{d}/nanw.toml", "-o", "{t}/out.tgs"], IO, ["nanw.toml", "weight"]),
    (["bake", "{d}/infw.toml", "-o", "{t}/out.tgs"], IO, ["infw.toml", "weight"]),
    (["bake", "{d}/wrap.toml", "-o", "{t}/out.tgs"], IO, ["wrap.toml", "mirror"]),
    (["bake", "{d}/keys.toml", "-o", "{t}/out.tgs"], IO, ["keys.toml", "size"]),
    (["bake", "{d}/kind.toml", "-o", "{t}/out.tgs"], IO, ["kind.toml", "bumpy"]),
    (["bake", "{d}/num.toml", "-o", "{t}/out.tgs"], IO, ["num.toml", "path"]),
    (["bake", "{d}/m.toml", "-o", "{d}/m.toml"], U, ["m.toml", "overwrite the input"]),
    (["bake", "{d}/m.toml", "-o", "{d}/set/brick.png"], U, ["brick.png", "overwrite"]),
    (["bake", "{d}/m.toml", "-o", "{d}/afile/out.tgs", *TINY], IO, ["afile"]),
    (["bake", "{d}/m.toml", "-o", "{t}/out.tgs", "--kind", "normal"], U, ["--kind", "manifest"]),
    (["bake", "{d}/m.toml", "-o", "{t}/out.tgs", "--wrap", "mirror"], U, ["--wrap"]),
    (["bake", "{d}/m.toml", "-o", "{t}/out.tgs", "--bpp", "1", "--gaussians", "50"], U,
     ["--gaussians"]),
    (["bake", "{d}/m.toml", "-o", "{t}/out.tgs", "--bogus"], U, ["--bogus"]),
]

BAKE_MAPS = [
    (["bake", "-o", "{t}/out.tgs"], U, ["nothing to bake"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal={d}/nope.png"], IO, ["nope.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/emptydir"], IO, ["emptydir"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/empty.png"], IO, ["empty.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal={d}/trunc.png"], IO, ["trunc.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/single.tgs"], IO, ["single.tgs"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/zero.png"], IO, ["zero.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--map",
      "normal={d}/huge.png"], IO, ["huge.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--map",
      "emissive={d}/inf.exr"], IO, ["inf.exr"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "roughness={d}/nan.tif"], IO, ["nan.tif"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal={d}/grey.png"], IO, ["grey.png"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal"], U, ["--map", "KIND=PATH"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal="], U, ["--map", "empty path"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "bumpy={d}/img.png"], U, ["--map", "bumpy"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--map",
      "basecolor={d}/img2.png"], U, ["two basecolor maps"]),
    (["bake", "-o", "{d}/img.png", "--map", "basecolor={d}/img.png"], U,
     ["img.png", "overwrite"]),
    (["bake", "-o", "{d}/afile/out.tgs", "--map", "basecolor={d}/img.png", *TINY], IO,
     ["afile"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--kind", "normal"], U,
     ["--kind"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--weight", "normal=2"],
     U, ["--weight"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--weight", "normal"], U,
     ["--weight"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--weight",
      "basecolor=abc"], U, ["--weight"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--weight",
      "basecolor=inf"], U, ["--weight"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--bpp", "2",
      "--gaussians", "9"], U, ["--gaussians"]),
    (["bake", "-o", "{t}/out.tgs", "--map"], U, ["--map"]),
]

DECODE_SINGLE = [
    (["decode", "{d}/nope.tgs", "-o", "{t}/out.png"], A, ["nope.tgs", "no such file"]),
    (["decode", "{d}/dir.tgs", "-o", "{t}/out.png"], A, ["dir.tgs", "directory"]),
    (["decode", "{d}/empty.tgs", "-o", "{t}/out.png"], A, ["empty.tgs"]),
    (["decode", "{d}/trunc.tgs", "-o", "{t}/out.png"], A, ["trunc.tgs", "truncated"]),
    (["decode", "{d}/flip.tgs", "-o", "{t}/out.png"], A, ["flip.tgs", "CRC"]),
    (["decode", "{d}/zero.tgs", "-o", "{t}/out.png"], A, ["zero.tgs", "dimensions"]),
    (["decode", "{d}/huge.tgs", "-o", "{t}/out.png"], A, ["huge.tgs", "dimensions"]),
    (["decode", "{d}/nanhdr.tgs", "-o", "{t}/out.png"], A, ["nanhdr.tgs"]),
    (["decode", "{d}/png.tgs", "-o", "{t}/out.png"], A, ["png.tgs", "not a texgs asset"]),
    (["decode", "{d}/trunc.png", "-o", "{t}/out.png"], A, ["trunc.png"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.jpg"], U, ["-o", "out.jpg"]),
    # pack / unpack
    (["pack", "{d}/none.tgs", "-o", "{t}/o.tgsz"], A, ["none.tgs", "no such file"]),
    (["pack", "{d}/png.tgs", "-o", "{t}/o.tgsz"], A, ["png.tgs", "not a texgs asset"]),
    (["pack", "{d}/single.tgsz", "-o", "{t}/o.tgsz"], A, ["single.tgsz", "already"]),
    (["pack", "{d}/single.tgs", "-o", "{d}/single.tgs"], U, ["-o", "overwrite"]),
    (["pack", "{d}/single.tgs", "-o", "{t}/no/o.tgsz"], IO, ["o.tgsz", "does not exist"]),
    (["pack", "{d}/single.tgs", "-o", "{t}/o.tgsz", "--level", "0"], U, ["--level 0"]),
    (["unpack", "{d}/trunc.tgsz", "-o", "{t}/o.tgs"], A, ["trunc.tgsz", "truncated"]),
    (["unpack", "{d}/single.tgs", "-o", "{t}/o.tgs"], A, ["single.tgs", "not needed"]),
    (["unpack", "{d}/dir.tgs", "-o", "{t}/o.tgs"], A, ["dir.tgs", "directory"]),
    (["unpack", "{d}/single.tgsz", "-o", "{t}/o.tgs", "--lod", "9"], U, ["--lod 9"]),
    (["bake", "{d}/img.png", "-o", "{t}/o.tgs", "--psnr", "30", "--bpp", "1"], U,
     ["--psnr", "--bpp"]),
    (["bake", "{d}/img.png", "-o", "{t}/o.tgs", "--match", "etc2"], U, ["--match 'etc2'"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.exr"], U, ["-o", "out.exr"]),
    (["decode", "{d}/hdr.tgs", "-o", "{t}/out.png"], U, ["-o", "out.png"]),
    (["decode", "{d}/single.tgs", "-o", "{d}/single.tgs"], U, ["-o", "single.tgs"]),
    (["decode", "{d}/asset.png", "-o", "{d}/asset.png"], U, ["-o", "asset.png", "overwrite"]),
    (["decode", "{d}/single.tgs", "-o", "{d}/afile/out.png"], IO, ["afile"]),
    (["decode", "{d}/hdr.tgs", "-o", "{d}/afile/out.exr"], IO, ["afile"]),
    (["decode", "{d}/single.tgs", "-o", "{d}/dirimg.png"], IO, ["dirimg.png", "directory"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--lod", "0"], U, ["--lod"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--lod", "99"], U, ["--lod"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--lod", "abc"], U, ["--lod"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--size", "0x4"], U, ["--size"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--size", "100000x100000"], U,
     ["--size"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--size", "big"], U, ["--size"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--size", "4x4x4"], U, ["--size"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--map", "normal"], U, ["--map"]),
    (["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--bogus"], U, ["--bogus"]),
    (["decode", "{d}/single.tgs"], U, ["--output"]),
    (["decode", "-o", "{t}/out.png"], U, ["ASSET"]),
    (["decode", "{d}/single.tgs", "{d}/set.tgs", "-o", "{t}/out.png"], U, ["set.tgs"]),
]

DECODE_SET = [
    (["decode", "{d}/trunc_set.tgs", "-o", "{t}/outdir"], A, ["trunc_set.tgs"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/outdir", "--size", "8x8"], U, ["--size", "--map"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/out.png"], U, ["-o", "folder"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/afile"], U, ["-o", "afile"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/set.tgs"], U, ["-o", "set.tgs"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/afile/outdir"], IO, ["afile/outdir"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/blocked"], IO, ["set_basecolor.png", "directory"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/outdir", "--lod", "0"], U, ["--lod"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/outdir", "--bogus"], U, ["--bogus"]),
]

DECODE_MAP = [
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "bumpy"], U, ["--map", "bumpy"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "alpha"], U, ["--map", "alpha"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map"], U, ["--map"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.exr", "--map", "normal"], U, ["-o", "n.exr"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/outdir", "--map", "normal"], U, ["-o", "outdir"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/set.tgs", "--map", "normal"], U, ["-o", "set.tgs"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/afile/n.png", "--map", "normal"], IO, ["afile"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/dirimg.png", "--map", "normal"], IO, ["dirimg.png"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "normal", "--size", "0x0"], U,
     ["--size"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "normal", "--lod", "-1"], U,
     ["--lod"]),
    (["decode", "{d}/trunc_set.tgs", "-o", "{t}/n.png", "--map", "normal"], A,
     ["trunc_set.tgs"]),
]

INFO = [
    (["info", "{d}/nope.tgs"], A, ["nope.tgs", "no such file"]),
    (["info", "{d}/dir.tgs"], A, ["dir.tgs"]),
    (["info", "{d}/empty.tgs"], A, ["empty.tgs"]),
    (["info", "{d}/trunc.tgs"], A, ["trunc.tgs"]),
    (["info", "{d}/flip.tgs", "--json"], A, ["flip.tgs"]),
    (["info", "{d}/zero.tgs"], A, ["zero.tgs"]),
    (["info", "{d}/huge.tgs"], A, ["huge.tgs"]),
    (["info", "{d}/nanhdr.tgs", "--json"], A, ["nanhdr.tgs"]),
    (["info", "{d}/png.tgs"], A, ["png.tgs"]),
    (["info", "{d}/img.png"], A, ["img.png"]),
    (["info", "{d}/single.tgs", "--bogus"], U, ["--bogus"]),
    (["info", "{d}/single.tgs", "extra"], U, ["extra"]),
    (["info"], U, ["ASSET"]),
    (["info", "{d}/single.tgs", "--json=yes"], U, ["--json"]),
]

ROOT_CMD = [
    ([], U, ["no command"]),
    (["--bogus"], U, ["--bogus"]),
    (["frobnicate", "{d}/img.png"], U, ["frobnicate"]),
]

MATRIX = {"bake-single": BAKE_SINGLE, "bake-folder": BAKE_FOLDER,
          "bake-manifest": BAKE_MANIFEST, "bake-map": BAKE_MAPS, "decode-single": DECODE_SINGLE,
          "decode-set": DECODE_SET, "decode-map": DECODE_MAP, "info": INFO, "root": ROOT_CMD}
CASES = [pytest.param(argv, code, needles, id=f"{group}-{i}")
         for group, cases in MATRIX.items() for i, (argv, code, needles) in enumerate(cases)]


def _needs(argv: list[str]) -> None:
    """Skip cases whose inputs need an optional codec that is not installed."""
    text = " ".join(argv)
    if (".exr" in text or "set_nan" in text or "hdr.tgs" in text) and not HAS_EXR:
        pytest.skip("OpenEXR is not installed")
    if (".tif" in text or "nan.toml" in text) and not HAS_TIFF:
        pytest.skip("tifffile is not installed")
    if (".tgsz" in text or argv[:1] == ["pack"]) and not HAS_ZSTD:
        pytest.skip("zstandard is not installed")


def _expand(argv: list[str], d: Path, t: Path) -> list[str]:
    return [a.format(d=d, t=t) for a in argv]


def assert_one_error_line(rc: int, out: str, err: str, code: int, needles: list[str]) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "Traceback" not in out, err
    assert rc == code, f"exit {rc}, expected {code}; stderr: {err!r}"
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("texgs: error:"), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


@pytest.mark.parametrize("argv,code,needles", CASES)
def test_bad_input_gives_one_clear_line_and_the_documented_code(d, tmp_path, capsys,
                                                                monkeypatch, argv, code,
                                                                needles):
    _needs(argv)
    monkeypatch.chdir(tmp_path)  # anything written by mistake to a relative path lands here
    t = tmp_path / "t"
    t.mkdir()
    (t / "blocked" / "set_basecolor.png").mkdir(parents=True)  # a folder where a map goes
    before = _tree_digest(d)
    rc, out, err = _run(_expand(argv, d, t), capsys)
    assert_one_error_line(rc, out, err, code, needles)
    if argv:  # the bare `texgs` prints its help to stdout
        assert out == "", out  # no summary, no half a JSON object
    # a failed run writes nothing: no output, no temporary file, inputs untouched
    assert _tree_digest(d) == before
    left = sorted(str(p.relative_to(t)) for p in t.rglob("*"))
    assert left == ["blocked", "blocked/set_basecolor.png"], left


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: chmod 0o500 does not stop root from writing "
                           "(the 'folder under a regular file' cases cover unwritable outputs)")
@pytest.mark.parametrize("argv", [
    ["bake", "{d}/img.png", "-o", "{t}/ro/out.tgs", *TINY],
    ["decode", "{d}/single.tgs", "-o", "{t}/ro/out.png"],
    ["decode", "{d}/set.tgs", "-o", "{t}/ro/outdir"],
    ["decode", "{d}/set.tgs", "-o", "{t}/ro/n.png", "--map", "normal"],
])
def test_read_only_output_folder(d, tmp_path, capsys, argv):
    t = tmp_path
    (t / "ro").mkdir()
    (t / "ro").chmod(0o500)
    try:
        rc, out, err = _run(_expand(argv, d, t), capsys)
        assert_one_error_line(rc, out, err, IO, ["ro/"])
        assert list((t / "ro").iterdir()) == []
    finally:
        (t / "ro").chmod(0o700)


# --- real subprocesses: at least one per command ----------------------------------------------


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "texgs.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize("argv,code,needles", [
    (["bake", "{d}/trunc.png", "-o", "{t}/out.tgs"], IO, ["trunc.png"]),
    (["bake", "{d}/set", "-o", "{t}/out.tgs", "--kind", "normal"], U, ["--kind"]),
    (["bake", "{d}/bad.toml", "-o", "{t}/out.tgs"], IO, ["bad.toml"]),
    (["bake", "-o", "{t}/out.tgs", "--map", "normal"], U, ["--map"]),
    (["decode", "{d}/png.tgs", "-o", "{t}/out.png"], A, ["png.tgs"]),
    (["decode", "{d}/set.tgs", "-o", "{d}/afile/outdir"], IO, ["afile/outdir"]),
    (["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "bumpy"], U, ["--map"]),
    (["info", "{d}/trunc.tgs", "--json"], A, ["trunc.tgs"]),
    ([], U, ["no command"]),
], ids=["bake-single", "bake-folder", "bake-manifest", "bake-map", "decode-single",
        "decode-set", "decode-map", "info", "root"])
def test_subprocess_errors(d, tmp_path, argv, code, needles):
    t = tmp_path / "t"
    t.mkdir()
    res = run_cli(_expand(argv, d, t), tmp_path)
    assert_one_error_line(res.returncode, res.stdout if argv else "", res.stderr, code, needles)
    assert list(t.iterdir()) == []


# --- every valid command with each argument dropped in turn --------------------------------

VALID = {
    "bake-single": ["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--steps", "2", "--bpp", "16",
                    "--seed", "3", "--lod-levels", "2", "--top-k", "4", "--wrap", "repeat",
                    "--weight", "basecolor=2", "--threads", "1", "--quiet"],
    "bake-single-json": ["bake", "{d}/nrm.png", "-o", "{t}/out.tgs", "--kind", "normal",
                         "--gaussians", "40", "--steps", "2", "--lod-levels", "2", "--loss",
                         "l1-ssim", "--device", "auto", "--json"],
    "bake-set": ["bake", "{d}/set", "-o", "{t}/out.tgs", "--steps", "2", "--bpp", "16",
                 "--weight", "normal=2", "--wrap", "repeat-x", "--json"],
    "bake-manifest": ["bake", "{d}/m.toml", "-o", "{t}/out.tgs", "--steps", "2", "--bpp", "16",
                      "--lod-levels", "3", "--json"],
    "bake-map": ["bake", "-o", "{t}/out.tgs", "--map", "basecolor={d}/img.png", "--map",
                 "roughness={d}/grey.png", "--steps", "2", "--bpp", "16", "--json"],
    "decode-single": ["decode", "{d}/single.tgs", "-o", "{t}/out.png", "--lod", "1",
                      "--size", "8x8", "--json"],
    "decode-set": ["decode", "{d}/set.tgs", "-o", "{t}/outdir", "--lod", "2", "--json"],
    "decode-map": ["decode", "{d}/set.tgs", "-o", "{t}/n.png", "--map", "normal", "--size",
                   "8x4", "--json"],
    "info": ["info", "{d}/set.tgs", "--json"],
    "info-text": ["info", "{d}/single.tgs"],
    "bake-dir": ["bake-dir", "{d}/lib", "-o", "{t}/outdir", "--steps", "2", "--bpp", "16",
                 "--lod-levels", "2", "--jobs", "1", "--retries", "0", "--wrap", "repeat",
                 "--json"],
    "gltf": ["gltf", str(ROOT / "samples" / "scene" / "scene.gltf"), "-o", "{t}/out.glb",
             "--gaussians", "40", "--steps", "2", "--lod-levels", "2", "--fallback", "decoded",
             "--fallback-size", "8", "--json"],
    "eval": ["eval", "{d}/img.png", "-o", "{t}/report", "--bpp", "8", "--steps", "2",
             "--codecs", "texgs,jpeg", "--json"],
    "bake-psnr": ["bake", "{d}/img.png", "-o", "{t}/out.tgs", "--steps", "2", "--psnr", "3",
                  "--max-bpp", "20", "--lod-levels", "2", "--json"],
    "pack": ["pack", "{d}/single.tgs", "-o", "{t}/out.tgsz", "--level", "3", "--json"],
    "unpack": ["unpack", "{d}/single.tgsz", "-o", "{t}/out.tgs", "--lod", "1", "--json"],
}
# options whose value follows them (for "drop the option with its value")
TAKES_VALUE = {"-o", "--steps", "--bpp", "--seed", "--lod-levels", "--top-k", "--wrap",
               "--weight", "--threads", "--kind", "--gaussians", "--loss", "--device",
               "--lod", "--size", "--map", "--jobs", "--retries", "--fallback",
               "--fallback-size", "--codecs", "--psnr", "--match", "--max-bpp", "--level"}
# dropping `--steps 2` as a whole would run the default 1500-step bake (several seconds per
# command); dropping `--steps` or `2` alone is covered by the token drops
SLOW_TO_DROP = {"--steps"}


def variants(argv: list[str]) -> list[tuple[str, list[str]]]:
    """(label, argv) for argv with each token dropped in turn, then with each option and its
    value dropped together."""
    out = [(f"without token {i} ({argv[i]!r})", argv[:i] + argv[i + 1:])
           for i in range(len(argv))]
    for i, a in enumerate(argv[:-1]):
        if a in TAKES_VALUE and a not in SLOW_TO_DROP:
            out.append((f"without {a} {argv[i + 1]!r}", argv[:i] + argv[i + 2:]))
    return out


@pytest.mark.parametrize("name", list(VALID))
def test_valid_command_with_each_argument_dropped(d, tmp_path, capsys, monkeypatch, name):
    _needs(VALID[name])
    monkeypatch.chdir(tmp_path)  # a dropped value can turn a flag into a relative output path
    (tmp_path / "full").mkdir()
    rc, out, err = _run(_expand(VALID[name], d, tmp_path / "full"), capsys)
    assert rc == EXIT_OK, err  # the command itself is valid
    if "--json" in VALID[name]:
        json.loads(out)
    problems = []
    for k, (label, argv) in enumerate(variants(VALID[name])):
        t = tmp_path / f"v{k}"
        t.mkdir()
        try:
            rc, out, err = _run(_expand(argv, d, t), capsys)
        except BaseException as e:  # noqa: BLE001 - report every variant, not just the first
            problems.append(f"{label}: raised {type(e).__name__}: {e}")
            continue
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if "Traceback" in err or "Traceback" in out:
            problems.append(f"{label}: traceback: {err!r}")
        elif rc not in DOCUMENTED_CODES:
            problems.append(f"{label}: exit {rc!r} is not a documented code")
        elif rc == EXIT_BATCH_FAILED:  # bake-dir: the failures are in the summary or JSON
            try:
                named = any(r["status"] == "failed" and r["error"]
                            for r in json.loads(out)["results"])
            except ValueError:  # the table form: one "failed NAME: message" line each
                named = any(ln.startswith("failed ") for ln in out.splitlines())
            if not named:
                problems.append(f"{label}: exit 4 without naming the failure: {out!r}")
        elif rc != EXIT_OK and (len(lines) != 1 or not lines[0].startswith("texgs: error:")):
            problems.append(f"{label}: exit {rc} with stderr {lines!r}")
    assert not problems, "\n".join(problems)

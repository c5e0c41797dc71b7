"""The `texgs` command line end to end: bake, info, decode, JSON output, errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from texgs import format as fmt
from texgs import layout as L
from texgs.cli import EXIT_INVALID_ASSET, EXIT_IO, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[1]




@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("cli")
    src = tmp / "sign.png"
    img = np.asarray(Image.open(ROOT / "samples" / "sign.png").convert("RGB"))[64:128, 64:128]
    Image.fromarray(img).save(src)
    out = tmp / "sign.tgs"
    res = run_cli("bake", str(src), "-o", str(out), "--bpp", "2", "--steps", "40", "--json")
    assert res.returncode == 0, res.stderr
    return src, out, json.loads(res.stdout)


def test_bake_json_summary_matches_the_file(baked):
    src, out, summary = baked
    assert out.stat().st_size == summary["size_bytes"]
    assert summary["bits_per_texel"] == pytest.approx(out.stat().st_size * 8 / (64 * 64))
    assert summary["bits_per_texel"] <= 2.0
    assert len(summary["lod_psnr_db"]) == len(summary["lod_counts"]) == 5
    assert summary["psnr_db"] == summary["lod_psnr_db"][-1] > 15
    assert not list(out.parent.glob("*.tmp"))  # no temporary file left behind


def test_bake_prints_one_summary_line(tmp_path, baked):
    src, _, _ = baked
    res = run_cli("bake", str(src), "-o", str(tmp_path / "a.tgs"), "--gaussians", "300",
                  "--steps", "5", "--quiet")
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().replace("\n", " ")
    for word in ("bytes", "bits/texel", "300 Gaussians", "PSNR"):
        assert word in line


def test_info_reports_header_and_lod_table(baked):
    _, out, summary = baked
    res = run_cli("info", str(out), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    asset = fmt.read_asset_file(out)
    assert (info["width"], info["height"], info["gaussians"]) == (64, 64, asset.gaussian_count)
    assert [e["gaussians"] for e in info["lods"]] == summary["lod_counts"]
    assert info["lods"][-1]["prefix_bits_per_texel"] == pytest.approx(info["bits_per_texel"])
    assert info["record_bits"] == 72
    assert info["morton_order"] is True  # a fresh bake: chunks in Morton order
    text = run_cli("info", str(out))
    assert text.returncode == 0 and "LOD" in text.stdout and "72 bits" in text.stdout
    assert "records in Morton order" in text.stdout
    golden = Path(__file__).parent / "golden" / "rgb_clamp.tgs"  # made before that order
    old = run_cli("info", str(golden), "--json")
    assert json.loads(old.stdout)["morton_order"] is False
    assert "--reorder" in run_cli("info", str(golden)).stdout


def test_info_gpu_reports_what_an_engine_keeps(baked):
    """--gpu: records + tile index as texgs.runtime builds them, at the index tile it
    chooses and at 32 and 16, in bits per texel, against the buffers built here."""
    from texgs.runtime import build_gpu_buffers

    _, out, _ = baked
    res = run_cli("info", str(out), "--gpu", "--json")
    assert res.returncode == 0, res.stderr
    gpu = json.loads(res.stdout)["gpu"]
    asset = fmt.read_asset_file(out)
    chosen = int(build_gpu_buffers(asset).meta[L.META_TILE])
    assert [g["index_tile"] for g in gpu] == sorted({chosen, 32, 16}, reverse=True)
    assert [g["index_tile"] for g in gpu if g["chosen"]] == [chosen]
    for g in gpu:
        b = build_gpu_buffers(asset, tile=g["index_tile"])
        assert g["gpu_bytes"] == b.meta.nbytes + b.records.nbytes + b.index_bytes
        assert g["gpu_bits_per_texel"] == pytest.approx(g["gpu_bytes"] * 8 / (64 * 64))
        # the records: every Gaussian's bits in whole words, plus the padding word
        bits = asset.gaussian_count * asset.layout.record_bits
        assert g["record_bytes"] == (bits + 31) // 32 * 4 + 4
        assert g["index_overhead"] == pytest.approx(g["index_bytes"] / g["record_bytes"])
    text = run_cli("info", str(out), "--gpu")
    assert text.returncode == 0 and "GPU, 16-texel index" in text.stdout


def test_decode_full_prefix_and_resized(tmp_path, baked):
    _, out, summary = baked
    png = tmp_path / "full.png"
    res = run_cli("decode", str(out), "-o", str(png), "--json")
    assert res.returncode == 0, res.stderr
    img = np.asarray(Image.open(png)).astype(np.float64) / 255
    src = np.asarray(Image.open(baked[0])).astype(np.float64) / 255
    mse = np.mean((img - src) ** 2)
    # the PNG is the bake's decode rounded to 8 bits
    assert abs(-10 * np.log10(mse) - summary["psnr_db"]) < 0.3
    res = run_cli("decode", str(out), "-o", str(tmp_path / "small.png"), "--lod", "1",
                  "--size", "32x20")
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "small.png").size == (32, 20)


@pytest.mark.parametrize("args,code,needle", [
    (["bake", "missing.png", "-o", "{tmp}/x.tgs"], EXIT_IO, "missing.png"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--bpp", "1", "--gaussians", "9"], EXIT_USAGE,
     "--gaussians"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--wrap", "mirror"], EXIT_USAGE, "--wrap"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--top-k", "0"], EXIT_USAGE, "--top-k"),
    (["bake", "{src}", "-o", "{tmp}/nodir/x.tgs", "--steps", "1"], EXIT_IO, "nodir"),
    (["bake", "{src}", "-o", "{src}"], EXIT_USAGE, "overwrite the input"),
    (["bake", "{tmp}/bad.png", "-o", "{tmp}/x.tgs"], EXIT_IO, "bad.png"),
    (["bake", "{tmp}", "-o", "{tmp}/x.tgs"], EXIT_IO, "bad.png"),
    (["bake", "{tmp}/empty", "-o", "{tmp}/x.tgs"], EXIT_IO, "no image files"),
    (["bake", "{tmp}/m.toml", "-o", "{tmp}/x.tgs"], EXIT_IO, "[maps]"),
    (["bake", "-o", "{tmp}/x.tgs"], EXIT_USAGE, "nothing to bake"),
    (["bake", "-o", "{tmp}/x.tgs", "--map", "normal"], EXIT_USAGE, "KIND=PATH"),
    (["bake", "-o", "{tmp}/x.tgs", "--map", "bumpy={src}"], EXIT_USAGE, "unknown map kind"),
    (["bake", "-o", "{tmp}/x.tgs", "--map", "normal={tmp}/none.png"], EXIT_IO, "none.png"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--weight", "normal=2"], EXIT_USAGE, "no normal"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--weight", "basecolor=-1"], EXIT_USAGE, "positive"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--kind", "bumpy"], EXIT_USAGE, "unknown map kind"),
    (["bake", "{tmp}/empty", "-o", "{tmp}/x.tgs", "--kind", "normal"], EXIT_USAGE, "--kind"),
    (["bake", "-o", "{tmp}/x.tgs", "--map", "basecolor={src}", "--map", "basecolor={src}"],
     EXIT_USAGE, "two basecolor"),
    (["bake", "{src}", "-o", "{tmp}/x.tgs", "--bogus"], EXIT_USAGE, "--bogus"),
    (["decode", "{tmp}/bad.png", "-o", "{tmp}/x.png"], EXIT_INVALID_ASSET, "bad.png"),
    (["decode", "{asset}", "-o", "{tmp}/x.jpg"], EXIT_USAGE, ".png"),
    (["decode", "{asset}", "-o", "{tmp}/x.png", "--lod", "9"], EXIT_USAGE, "--lod"),
    (["decode", "{asset}", "-o", "{tmp}/x.png", "--size", "big"], EXIT_USAGE, "--size"),
    (["info", "{tmp}/truncated.tgs"], EXIT_INVALID_ASSET, "truncated.tgs"),
])
def test_bad_input_gives_one_line_and_exit_code(tmp_path, baked, capsys, args, code, needle):
    src, asset, _ = baked
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "truncated.tgs").write_bytes(asset.read_bytes()[:-7])
    (tmp_path / "empty").mkdir()
    (tmp_path / "m.toml").write_text('wrap = "repeat"\n')
    argv = [a.format(tmp=tmp_path, src=src, asset=asset) for a in args]
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == code, captured.err
    lines = [ln for ln in captured.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("texgs: error:")
    assert needle in " ".join(lines)
    assert not (tmp_path / "x.tgs").exists() and not (tmp_path / "x.png").exists()


def test_failed_bake_leaves_existing_output_untouched(tmp_path, baked):
    src, _, _ = baked
    out = tmp_path / "keep.tgs"
    out.write_bytes(b"previous")
    rc = main(["bake", str(tmp_path / "nope.png"), "-o", str(out)])
    assert rc == EXIT_IO
    assert out.read_bytes() == b"previous"


def test_subprocess_error_has_no_traceback(tmp_path):
    res = run_cli("info", str(tmp_path / "none.tgs"))
    assert res.returncode == EXIT_INVALID_ASSET
    assert "Traceback" not in res.stderr and "none.tgs" in res.stderr


def test_without_a_compiler_the_bake_falls_back_and_says_so(tmp_path, baked):
    """No C++ compiler on PATH and an empty kernel cache: the PyTorch renderer takes over, the
    CLI says so once, and the bake still succeeds."""
    src, _, _ = baked
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXGS_CACHE_DIR": str(tmp_path / "cache"),
           "CXX": "/nonexistent/g++", "PATH": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "texgs.cli", "bake", str(src), "-o",
                          str(tmp_path / "f.tgs"), "--steps", "3", "--bpp", "2"],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("compiled CPU kernel unavailable") == 1
    assert "no C++ compiler found" in res.stderr
    assert (tmp_path / "f.tgs").exists()


def test_outputs_get_ordinary_file_modes(tmp_path, baked):
    """Atomic writes go through a private temporary file, but the result has the mode a plain
    open() would give (0666 minus the umask)."""
    from texgs.images import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_help_keeps_brackets_and_reflows_paragraphs():
    """What a user reads first: every command's --help works; square brackets in help text
    are text, not markup ("pip install 'texgs[cuda]'"); the command list shows each
    command's whole summary, reflowed (no line broken where the docstring was)."""
    import re

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1"}

    def helps(*args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "texgs.cli", *args, "--help"],
                             capture_output=True, text=True, env=env, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        return res.stdout

    top = helps()
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", top).split())
    for cmd in ("bake", "bake-dir", "decode", "info", "pack", "unpack", "gltf", "eval"):
        assert f" {cmd} " in words
        helps(cmd)
    # the decode summary, as its docstring has it, in one flow of words
    assert ("Decode an asset with the NumPy reference decoder (or the CUDA decoder, --backend "
            "cuda): every map in its own encoding and size") in words
    assert "'texgs[cuda]'" in " ".join(re.sub(r"[│]", " ", helps("decode")).split())

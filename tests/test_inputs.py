"""Reading textures: every image kind Pillow gives us maps to float [H, W, C] in [0, 1]
with the right channel count and values; broken or unsupported files raise InputError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from texgs import format as fmt
from texgs.errors import InputError
from texgs.images import channel_infos_for, load_texture


def _rgb(h=21, w=34, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
@pytest.mark.parametrize("ext", ["png", "tga", "webp"])
def test_8bit_modes_and_containers(tmp_path, mode, channels, ext):
    if ext == "webp" and mode in ("L", "LA"):
        pytest.skip("WebP stores grey as RGB")
    rgba = np.concatenate([_rgb(), _rgb(seed=1)[..., :1]], 2)  # alpha not constant
    src = Image.fromarray(rgba, "RGBA").convert(mode)
    p = tmp_path / f"t.{ext}"
    src.save(p, **({"lossless": True, "exact": True} if ext == "webp" else {}))
    img, info = load_texture(p)
    assert img.dtype == np.float32 and img.shape == (21, 34, channels)
    expect = np.asarray(src, np.float32).reshape(21, 34, channels) / 255.0
    np.testing.assert_allclose(img, expect, atol=1e-6)
    assert len(channel_infos_for(channels)) == channels


def test_16bit_grey_keeps_precision(tmp_path):
    a = (np.arange(40 * 30, dtype=np.uint32).reshape(30, 40) * 53 % 65536).astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    img, info = load_texture(p)
    assert info.bits == 16 and img.shape == (30, 40, 1)
    np.testing.assert_allclose(img[..., 0], a / 65535.0, atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path):
    src = Image.fromarray(_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p = tmp_path / "p.png"
    src.save(p)
    img, _ = load_texture(p)
    assert img.shape[2] == 3
    np.testing.assert_allclose(img, np.asarray(src.convert("RGB")) / 255.0, atol=1e-6)
    src.info["transparency"] = 0
    p2 = tmp_path / "pt.png"
    src.save(p2, transparency=0)
    img2, _ = load_texture(p2)
    assert img2.shape[2] == 4 and (img2[..., 3] == 0).any() and (img2[..., 3] == 1).any()


def test_jpeg_non_square_non_power_of_two(tmp_path):
    p = tmp_path / "j.jpg"
    Image.fromarray(_rgb(37, 19)).save(p, quality=95)
    img, _ = load_texture(p)
    assert img.shape == (37, 19, 3)


def test_channel_meanings():
    rgba = channel_infos_for(4)
    assert [c.map_kind for c in rgba] == [fmt.MAP_BASECOLOR] * 4
    assert [c.encoding for c in rgba] == [fmt.ENCODING_SRGB] * 3 + [fmt.ENCODING_LINEAR]
    with pytest.raises(InputError):
        channel_infos_for(5)


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.write_bytes(b""), "cannot read image"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30), "cannot read image"),
    (lambda p: p.write_bytes(b"hello, not an image"), "not an image format"),
])
def test_broken_files_raise_input_error(tmp_path, make, needle):
    p = tmp_path / "bad.png"
    make(p)
    with pytest.raises(InputError, match="bad.png"):
        load_texture(p)


def test_truncated_png_raises_input_error(tmp_path):
    p = tmp_path / "full.png"
    Image.fromarray(_rgb(64, 64)).save(p)
    cut = tmp_path / "cut.png"
    cut.write_bytes(p.read_bytes()[:200])
    with pytest.raises(InputError, match="cut.png"):
        load_texture(cut)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "huge.png"
    # a valid 1x1 PNG whose header is rewritten to claim 20000 x 20000 (CRC fixed)
    import struct
    import zlib

    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(p)
    data = bytearray(p.read_bytes())
    struct.pack_into(">II", data, 16, 20000, 20000)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match="huge.png"):
        load_texture(p)

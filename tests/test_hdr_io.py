"""texgs.hdr_io: OpenEXR and float TIFF reading/writing, and its error reporting."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs import hdr_io
from texgs.errors import InputError, OutputError


def wide_range(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float32 values spread over six decades, 1e-3 .. 1e3."""
    rng = np.random.default_rng(seed)
    return (10.0 ** rng.uniform(-3, 3, shape)).astype(np.float32)


def assert_input_error(path: Path, match: str | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        hdr_io.load_hdr(path)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    assert "\n" not in msg
    if match is not None:
        assert match in msg, msg
    return info.value


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def exr():
    return pytest.importorskip("OpenEXR")


@pytest.fixture
def tifffile():
    return pytest.importorskip("tifffile")


# --- suffixes and probing ------------------------------------------------------------------


def test_is_hdr_path():
    assert hdr_io.is_hdr_path("a/b.exr")
    assert hdr_io.is_hdr_path(Path("B.EXR"))
    assert hdr_io.is_hdr_path("x.Tif") and hdr_io.is_hdr_path("x.tiff")
    assert not hdr_io.is_hdr_path("x.png")
    assert not hdr_io.is_hdr_path("exr")
    assert hdr_io.HDR_SUFFIXES == (".exr", ".tif", ".tiff")


def test_probe_float_tiff(tmp_path, tifffile):
    f = tmp_path / "f.tif"
    u = tmp_path / "u.tif"
    tifffile.imwrite(f, wide_range((8, 8, 3)), photometric="rgb")
    tifffile.imwrite(u, np.arange(192, dtype=np.uint16).reshape(8, 8, 3), photometric="rgb")
    assert hdr_io.probe_float_tiff(f) is True
    assert hdr_io.probe_float_tiff(u) is False
    assert hdr_io.probe_float_tiff(tmp_path / "missing.tif") is False
    assert hdr_io.probe_float_tiff(tmp_path) is False
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + bytes(range(60)))
    assert hdr_io.probe_float_tiff(junk) is False


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.uint8, np.uint16])
@pytest.mark.parametrize("bigtiff, byteorder", [(False, "<"), (False, ">"), (True, "<")])
def test_probe_float_tiff_without_tifffile(tmp_path, tifffile, monkeypatch, dtype, bigtiff,
                                           byteorder):
    """Without tifffile, probe_float_tiff parses the SampleFormat tag itself."""
    import sys

    one = tmp_path / "one.tif"
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(one, np.ones((4, 5), dtype), bigtiff=bigtiff, byteorder=byteorder)
    tifffile.imwrite(rgb, np.ones((4, 5, 4), dtype), bigtiff=bigtiff, byteorder=byteorder,
                     photometric="rgb", extrasamples=("unassalpha",))
    expected = np.dtype(dtype).kind == "f"
    assert hdr_io.probe_float_tiff(one) is expected
    assert hdr_io.probe_float_tiff(rgb) is expected
    monkeypatch.setitem(sys.modules, "tifffile", None)  # makes `import tifffile` fail
    assert hdr_io.probe_float_tiff(one) is expected
    assert hdr_io.probe_float_tiff(rgb) is expected
    assert hdr_io.probe_float_tiff(tmp_path / "missing.tif") is False
    if expected:  # the float TIFF goes to load_hdr, which names the package to install
        with pytest.raises(InputError, match=r"pip install 'texgs\[hdr\]'"):
            hdr_io.load_hdr(one)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_exr_round_trip_is_exact(tmp_path, exr, channels):
    img = wide_range((19, 23, channels), seed=channels)
    path = tmp_path / "img.exr"
    hdr_io.write_hdr(path, img)
    assert files_in(tmp_path) == ["img.exr"]  # no temporary file left behind
    back, c = hdr_io.load_hdr(path)
    assert c == channels
    assert back.dtype == np.float32 and back.shape == img.shape
    assert np.array_equal(back, img)
    assert back.max() > 1.0  # values above 1 survive


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("suffix", [".tif", ".TIFF"])
def test_tiff_round_trip_is_exact(tmp_path, tifffile, channels, suffix):
    img = wide_range((17, 21, channels), seed=10 + channels)
    path = tmp_path / f"img{suffix}"
    hdr_io.write_hdr(path, img)
    assert files_in(tmp_path) == [path.name]
    assert hdr_io.probe_float_tiff(path)
    back, c = hdr_io.load_hdr(path)
    assert c == channels
    assert back.dtype == np.float32 and back.shape == img.shape
    assert np.array_equal(back, img)


def test_exr_channel_names_written(tmp_path, exr):
    for c, names in [(1, ["Y"]), (2, ["A", "Y"]), (3, ["B", "G", "R"]), (4, ["A", "B", "G", "R"])]:
        path = tmp_path / f"c{c}.exr"
        hdr_io.write_hdr(path, wide_range((4, 5, c)))
        f = exr.File(str(path), separate_channels=True)
        assert sorted(f.channels()) == names
        assert all(ch.pixels.dtype == np.float32 for ch in f.channels().values())


def test_exr_rows_top_first(tmp_path, exr):
    img = np.zeros((6, 3, 1), np.float32)
    img[0] = 5.0  # top row bright
    path = tmp_path / "top.exr"
    hdr_io.write_hdr(path, img)
    back, _ = hdr_io.load_hdr(path)
    assert np.array_equal(back, img)
    raw = exr.File(str(path), separate_channels=True).channels()["Y"].pixels
    assert np.all(raw[0] == 5.0) and np.all(raw[1:] == 0.0)


def test_reads_half_float_exr(tmp_path, exr):
    img = wide_range((9, 11, 4), seed=3)
    img = np.minimum(img, 60000.0)  # inside the half-float range
    half = img.astype(np.float16)
    channels = {n: np.ascontiguousarray(half[..., i]) for i, n in enumerate("RGBA")}
    path = tmp_path / "half.exr"
    exr.File({"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage}, channels).write(
        str(path)
    )
    back, c = hdr_io.load_hdr(path)
    assert c == 4 and back.dtype == np.float32
    assert np.array_equal(back, half.astype(np.float32))


@pytest.mark.parametrize(
    "names, expected",
    [(("Y",), 1), (("Y", "A"), 2), (("Z",), 1), (("R", "G", "B"), 3)],
)
def test_reads_exr_channel_layouts(tmp_path, exr, names, expected):
    planes = wide_range((5, 6, len(names)), seed=7)
    channels = {n: np.ascontiguousarray(planes[..., i]) for i, n in enumerate(names)}
    path = tmp_path / "layout.exr"
    exr.File({"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage}, channels).write(
        str(path)
    )
    back, c = hdr_io.load_hdr(path)
    assert c == expected
    assert np.array_equal(back, planes)  # written in output order


def test_reads_float16_and_float64_tiff(tmp_path, tifffile):
    img = np.minimum(wide_range((7, 8, 3), seed=5), 60000.0)
    for dtype in (np.float16, np.float64):
        path = tmp_path / f"{np.dtype(dtype).name}.tif"
        tifffile.imwrite(path, img.astype(dtype), photometric="rgb")
        back, c = hdr_io.load_hdr(path)
        assert c == 3 and back.dtype == np.float32
        assert np.array_equal(back, img.astype(dtype).astype(np.float32))


def test_reads_planar_tiff(tmp_path, tifffile):
    img = wide_range((7, 8, 3), seed=6)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(img, -1, 0), photometric="rgb", planarconfig="separate")
    back, c = hdr_io.load_hdr(path)
    assert c == 3 and np.array_equal(back, img)


def test_write_replaces_existing_file(tmp_path, exr):
    path = tmp_path / "img.exr"
    hdr_io.write_hdr(path, wide_range((4, 4, 3), seed=1))
    img = wide_range((6, 5, 3), seed=2)
    hdr_io.write_hdr(path, img)
    assert files_in(tmp_path) == ["img.exr"]
    assert np.array_equal(hdr_io.load_hdr(path)[0], img)


# --- read errors ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert_input_error(tmp_path / "nope.exr", "no such file")


def test_directory(tmp_path):
    d = tmp_path / "dir.exr"
    d.mkdir()
    assert_input_error(d, "directory")


def test_truncated_exr(tmp_path, exr):
    good = tmp_path / "good.exr"
    hdr_io.write_hdr(good, wide_range((64, 32, 3)))
    data = good.read_bytes()
    for n in (2, 40, len(data) // 2, len(data) - 8):
        bad = tmp_path / f"trunc{n}.exr"
        bad.write_bytes(data[:n])
        assert_input_error(bad)


def test_corrupt_exr_pixels(tmp_path, exr):
    # smooth data, so that every chunk is stored compressed (ZIP keeps incompressible chunks
    # raw, and zeroed raw bytes are just zeros)
    good = tmp_path / "good.exr"
    ramp = np.linspace(0.0, 4.0, 64 * 32 * 3, dtype=np.float32).reshape(64, 32, 3)
    hdr_io.write_hdr(good, ramp)
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)
    bad = tmp_path / "corrupt.exr"
    bad.write_bytes(bytes(data))
    assert_input_error(bad)


def test_random_bytes_exr(tmp_path, exr):
    bad = tmp_path / "random.exr"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    assert_input_error(bad, "not an OpenEXR file")
    # random bytes behind a valid magic number reach the library, which must not escape
    bad.write_bytes(b"\x76\x2f\x31\x01" + np.random.default_rng(1).bytes(4096))
    assert_input_error(bad)


def test_random_bytes_tiff(tmp_path, tifffile):
    bad = tmp_path / "random.tif"
    bad.write_bytes(b"II*\x00" + np.random.default_rng(2).bytes(4096))
    assert_input_error(bad)


def test_truncated_tiff(tmp_path, tifffile):
    good = tmp_path / "good.tif"
    hdr_io.write_hdr(good, wide_range((64, 32, 3)))
    data = good.read_bytes()
    for n in (6, len(data) // 2, len(data) - 4):
        bad = tmp_path / f"trunc{n}.tif"
        bad.write_bytes(data[:n])
        assert_input_error(bad)


@pytest.mark.parametrize("suffix", [".exr", ".tif"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values(tmp_path, suffix, value):
    codec = pytest.importorskip("OpenEXR" if suffix == ".exr" else "tifffile")
    img = wide_range((5, 5, 3))
    img[2, 3, 1] = value
    path = tmp_path / f"bad{suffix}"
    if suffix == ".exr":
        channels = {n: np.ascontiguousarray(img[..., i]) for i, n in enumerate("RGB")}
        codec.File({"compression": codec.ZIP_COMPRESSION, "type": codec.scanlineimage},
                   channels).write(str(path))
    else:
        codec.imwrite(path, img, photometric="rgb")
    assert_input_error(path, "NaN or infinite")


@pytest.mark.parametrize("suffix", [".exr", ".tif"])
def test_negative_values(tmp_path, suffix):
    pytest.importorskip("OpenEXR" if suffix == ".exr" else "tifffile")
    img = wide_range((5, 5, 1))
    img[1, 1, 0] = -0.5
    path = tmp_path / f"neg{suffix}"
    hdr_io.write_hdr(path, img)  # writing negative values is allowed
    assert_input_error(path, "negative values are not supported")


def test_uint16_tiff_is_refused(tmp_path, tifffile):
    path = tmp_path / "u16.tif"
    tifffile.imwrite(path, np.arange(300, dtype=np.uint16).reshape(10, 10, 3),
                     photometric="rgb")
    assert_input_error(path, "not a floating-point TIFF")


def test_uint32_exr_channel_is_refused(tmp_path, exr):
    path = tmp_path / "ids.exr"
    ids = np.arange(20, dtype=np.uint32).reshape(4, 5)
    exr.File({"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage},
             {"id": ids}).write(str(path))
    assert_input_error(path, "uint32")


@pytest.mark.parametrize("names", [("R", "G"), ("diffuse.R", "diffuse.G", "diffuse.B"),
                                   ("R", "G", "B", "A", "Z")])
def test_unsupported_exr_channels(tmp_path, exr, names):
    planes = wide_range((4, 4, len(names)))
    channels = {n: np.ascontiguousarray(planes[..., i]) for i, n in enumerate(names)}
    path = tmp_path / "odd.exr"
    exr.File({"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage},
             channels).write(str(path))
    assert_input_error(path, "not supported")


def test_too_many_tiff_channels(tmp_path, tifffile):
    path = tmp_path / "five.tif"
    tifffile.imwrite(path, wide_range((4, 4, 5)), photometric="minisblack",
                     planarconfig="contig")
    assert_input_error(path, "5 channels")


def test_too_large_exr_checked_from_header(tmp_path, exr, monkeypatch):
    path = tmp_path / "wide.exr"
    hdr_io.write_hdr(path, np.ones((1, 40, 1), np.float32))
    monkeypatch.setattr(fmt, "MAX_DIMENSION", 32)
    assert_input_error(path, "exceeds the 32 texel limit")


def test_too_large_exr_real_size(tmp_path, exr):
    path = tmp_path / "huge.exr"
    exr.File({"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage},
             {"Y": np.zeros((1, fmt.MAX_DIMENSION + 1), np.float16)}).write(str(path))
    assert_input_error(path, "texel limit")


def test_too_large_tiff(tmp_path, tifffile):
    path = tmp_path / "tall.tif"
    tifffile.imwrite(path, np.zeros((fmt.MAX_DIMENSION + 1, 1), np.float32))
    assert_input_error(path, "texel limit")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "img.hdr"
    path.write_bytes(b"#?RADIANCE\n")
    assert_input_error(path, "not an HDR file")


def test_missing_codec_is_reported(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "img.exr"
    path.write_bytes(b"\x76\x2f\x31\x01" + bytes(64))
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # makes `import OpenEXR` fail
    assert_input_error(path, "pip install 'texgs[hdr]'")
    with pytest.raises(OutputError, match=r"pip install 'texgs\[hdr\]'"):
        hdr_io.write_hdr(tmp_path / "out.exr", np.ones((2, 2, 3), np.float32))
    assert not (tmp_path / "out.exr").exists()


# --- write errors --------------------------------------------------------------------------


def test_write_to_missing_folder(tmp_path, exr):
    target = tmp_path / "no" / "such" / "img.exr"
    with pytest.raises(OutputError) as info:
        hdr_io.write_hdr(target, wide_range((4, 4, 3)))
    assert str(info.value).startswith(str(target))
    assert files_in(tmp_path) == []


def test_write_unknown_suffix(tmp_path):
    target = tmp_path / "img.png"
    with pytest.raises(OutputError) as info:
        hdr_io.write_hdr(target, wide_range((4, 4, 3)))
    assert str(info.value).startswith(str(target))
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("shape, dtype", [((4, 4), np.float32), ((4, 4, 5), np.float32),
                                          ((0, 4, 3), np.float32), ((4, 4, 3), np.uint8)])
def test_write_bad_image(tmp_path, shape, dtype):
    target = tmp_path / "img.exr"
    with pytest.raises(OutputError) as info:
        hdr_io.write_hdr(target, np.zeros(shape, dtype))
    assert str(info.value).startswith(str(target))
    assert files_in(tmp_path) == []


def test_write_non_finite_refused(tmp_path, exr):
    img = wide_range((4, 4, 3))
    img[0, 0, 0] = np.nan
    target = tmp_path / "img.exr"
    with pytest.raises(OutputError, match="NaN"):
        hdr_io.write_hdr(target, img)
    assert files_in(tmp_path) == []


def test_write_to_directory_path(tmp_path, exr):
    target = tmp_path / "taken.exr"
    target.mkdir()
    with pytest.raises(OutputError) as info:
        hdr_io.write_hdr(target, wide_range((4, 4, 3)))
    assert str(info.value).startswith(str(target))
    assert files_in(tmp_path) == ["taken.exr"]


def test_failed_write_leaves_no_temp_and_keeps_old_file(tmp_path, exr, monkeypatch):
    target = tmp_path / "img.exr"
    old = wide_range((4, 4, 3), seed=1)
    hdr_io.write_hdr(target, old)
    before = target.read_bytes()

    class Exploding:
        def __init__(self, header, channels):
            pass

        def write(self, path):
            Path(path).write_bytes(b"partial")  # the codec got halfway, then failed
            raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(exr, "File", Exploding)
    with pytest.raises(OutputError) as info:
        hdr_io.write_hdr(target, wide_range((4, 4, 3), seed=2))
    msg = str(info.value)
    assert msg.startswith(str(target)) and "disk on fire" in msg and "\n" not in msg
    assert files_in(tmp_path) == ["img.exr"]
    assert target.read_bytes() == before


def test_failed_tiff_write_leaves_no_temp(tmp_path, tifffile, monkeypatch):
    target = tmp_path / "img.tif"

    def exploding(path, *args, **kwargs):
        Path(path).write_bytes(b"II*\x00partial")
        raise ValueError("codec failure")

    monkeypatch.setattr(tifffile, "imwrite", exploding)
    with pytest.raises(OutputError, match="codec failure"):
        hdr_io.write_hdr(target, wide_range((4, 4, 3)))
    assert files_in(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_written_file_permissions_are_not_private(tmp_path, exr):
    target = tmp_path / "img.exr"
    hdr_io.write_hdr(target, wide_range((4, 4, 3)))
    assert target.stat().st_mode & 0o044 == 0o044  # readable by others, unlike mkstemp's 0600


def test_import_needs_only_numpy():
    import subprocess
    import sys

    code = (
        "import sys, texgs.hdr_io; "
        "bad = [m for m in ('OpenEXR', 'tifffile', 'PIL') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


def write_two_part_exr(exr, path: Path, first: np.ndarray, second: np.ndarray) -> None:
    # every part must have the same display window
    h = max(first.shape[0], second.shape[0])
    w = max(first.shape[1], second.shape[1])

    def header() -> dict:  # a fresh dict per part: Part() stores its name into the dict
        return {
            "compression": exr.ZIP_COMPRESSION,
            "type": exr.scanlineimage,
            "displayWindow": (np.array([0, 0], np.int32), np.array([w - 1, h - 1], np.int32)),
        }

    exr.File([exr.Part(header(), {"Y": first}, "first"),
              exr.Part(header(), {"Y": second}, "second")]).write(str(path))


def test_multi_part_exr_reads_first_part(tmp_path, exr):
    ramp = np.linspace(0.0, 1.0, 128 * 32, dtype=np.float32).reshape(128, 32)
    path = tmp_path / "two.exr"
    write_two_part_exr(exr, path, ramp, ramp * 2.0)
    back, c = hdr_io.load_hdr(path)
    assert c == 1 and np.array_equal(back[..., 0], ramp)


def test_multi_part_exr_with_corrupt_first_part(tmp_path, exr):
    # The bindings drop a part that fails to decode from File.parts, so the second part
    # would show up as part 0: this must be an error, not the wrong image.
    ramp = np.linspace(0.0, 1.0, 256 * 64, dtype=np.float32).reshape(256, 64)
    path = tmp_path / "two.exr"
    write_two_part_exr(exr, path, ramp, ramp * 2.0)
    data = bytearray(path.read_bytes())
    k = int(len(data) * 0.3)  # inside the first part's pixel data
    data[k:k + 64] = bytes(64)
    path.write_bytes(bytes(data))
    assert_input_error(path, "corrupt or truncated")


def test_multi_part_exr_checks_size_of_every_part(tmp_path, exr, monkeypatch):
    path = tmp_path / "two.exr"
    write_two_part_exr(exr, path, np.ones((8, 8), np.float32), np.ones((8, 40), np.float32))
    monkeypatch.setattr(fmt, "MAX_DIMENSION", 32)
    assert_input_error(path, "40x8 exceeds the 32 texel limit")


def test_tiled_exr(tmp_path, exr):
    img = wide_range((37, 29, 3), seed=8)
    tiles = exr.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 16, 16, exr.ONE_LEVEL
    header = {"compression": exr.ZIP_COMPRESSION, "type": exr.tiledimage, "tiles": tiles}
    path = tmp_path / "tiled.exr"
    exr.File(header, {n: np.ascontiguousarray(img[..., i]) for i, n in enumerate("RGB")}).write(
        str(path)
    )
    back, c = hdr_io.load_hdr(path)
    assert c == 3 and np.array_equal(back, img)


def test_exr_offset_data_window_and_decreasing_y(tmp_path, exr):
    img = wide_range((37, 29, 1), seed=9)
    header = {
        "compression": exr.ZIP_COMPRESSION,
        "type": exr.scanlineimage,
        "dataWindow": (np.array([10, 20], np.int32), np.array([38, 56], np.int32)),
        "lineOrder": exr.DECREASING_Y,
    }
    path = tmp_path / "window.exr"
    exr.File(header, {"Y": np.ascontiguousarray(img[..., 0])}).write(str(path))
    back, c = hdr_io.load_hdr(path)
    assert c == 1 and np.array_equal(back, img)  # still row 0 at the top

"""Fuzzing every reader (docs/FORMAT.md, "what a reader must reject"): every input either
decodes or raises AssetFormatError; no other exception, no allocation beyond what the
file's length implies, no hang.

- the hand-made corpus (tests/corpus, made by tests/corpus/make_corpus.py);
- hypothesis: byte mutations of the golden assets, and random valid assets that must round
  trip exactly;
- a bounded atheris (libFuzzer) run of the shared target, tests/fuzz_target.py, which the
  long run (bench/fuzz_assets.py) uses too.

The whole file takes well under a minute; the atheris run is about half of it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_target as ft  # noqa: E402

from texgs import format as fmt  # noqa: E402
from texgs.decode import decode_texture  # noqa: E402
from texgs.errors import AssetFormatError  # noqa: E402
from texgs.runtime import build_gpu_buffers  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"
GOLDEN = HERE / "golden"
GOLDEN_DATA = {p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.tgs"))}
CORPUS_FILES = ft.corpus_files()
ACCEPTED_PREFIXES = ("seed_", "valid_")

# No example database: nothing is written into the work tree, and CI runs the same way.
PROPERTY = settings(deadline=timedelta(seconds=5), database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --- the corpus ---------------------------------------------------------------------------

def test_corpus_is_current_and_small():
    """The checked-in corpus is exactly what make_corpus.py makes; every file is small."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    expected = {f"{name}.tgs": data for name, data in make_corpus.build().items()}
    expected.update({f"seed_{p.name}": p.read_bytes() for p in GOLDEN.glob("*.tgs")})
    assert {p.name for p in CORPUS_FILES} == set(expected), \
        "run python tests/corpus/make_corpus.py"
    for p in CORPUS_FILES:
        assert p.read_bytes() == expected[p.name], f"{p.name} is stale: run make_corpus.py"
        assert p.stat().st_size <= 4096, p.name
    assert len(CORPUS_FILES) >= 150


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_file_decodes_or_raises_format_error(path):
    """read_asset either raises AssetFormatError or gives an asset the runtime takes; the
    reader's peak memory stays within the guard (tests/fuzz_target.py)."""
    data = path.read_bytes()
    try:
        asset = fmt.read_asset(data, path.name)
    except AssetFormatError as e:
        assert path.name in str(e)  # the error names the file
        asset = None
    if asset is not None:
        with np.errstate(all="ignore"):
            build_gpu_buffers(asset)
            out = decode_texture(asset, size=(8, 8))
        assert out.shape == (8, 8, asset.channel_count)
    ft.check_input(data)  # the fuzz target: streaming read, CRC-repaired variant, memory


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_file_verdict_matches_its_name(path):
    """seed_* and valid_* files are accepted; every other file has a defect and is rejected."""
    data = path.read_bytes()
    if path.name.startswith(ACCEPTED_PREFIXES):
        asset = fmt.read_asset(data, path.name)
        assert asset.gaussian_count == sum(asset.lod_counts)
    else:
        with pytest.raises(AssetFormatError):
            fmt.read_asset(data, path.name)


def test_reader_memory_guard_holds_for_a_claim_of_2p24_gaussians():
    """A 548-byte file whose consistent LOD table claims 2^24 Gaussians allocates nothing
    big: it is rejected before any record is read."""
    data = (CORPUS / "lod_last_claims_2p24_gaussians.tgs").read_bytes()
    assert ft.guarded_read(data) is None
    assert ft.guarded_read(data, lod=1) is not None  # the streamed first chunk is fine


def test_target_fires_on_a_greedy_reader_and_on_other_exceptions(monkeypatch):
    """Negative controls: the memory guard and the exception check of the target do fire."""
    good = GOLDEN_DATA["rgb_clamp"]
    real = fmt.read_asset

    def greedy(data, name="asset", lod=None):
        np.ones(8 << 20, np.uint8)  # 8 MiB for a 548-byte file
        return real(data, name, lod)

    monkeypatch.setattr(fmt, "read_asset", greedy)
    with pytest.raises(AssertionError, match="peaked"):
        ft.guarded_read(good)

    def crashing(data, name="asset", lod=None):
        raise ValueError("not an AssetFormatError")

    monkeypatch.setattr(fmt, "read_asset", crashing)
    with pytest.raises(ValueError):
        ft.check_input(good)


# --- hypothesis: mutations of the golden assets -------------------------------------------

def _field_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, width in bytes) of every header and table field of a golden asset."""
    out = []
    pos = 0
    for rep, code in re.findall(r"(\d*)([a-zA-Z])", fmt._FIXED.format):
        size = struct.calcsize(f"<{rep}{code}")
        if code != "s":  # every field but the magic
            out.append((pos, size))
        pos += size
    nch, nlod = struct.unpack_from("<HH", data, 16)
    nmaps = data[31]
    base = fmt.FIXED_HEADER_SIZE
    for codes, count in ((fmt._MAP.format, nmaps), (fmt._CHANNEL.format, nch),
                         (fmt._LOD.format, nlod)):
        for i in range(count):
            pos = base + 16 * i
            for code in codes.lstrip("<"):
                size = struct.calcsize("<" + code)
                out.append((pos, size))
                pos += size
        base += 16 * count
    return out


FIELDS = {name: _field_offsets(data) for name, data in GOLDEN_DATA.items()}
F32 = lambda v: struct.unpack("<I", struct.pack("<f", v))[0]  # noqa: E731
BOUNDARY = sorted({0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65, 127,
                   128, 129, 255, 256, 0x3FFF, 0x4000, 0x4001, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                   (1 << 24) - 1, 1 << 24, (1 << 24) + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                   F32(16.0), F32(-16.0), F32(16.5), F32(1e-45), F32(3.4028234e38),
                   0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC00000})

_pos = st.integers(0, 1 << 16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), _pos, st.integers(0, 7)),
    st.tuples(st.just("truncate"), _pos),
    st.tuples(st.just("insert"), _pos, st.binary(min_size=1, max_size=24)),
    st.tuples(st.just("delete"), _pos, st.integers(1, 64)),
    st.tuples(st.just("field"), _pos, st.sampled_from(BOUNDARY)),
    st.tuples(st.just("u32"), _pos, st.sampled_from(BOUNDARY) | st.integers(0, 0xFFFFFFFF)),
)


def mutate(name: str, ops: list[tuple]) -> bytes:
    buf = bytearray(GOLDEN_DATA[name])
    for op in ops:
        kind, pos = op[0], op[1]
        if kind == "flip" and buf:
            buf[pos % len(buf)] ^= 1 << op[2]
        elif kind == "truncate":
            del buf[pos % (len(buf) + 1):]
        elif kind == "insert":
            p = pos % (len(buf) + 1)
            buf[p:p] = op[2]
        elif kind == "delete" and buf:
            p = pos % len(buf)
            del buf[p:p + op[2]]
        elif kind == "field":  # a header / table field at its own width
            off, size = FIELDS[name][pos % len(FIELDS[name])]
            if off + size <= len(buf):
                buf[off:off + size] = (op[2] & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        elif kind == "u32":  # a 32-bit overwrite anywhere in the header and tables
            hsize = struct.unpack_from("<H", GOLDEN_DATA[name], 6)[0]
            off = pos % (hsize - 3)
            if off + 4 <= len(buf):
                buf[off:off + 4] = op[2].to_bytes(4, "little")
    return bytes(buf)


@settings(PROPERTY, max_examples=1500)
@given(name=st.sampled_from(sorted(GOLDEN_DATA)), ops=st.lists(MUTATION, min_size=1,
                                                                max_size=6),
       repair=st.booleans())
def test_mutated_golden_assets(name, ops, repair):
    """Flips, truncations, insertions, deletions and boundary-value field overwrites of the
    golden assets: each decodes or raises AssetFormatError (the CRC-repaired variant too)."""
    data = mutate(name, ops)
    if repair:
        data = ft.repair_crcs(data)
    ft.check_input(data)


@settings(PROPERTY, max_examples=800)
@given(name=st.sampled_from(sorted(GOLDEN_DATA)),
       edits=st.lists(st.tuples(_pos, st.sampled_from(BOUNDARY)), min_size=1, max_size=3))
def test_golden_header_fields_at_boundary_values(name, edits):
    """Header and table fields set to boundary values with the CRCs made right again, so
    every value reaches the check behind the CRC."""
    data = mutate(name, [("field", pos, value) for pos, value in edits])
    ft.check_bytes(ft.repair_crcs(data))


# --- hypothesis: random valid assets round trip --------------------------------------------



@st.composite
def valid_assets(draw) -> fmt.Asset:
    """A random valid asset: 1..4 maps of random kinds, sizes, flags and 1..4 channels;
    geometry fields of 1..24 bits, colour fields of 0..24; LOD splits that keep every chunk
    but the last on a 32-bit word."""
    maps: list[fmt.MapInfo] = []
    chans: list[fmt.ChannelInfo] = []
    implicit = draw(st.integers(0, 5)) == 0  # no map table given: one map of everything
    nmaps = 1 if implicit else draw(st.integers(1, 4))
    for _ in range(nmaps):
        kind = draw(st.sampled_from(sorted(fmt.MAP_NAMES)))
        if implicit:
            kind = draw(st.sampled_from([fmt.MAP_GENERIC, fmt.MAP_BASECOLOR]))
        count = draw(st.integers(1, 4))
        flags = 0
        if kind == fmt.MAP_NORMAL and count >= 3 and draw(st.booleans()):
            flags |= fmt.MAP_FLAG_NORMAL_Z
        if count in (2, 4) and draw(st.booleans()):
            flags |= fmt.MAP_FLAG_ALPHA
        w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
        maps.append(fmt.MapInfo(kind, w, h, len(chans), count, flags))
        for comp in range(count):
            zero_z = flags & fmt.MAP_FLAG_NORMAL_Z and comp == 2
            bits = 0 if zero_z else draw(st.integers(0, 24))
            enc = draw(st.sampled_from(sorted(fmt.ENCODING_NAMES)))
            lim = fmt.MAX_LOG2_VALUE if enc == fmt.ENCODING_LOG2 else fmt.MAX_CHANNEL_VALUE
            lim32 = float(np.float32(lim)) if float(np.float32(lim)) <= lim else float(
                np.nextafter(np.float32(lim), np.float32(0)))
            val = st.floats(-lim32, lim32, width=32)
            if bits == 0:
                v = draw(val)
                lo = hi = fb = v
            else:
                lo, hi = sorted((draw(val), draw(val)))
                fb = draw(val)
            chans.append(fmt.ChannelInfo(kind, comp, enc, bits, lo, hi, fb))
    width = max(m.width for m in maps)
    height = max(m.height for m in maps)
    if implicit:
        maps = []
    layout = fmt.RecordLayout(draw(st.integers(1, 24)), draw(st.integers(1, 24)),
                              draw(st.integers(1, 24)), tuple(c.bits for c in chans))
    align = layout.chunk_align
    nlod = draw(st.integers(1, 32 if align <= 2 else 8))
    counts = [align * draw(st.integers(1, 2)) for _ in range(nlod - 1)]
    counts.append(draw(st.integers(1, 64)))
    n = sum(counts)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    fields = np.zeros((n, len(layout.field_bits)), np.uint32)
    for col, w in enumerate(layout.field_bits):
        if w:
            fields[:, col] = rng.integers(0, 1 << w, n, dtype=np.uint64)
    fields[0] = [(1 << w) - 1 for w in layout.field_bits]  # all ones
    if n > 1:
        fields[-1] = 0
    smin, smax = sorted((draw(st.floats(-16, 16, width=32)), draw(st.floats(-16, 16, width=32))))
    return fmt.Asset(width=width, height=height, channels=chans, layout=layout,
                     log2_scale_min=smin, log2_scale_max=smax, fields=fields, lod_counts=counts,
                     top_k=draw(st.integers(1, 32)), tile_size=draw(st.integers(4, 128)),
                     address_x=draw(st.integers(0, 1)), address_y=draw(st.integers(0, 1)),
                     maps=maps)


@settings(PROPERTY, max_examples=400)
@given(asset=valid_assets())
def test_random_valid_assets_round_trip_exactly(asset):
    data = fmt.write_asset(asset)
    back = fmt.read_asset(data)
    np.testing.assert_array_equal(back.fields, asset.fields)
    assert back.fields.dtype == np.uint32
    assert (back.width, back.height, back.layout, back.lod_counts) == (
        asset.width, asset.height, asset.layout, asset.lod_counts)
    assert back.channels == asset.channels
    assert back.maps == asset.map_table()
    assert (back.log2_scale_min, back.log2_scale_max, back.top_k, back.tile_size,
            back.address_x, back.address_y) == (
        asset.log2_scale_min, asset.log2_scale_max, asset.top_k, asset.tile_size,
        asset.address_x, asset.address_y)
    assert fmt.write_asset(back) == data  # byte-exact
    # Every streamed prefix reads back its own records.
    for lod in (1, len(asset.lod_counts)):
        end = asset.lods[lod - 1].offset + asset.lods[lod - 1].length
        part = fmt.read_asset(data[:end], lod=lod)
        np.testing.assert_array_equal(part.fields, asset.fields[:asset.prefix_count(lod)])
    ft.check_bytes(data)  # runtime takes it, memory guard holds


# --- atheris ------------------------------------------------------------------------------

ATHERIS_RUNS = 10_000


def test_atheris_bounded_run(tmp_path):
    """libFuzzer over the shared target for 10,000 inputs, seeded with the corpus: exit code 0
    and no crash, timeout or OOM file."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("atheris cannot be imported: pip install atheris==3.0.0 (a CPython 3.11 "
                    "wheel; newer releases have none) to run the bounded fuzz run")
    work = tmp_path / "work"  # libFuzzer adds new inputs to the first folder, not the corpus
    seeds = tmp_path / "seeds"  # the corpus's .tgs files (not make_corpus.py)
    artifacts = tmp_path / "artifacts"
    for d in (work, seeds, artifacts):
        d.mkdir()
    for p in CORPUS_FILES:
        shutil.copyfile(p, seeds / p.name)
    cmd = [sys.executable, str(HERE / "fuzz_target.py"), f"-runs={ATHERIS_RUNS}", "-seed=1",
           "-timeout=5", "-rss_limit_mb=2048", "-max_len=4096", "-print_final_stats=1",
           f"-artifact_prefix={artifacts}/", str(work), str(seeds)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=540,
                          check=False)
    log = proc.stdout + proc.stderr
    found = sorted(p.name for p in artifacts.iterdir())
    assert proc.returncode == 0 and not found, \
        f"fuzzing found {found} (rc {proc.returncode}):\n{log[-6000:]}"
    done = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    assert done and int(done.group(1)) >= ATHERIS_RUNS, log[-3000:]

"""Fuzzing the glTF extension reader (docs/GLTF.md, "Reading"): for any bytes,
read_gaussian_textures returns or raises InputError (UnsupportedError for a version other
than 2), one line naming the file, allocating no more than the input's length implies;
decode_texture_image of what it returns decodes or raises AssetFormatError / InputError.

- the hand-made corpus (tests/corpus_gltf, made by make_corpus_gltf.py);
- hypothesis: JSON value replacements in the seed .glb (the extension, textures, images,
  bufferViews, buffers, the top level) and raw byte mutations;
- a bounded atheris (libFuzzer) run of the shared target, tests/fuzz_gltf_target.py, which
  the long run (bench/fuzz_assets.py --target gltf) uses too.
"""

from __future__ import annotations

import copy
import random
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_gltf_target as ft  # noqa: E402

from texgs import gltf  # noqa: E402
from texgs.errors import AssetFormatError, InputError, UnsupportedError  # noqa: E402
from texgs.gltf import (EXTENSION_NAME, decode_texture_image,  # noqa: E402
                        read_gaussian_textures, read_gaussian_textures_bytes)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus_gltf"
CORPUS_FILES = ft.corpus_files()
SEED = (CORPUS / "seed_sample_scene.glb").read_bytes()

PROPERTY = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# --- the corpus ---------------------------------------------------------------------------

def test_corpus_is_current_and_small():
    """The derived files are exactly what make_corpus_gltf.py makes from the seed."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus_gltf
    finally:
        sys.path.remove(str(CORPUS))
    expected = {f"{name}{make_corpus_gltf.suffix(name, data)}": data
                for name, data in make_corpus_gltf.build(SEED).items()}
    expected[make_corpus_gltf.SEED_NAME] = SEED
    assert {p.name for p in CORPUS_FILES} == set(expected), \
        "run python tests/corpus_gltf/make_corpus_gltf.py"
    for p in CORPUS_FILES:
        assert p.read_bytes() == expected[p.name], f"{p.name} is stale: run make_corpus_gltf.py"
        assert p.stat().st_size < 30_000, p.name
    assert len(CORPUS_FILES) >= 80


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_file_honours_the_contract(path):
    """The shared target (memory guard, one-line messages, every texture decoded)."""
    ft.check_input(path.read_bytes())


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_file_verdict_matches_its_name(path, tmp_path):
    """seed_*: read and every texture decodes; decode_*: read, some decode refused;
    unsupported_*: UnsupportedError; every other file: InputError naming the file. The
    path-based reader gives the same verdict (external URIs resolve, but name no file)."""
    data = path.read_bytes()
    name = path.name
    if name.startswith(("seed_", "decode_")):
        _, textures = read_gaussian_textures_bytes(data, name)
        assert textures
        refused = []
        for t in textures:
            try:
                img = decode_texture_image(t, scale=0.125)
                assert img.shape[2] == (4 if t.channels[3] >= 0 else 3)
            except (AssetFormatError, InputError) as e:
                assert str(e).startswith(f"{name}: texture {t.texture}: ")
                refused.append(t.texture)
        assert bool(refused) == name.startswith("decode_"), refused
    else:
        kind = UnsupportedError if name.startswith("unsupported_") else InputError
        with pytest.raises(kind) as info:
            read_gaussian_textures_bytes(data, name)
        assert type(info.value) is kind
        assert str(info.value).startswith(f"{name}: ") and "\n" not in str(info.value)
    copy_path = tmp_path / name
    copy_path.write_bytes(data)
    try:
        from_file = read_gaussian_textures(copy_path)
    except (InputError, UnsupportedError) as e:
        from_file = type(e)
    try:
        from_bytes = read_gaussian_textures_bytes(data, str(copy_path))
    except (InputError, UnsupportedError) as e:
        from_bytes = type(e)
    assert from_file == from_bytes


def test_seed_reads_as_the_baker_wrote_it():
    """The seed: 5 textures over 2 assets, the sample scene's maps and channel mappings."""
    js, textures = read_gaussian_textures_bytes(SEED, "seed.glb")
    assert [(t.texture, t.image, t.map, t.channels) for t in textures] == [
        (0, 0, "basecolor", (0, 1, 2, -1)), (1, 0, "normal", (0, 1, 2, -1)),
        (2, 0, "orm", (0, 1, 2, -1)), (3, 1, "basecolor", (0, 1, 2, 3)),
        (4, 1, "normal", (0, 1, 2, -1))]
    assert all(t.fallback_source is None and t.file == "seed.glb" for t in textures)
    assert js["extensionsRequired"] == [EXTENSION_NAME]


def test_textures_sharing_an_asset_share_its_bytes():
    """2000 textures of one asset whose bufferView is 64 KiB: the reader returns one bytes
    object for all of them, inside the memory guard (a copy per texture is 128 MB)."""
    js, blob = ft.split_glb(SEED)
    view = js["bufferViews"][js["images"][0]["bufferView"]]
    blob = blob + bytes(65536)
    js["buffers"][0]["byteLength"] = len(blob)
    view["byteLength"] = len(blob) - view["byteOffset"]
    template = js["textures"][0]
    js["textures"] = [copy.deepcopy(template) for _ in range(2000)]
    data = ft.pack_glb(ft.dump_json(js), blob)
    _, textures = ft.guarded_read(data)
    assert len(textures) == 2000 and len({id(t.asset_bytes) for t in textures}) == 1


def test_target_fires_on_a_greedy_reader_and_on_other_exceptions(monkeypatch):
    """Negative controls: the memory guard, the exception check and the one-line-message
    check of the target do fire."""
    real = gltf.read_gaussian_textures_bytes

    def greedy(data, name="<bytes>"):
        bytearray(8 << 20)  # 8 MiB for an 8 KB file
        return real(data, name)

    monkeypatch.setattr(ft, "read_gaussian_textures_bytes", greedy)
    with pytest.raises(AssertionError, match="peaked"):
        ft.check_input(SEED)

    def crashing(data, name="<bytes>"):
        raise KeyError("source")

    monkeypatch.setattr(ft, "read_gaussian_textures_bytes", crashing)
    with pytest.raises(AssertionError, match="KeyError"):
        ft.check_input(SEED)

    def nameless(data, name="<bytes>"):
        raise InputError("texture 0: bad")

    monkeypatch.setattr(ft, "read_gaussian_textures_bytes", nameless)
    with pytest.raises(AssertionError, match="one line naming the file"):
        ft.check_input(SEED)


def test_structure_mutator_reaches_the_extension_checks():
    """The atheris mutator's JSON replacements are well-formed GLBs most of the time, and
    reach the reader's extension checks (not only the container's)."""
    rng = random.Random(3)
    messages = []
    for _ in range(300):
        data = ft.mutate_structure(SEED, rng)
        assert data is not None
        try:
            read_gaussian_textures_bytes(data, ft.INPUT_NAME)
        except (InputError, UnsupportedError) as e:
            messages.append(str(e))
    assert sum(EXTENSION_NAME in m for m in messages) >= 20
    assert sum("bufferView" in m for m in messages) >= 5


# --- hypothesis: JSON value replacements and byte mutations of the seed -------------------

JSON_VALUE = st.one_of(
    st.sampled_from(ft.INTERESTING_VALUES),
    st.integers(-2 ** 64, 2 ** 64),
    st.integers(-2, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 5) | st.booleans() | st.none(), max_size=6),
    st.recursive(st.none() | st.booleans() | st.integers(-2, 5) | st.text(max_size=3),
                 lambda inner: st.lists(inner, max_size=3) |
                 st.dictionaries(st.sampled_from(ft.MUTATION_KEYS), inner, max_size=3),
                 max_leaves=8),
)
KEY = st.sampled_from(ft.MUTATION_KEYS)
SEED_JS, SEED_BLOB = ft.split_glb(SEED)


@settings(PROPERTY, max_examples=300)
@given(edits=st.lists(st.tuples(st.integers(0, 200), KEY, JSON_VALUE), min_size=1,
                      max_size=4))
def test_json_value_replacements(edits):
    """Any values at any of the keys the reader looks at, in any object it reads: the
    contract holds (every texture decoded)."""
    js = copy.deepcopy(SEED_JS)
    for site, key, value in edits:
        ft.apply_json_mutation(js, site, key, value)
    ft.check_input(ft.pack_glb(ft.dump_json(js), SEED_BLOB))


@settings(PROPERTY, max_examples=300)
@given(edits=st.lists(st.tuples(st.integers(0, 200), KEY, JSON_VALUE), min_size=1,
                      max_size=3))
def test_json_value_replacements_as_gltf_json(edits):
    """The same for a .gltf (JSON only; the BIN chunk as a data URI)."""
    import base64

    js = copy.deepcopy(SEED_JS)
    js["buffers"] = [{"byteLength": len(SEED_BLOB), "uri": "data:;base64," +
                      base64.b64encode(SEED_BLOB).decode()}]
    for site, key, value in edits:
        ft.apply_json_mutation(js, site, key, value)
    ft.check_input(ft.dump_json(js))


_pos = st.integers(0, 1 << 16)
BYTE_MUTATION = st.one_of(
    st.tuples(st.just("flip"), _pos, st.integers(0, 7)),
    st.tuples(st.just("truncate"), _pos),
    st.tuples(st.just("insert"), _pos, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _pos, st.integers(1, 64)),
    st.tuples(st.just("u32"), st.sampled_from([4, 8, 12, 16]) | _pos,
              st.sampled_from([0, 1, 3, 4, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFF0]) |
              st.integers(0, 0xFFFFFFFF)),
)


def mutate_bytes(ops: list[tuple]) -> bytes:
    buf = bytearray(SEED)
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
        elif kind == "u32" and len(buf) >= 4:
            p = pos % (len(buf) - 3)
            struct.pack_into("<I", buf, p, op[2])
    return bytes(buf)


@settings(PROPERTY, max_examples=300)
@given(ops=st.lists(BYTE_MUTATION, min_size=1, max_size=4))
def test_byte_mutations(ops):
    """Flips, truncations, insertions, deletions and 32-bit overwrites (the GLB header and
    chunk lengths among them) of the seed."""
    ft.check_input(mutate_bytes(ops))


# --- atheris ------------------------------------------------------------------------------

ATHERIS_RUNS = 10_000


def test_atheris_bounded_run(tmp_path):
    """libFuzzer over the shared target for 10,000 inputs, seeded with the corpus, with the
    structure-aware mutator: exit code 0 and no crash, timeout or OOM file."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("atheris cannot be imported: pip install atheris==3.0.0 (a CPython 3.11 "
                    "wheel; newer releases have none) to run the bounded fuzz run")
    work = tmp_path / "work"
    seeds = tmp_path / "seeds"
    artifacts = tmp_path / "artifacts"
    for d in (work, seeds, artifacts):
        d.mkdir()
    for p in CORPUS_FILES:
        shutil.copyfile(p, seeds / p.name)
    cmd = [sys.executable, str(HERE / "fuzz_gltf_target.py"), f"-runs={ATHERIS_RUNS}",
           "-seed=1", "-timeout=5", "-rss_limit_mb=2048", "-max_len=16384",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/", str(work), str(seeds)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=540,
                          check=False)
    log = proc.stdout + proc.stderr
    found = sorted(p.name for p in artifacts.iterdir())
    assert proc.returncode == 0 and not found, \
        f"fuzzing found {found} (rc {proc.returncode}):\n{log[-6000:]}"
    done = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    assert done and int(done.group(1)) >= ATHERIS_RUNS, log[-3000:]

"""The fuzz target of the glTF extension reader, shared by tests/test_fuzz_gltf.py (corpus,
hypothesis properties, the bounded CI run) and bench/fuzz_assets.py --target gltf (the long
run).

Contract (docs/GLTF.md, "Reading"): for any bytes given as a .glb or .gltf,
``read_gaussian_textures_bytes`` returns or raises ``InputError`` (``UnsupportedError`` for a
glTF/GLB version other than 2 or a non-local URI), one line naming the file; it allocates no
more than the input's length implies; ``decode_texture_image`` of what it returns decodes or
raises ``AssetFormatError`` / ``InputError``. :func:`check_input` enforces it for one input:

1. the reader under ``tracemalloc``: any other exception, a message that is not one line
   starting with the file name, or a peak of traced memory above :func:`read_memory_limit`
   is an ``AssertionError``;
2. what it returns is checked (indices in range, 4 channels in -1..3, a known map name);
3. ``decode_texture_image`` of every texture whose asset is small (``MAX_DECODE_TEXELS``,
   ``MAX_DECODE_GAUSSIANS``), at a scale that makes the map at most ``DECODE_SIDE`` texels
   wide, under ``tracemalloc`` too. A decode costs about 10 ms (the read about 1 ms) and is a
   pure function of (asset bytes, map, channels, scale): a verdict already reached for the
   same four (most mutations leave the assets alone) is not decoded again
   (``DECODE_CACHE_SIZE`` verdicts kept).

Run directly, this file is an atheris (libFuzzer) fuzzer; libFuzzer flags pass through:

    python tests/fuzz_gltf_target.py -runs=10000 -timeout=5 WORK_DIR tests/corpus_gltf

Its custom mutator is structure-aware half of the time: it parses the GLB, replaces one value
of the extension, a texture, an image, a bufferView, a buffer or the top level with a value
from :data:`INTERESTING_VALUES` (indices at and past the ends, negatives, huge numbers,
NaN, strings, lists, nulls, nesting) and packs the GLB again, keeping its lengths right so
that the mutation reaches the JSON checks; otherwise it mutates raw bytes (libFuzzer's).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    # Run as the atheris fuzzer: instrument texgs only (coverage feedback).
    import atheris

    with atheris.instrument_imports(include=["texgs"]):
        import texgs.decode  # noqa: F401
        import texgs.format  # noqa: F401
        import texgs.gltf  # noqa: F401

from texgs import format as fmt  # noqa: E402
from texgs.errors import AssetFormatError, InputError, UnsupportedError  # noqa: E402
from fuzz_target import traced  # noqa: E402  (the shared memory guard)
from texgs.gltf import (EXTENSION_NAME, GaussianTexture, decode_texture_image,  # noqa: E402
                        read_gaussian_textures_bytes)

CORPUS = ROOT / "tests" / "corpus_gltf"
#: The name the reader is given; every error message must start with it.
INPUT_NAME = "fuzz.glb"
#: Errors the reader may raise (documented); anything else is a bug.
READER_ERRORS = (InputError, UnsupportedError)
#: Errors decode_texture_image may raise on what the reader returned.
DECODE_ERRORS = (AssetFormatError, InputError)
# Reader memory guard: peak traced bytes < MEMORY_PER_BYTE * len(data) + MEMORY_SLACK.
MEMORY_PER_BYTE = 64
MEMORY_SLACK = 1 << 20
# Decode only assets this small (texels of the asset, Gaussians), at most this many texels
# on a side; the decode guard allows the read's limit plus DECODE_SLACK.
MAX_DECODE_TEXELS = 256 * 256
MAX_DECODE_GAUSSIANS = 4096
DECODE_SIDE = 8
DECODE_SLACK = 32 << 20
DECODE_CACHE_SIZE = 4096
#: (SHA-256 of the asset bytes, map, channels) -> the decode was checked already.
_decoded: set[tuple[bytes, str, tuple[int, ...]]] = set()

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942


def read_memory_limit(data_len: int) -> int:
    """Most bytes the reader may trace at its peak for an input of ``data_len`` bytes: the
    JSON it parses (a Python object per 3 input bytes at worst, ~24 bytes per byte) and the
    slices of the BIN chunk it returns, with room to spare, plus 1 MiB."""
    return MEMORY_PER_BYTE * data_len + MEMORY_SLACK


def check_message(e: BaseException, step: str) -> None:
    """A documented error: one line naming the input."""
    text = str(e)
    if "\n" in text or not text.startswith(INPUT_NAME):
        raise AssertionError(f"{step}: {type(e).__name__} message is not one line naming "
                             f"the file: {text[:300]!r}")


def guarded_read(data: bytes) -> tuple[dict, list[GaussianTexture]] | None:
    """The reader under tracemalloc: its result, or None after a documented error."""
    result, error, peak = traced(lambda: read_gaussian_textures_bytes(data, INPUT_NAME))
    limit = read_memory_limit(len(data))
    if peak >= limit:
        raise AssertionError(f"read_gaussian_textures_bytes of {len(data)} bytes peaked at "
                             f"{peak} traced bytes, limit {limit}")
    if error is not None:
        if not isinstance(error, READER_ERRORS):
            raise AssertionError(f"read_gaussian_textures_bytes raised "
                                 f"{type(error).__name__}: {error}") from error
        check_message(error, "read_gaussian_textures_bytes")
        return None
    return result


def check_result(js: dict, textures: list[GaussianTexture]) -> None:
    """What the reader returned is what its docstring promises."""
    assert isinstance(js, dict)
    names = set(fmt.MAP_NAMES.values())
    images, all_textures = js.get("images"), js.get("textures")
    for tex in textures:
        assert 0 <= tex.texture < len(all_textures)
        assert 0 <= tex.image < len(images)
        assert isinstance(tex.asset_bytes, bytes)
        assert tex.map in names
        assert len(tex.channels) == 4 and all(type(c) is int and -1 <= c <= 3
                                              for c in tex.channels)
        assert tex.fallback_source is None or 0 <= tex.fallback_source < len(images)


def decode_scale(asset: fmt.Asset) -> float | None:
    """Scale for a cheap decode of ``asset`` (largest map side <= DECODE_SIDE), or None when
    the asset is too big to decode in a fuzz run."""
    if asset.width * asset.height > MAX_DECODE_TEXELS or \
            asset.gaussian_count > MAX_DECODE_GAUSSIANS:
        return None
    return min(1.0, DECODE_SIDE / max(asset.width, asset.height))


def check_decode(tex: GaussianTexture, data_len: int) -> None:
    """decode_texture_image of one texture, when its asset is small: it decodes to
    [h, w, 3 or 4] float32, or raises a documented error; memory stays bounded."""
    key = (hashlib.sha256(tex.asset_bytes).digest(), tex.map, tex.channels)
    if key in _decoded:
        return
    if len(_decoded) >= DECODE_CACHE_SIZE:
        _decoded.clear()
    _decoded.add(key)  # before the checks: a failing one is reported once, not cached away
    try:
        asset = fmt.read_asset(tex.asset_bytes, "probe")
    except AssetFormatError:
        asset = None
    scale = 1.0 if asset is None else decode_scale(asset)
    if scale is None:
        return
    image, error, peak = traced(lambda: decode_texture_image(tex, scale=scale))
    limit = read_memory_limit(data_len) + DECODE_SLACK
    if peak >= limit:
        raise AssertionError(f"decode_texture_image of texture {tex.texture} peaked at {peak} "
                             f"traced bytes, limit {limit}")
    if error is not None:
        if not isinstance(error, DECODE_ERRORS):
            raise AssertionError(f"decode_texture_image raised {type(error).__name__}: "
                                 f"{error}") from error
        check_message(error, "decode_texture_image")
        assert asset is not None or isinstance(error, AssetFormatError), \
            "read_asset refused the asset but decode_texture_image did not say so"
        return
    assert asset is not None, "decode_texture_image decoded an asset read_asset refuses"
    assert image.dtype.name == "float32" and image.ndim == 3, (image.dtype, image.shape)
    assert image.shape[2] == (4 if tex.channels[3] >= 0 else 3), image.shape


def check_input(data: bytes) -> None:
    """The fuzz target: read ``data`` as a glTF, check the result, decode every texture."""
    result = guarded_read(data)
    if result is None:
        return
    js, textures = result
    check_result(js, textures)
    for tex in textures:
        check_decode(tex, len(data))


# --- structure-aware mutation ---------------------------------------------------------------

def split_glb(data: bytes) -> tuple[Any, bytes | None] | None:
    """(parsed JSON, BIN chunk or None) of a well-formed GLB, else None (a lenient helper
    for the mutators, not the reader under test)."""
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        return None
    json_len, json_type = struct.unpack_from("<II", data, 12)
    if json_type != CHUNK_JSON or 20 + json_len > len(data):
        return None
    try:
        js = json.loads(data[20:20 + json_len])
    except (ValueError, RecursionError):
        return None
    pos = 20 + json_len
    blob = None
    if pos + 8 <= len(data):
        bin_len, bin_type = struct.unpack_from("<II", data, pos)
        if bin_type == CHUNK_BIN and pos + 8 + bin_len <= len(data):
            blob = data[pos + 8:pos + 8 + bin_len]
    return js, blob


def pack_glb(json_text: bytes, blob: bytes | None) -> bytes:
    """A GLB with consistent lengths around ``json_text`` (any bytes) and ``blob``."""
    json_text += b" " * (-len(json_text) % 4)
    chunks = struct.pack("<II", len(json_text), CHUNK_JSON) + json_text
    if blob is not None:
        blob += b"\0" * (-len(blob) % 4)
        chunks += struct.pack("<II", len(blob), CHUNK_BIN) + blob
    return struct.pack("<4sII", GLB_MAGIC, 2, 12 + len(chunks)) + chunks


#: Keys a mutation may set or replace, besides the keys already there.
MUTATION_KEYS = ("source", "map", "channels", "bufferView", "byteOffset", "byteLength",
                 "buffer", "mimeType", "uri", "extensions", EXTENSION_NAME, "images",
                 "textures", "bufferViews", "buffers", "asset", "version")

#: A marker value: the text of 200 nested arrays (a nesting bomb) is spliced in its place.
NESTING_BOMB = "__nesting_bomb__"
#: A marker value: the key is removed.
DELETE = "__delete__"

#: Values a structure-aware mutation puts in the JSON.
INTERESTING_VALUES: tuple[Any, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, -1, -2, 255, 256, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1,
    2 ** 32, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 30, 0.0, 0.5, 1.0, -0.0, 1e308, float("nan"),
    float("inf"), float("-inf"), True, False, None, "", "0", "orm", "basecolor", "normal",
    "kind99", "application/x-texgs", "image/png", "data:,", "data:application/x-texgs;base64,",
    "data:application/x-texgs;base64,VEdTMQ==", "data:;base64,%%%", "buffer.bin",
    "../../../etc/passwd", "http://example.com/a.tgs", "file:///dev/zero", "\x00",
    "x" * 300, [], [0], [0, 1, 2, -1], [0, 1, 2, 3], [0, 0, 0, -1], [3, 3, 3, 3],
    [-1, -1, -1, -1], [0, 1, 2, 4], [0, 1, 2, -2], [0, 1, 2, -1, 0], [0, 1, 2, "3"],
    [0, 1, 2, 1.0], [True, False, True, False], [None], {}, {"source": 0},
    {EXTENSION_NAME: None}, {EXTENSION_NAME: []}, [[[]]], NESTING_BOMB, DELETE)


def mutation_sites(js: Any) -> list[dict]:
    """The JSON objects a structure-aware mutation may change: the top level, every texture
    and its extension objects, every image, bufferView and buffer, and the asset object."""
    if not isinstance(js, dict):
        return []
    sites = [js]
    for name in ("textures", "images", "bufferViews", "buffers"):
        items = js.get(name)
        if isinstance(items, list):
            sites.extend(i for i in items if isinstance(i, dict))
    for tex in js.get("textures", []) if isinstance(js.get("textures"), list) else []:
        if isinstance(tex, dict) and isinstance(tex.get("extensions"), dict):
            sites.append(tex["extensions"])
            ext = tex["extensions"].get(EXTENSION_NAME)
            if isinstance(ext, dict):
                sites.append(ext)
    if isinstance(js.get("asset"), dict):
        sites.append(js["asset"])
    return sites


def apply_json_mutation(js: Any, site: int, key: str, value: Any) -> None:
    """Set ``key`` of mutation site ``site`` (modulo their number) to ``value`` in place
    (DELETE removes it; NESTING_BOMB sets a marker that :func:`dump_json` expands)."""
    sites = mutation_sites(js)
    if not sites:
        return
    target = sites[site % len(sites)]
    if isinstance(value, str) and value == DELETE:
        target.pop(key, None)
    else:
        target[key] = value


def dump_json(js: Any) -> bytes:
    """JSON text of ``js`` as a hostile writer would make it: NaN and Infinity as bare
    words, nesting-bomb markers expanded to 200 nested arrays."""
    text = json.dumps(js, allow_nan=True, separators=(",", ":"))
    return text.replace(json.dumps(NESTING_BOMB), "[" * 200 + "]" * 200).encode("utf-8")


def mutate_structure(data: bytes, rng: random.Random) -> bytes | None:
    """One to three JSON value replacements in the GLB ``data`` (None: not a GLB whose JSON
    parses, nothing to mutate)."""
    parts = split_glb(data)
    if parts is None:
        return None
    js, blob = parts
    for _ in range(rng.randint(1, 3)):
        sites = mutation_sites(js)
        if not sites:
            break
        site = rng.randrange(len(sites))
        own = [k for k in sites[site] if isinstance(k, str)]
        key = rng.choice(own + list(MUTATION_KEYS)) if own and rng.random() < 0.7 else \
            rng.choice(MUTATION_KEYS)
        value = rng.choice(INTERESTING_VALUES)
        if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.3:
            value = rng.randint(-2, 40)  # an index near the real ones
        apply_json_mutation(js, site, key, value)
    return pack_glb(dump_json(js), blob)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer custom mutator: a structure-aware JSON mutation half of the time, else
    libFuzzer's own byte mutation."""
    import atheris

    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = mutate_structure(data, rng)
        if out is not None and len(out) <= max_size:
            return out
    return atheris.Mutate(data, max_size)


def corpus_files() -> list[Path]:
    """The seed corpus: every .glb and .gltf of tests/corpus_gltf."""
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".glb", ".gltf"))


def main(argv: list[str]) -> None:
    """libFuzzer over :func:`check_input`; ``argv``: libFuzzer flags and corpus folders."""
    import atheris

    atheris.Setup(argv, check_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

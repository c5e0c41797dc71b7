"""Regenerate the glTF reader's fuzz corpus: a valid texgs .glb baked from the sample scene
and hand-made broken files derived from it.

    python tests/corpus_gltf/make_corpus_gltf.py          # the derived files (deterministic)
    python tests/corpus_gltf/make_corpus_gltf.py --bake   # also bake the seed again

The seed, ``seed_sample_scene.glb``, is samples/scene/scene.gltf baked with tiny settings
(60 Gaussians, 40 steps, 2 LODs) and no fallback images: 2 assets, 5 textures, about 8 KB.
Baking needs PyTorch and may differ by a few bits between PyTorch builds, so the seed is only
rebaked on request; every other file is built from the committed seed by changing one thing
and is rewritten byte for byte by every run (tests/test_fuzz_gltf.py checks that).

Every file is named after what is wrong with it; the prefix says what the reader does:

- ``seed_*``: the reader accepts it and every texture decodes;
- ``decode_*``: the reader accepts it; decoding some texture raises AssetFormatError or
  InputError (the defect is in the asset, or the map / channels do not fit the asset);
- ``unsupported_*``: the reader raises UnsupportedError (a glTF or GLB version other than 2);
- everything else: the reader raises InputError.
"""

from __future__ import annotations

import base64
import copy
import json
import struct
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent))

import fuzz_gltf_target as ft  # noqa: E402

from texgs.gltf import EXTENSION_NAME  # noqa: E402

SEED_NAME = "seed_sample_scene.glb"
SCENE = ROOT / "samples" / "scene" / "scene.gltf"


def bake_seed() -> bytes:
    """The sample scene baked with tiny settings and no fallback (needs PyTorch)."""
    import tempfile

    from texgs.bake.config import BakeConfig
    from texgs.gltf import bake_gltf

    cfg = BakeConfig(bpp=None, gaussians=60, steps=40, lod_levels=2)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seed.glb"
        bake_gltf(SCENE, out, cfg, fallback="none")
        return out.read_bytes()


def _glb(js: Any, blob: bytes | None) -> bytes:
    return ft.pack_glb(ft.dump_json(js), blob)


def _ext(js: dict, t: int = 0) -> dict:
    return js["textures"][t]["extensions"][EXTENSION_NAME]


def build(seed: bytes) -> dict[str, bytes]:
    """Every derived corpus file (name without suffix -> bytes) from the seed .glb."""
    parts = ft.split_glb(seed)
    assert parts is not None and parts[1] is not None, "the seed is not a GLB with a BIN chunk"
    base_js, blob = parts
    asset_view = base_js["bufferViews"][base_js["images"][0]["bufferView"]]
    json_len = struct.unpack_from("<I", seed, 12)[0]
    bin_at = 20 + json_len  # the BIN chunk's header

    def edit(fn: Callable[[dict], Any], new_blob: bytes | None = blob) -> bytes:
        js = copy.deepcopy(base_js)
        fn(js)
        return _glb(js, new_blob)

    def header(length: int | None = None, version: int = 2, magic: bytes = b"glTF") -> bytes:
        return struct.pack("<4sII", magic, version, len(seed) if length is None else length)

    out: dict[str, bytes] = {}
    # --- the GLB container ---------------------------------------------------------------
    out["bad_magic"] = header(magic=b"glTX") + seed[12:]
    out["unsupported_glb_version_1"] = header(version=1) + seed[12:]
    out["glb_length_past_the_end"] = header(length=len(seed) + 4) + seed[12:]
    out["glb_length_4294967295"] = header(length=0xFFFFFFFF) + seed[12:]
    out["glb_truncated_header"] = seed[:11]
    out["glb_header_only"] = header(length=12)
    out["glb_chunk_header_truncated"] = header(length=16) + seed[12:16]
    out["json_chunk_length_4294967280"] = seed[:12] + struct.pack("<I", 0xFFFFFFF0) + seed[16:]
    out["json_chunk_length_past_the_end"] = (seed[:12] + struct.pack("<I", len(seed)) +
                                             seed[16:])
    out["bin_chunk_length_past_the_end"] = (seed[:bin_at] + struct.pack("<I", len(blob) + 8) +
                                            seed[bin_at + 4:])
    short = seed[:bin_at] + struct.pack("<I", len(blob) - 64) + seed[bin_at + 4:-64]
    out["bin_chunk_truncated_buffer_longer"] = struct.pack("<4sII", b"glTF", 2, len(short)) + \
        short[12:]
    out["only_a_bin_chunk"] = (struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(blob)) +
                               struct.pack("<II", len(blob), ft.CHUNK_BIN) + blob)
    swapped = (struct.pack("<II", len(blob), ft.CHUNK_BIN) + blob +
               seed[12:bin_at])
    out["bin_chunk_before_json"] = struct.pack("<4sII", b"glTF", 2, 12 + len(swapped)) + \
        swapped
    two_json = seed[12:bin_at] * 2
    out["two_json_chunks"] = struct.pack("<4sII", b"glTF", 2, 12 + len(two_json)) + two_json
    out["no_bin_chunk_buffer_without_uri"] = _glb(base_js, None)
    out["buffer_bytelength_past_bin_chunk"] = edit(
        lambda js: js["buffers"][0].update(byteLength=len(blob) + 1))
    out["buffer_bytelength_negative"] = edit(lambda js: js["buffers"][0].update(byteLength=-1))
    out["buffer_external_uri_read_from_bytes"] = edit(
        lambda js: js["buffers"][0].update(uri="scene.bin"))
    out["buffer_uri_not_a_string"] = edit(lambda js: js["buffers"][0].update(uri=7))
    out["buffer_malformed_data_uri"] = edit(
        lambda js: js["buffers"][0].update(uri="data:application/octet-stream;base64,A"))
    out["buffers_not_an_array"] = edit(lambda js: js.update(buffers={"0": {}}))
    # --- the JSON --------------------------------------------------------------------------
    text = ft.dump_json(base_js)
    out["json_not_utf8"] = ft.pack_glb(text[:-1] + b"\xff}", blob)
    out["json_syntax_error"] = ft.pack_glb(text[:-1], blob)
    out["json_nesting_bomb_2000"] = ft.pack_glb(  # past Python's recursion limit
        text[:-1] + b',"extras":' + b"[" * 2000 + b"]" * 2000 + b"}", blob)
    out["json_nesting_65_levels"] = ft.pack_glb(
        text[:-1] + b',"extras":' + b"[" * 64 + b"]" * 64 + b"}", blob)
    out["json_nan_source"] = edit(lambda js: _ext(js).update(source=float("nan")))
    out["json_infinity_byte_offset"] = edit(
        lambda js: js["bufferViews"][0].update(byteOffset=float("inf")))
    out["json_integer_of_5000_digits"] = ft.pack_glb(
        text.replace(b'"source":0', b'"source":' + b"9" * 5000, 1), blob)
    out["json_top_level_array"] = ft.pack_glb(b"[" + text + b"]", blob)
    out["json_no_asset"] = edit(lambda js: js.pop("asset"))
    out["unsupported_asset_version_1"] = edit(lambda js: js["asset"].update(version="1.0"))
    out["unsupported_asset_version_not_a_string"] = edit(lambda js: js["asset"].update(version=2))
    # --- textures and the extension ----------------------------------------------------------
    out["textures_not_an_array"] = edit(lambda js: js.update(textures={"0": js["textures"][0]}))
    out["texture_not_an_object"] = edit(lambda js: js["textures"].__setitem__(1, 5))
    out["texture_extensions_not_an_object"] = edit(
        lambda js: js["textures"][0].update(extensions=[]))
    out["extension_not_an_object"] = edit(
        lambda js: js["textures"][0]["extensions"].update({EXTENSION_NAME: "source 0"}))
    for name, value in (("out_of_range", 2), ("2p32", 2 ** 32), ("negative", -1),
                        ("string", "0"), ("true", True), ("float", 0.0), ("null", None),
                        ("list", [0])):
        out[f"ext_source_{name}"] = edit(lambda js, v=value: _ext(js).update(source=v))
    out["ext_source_missing"] = edit(lambda js: _ext(js).pop("source"))
    for name, value in (("not_a_string", 5), ("unknown_kind", "kind99"), ("empty", ""),
                        ("null", None), ("upper_case", "ORM")):
        out[f"ext_map_{name}"] = edit(lambda js, v=value: _ext(js).update(map=v))
    out["ext_map_missing"] = edit(lambda js: _ext(js).pop("map"))
    for name, value in (("three_items", [0, 1, 2]), ("five_items", [0, 1, 2, -1, 0]),
                        ("component_4", [0, 1, 2, 4]), ("minus_2", [0, 1, 2, -2]),
                        ("string_item", [0, 1, 2, "3"]), ("bool_items", [True] * 4),
                        ("float_item", [0, 1, 2, 3.0]), ("not_a_list", "0123"),
                        ("null", None), ("huge_item", [0, 1, 2, 2 ** 64])):
        out[f"ext_channels_{name}"] = edit(lambda js, v=value: _ext(js).update(channels=v))
    out["texture_fallback_source_out_of_range"] = edit(
        lambda js: js["textures"][0].update(source=9))
    out["texture_fallback_source_string"] = edit(lambda js: js["textures"][0].update(source="a"))
    # --- images and bufferViews ----------------------------------------------------------------
    out["images_missing"] = edit(lambda js: js.pop("images"))
    out["images_not_an_array"] = edit(lambda js: js.update(images={"0": js["images"][0]}))
    out["image_not_an_object"] = edit(lambda js: js["images"].__setitem__(0, 15))
    out["image_mime_type_png"] = edit(lambda js: js["images"][0].update(mimeType="image/png"))
    out["image_mime_type_missing"] = edit(lambda js: js["images"][0].pop("mimeType"))
    out["image_neither_uri_nor_buffer_view"] = edit(lambda js: js["images"][0].pop("bufferView"))
    for name, value in (("out_of_range", 17), ("negative", -1), ("2p63", 2 ** 63),
                        ("string", "15"), ("float", 15.0)):
        out[f"image_buffer_view_{name}"] = edit(
            lambda js, v=value: js["images"][0].update(bufferView=v))
    out["image_external_uri_read_from_bytes"] = edit(
        lambda js: (js["images"][0].pop("bufferView"), js["images"][0].update(uri="a.tgs")))
    out["bufferviews_not_an_array"] = edit(lambda js: js.update(bufferViews={}))
    out["bufferview_not_an_object"] = edit(
        lambda js: js["bufferViews"].__setitem__(js["images"][0]["bufferView"], []))

    def view(**fields: Any) -> Callable[[dict], Any]:
        return lambda js: js["bufferViews"][js["images"][0]["bufferView"]].update(**fields)

    out["bufferview_past_the_end"] = edit(view(byteLength=len(blob)))
    out["bufferview_offset_past_the_end"] = edit(view(byteOffset=len(blob) + 1))
    out["bufferview_offset_negative"] = edit(view(byteOffset=-4))
    out["bufferview_length_negative"] = edit(view(byteLength=-1))
    out["bufferview_length_2p64"] = edit(view(byteLength=2 ** 64))
    out["bufferview_offset_and_length_2p63"] = edit(view(byteOffset=2 ** 63, byteLength=2 ** 63))
    out["bufferview_buffer_out_of_range"] = edit(view(buffer=1))
    out["bufferview_buffer_negative"] = edit(view(buffer=-1))
    out["bufferview_buffer_string"] = edit(view(buffer="0"))
    # --- accepted by the reader, refused by the decode -----------------------------------------
    corrupt = bytearray(blob)
    corrupt[asset_view["byteOffset"] + 40] ^= 0x10  # inside the header: a CRC mismatch
    out["decode_asset_bytes_corrupt"] = _glb(base_js, bytes(corrupt))
    out["decode_asset_view_truncated"] = edit(view(byteLength=asset_view["byteLength"] // 2))
    out["decode_map_not_in_the_asset"] = edit(lambda js: _ext(js).update(map="emissive"))
    out["decode_channels_read_alpha_of_an_rgb_map"] = edit(
        lambda js: _ext(js, 2).update(channels=[0, 1, 2, 3]))
    # --- accepted ------------------------------------------------------------------------------
    data_uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
    out["seed_sample_scene_as_gltf_json_with_data_uri"] = json.dumps(
        dict(base_js, buffers=[{"byteLength": len(blob), "uri": data_uri}])).encode()
    chunks = seed[12:] + struct.pack("<II", 4, 0x12345678) + b"\0\0\0\0"
    out["seed_unknown_chunk_after_bin"] = struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + \
        chunks
    out["seed_channels_default"] = edit(lambda js: _ext(js).pop("channels"))
    out["seed_other_texture_extension_ignored"] = edit(
        lambda js: js["textures"].append({"extensions": {"EXT_other": {"source": 99}}}))
    return out


def suffix(name: str, data: bytes) -> str:
    """.glb for GLB-like files, .gltf for JSON ones."""
    return ".gltf" if data[:1] in (b"{", b"[") else ".glb"


def main(argv: list[str]) -> int:
    seed_path = HERE / SEED_NAME
    if "--bake" in argv:
        seed_path.write_bytes(bake_seed())
    seed = seed_path.read_bytes()
    for old in HERE.iterdir():
        if old.suffix in (".glb", ".gltf") and old.name != SEED_NAME:
            old.unlink()
    for name, data in build(seed).items():
        (HERE / f"{name}{suffix(name, data)}").write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Regenerate the golden test vectors: small assets and their expected decoded texels.

    python tests/golden/make_golden.py

Each case is an asset built from seeded random integer fields (no baker involved) and the
float32 texels the NumPy reference decoder gives for it: the whole texture at every LOD
prefix (`NAME.lodL.npy`, [H, W, C]) and, for the material-set case, every map at its own
size in its own encoding (`NAME.mapI.npy`, [h, w, n]). Every decoder is tested against these files; the torch
reference renderer, an independent implementation, is checked against them too.
Only regenerate when the format or the decoding rules change on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from texgs import format as fmt  # noqa: E402
from texgs.decode import decode_maps, decode_texture  # noqa: E402

CASES = {
    # name: (width, height, channels, lod_counts, address_x, address_y, top_k, tile)
    "rgb_clamp": (32, 24, 3, [16, 16, 9], fmt.ADDRESS_CLAMP, fmt.ADDRESS_CLAMP, 5, 16),
    "rgba_repeat": (40, 40, 4, [32, 21], fmt.ADDRESS_REPEAT, fmt.ADDRESS_REPEAT, 10, 8),
    "gray_repeat_x": (17, 33, 1, [8, 8, 8, 5], fmt.ADDRESS_REPEAT, fmt.ADDRESS_CLAMP, 1, 8),
    "set_mixed": (32, 24, 11, [32, 32, 7], fmt.ADDRESS_REPEAT, fmt.ADDRESS_CLAMP, 5, 8),
}


def set_tables() -> tuple[list[fmt.MapInfo], list[fmt.ChannelInfo]]:
    """A material set: RGBA base colour (6-bit alpha), a half-size normal map (x, y stored,
    z rebuilt, constant alpha), a gloss map with one stored and two constant channels."""
    B, N, G = fmt.MAP_BASECOLOR, fmt.MAP_NORMAL, fmt.MAP_GLOSS
    S, L = fmt.ENCODING_SRGB, fmt.ENCODING_LINEAR
    maps = [fmt.MapInfo(B, 32, 24, 0, 4, fmt.MAP_FLAG_ALPHA),
            fmt.MapInfo(N, 16, 12, 4, 4, fmt.MAP_FLAG_NORMAL_Z),
            fmt.MapInfo(G, 32, 24, 8, 3)]
    chans = [fmt.ChannelInfo(B, 0, S, 8, 0.0, 1.0, 0.5), fmt.ChannelInfo(B, 1, S, 8, -0.2, 1.2, 0.4),
             fmt.ChannelInfo(B, 2, S, 7, 0.1, 0.9, 0.3), fmt.ChannelInfo(B, 3, L, 6, 0.0, 1.0, 1.0),
             fmt.ChannelInfo(N, 0, L, 8, 0.1, 0.9, 0.5), fmt.ChannelInfo(N, 1, L, 8, 0.0, 1.0, 0.5),
             fmt.ChannelInfo(N, 2, L, 0, 1.0, 1.0, 1.0), fmt.ChannelInfo(N, 3, L, 0, 1.0, 1.0, 1.0),
             fmt.ChannelInfo(G, 0, L, 8, 0.0, 1.0, 0.25), fmt.ChannelInfo(G, 1, L, 0, 0.0, 0.0, 0.0),
             fmt.ChannelInfo(G, 2, L, 0, 0.0, 0.0, 0.0)]
    return maps, chans


def make_case(name: str, seed: int) -> fmt.Asset:
    w, h, c, counts, ax, ay, k, tile = CASES[name]
    rng = np.random.default_rng(seed)
    maps: list[fmt.MapInfo] = []
    if name.startswith("set"):
        maps, chans = set_tables()
    else:
        chans = [fmt.ChannelInfo(fmt.MAP_GENERIC, i, fmt.ENCODING_LINEAR, 8, -0.1, 1.1,
                                 float(np.float32(0.25 + 0.1 * i))) for i in range(c)]
    layout = fmt.RecordLayout(12, 8, 8, tuple(ch.bits for ch in chans))
    n = sum(counts)
    fields = np.zeros((n, 5 + c), np.uint32)
    fields[:, 0:2] = rng.integers(0, 1 << 12, (n, 2))
    fields[:, 2:5] = rng.integers(0, 256, (n, 3))
    for j, ch in enumerate(chans):
        fields[:, 5 + j] = rng.integers(0, 1 << ch.bits, n)
    return fmt.Asset(width=w, height=h, channels=chans, layout=layout, log2_scale_min=-0.5,
                     log2_scale_max=2.5, fields=fields, lod_counts=counts, top_k=k,
                     tile_size=tile, address_x=ax, address_y=ay, maps=maps)


def main() -> None:
    for seed, name in enumerate(CASES):
        data = fmt.write_asset(make_case(name, seed))
        (HERE / f"{name}.tgs").write_bytes(data)
        asset = fmt.read_asset(data)
        for lod in range(1, len(asset.lod_counts) + 1):
            np.save(HERE / f"{name}.lod{lod}.npy", decode_texture(asset, lod=lod))
        if asset.maps and len(asset.maps) > 1:
            for i, img in enumerate(decode_maps(asset)):
                np.save(HERE / f"{name}.map{i}.npy", img)


if __name__ == "__main__":
    main()

"""Checks of the tile-cooperative decode shared by the GLSL and HLSL test files: the same
assertions on either runner (``GlslDecoder`` / ``HlslDecoder``, both with ``decode_tiles``
and ``decode_compute``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from texgs import format as fmt
from texgs import layout
from texgs.decode import decode_texture

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.tgs"))

# (tile, batch, colour cache): the default; small tiles; batches of 3 candidates (several
# batches per tile, blend from the records); a colour cache too small for any list
TILE_CASES = [(16, 256, 2048), (4, 256, 2048), (8, 3, 2048), (8, 256, 8)]


def check_equals_per_texel_decode(dec, name: str) -> None:
    """The tile's candidates unpacked once into shared memory give the same bits as the
    per-texel compute decode with the same index, for every LOD prefix, and the reference's
    values; the candidates reported are the tile list's length."""
    asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
    for lod in range(1, len(asset.lod_counts) + 1):
        ref = np.load(GOLDEN / f"{name}.lod{lod}.npy")
        for tile, batch, cache in TILE_CASES:
            vals, cand = dec.decode_tiles(asset, lod=lod, tile=tile, batch=batch,
                                          color_cache=cache)
            per_texel, per_cand = dec.decode_compute(asset, lod=lod, tile=tile)
            np.testing.assert_array_equal(vals, per_texel)
            np.testing.assert_array_equal(cand, per_cand)
            assert np.abs(vals - ref).max() < 1e-4


def check_bake_and_finished_map(dec) -> None:
    """A real bake (longer lists than the golden assets; 8-bit output within 1/255 of the
    reference) and the golden set's maps of the asset's own size, finished in the shader."""
    pytest.importorskip("torch")
    from conftest import sample_crop
    from texgs.bake import BakeConfig, bake_array
    from texgs.decode import decode_maps
    from texgs.images import channel_infos_for

    img = sample_crop("sign", 96, 80, 80)
    asset = bake_array(img, channel_infos_for(3), BakeConfig(steps=40, bpp=2.0)).asset
    to8 = lambda x: np.round(np.clip(x, 0, 1) * 255)  # noqa: E731
    ref = decode_texture(asset)
    for batch in (256, 5):
        vals, _ = dec.decode_tiles(asset, batch=batch)
        assert np.abs(to8(vals) - to8(ref)).max() <= 1
        assert np.abs(vals - ref).max() < 1e-4
    st = fmt.read_asset_file(GOLDEN / "set_mixed.tgs")
    for index, m in enumerate(st.map_table()):
        if (m.width, m.height) != (st.width, st.height):
            continue  # the tile decode is at the asset's own size
        vals, _ = dec.decode_tiles(st, finish=layout.map_finish_words(st, index))
        got = vals[..., m.first_channel:m.first_channel + m.channel_count]
        assert np.abs(got - decode_maps(st)[index]).max() < 1e-5


def check_exact_k_build_gives_same_bits(cls) -> None:
    """The shaders size their top-K arrays by TEXGS_MAX_K and rank with the asset's K: a
    build with TEXGS_MAX_K equal to the asset's K (1, 5 and 10 among the golden assets; what
    docs/RUNTIME.md tells engines to compile) gives the same bits as the default (16) in the
    per-texel, filtered and tile-cooperative decodes."""
    generic = cls()
    exact: dict[int, object] = {}
    for name in GOLDEN_NAMES:
        asset = fmt.read_asset_file(GOLDEN / f"{name}.tgs")
        k = asset.top_k
        if k not in exact:
            exact[k] = cls(max_k=k)
        size = (max(1, asset.width * 2 // 3), max(1, asset.height * 2 // 3))
        for kw in ({}, {"size": size, "filtered": True}):
            np.testing.assert_array_equal(exact[k].decode_compute(asset, **kw)[0],
                                          generic.decode_compute(asset, **kw)[0])
        np.testing.assert_array_equal(exact[k].decode_tiles(asset)[0],
                                      generic.decode_tiles(asset)[0])
        np.testing.assert_array_equal(exact[k].decode_tiles(asset, tile=8, batch=3)[0],
                                      generic.decode_tiles(asset, tile=8, batch=3)[0])

"""The Rice-coded tile lists (texgs.index_coding; docs/RUNTIME.md "Rice-coded lists"):
read back bit by bit from the spec, round trips, malformed streams, and the size."""

from __future__ import annotations

import numpy as np
import pytest

from texgs import layout as L
from texgs.index_coding import decode_tile_lists, encode_rice_lists, pack_bit_fields
from texgs.runtime import build_gpu_buffers


def _random_lists(rng, tiles: int, n: int, max_len: int, spread: int) -> tuple:
    offsets, ids = [0], []
    for _ in range(tiles):
        m = int(rng.integers(0, max_len + 1))
        lo = int(rng.integers(0, n))
        pool = np.arange(lo, min(n, lo + spread))
        pick = np.sort(rng.choice(pool, size=min(m, len(pool)), replace=False))
        ids.extend(pick.tolist())
        offsets.append(len(ids))
    return np.array(offsets, np.int64), np.array(ids, np.int64)


def _read_spec(offsets_bits, words, id_bits, count_bits):
    """The lists read as docs/RUNTIME.md words it, from one big integer (independent of the
    module's reader)."""
    stream = int.from_bytes(np.asarray(words, "<u4").tobytes(), "little")
    field = lambda pos, w: (stream >> pos) & ((1 << w) - 1)  # noqa: E731
    lists = []
    for t in range(len(offsets_bits) - 1):
        pos = int(offsets_bits[t])
        n = field(pos, count_bits)
        pos += count_bits
        out = []
        if n:
            k = field(pos, L.RICE_K_BITS)
            pos += L.RICE_K_BITS
            cur = field(pos, id_bits)
            pos += id_bits
            out.append(cur)
            assert k <= 32 - L.RICE_ESCAPE
            for _ in range(n - 1):
                q = 0
                while not (stream >> (pos + q)) & 1:
                    q += 1
                assert q <= L.RICE_ESCAPE, "more zero bits than an escape"
                if q == L.RICE_ESCAPE:  # escape: the gap in ID_BITS bits
                    gap = field(pos + q + 1, id_bits)
                    pos += q + 1 + id_bits
                else:
                    assert q + 1 + k <= 32, "a code wider than one 32-bit window"
                    gap = (q << k) | field(pos + q + 1, k)
                    pos += q + 1 + k
                cur += 1 + gap
                out.append(cur)
        assert pos == int(offsets_bits[t + 1])
        lists.append(out)
    return lists


@pytest.mark.parametrize("seed,n,spread,id_bits", [(0, 300, 40, 9), (1, 5000, 5000, 13),
                                                   (2, 1 << 20, 1 << 20, 20),
                                                   (3, 1 << 24, 1 << 24, 24)])
def test_rice_lists_read_back_as_specified(seed, n, spread, id_bits):
    rng = np.random.default_rng(seed)
    offsets, ids = _random_lists(rng, 57, n, 30, spread)
    off_bits, words, cb = encode_rice_lists(offsets, ids, id_bits)
    assert off_bits.dtype == np.uint32 and words.dtype == np.uint32 and words[-1] == 0
    assert cb == max(1, int(np.diff(offsets).max()).bit_length())
    want = [ids[offsets[t]:offsets[t + 1]].tolist() for t in range(len(offsets) - 1)]
    assert _read_spec(off_bits, words, id_bits, cb) == want
    got_off, got_ids = decode_tile_lists(off_bits, words, L.INDEX_CODING_RICE, id_bits, cb,
                                         count=n)
    np.testing.assert_array_equal(got_off, offsets)
    np.testing.assert_array_equal(got_ids, ids)


def test_rice_codes_handle_edge_lists():
    """Empty lists, single ids, the largest id, adjacent ids (gap 0) and gaps at powers of
    two (escaped); every tile's k is the cheapest."""
    id_bits = 24
    top = (1 << id_bits) - 1
    lists = [[], [0], [top], [0, top], [5, 6, 7, 8], [], [1, 2 ** 10 + 2, 2 ** 20 + 3, top],
             list(range(100, 164)), [3, 5]]
    offsets = np.cumsum([0] + [len(x) for x in lists])
    ids = np.array(sum(lists, []), np.int64)
    off_bits, words, cb = encode_rice_lists(offsets, ids, id_bits)
    assert _read_spec(off_bits, words, id_bits, cb) == lists
    # the cheapest k: adjacent ids cost one bit each (k = 0)
    t = 7
    bits = int(off_bits[t + 1]) - int(off_bits[t])
    assert bits == cb + L.RICE_K_BITS + id_bits + 63


def test_rice_rejects_unsorted_and_too_wide():
    with pytest.raises(ValueError, match="ascending"):
        encode_rice_lists(np.array([0, 3]), np.array([4, 2, 9]), 8)
    with pytest.raises(ValueError, match="fit"):
        encode_rice_lists(np.array([0, 1]), np.array([256]), 8)


def test_decode_rejects_malformed_streams():
    rng = np.random.default_rng(4)
    offsets, ids = _random_lists(rng, 20, 900, 25, 200)
    off_bits, words, cb = encode_rice_lists(offsets, ids, 10)
    with pytest.raises(ValueError, match="past the end"):
        decode_tile_lists(off_bits, words[: len(words) // 2], L.INDEX_CODING_RICE, 10, cb)
    bad = off_bits.copy()
    bad[5] += 1
    with pytest.raises(ValueError):
        decode_tile_lists(bad, words, L.INDEX_CODING_RICE, 10, cb)
    with pytest.raises(ValueError, match="COUNT"):
        decode_tile_lists(off_bits, words, L.INDEX_CODING_RICE, 10, cb, count=int(ids.max()))
    zeros = np.zeros_like(words)
    zeros[0] = words[0]
    with pytest.raises(ValueError):
        decode_tile_lists(off_bits, zeros, L.INDEX_CODING_RICE, 10, cb)
    with pytest.raises(ValueError, match="coding"):
        decode_tile_lists(off_bits, words, 7, 10, cb)


def test_pack_bit_fields_matches_a_big_integer():
    rng = np.random.default_rng(9)
    widths = rng.integers(0, 33, 500)
    values = np.array([int(rng.integers(0, 1 << int(w))) if w else 0 for w in widths],
                      np.uint64)
    words = pack_bit_fields(values, widths)
    want, pos = 0, 0
    for v, w in zip(values.tolist(), widths.tolist()):
        want |= v << pos
        pos += w
    assert words[-1] == 0 and len(words) == (pos + 31) // 32 + 1
    assert int.from_bytes(words.astype("<u4").tobytes(), "little") == want
    with pytest.raises(ValueError):
        pack_bit_fields(np.array([4], np.uint64), np.array([2]))


def test_gpu_buffers_in_both_codings_hold_the_same_lists():
    """build_gpu_buffers: the Rice index decodes to the fixed one's lists and is smaller on
    a real-sized random asset; meta says which coding and the length width."""
    from tests.test_decode import _random_asset

    asset = _random_asset(11, 96, 80, 1400, 0, 5, smin=-0.5, smax=2.5)
    for tile in (8, 16, 32):
        rice = build_gpu_buffers(asset, tile=tile, coding=L.INDEX_CODING_RICE)
        fixed = build_gpu_buffers(asset, tile=tile, coding=L.INDEX_CODING_FIXED)
        assert rice.meta[L.META_INDEX_CODING] == L.INDEX_CODING_RICE
        assert fixed.meta[L.META_INDEX_CODING] == L.INDEX_CODING_FIXED
        for b in (rice, fixed):
            off, ids = decode_tile_lists(b.tile_offsets, b.tile_ids,
                                         int(b.meta[L.META_INDEX_CODING]), b.id_bits,
                                         int(b.meta[L.META_COUNT_BITS]),
                                         count=int(b.meta[L.META_COUNT]))
            np.testing.assert_array_equal(off, fixed.index.offsets)
            np.testing.assert_array_equal(ids, fixed.index.ids)
        assert rice.index_bytes < fixed.index_bytes, tile
    with pytest.raises(ValueError, match="coding"):
        build_gpu_buffers(asset, coding=9)


def test_escapes_keep_k_small_for_runs_with_a_few_large_jumps():
    """Runs of adjacent ids with a few jumps of thousands between them (a tile's list of
    Morton-ordered LOD chunks): k stays 0, each jump is one escape (RICE_ESCAPE + 1 +
    ID_BITS bits) and every adjacent id costs one bit."""
    id_bits = 14
    runs = [list(range(a, a + 20)) for a in (10, 3000, 7000, 12000)]
    ids = np.array(sum(runs, []), np.int64)
    offsets = np.array([0, len(ids)])
    off_bits, words, cb = encode_rice_lists(offsets, ids, id_bits)
    assert _read_spec(off_bits, words, id_bits, cb) == [ids.tolist()]
    k = int(words[0] >> cb) & ((1 << L.RICE_K_BITS) - 1)
    assert k == 0
    bits = int(off_bits[1])
    assert bits == cb + L.RICE_K_BITS + id_bits + 3 * (L.RICE_ESCAPE + 1 + id_bits) + 76
    got = decode_tile_lists(off_bits, words, L.INDEX_CODING_RICE, id_bits, cb)[1]
    np.testing.assert_array_equal(got, ids)


def test_decode_rejects_a_code_past_the_escape_and_a_large_k():
    id_bits = 10
    offsets, ids = np.array([0, 3]), np.array([1, 2, 900], np.int64)
    off_bits, words, cb = encode_rice_lists(offsets, ids, id_bits)
    pos = cb + L.RICE_K_BITS + id_bits + 1  # past the first id and the gap-0 code ("1")
    bad = words.copy()
    bad[0] &= ~np.uint32(1 << (pos + L.RICE_ESCAPE))  # the escape's stop bit cleared
    with pytest.raises(ValueError, match="zero bits|past the end"):
        decode_tile_lists(off_bits, bad, L.INDEX_CODING_RICE, id_bits, cb)
    big_k = words.copy()
    big_k[0] |= np.uint32(((1 << L.RICE_K_BITS) - 1) << cb)  # k = 31
    with pytest.raises(ValueError, match="Rice parameter"):
        decode_tile_lists(off_bits, big_k, L.INDEX_CODING_RICE, id_bits, cb)

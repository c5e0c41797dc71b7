"""Record order inside LOD chunks (texgs.record_order, docs/FORMAT.md "Record order"): the
Morton codes against a bit-by-bit interleave, the chunk permutation, and the baker writing
its chunks in that order without changing what they hold."""

from __future__ import annotations

import numpy as np
import pytest

from texgs import format as fmt
from texgs.record_order import (chunk_morton_order, is_morton_ordered, morton_codes,
                                morton_decode)


def _interleave(x: int, y: int) -> int:
    """The Z-order code one bit at a time (the independent expectation)."""
    m = 0
    for i in range(24):
        m |= ((x >> i) & 1) << (2 * i) | ((y >> i) & 1) << (2 * i + 1)
    return m


def test_morton_codes_interleave_the_bits_and_decode_back():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(0, 1 << 24, 500), [0, (1 << 24) - 1, 1, 0]])
    y = np.concatenate([rng.integers(0, 1 << 24, 500), [0, (1 << 24) - 1, 0, 1]])
    m = morton_codes(x.astype(np.uint32), y.astype(np.uint32))
    assert [int(v) for v in m] == [_interleave(int(a), int(b)) for a, b in zip(x, y)]
    dx, dy = morton_decode(m)
    np.testing.assert_array_equal(dx, x)
    np.testing.assert_array_equal(dy, y)


def test_chunk_order_sorts_each_chunk_and_keeps_its_records():
    rng = np.random.default_rng(1)
    counts = [50, 70, 30]
    f = rng.integers(0, 4096, (150, 8)).astype(np.uint32)
    order = chunk_morton_order(f, counts)
    assert sorted(order.tolist()) == list(range(150))
    start = 0
    for n in counts:
        part = order[start:start + n]
        assert part.min() >= start and part.max() < start + n  # nobody leaves its chunk
        assert is_morton_ordered(f[part])
        start += n
    assert not is_morton_ordered(f[:50])  # random records are not


def test_baked_chunks_are_in_morton_order():
    pytest.importorskip("torch")
    from conftest import sample_crop

    from texgs.bake import BakeConfig, bake_array
    from texgs.images import channel_infos_for

    r = bake_array(sample_crop("bricks", 64), channel_infos_for(3), BakeConfig(bpp=2.0, steps=10))
    a = fmt.read_asset(r.data)
    start = 0
    assert len(a.lod_counts) > 1
    for n in a.lod_counts:
        assert is_morton_ordered(a.fields[start:start + n])
        start += n

"""The order of the records inside each LOD chunk (docs/FORMAT.md "Record order").

Any order of the records inside a chunk is a valid asset: a chunk is a set of Gaussians
(decoders break rank ties by id, so an order decides only which of two Gaussians at exactly
the same ``q`` ranks first). The baker writes each chunk in **Morton order** of the
quantized centres: records sorted by the Z-order code that interleaves the bits of the x and
y position fields (x in the even bits). Neighbours in the file are then neighbours on the
texture, which the download container (texgs.package, packet method 2) turns into fewer
bits: it codes each centre as the gap to the previous Morton code and each other field as
the difference to the previous record's where that is smaller.

NumPy only.
"""

from __future__ import annotations

import numpy as np

def _spread(v: np.ndarray) -> np.ndarray:
    """uint64 with bit i of ``v`` (below 2^24) moved to bit 2 i."""
    x = v.astype(np.uint64) & np.uint64(0xFFFFFF)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                        (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333),
                        (1, 0x5555555555555555)):
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    return x


def _gather(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_spread` on the even bits of ``m``: uint64 below 2^24."""
    x = m.astype(np.uint64) & np.uint64(0x5555555555555555)
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F),
                        (4, 0x00FF00FF00FF00FF), (8, 0x0000FFFF0000FFFF),
                        (16, 0x00000000FFFFFFFF)):
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    return x


def morton_codes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """uint64 [N]: the Z-order codes of integer positions (each below 2^24): bit i of x at
    bit 2 i, bit i of y at bit 2 i + 1."""
    return _spread(x) | (_spread(y) << np.uint64(1))


def morton_decode(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) uint64 [N] of Morton codes: the inverse of :func:`morton_codes`."""
    codes = codes.astype(np.uint64)
    return _gather(codes), _gather(codes >> np.uint64(1))


def chunk_morton_order(fields: np.ndarray, lod_counts: list[int]) -> np.ndarray:
    """int64 [N]: a permutation of the records that sorts each LOD chunk by the Morton code
    of its position fields (columns 0 and 1 of ``fields``), ties kept in their order; every
    record stays in its chunk."""
    codes = morton_codes(fields[:, 0], fields[:, 1])
    order = np.empty(fields.shape[0], np.int64)
    start = 0
    for n in lod_counts:
        order[start:start + n] = start + np.argsort(codes[start:start + n], kind="stable")
        start += n
    return order


def is_morton_ordered(fields: np.ndarray) -> bool:
    """Whether the records of one chunk (``fields`` uint [n, F]) are in non-decreasing
    Morton order of their positions."""
    codes = morton_codes(fields[:, 0], fields[:, 1])
    return bool(np.all(codes[1:] >= codes[:-1]))


def chunks_in_morton_order(asset) -> bool:
    """Whether every LOD chunk of a :class:`texgs.format.Asset` is in Morton order."""
    start = 0
    for n in asset.lod_counts:
        if not is_morton_ordered(asset.fields[start:start + n]):
            return False
        start += n
    return True


def in_morton_order(asset):
    """The same :class:`texgs.format.Asset` with each LOD chunk in Morton order (the same
    Gaussians in every chunk; what the baker writes)."""
    import dataclasses

    return dataclasses.replace(asset,
                               fields=asset.fields[chunk_morton_order(asset.fields,
                                                                      asset.lod_counts)])

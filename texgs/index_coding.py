"""The two encodings of the tile lists in the ``tile_ids`` buffer (docs/RUNTIME.md "Tile
index", "Rice-coded lists"). NumPy only.

A tile index is per-tile lists of Gaussian ids in ascending order (``TileIndex``: offsets
int64 [T + 1], ids [E]). On the GPU it is two buffers of uint32 words, ``tile_offsets`` and
``tile_ids``, in one of two codings (meta word ``INDEX_CODING``):

- ``INDEX_CODING_FIXED`` (0): ``tile_offsets[t]`` is the first entry of tile ``t``; entry
  ``j`` is the ``ID_BITS`` bits from bit ``j * ID_BITS`` of the ``tile_ids`` bitstream.
- ``INDEX_CODING_RICE`` (1): ``tile_offsets[t]`` is the *bit* offset of tile ``t``'s list
  in the bitstream (``tile_offsets[T]`` its total length). A list is its length
  (``COUNT_BITS`` bits), then, when not empty, a Rice parameter ``k`` (``RICE_K_BITS``
  bits, at most ``32 - RICE_ESCAPE``), the first id (``ID_BITS`` bits) and, for every later
  id, the gap ``g = id - prev - 1``: where ``g >> k`` is below ``RICE_ESCAPE``, as ``g >> k``
  zero bits, a one bit and the low ``k`` bits of ``g`` (at most 32 bits: one window);
  otherwise as an escape, ``RICE_ESCAPE`` zero bits and a one bit, then ``g`` in
  ``ID_BITS`` bits. The encoder picks per list the ``k`` of fewest bits.

Bitstreams are little-endian: bit ``b`` is bit ``b % 32`` of word ``b // 32``, each field
least significant bit first; both buffers end with one zero word so that a read may touch
the word after a field.
"""

from __future__ import annotations

import numpy as np

from .layout import INDEX_CODING_FIXED, INDEX_CODING_RICE, RICE_ESCAPE, RICE_K_BITS

MAX_CODE_BITS = 32  # one Rice code (unary quotient, its stop bit and k low bits) at most
MAX_RICE_K = MAX_CODE_BITS - RICE_ESCAPE  # so that every code below the escape fits 32 bits


def count_bits_for(max_count: int) -> int:
    """Width of a list-length field that holds every length up to ``max_count``."""
    return max(1, int(max_count).bit_length())


def pack_bit_fields(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Fields of ``widths`` bits (0..32 each; ``values`` below ``2**width``) one after
    another in a little-endian bitstream -> uint32 words [ceil(total / 32) + 1] (the last
    word is padding, zero)."""
    values = np.asarray(values, np.uint64)
    widths = np.asarray(widths, np.int64)
    if values.shape != widths.shape:
        raise ValueError("values and widths differ in shape")
    if np.any((widths < 0) | (widths > 32)):
        raise ValueError("field widths must be 0..32")
    if np.any(values >> widths.astype(np.uint64)):
        raise ValueError("a value does not fit its field width")
    pos = np.concatenate([[0], np.cumsum(widths)])
    total = int(pos[-1])
    words = np.zeros((total + 31) // 32 + 2, np.uint64)
    start = pos[:-1]
    word = start >> 5
    shifted = values << (start & 31).astype(np.uint64)  # at most 32 + 31 bits
    np.add.at(words, word, shifted & np.uint64(0xFFFFFFFF))
    np.add.at(words, word + 1, shifted >> np.uint64(32))
    return words[: (total + 31) // 32 + 1].astype(np.uint32)


def _rice_choice(gaps: np.ndarray, tile_of_gap: np.ndarray, tiles: int,
                 id_bits: int) -> np.ndarray:
    """Per tile the Rice parameter k (0..MAX_RICE_K) of fewest bits, gaps of RICE_ESCAPE
    or more quotients escaped (RICE_ESCAPE + 1 + id_bits bits) -> k int64 [tiles]."""
    best_bits = np.full(tiles, np.iinfo(np.int64).max, np.int64)
    best_k = np.zeros(tiles, np.int64)
    for k in range(MAX_RICE_K + 1):
        q = gaps >> k
        w = np.where(q < RICE_ESCAPE, q + 1 + k, RICE_ESCAPE + 1 + id_bits)
        bits = np.bincount(tile_of_gap, weights=w, minlength=tiles).astype(np.int64)
        better = bits < best_bits
        best_bits[better] = bits[better]
        best_k[better] = k
    return best_k


def encode_rice_lists(offsets: np.ndarray, ids: np.ndarray,
                      id_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rice-code per-tile lists (ids ascending within each list, each below
    ``2**id_bits``) -> (tile_offsets uint32 [T + 1] bit offsets, tile_ids uint32 words,
    count_bits)."""
    offsets = np.asarray(offsets, np.int64)
    ids = np.asarray(ids, np.int64)
    tiles = len(offsets) - 1
    counts = np.diff(offsets)
    cb = count_bits_for(counts.max() if tiles else 0)
    tile_of = np.repeat(np.arange(tiles), counts)
    first = np.zeros(len(ids), bool)
    first[offsets[:-1][counts > 0]] = True
    if len(ids) and (ids.min() < 0 or ids.max() >= 1 << id_bits):
        raise ValueError(f"ids do not fit {id_bits} bits")
    gaps_all = np.zeros(len(ids), np.int64)
    gaps_all[1:] = ids[1:] - ids[:-1] - 1
    if np.any(gaps_all[~first] < 0):
        raise ValueError("a tile list is not in strictly ascending order")
    later = ~first
    g = gaps_all[later]
    k = _rice_choice(g, tile_of[later], tiles, id_bits)
    kl = k[tile_of[later]]
    q = g >> kl
    rem = g & ((np.int64(1) << kl) - 1)
    esc = q >= RICE_ESCAPE
    # Slots: per tile a count field and a k field, then two fields per entry (the first id:
    # the id and nothing; a code: its unary part with the remainder, and for an escape the
    # gap itself).
    nslots = 2 * tiles + 2 * len(ids)
    values = np.zeros(nslots, np.uint64)
    widths = np.zeros(nslots, np.int64)
    head = 2 * np.arange(tiles) + 2 * offsets[:-1]
    values[head] = counts
    widths[head] = cb
    nonempty = counts > 0
    values[head[nonempty] + 1] = k[nonempty]
    widths[head[nonempty] + 1] = RICE_K_BITS
    slot = 2 * tile_of + 2 * np.arange(len(ids)) + 2
    values[slot[first]] = ids[first]
    widths[slot[first]] = id_bits
    sl = slot[later]
    qn = np.where(esc, 0, q)  # the normal codes' quotients (escapes: unused)
    values[sl] = np.where(esc, np.uint64(1) << np.uint64(RICE_ESCAPE),
                          (np.uint64(1) << qn.astype(np.uint64))
                          | (rem.astype(np.uint64) << (qn + 1).astype(np.uint64)))
    widths[sl] = np.where(esc, RICE_ESCAPE + 1, qn + 1 + kl)
    values[sl[esc] + 1] = g[esc]
    widths[sl[esc] + 1] = id_bits
    words = pack_bit_fields(values, widths)
    bitpos = np.concatenate([[0], np.cumsum(widths)])
    tile_offsets = np.concatenate([bitpos[head], bitpos[-1:]]).astype(np.uint32)
    if bitpos[-1] >= 1 << 32:
        raise ValueError("the coded tile lists exceed 2^32 bits")
    return tile_offsets, words, cb


class _Bits:
    """Reads fields from a little-endian uint32 bitstream, checking its end."""

    def __init__(self, words: np.ndarray, limit_bits: int):
        self.words = [int(w) for w in np.asarray(words, np.uint32)]
        self.limit = limit_bits

    def window(self, pos: int) -> int:
        """Bits [pos, pos + 32) as an int (bits past the end read as zero)."""
        w, s = pos >> 5, pos & 31
        lo = self.words[w] if w < len(self.words) else 0
        hi = self.words[w + 1] if w + 1 < len(self.words) else 0
        return ((lo | (hi << 32)) >> s) & 0xFFFFFFFF

    def field(self, pos: int, width: int) -> int:
        if pos + width > self.limit:
            raise ValueError(f"a tile list runs past the end of tile_ids (bit {pos + width})")
        return self.window(pos) & ((1 << width) - 1)


def decode_tile_lists(tile_offsets: np.ndarray, tile_ids: np.ndarray, coding: int,
                      id_bits: int, count_bits: int = 0,
                      count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The lists a decoder reads from the two buffers -> (offsets int64 [T + 1], ids int64
    [E]). Raises ValueError on anything a decoder could not read: offsets out of order or
    past the stream, a code over 32 bits, ids at or above ``count`` (when given)."""
    tile_offsets = np.asarray(tile_offsets, np.int64)
    tiles = len(tile_offsets) - 1
    if coding == INDEX_CODING_FIXED:
        if np.any(np.diff(tile_offsets) < 0) or tile_offsets[0] != 0:
            raise ValueError("tile_offsets are not ascending from 0")
        e = int(tile_offsets[-1])
        if (e * id_bits + 31) // 32 > len(tile_ids):
            raise ValueError("tile_ids is shorter than the lists")
        from .format import unpack_fields

        ids = unpack_fields(np.asarray(tile_ids, np.uint32), e, (id_bits,))[:, 0]
        return tile_offsets, ids.astype(np.int64)
    if coding != INDEX_CODING_RICE:
        raise ValueError(f"unknown index coding {coding}")
    if not 1 <= count_bits <= 32:
        raise ValueError(f"COUNT_BITS {count_bits} is not in 1..32")
    limit = int(tile_offsets[-1])
    if limit > 32 * max(0, len(tile_ids) - 1):
        raise ValueError("tile_offsets point past the end of tile_ids")
    bits = _Bits(tile_ids, limit)
    out_off = [0]
    out_ids: list[int] = []
    for t in range(tiles):
        pos, end = int(tile_offsets[t]), int(tile_offsets[t + 1])
        if end < pos:
            raise ValueError(f"tile_offsets are not ascending at tile {t}")
        n = bits.field(pos, count_bits)
        pos += count_bits
        if n:
            k = bits.field(pos, RICE_K_BITS)
            pos += RICE_K_BITS
            if k > MAX_RICE_K:
                raise ValueError(f"tile {t}: Rice parameter {k} above {MAX_RICE_K}")
            cur = bits.field(pos, id_bits)
            pos += id_bits
            out_ids.append(cur)
            for _ in range(n - 1):
                win = bits.window(pos)
                qq = (win & -win).bit_length() - 1 if win else MAX_CODE_BITS
                if qq > RICE_ESCAPE:
                    raise ValueError(f"tile {t}: a Rice code of more than {RICE_ESCAPE} "
                                     "zero bits")
                if qq == RICE_ESCAPE:  # an escape: the gap in ID_BITS bits
                    gap = bits.field(pos + RICE_ESCAPE + 1, id_bits)
                    pos += RICE_ESCAPE + 1 + id_bits
                else:
                    if pos + qq + 1 + k > limit:
                        raise ValueError(f"a tile list runs past the end of tile_ids (tile {t})")
                    gap = (qq << k) | ((win >> (qq + 1)) & ((1 << k) - 1))
                    pos += qq + 1 + k
                cur += 1 + gap
                out_ids.append(cur)
        if pos != end:
            raise ValueError(f"tile {t}: its list does not end where the next begins")
        out_off.append(len(out_ids))
    ids = np.array(out_ids, np.int64)
    if count is not None and len(ids) and ids.max() >= count:
        raise ValueError("a tile list names a Gaussian past COUNT")
    return np.array(out_off, np.int64), ids

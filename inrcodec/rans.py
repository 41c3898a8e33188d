"""Entropy coding of signed integer symbols: magnitude classes under a static table, rANS.

A symbol ``s`` is coded as its magnitude class (under the tensor's class table), then
the offset of ``|s|`` inside the class and the sign, as equiprobable bits. Classes: 0, 1,
2, 3 alone; from 4 on, half octaves: [4, 6), [6, 8), [8, 12), [12, 16), [16, 24), ... (class
``c >= 4`` starts at ``(2 + (c - 4) % 2) * 2^(k - 1)`` with ``k = 2 + (c - 4) // 2`` and holds
``2^(k - 1)`` magnitudes). The coder is byte-wise rANS with a 32-bit state (format_spec/FORMAT.md,
section 6 has every detail; this module is the reference for it).
"""

from __future__ import annotations

import numpy as np

PREC = 12  # frequencies sum to 2^PREC
TOTAL = 1 << PREC
LOW = 1 << 23  # the state lives in [LOW, LOW * 256)
MAX_CLASSES = 48  # magnitudes below 2^24
HALF = ((0, TOTAL // 2), (TOTAL // 2, TOTAL // 2))  # (start, freq) of an equiprobable bit


class RansError(ValueError):
    """A stream that does not decode cleanly."""


def class_of(m: np.ndarray) -> np.ndarray:
    """Magnitude class of each magnitude (int64 array)."""
    m = np.asarray(m, np.int64)
    k = np.floor(np.log2(np.maximum(m, 1))).astype(np.int64)
    # exact floor(log2) for big values too
    k = np.where((1 << (k + 1)) <= m, k + 1, k)
    k = np.where((1 << k) > m, k - 1, k)
    half = (m >= (3 << np.maximum(k - 1, 0))).astype(np.int64)
    return np.where(m < 4, m, 4 + 2 * (k - 2) + half)


def class_range(c: int) -> tuple[int, int]:
    """First magnitude and number of offset bits of class ``c``."""
    if c < 4:
        return c, 0
    k = 2 + (c - 4) // 2
    return (2 + (c - 4) % 2) << (k - 1), k - 1


def table_for(symbols: np.ndarray) -> list[int]:
    """The class table of ``symbols``: a weight 0..255 per class, 0 exactly for unused classes."""
    if symbols.size and int(np.max(np.abs(symbols.astype(np.int64)))) >= 1 << 24:
        raise ValueError("symbols must be below 2^24 in magnitude")
    counts = np.bincount(class_of(np.abs(symbols.astype(np.int64))).ravel(), minlength=1)
    if counts.sum() == 0:
        return [1]
    return [int(w) for w in np.where(counts > 0, np.maximum(1, np.rint(255 * counts / counts.max())), 0)]


def frequencies(weights: list[int]) -> list[int]:
    """Class frequencies summing to TOTAL from a table's weights (FORMAT.md 6, exactly)."""
    total = sum(weights)
    freq = [0 if w == 0 else max(1, w * TOTAL // total) for w in weights]
    freq[weights.index(max(weights))] += TOTAL - sum(freq)
    return freq


def _starts(table: list[int]) -> list[int]:
    return [sum(table[:i]) for i in range(len(table))]


def _ops(symbols: np.ndarray, weights: list[int]) -> list[tuple[int, int]]:
    """The (start, freq) of every rANS step that codes ``symbols``, in decoding order."""
    table = frequencies(weights)
    starts = _starts(table)
    ops = []
    s64 = symbols.astype(np.int64).ravel()
    classes = class_of(np.abs(s64))
    for s, c in zip(s64.tolist(), classes.tolist()):
        if c >= len(table) or table[c] == 0:
            raise ValueError(f"symbol {s} has no room in the table")
        ops.append((starts[c], table[c]))
        first, bits = class_range(c)
        offset = abs(s) - first
        ops += [HALF[(offset >> b) & 1] for b in range(bits - 1, -1, -1)]
        if s:
            ops.append(HALF[s < 0])
    return ops


def encode(parts: list[tuple[np.ndarray, list[int]]]) -> bytes:
    """One rANS stream coding each array of symbols under its table, in order."""
    ops = [op for symbols, table in parts for op in _ops(symbols, table)]
    x, out = LOW, bytearray()
    for start, freq in reversed(ops):
        bound = ((LOW >> PREC) << 8) * freq
        while x >= bound:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // freq) << PREC) + (x % freq) + start
    out += x.to_bytes(4, "little")[::-1]
    out.reverse()
    return bytes(out)


class Decoder:
    def __init__(self, data: bytes):
        if len(data) < 4:
            raise RansError("stream is shorter than its state")
        self.data, self.pos = data, 4
        self.x = int.from_bytes(data[:4], "little")
        if not LOW <= self.x < LOW << 8:
            raise RansError("stream starts with an invalid state")

    def _take(self, start: int, freq: int, slot: int):
        x = freq * (self.x >> PREC) + slot - start
        while x < LOW:
            if self.pos >= len(self.data):
                raise RansError("stream is truncated")
            x = (x << 8) | self.data[self.pos]
            self.pos += 1
        self.x = x

    def bit(self) -> int:
        slot = self.x & (TOTAL - 1)
        b = int(slot >= TOTAL // 2)
        self._take(*HALF[b], slot)
        return b

    def symbols(self, count: int, weights: list[int]) -> np.ndarray:
        table = frequencies(weights)
        starts = _starts(table)
        lookup = np.repeat(np.arange(len(table)), table).tolist()
        out = np.empty(count, np.int64)
        for i in range(count):
            slot = self.x & (TOTAL - 1)
            c = lookup[slot]
            self._take(starts[c], table[c], slot)
            first, bits = class_range(c)
            offset = 0
            for _ in range(bits):
                offset = (offset << 1) | self.bit()
            m = first + offset
            out[i] = -m if m and self.bit() else m
        return out

    def finish(self):
        """A clean stream ends exactly at its last byte with the initial state."""
        if self.pos != len(self.data) or self.x != LOW:
            raise RansError("stream does not end where its symbols do")

"""Entropy coding of signed integer symbols: magnitude classes under a static table, rANS, raw bits.

A symbol ``s`` is coded as its magnitude class (under the tensor's class table) in a rANS
stream, and as the offset of ``|s|`` inside the class and the sign in a raw bit field that
follows the stream. Classes: 0, 1, 2, 3 alone; from 4 on, half octaves: [4, 6), [6, 8), [8, 12),
[12, 16), [16, 24), ... (class ``c >= 4`` starts at ``(2 + (c - 4) % 2) * 2^(k - 1)`` with
``k = 2 + (c - 4) // 2`` and holds ``2^(k - 1)`` magnitudes). The coder is byte-wise rANS with a
32-bit state (format_spec/FORMAT.md, section 6 has every detail; this module is the reference).

Decoding does one rANS step per symbol; streams of the same layout (the local blocks) decode in
lockstep, one numpy lane per stream, and the raw fields of every stream are read at once.
"""

from __future__ import annotations

import numpy as np

PREC = 12  # frequencies sum to 2^PREC
TOTAL = 1 << PREC
LOW = 1 << 23  # the state lives in [LOW, LOW * 256)
MAX_CLASSES = 48  # magnitudes below 2^24
_C = np.arange(MAX_CLASSES)
_K = 2 + (_C - 4) // 2
FIRST = np.where(_C < 4, _C, (2 + (_C - 4) % 2) << np.maximum(_K - 1, 0))  # first magnitude of each class
RAW = np.where(_C < 4, 0, _K - 1) + (_C > 0)  # raw bits of each class: offset bits, then the sign
# renormalisation by x >> 15 (x < 2^31): bits to read (while x < LOW: a byte, at most two), 16 - those, bytes
_READ = np.select([np.arange(1 << 16) == 0, np.arange(1 << 16) < 256], [16, 8], 0)
_UNUSED, _BYTES = 16 - _READ, _READ >> 3


class RansError(ValueError):
    """A stream that does not decode cleanly; ``stream`` is its index among those decoded together."""

    def __init__(self, message: str, stream: int = 0):
        super().__init__(message)
        self.stream = stream


def _refuse(bad: np.ndarray, message: str) -> None:
    """Raise RansError for the first stream where ``bad`` holds."""
    if bad.any():
        raise RansError(message, int(np.argmax(bad)))


def class_of(m: np.ndarray) -> np.ndarray:
    """Magnitude class of each magnitude (int64 array)."""
    m = np.asarray(m, np.int64)
    k = np.floor(np.log2(np.maximum(m, 1))).astype(np.int64)
    # exact floor(log2) for big values too
    k = np.where((1 << (k + 1)) <= m, k + 1, k)
    k = np.where((1 << k) > m, k - 1, k)
    half = (m >= (3 << np.maximum(k - 1, 0))).astype(np.int64)
    return np.where(m < 4, m, 4 + 2 * (k - 2) + half)


def table_for(symbols: np.ndarray) -> list[int]:
    """The class table of ``symbols``: a weight 0..255 per class, 0 exactly for unused classes."""
    if symbols.size and int(np.max(np.abs(symbols.astype(np.int64)))) >= 1 << 24:
        raise ValueError("symbols must be below 2^24 in magnitude")
    counts = np.bincount(class_of(np.abs(symbols.astype(np.int64))).ravel(), minlength=1)
    if counts.sum() == 0:
        return [1]
    return [int(w) for w in np.where(counts > 0, np.maximum(1, np.rint(255 * counts / counts.max())), 0)]


def frequencies(weights: list[int]) -> np.ndarray:
    """Class frequencies summing to TOTAL from a table's weights (FORMAT.md 6, exactly)."""
    total = sum(weights)
    freq = [0 if w == 0 else max(1, w * TOTAL // total) for w in weights]
    freq[weights.index(max(weights))] += TOTAL - sum(freq)
    return np.array(freq, np.int64)


def encode(parts: list[tuple[np.ndarray, list[int]]]) -> bytes:
    """One stream coding each array of symbols under its table, in order: rANS, then raw bits."""
    steps, raw = [np.empty((0, 2), np.int64)], [np.empty((0, 2), np.int64)]  # (start, freq), (value, width)
    for symbols, weights in parts:
        s = np.asarray(symbols, np.int64).ravel()
        c = class_of(np.abs(s))
        freq = np.append(frequencies(weights), 0)
        if c.size and freq[np.minimum(c, freq.size - 1)].min() == 0:
            raise ValueError("a symbol has no room in its table")
        steps.append(np.stack([(np.cumsum(freq) - freq)[c], freq[c]], 1))
        sign = (c > 0).astype(np.int64)
        raw.append(np.stack([((np.abs(s) - FIRST[c]) << sign) | (s < 0), RAW[c]], 1))
    x, out = LOW, bytearray()
    for start, freq in np.concatenate(steps)[::-1].tolist():
        bound = ((LOW >> PREC) << 8) * freq
        while x >= bound:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // freq) << PREC) + (x % freq) + start
    out += x.to_bytes(4, "little")[::-1]
    out.reverse()
    return bytes(out) + _pack(*np.concatenate(raw).T)


def _pack(values: np.ndarray, widths: np.ndarray) -> bytes:
    """``values`` as ``widths``-bit fields, most significant bit first, zero-padded to a byte."""
    ends = np.cumsum(widths)
    which = np.repeat(np.arange(values.size), widths)
    shift = ends[which] - 1 - np.arange(which.size)
    return np.packbits((values[which] >> shift) & 1).tobytes()


def decode(streams: list[bytes], parts: list[tuple[int, list[int]]]) -> list[np.ndarray]:
    """Decode streams of one layout, ``count`` symbols under each table of ``parts``: per part, an
    int64 array (streams, count). One stream decodes in plain Python, several in numpy lockstep."""
    if not streams:
        return [np.empty((0, count), np.int64) for count, _ in parts]
    lengths = np.array([len(s) for s in streams], np.int64)
    _refuse(lengths < 4, "stream is shorter than its state")
    # reads past a stream's end land in the next stream or the padding until they are refused
    data = b"".join(streams) + bytes(2 * max([count for count, _ in parts], default=0) + 4)
    begin = np.cumsum(lengths) - lengths
    x = _windows(data, "<u4")[begin]
    _refuse((x < LOW) | (x >= LOW << 8), "stream starts with an invalid state")
    tables = []  # per part: count, then the frequency, slot - start, first magnitude and raw bits of each slot
    for count, weights in parts:
        freq = frequencies(weights)
        classes = np.repeat(np.arange(freq.size), freq)
        deltas = np.arange(TOTAL) - np.repeat(np.cumsum(freq) - freq, freq)
        tables.append((count, np.repeat(freq, freq), deltas, FIRST[classes], RAW[classes]))
    steps = _steps_one if len(streams) == 1 else _steps_lockstep
    slots, x, pos = steps(data, x, begin + 4, begin + lengths + 1, tables)
    _refuse(pos > begin + lengths, "stream is truncated")
    _refuse(x != LOW, "stream does not end where its symbols do")
    ends = np.cumsum([count for count, _ in parts], dtype=np.int64)
    first, widths = np.empty_like(slots), np.empty_like(slots)
    for (count, _, _, first_t, widths_t), end in zip(tables, ends):
        first[end - count : end], widths[end - count : end] = first_t[slots[end - count : end]], widths_t[slots[end - count : end]]
    q = _unpack_raw(data, first, widths, pos, begin + lengths)
    return np.split(q.T, ends[:-1], axis=1)


def _windows(data: bytes, dtype: str) -> np.ndarray:
    """The integer of type ``dtype`` (e.g. ">u2") starting at every byte of ``data``, as int64."""
    size = np.dtype(dtype).itemsize
    return np.ndarray((len(data) - size + 1,), dtype, data, strides=(1,)).astype(np.int64)


def _steps_one(data, x, pos, limit, tables):
    """The class slot of every symbol of one stream, its final state and byte position (past
    ``limit`` only when the stream is truncated)."""
    x, pos, limit, slots = int(x[0]), int(pos[0]), int(limit[0]), []
    for count, freq, delta, _, _ in tables:
        freq, delta = freq.tolist(), delta.tolist()
        for _ in range(count):
            slot = x & (TOTAL - 1)
            slots.append(slot)
            x = freq[slot] * (x >> PREC) + delta[slot]
            while x < LOW:
                x = (x << 8) | data[pos]
                pos += 1
        pos = min(pos, limit)
    return np.array(slots, np.int64).reshape(-1, 1), np.array([x]), np.array([pos])


def _steps_lockstep(data, x, pos, limit, tables):
    """The same for several streams, symbol i of every stream at once."""
    window = _windows(data, ">u2")
    slots, i = np.empty((sum(t[0] for t in tables), len(x)), np.int64), 0
    for count, freq, delta, _, _ in tables:
        for _ in range(count):
            slot = slots[i]
            np.bitwise_and(x, TOTAL - 1, slot)
            i += 1
            x = freq[slot] * (x >> PREC) + delta[slot]
            v = x >> 15
            x = (x << _READ[v]) | (window[pos] >> _UNUSED[v])
            pos += _BYTES[v]
        pos = np.minimum(pos, limit)
    return slots, x, pos


def _unpack_raw(data: bytes, first, widths, begin, end) -> np.ndarray:
    """Symbols (count, streams) from their first magnitudes, raw widths and each stream's raw field
    data[begin:end]."""
    nbits = widths.sum(axis=0)
    _refuse(end - begin != (nbits + 7) // 8, "stream does not end where its symbols do")
    _refuse(np.frombuffer(data, np.uint8)[end - 1] & ((1 << (-nbits % 8)) - 1) != 0,
            "raw bit field has padding that is not zero")
    at = begin * 8 + np.cumsum(widths, axis=0) - widths  # first bit of each symbol's field
    value = (_windows(data, ">u4")[at >> 3] >> (32 - (at & 7) - widths)) & ((1 << widths) - 1)
    sign = np.minimum(first, 1)
    m = first + (value >> sign)
    return np.where(value & sign, -m, m)

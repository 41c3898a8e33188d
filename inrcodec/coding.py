"""Entropy coding of quantized weights: the payloads of the global section and local blocks.

Global section, before zstd (format_spec/FORMAT.md, "Global section"):
    for each global tensor: f32 step, u8 width, symbols
    for each local tensor:  f32 step, u8 width          (shared by every partition)
Local block, before zstd: for each local tensor, its symbols.
Symbols are signed integers of ``width`` bytes (1 or 2); two-byte symbols are stored as a
plane of low bytes followed by a plane of high bytes. Each payload is one zstd frame that
declares its decompressed size, which must equal the size the architecture implies.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import zstandard

from .arch import Arch
from .errors import InrError
from .quant import dequantize

ZSTD_LEVEL = 19

Quantized = tuple[float, np.ndarray]  # (step, integer symbols)


def _width(symbols: np.ndarray) -> int:
    if symbols.size == 0 or (symbols.min() >= -128 and symbols.max() <= 127):
        return 1
    if symbols.min() >= -32768 and symbols.max() <= 32767:
        return 2
    raise ValueError("symbols do not fit 16 bits")


def _pack_symbols(symbols: np.ndarray, width: int) -> bytes:
    if width == 1:
        return symbols.astype(np.int8).tobytes()
    u = symbols.astype(np.int16).view(np.uint16).ravel()
    return (u & 0xFF).astype(np.uint8).tobytes() + (u >> 8).astype(np.uint8).tobytes()


def _unpack_symbols(raw: bytes, pos: int, count: int, width: int) -> np.ndarray:
    if width == 1:
        return np.frombuffer(raw, np.int8, count, offset=pos).astype(np.int32)
    lo = np.frombuffer(raw, np.uint8, count, offset=pos).astype(np.uint16)
    hi = np.frombuffer(raw, np.uint8, count, offset=pos + count).astype(np.uint16)
    return (lo | (hi << 8)).view(np.int16).astype(np.int32)


def _compress(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=False).compress(raw)


def _decompress(payload: bytes, expected: int, what: str) -> bytes:
    """One zstd frame of exactly ``expected`` bytes, never allocating more."""
    try:
        declared = zstandard.frame_content_size(payload)
        if declared != expected:
            raise InrError(f"{what} declares {declared} decoded bytes, expected {expected}")
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=expected, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise InrError(f"{what} is corrupt ({e})") from None
    if len(raw) != expected:
        raise InrError(f"{what} decodes to the wrong size")
    return raw


def encode_global(arch: Arch, tensors: list[Quantized], local_params: list[tuple[float, int]]) -> bytes:
    out = []
    for step, symbols in tensors:
        width = _width(symbols)
        out += [struct.pack("<fB", step, width), _pack_symbols(symbols, width)]
    out += [struct.pack("<fB", step, width) for step, width in local_params]
    return _compress(b"".join(out))


def local_params_for(blocks: list[list[np.ndarray]], steps: list[float]) -> list[tuple[float, int]]:
    """(step, width) of each local tensor, the width fitting every partition's symbols."""
    return [(s, max(_width(b[i]) for b in blocks)) for i, s in enumerate(steps)]


def encode_block(symbols: list[np.ndarray], local_params: list[tuple[float, int]]) -> bytes:
    return _compress(b"".join(_pack_symbols(s, w) for s, (_, w) in zip(symbols, local_params)))


MAX_STEP = 2.0**32  # keeps every weight, and so every value the network computes, finite in float32


def _check_params(step: float, width: int, what: str):
    if width not in (1, 2) or not 0 < step <= MAX_STEP:
        raise InrError(f"{what} has an invalid quantizer (step {step}, width {width})")


def decode_global(arch: Arch, payload: bytes) -> tuple[list[np.ndarray], list[tuple[float, int]]]:
    """Dequantized global tensors and the (step, width) of each local tensor."""
    # The size depends on the widths, which are inside; bound it by the widest case, then walk.
    shapes = [s for _, s in arch.global_tensors()]
    n_local = len(arch.local_tensors())
    largest = sum(5 + 2 * math.prod(s) for s in shapes) + 5 * n_local
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as e:
        raise InrError(f"global section is corrupt ({e})") from None
    if not 0 <= declared <= largest:
        raise InrError("global section declares an impossible size")
    raw = _decompress(payload, declared, "global section")
    tensors, pos = [], 0
    for shape in shapes:
        if pos + 5 > len(raw):
            raise InrError("global section is too short for its architecture")
        step, width = struct.unpack_from("<fB", raw, pos)
        _check_params(step, width, "global section")
        count = math.prod(shape)
        pos += 5
        if pos + count * width > len(raw):
            raise InrError("global section is too short for its architecture")
        tensors.append(dequantize(_unpack_symbols(raw, pos, count, width), step).reshape(shape))
        pos += count * width
    if pos + 5 * n_local != len(raw):
        raise InrError("global section does not match its architecture")
    local_params = [struct.unpack_from("<fB", raw, pos + 5 * i) for i in range(n_local)]
    for step, width in local_params:
        _check_params(step, width, "global section")
    return tensors, local_params


def decode_block(arch: Arch, payload: bytes, local_params, what: str = "local block") -> list[np.ndarray]:
    """Dequantized tensors of one partition."""
    shapes = [s for _, s in arch.local_tensors()]
    raw = _decompress(payload, sum(math.prod(s) * w for s, (_, w) in zip(shapes, local_params)), what)
    out, pos = [], 0
    for shape, (step, width) in zip(shapes, local_params):
        count = math.prod(shape)
        out.append(dequantize(_unpack_symbols(raw, pos, count, width), step).reshape(shape))
        pos += count * width
    return out

"""Entropy coding of quantized weights: the payloads of the global section and local blocks.

Global section: one zstd frame (format_spec/FORMAT.md, "Global section") holding
    for each global tensor, then each local tensor: f32 step, u8 n, n x u8 class weights
    then one coded stream (rans.py) of the symbols of every global tensor, in order.
Local block: one coded stream of the block's symbols, tensor by tensor, each under the local
tensor's table from the global section (shared by every partition, so blocks stay
independent and a crop copies them byte for byte; they share a layout, so they decode together).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import zstandard

from . import rans
from .arch import Arch
from .errors import InrError
from .quant import dequantize

ZSTD_LEVEL = 19

Quantized = tuple[float, np.ndarray]  # (step, integer symbols)
Model = tuple[float, list[int]]  # (step, class weights) of one tensor


def _pack_model(step: float, table: list[int]) -> bytes:
    return struct.pack(f"<fB{len(table)}B", step, len(table), *table)


def encode_global(arch: Arch, tensors: list[Quantized], local_params: list[Model]) -> bytes:
    tables = [rans.table_for(symbols) for _, symbols in tensors]
    head = [_pack_model(step, t) for (step, _), t in zip(tensors, tables)]
    head += [_pack_model(step, t) for step, t in local_params]
    stream = rans.encode([(symbols, t) for (_, symbols), t in zip(tensors, tables)])
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=False).compress(b"".join(head) + stream)


def local_params_for(blocks: list[list[np.ndarray]], steps: list[float]) -> list[Model]:
    """(step, table) of each local tensor, the table fitted to every partition's symbols pooled."""
    return [(s, rans.table_for(np.concatenate([b[i].ravel() for b in blocks]))) for i, s in enumerate(steps)]


def encode_block(symbols: list[np.ndarray], local_params: list[Model]) -> bytes:
    return rans.encode([(s, t) for s, (_, t) in zip(symbols, local_params)])


MAX_STEP = 2.0**32  # keeps every weight, and so every value the network computes, finite in float32


def _global_bound(arch: Arch) -> int:
    """The largest decoded global section: widest tables, worst-case bits of every symbol."""
    count = sum(math.prod(s) for _, s in arch.global_tensors())
    n_tensors = len(arch.global_tensors()) + len(arch.local_tensors())
    return n_tensors * (5 + rans.MAX_CLASSES) + 4 + 6 * count


def decode_global(arch: Arch, payload: bytes) -> tuple[list[np.ndarray], list[Model]]:
    """Dequantized global tensors and the (step, table) of each local tensor."""
    try:
        declared = zstandard.frame_content_size(payload)
        if not 0 <= declared <= _global_bound(arch):
            raise InrError("global section declares an impossible size")
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=declared, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise InrError(f"global section is corrupt ({e})") from None
    if len(raw) != declared:
        raise InrError("global section decodes to the wrong size")
    models, pos = [], 0
    for _ in range(len(arch.global_tensors()) + len(arch.local_tensors())):
        if pos + 5 > len(raw):
            raise InrError("global section is too short for its architecture")
        step, n = struct.unpack_from("<fB", raw, pos)
        pos += 5
        if pos + n > len(raw):
            raise InrError("global section is too short for its architecture")
        table = list(raw[pos : pos + n])
        pos += n
        if not 0 < step <= MAX_STEP or not 1 <= n <= rans.MAX_CLASSES or not any(table):
            raise InrError("global section has an invalid quantizer or table")
        models.append((step, table))
    shapes = [s for _, s in arch.global_tensors()]
    tensors = _decode_streams([raw[pos:]], shapes, models[: len(shapes)], ["global section"])
    return [t[0] for t in tensors], models[len(shapes) :]


def _decode_streams(streams: list[bytes], shapes, models: list[Model], names: list[str]) -> list[np.ndarray]:
    """Dequantized tensors, stacked on a leading axis (one per stream)."""
    try:
        parts = rans.decode(streams, [(math.prod(s), table) for s, (_, table) in zip(shapes, models)])
    except rans.RansError as e:
        raise InrError(f"{names[e.stream]} is corrupt ({e})") from None
    return [dequantize(q, step).reshape((len(streams),) + tuple(s)) for q, s, (step, _) in zip(parts, shapes, models)]


def decode_blocks(arch: Arch, payloads: list[bytes], local_params: list[Model], names: list[str]) -> list[np.ndarray]:
    """Dequantized local tensors of the partitions whose blocks are ``payloads``, each stacked (G, ...)."""
    return _decode_streams(payloads, [s for _, s in arch.local_tensors()], local_params, names)


def decode_block(arch: Arch, payload: bytes, local_params: list[Model], what: str = "local block") -> list[np.ndarray]:
    """Dequantized tensors of one partition."""
    return [t[0] for t in decode_blocks(arch, [payload], local_params, [what])]

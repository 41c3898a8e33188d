"""The .inr container, version 1: framing, stream header and partition index.

Every field of the file is read and written in this module, nowhere else; the byte tables
are in format_spec/FORMAT.md. The payloads of the global section and of the local blocks are
opaque here (see coding.py). No torch: crop and info run on this module alone.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field, replace

from .arch import Arch
from .errors import InrError
from .grid import Box, check_grid, overlapping, partitions_for_box, tile_size

MAGIC = b"INRC"
VERSION = 1
KIND_IMAGE, KIND_AUDIO, KIND_VIDEO = 1, 2, 3
KIND_NAMES = {KIND_IMAGE: "image", KIND_AUDIO: "audio", KIND_VIDEO: "video"}
KIND_AXES = {KIND_IMAGE: 2, KIND_AUDIO: 1, KIND_VIDEO: 3}
COLOUR_NONE = 0
QUANT_UNIFORM = 1
QUANT_RESIDUAL = 2  # uniform, and the tensors a prior covers are residuals against it
CODER_RANS = 3  # class tables in the global section, rANS of classes + raw bits (coding.py, rans.py); 2 was all-rANS

# Ranges of header fields (format rules, FORMAT.md section 4).
MAX_SAMPLES = 2**34  # product of the extents times channels
MAX_CHANNELS = 16
MAX_DEPTH = 16
MAX_WIDTH = 1024
MAX_PARTITIONS = 65535


@dataclass(frozen=True)
class Limits:
    """Resource ceilings of this reader, checked before allocating (FORMAT.md section 12).

    Not format rules: a file beyond them is valid but refused here. Override for the whole
    process with ``container.LIMITS = container.Limits(...)`` (read at each call).
    """

    weights: int = 2**24  # decoded weights of a stream: global ones + local ones of every block present
    decode_samples: int = 2**28  # samples x channels computed at once (whole tiles; audio and video: one tile along time)
    decode_work: int = 2**46  # multiply-adds of the network over all the samples one decode computes


LIMITS = Limits()

_FILE_HEADER = struct.Struct("<4sHHI")  # magic, version, chunk count, CRC-32 of the first 8 bytes
_CHUNK_HEADER = struct.Struct("<4sHHQI")  # type, stream, flags, payload length, CRC-32 of the 16 bytes before it + payload
CHUNK_ORDER = (b"HEAD", b"GLOB", b"PIDX", b"LOCL")


@dataclass(frozen=True)
class Header:
    """The stream header (chunk HEAD)."""

    kind: int
    channels: int
    bit_depth: int  # 8 or 16 for integer sources, 32 for float sources
    extents: tuple[int, ...]  # original size per axis (image: height, width)
    crop: Box  # current crop box per axis, in original coordinates
    grid: tuple[int, ...]  # partitions per axis
    arch: Arch
    rate: float = 0.0  # samples per second along axis 0 (audio, video); 0 for images
    colour: int = COLOUR_NONE
    quant: int = QUANT_UNIFORM
    coder: int = CODER_RANS
    prior_name: str = ""
    prior_hash: bytes = bytes(32)

    @property
    def shape(self) -> tuple[int, ...]:
        """Size of the signal as it decodes now (the crop box)."""
        return tuple(e - s for s, e in self.crop)


@dataclass
class Stream:
    header: Header
    global_section: bytes
    blocks: dict[tuple[int, ...], bytes] = field(default_factory=dict)  # grid position -> block


# ---------------------------------------------------------------------------- writing


def _chunk(kind: bytes, stream: int, payload: bytes) -> bytes:
    fields = struct.pack("<4sHHQ", kind, stream, 0, len(payload))
    return fields + struct.pack("<I", zlib.crc32(payload, zlib.crc32(fields))) + payload


def _pack_header(h: Header) -> bytes:
    n = len(h.extents)
    name = h.prior_name.encode("utf-8")
    a = h.arch
    return b"".join(
        [
            struct.pack("<BBBBd", h.kind, n, h.channels, h.bit_depth, h.rate),
            struct.pack(f"<{n}I", *h.extents),
            struct.pack(f"<{n}I", *(s for s, _ in h.crop)),
            struct.pack(f"<{n}I", *(e for _, e in h.crop)),
            struct.pack(f"<{n}H", *h.grid),
            struct.pack("<BHHf", a.depth, a.local_width, a.global_width, a.omega),
            struct.pack("<BBBB", h.colour, h.quant, h.coder, len(name)),
            name,
            h.prior_hash,
        ]
    )


def _pack_index(h: Header, blocks: dict) -> bytes:
    n = len(h.extents)
    entry = struct.Struct(f"<{n}HIII")
    out, offset = [struct.pack("<I", len(blocks))], 0
    for pos in sorted(blocks):
        block = blocks[pos]
        out.append(entry.pack(*pos, offset, len(block), zlib.crc32(block)))
        offset += len(block)
    return b"".join(out)


def write(streams: list[Stream]) -> bytes:
    """Serialize streams to the bytes of a .inr file."""
    chunks = []
    for sid, s in enumerate(streams):
        chunks += [
            _chunk(b"HEAD", sid, _pack_header(s.header)),
            _chunk(b"GLOB", sid, s.global_section),
            _chunk(b"PIDX", sid, _pack_index(s.header, s.blocks)),
            _chunk(b"LOCL", sid, b"".join(s.blocks[p] for p in sorted(s.blocks))),
        ]
    first = struct.pack("<4sHH", MAGIC, VERSION, len(chunks))
    return first + struct.pack("<I", zlib.crc32(first)) + b"".join(chunks)


# ---------------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise InrError(f"{self.what} is truncated")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise InrError(f"{self.what} is truncated")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def done(self):
        if self.pos != len(self.data):
            raise InrError(f"{self.what} has {len(self.data) - self.pos} unexpected trailing bytes")


def _unpack_header(payload: bytes) -> Header:
    r = _Reader(payload, "stream header")
    kind, n, channels, bit_depth, rate = r.take("<BBBBd")
    if kind not in KIND_AXES:
        raise InrError(f"unknown signal kind {kind} in stream header")
    if n != KIND_AXES[kind]:
        raise InrError(f"a {KIND_NAMES[kind]} stream cannot have {n} axes")
    extents = r.take(f"<{n}I")
    starts, ends = r.take(f"<{n}I"), r.take(f"<{n}I")
    grid = r.take(f"<{n}H")
    depth, local_width, global_width, omega = r.take("<BHHf")
    colour, quant, coder, name_len = r.take("<BBBB")
    name = r.raw(name_len)
    prior_hash = r.raw(32)
    r.done()
    if not 1 <= channels <= MAX_CHANNELS:
        raise InrError(f"stream header declares {channels} channels (at most {MAX_CHANNELS})")
    if bit_depth not in (8, 16, 32):
        raise InrError(f"stream header declares an unsupported bit depth {bit_depth}")
    if not (math.isfinite(rate) and rate >= 0) or (kind != KIND_IMAGE and rate == 0):
        raise InrError("stream header declares an invalid sample rate")
    if min(extents) < 1 or math.prod(extents) * channels > MAX_SAMPLES:
        raise InrError(f"stream header declares an absurd size {'x'.join(map(str, extents))}")
    if any(not 0 <= s < e <= x for s, e, x in zip(starts, ends, extents)):
        raise InrError("stream header declares a crop box outside the signal")
    check_grid(extents, grid)
    if not 1 <= depth <= MAX_DEPTH or not 1 <= local_width <= MAX_WIDTH or not 1 <= global_width <= MAX_WIDTH:
        raise InrError("stream header declares an unsupported network size")
    if not (math.isfinite(omega) and 0 < omega < 1e4):
        raise InrError("stream header declares an invalid SIREN frequency")
    if colour != COLOUR_NONE or quant not in (QUANT_UNIFORM, QUANT_RESIDUAL) or coder != CODER_RANS:
        raise InrError(f"unsupported colour/quantizer/coder ids {colour}/{quant}/{coder}")
    try:
        prior_name = name.decode("utf-8")
    except UnicodeDecodeError:
        raise InrError("stream header has a prior name that is not UTF-8") from None
    if quant == QUANT_RESIDUAL and not prior_name:
        raise InrError("stream header codes residuals against a prior but names none")
    arch = Arch(n, channels, depth, local_width, global_width, omega)
    return Header(
        kind, channels, bit_depth, tuple(extents), tuple(zip(starts, ends)), tuple(grid), arch,
        rate, colour, quant, coder, prior_name, prior_hash,
    )


def _unpack_blocks(h: Header, index: bytes, local: bytes) -> dict:
    n = len(h.extents)
    r = _Reader(index, "partition index")
    (count,) = r.take("<I")
    if count > math.prod(h.grid):
        raise InrError(f"partition index lists {count} blocks for {math.prod(h.grid)} partitions")
    blocks, offset, previous = {}, 0, None
    for _ in range(count):
        *pos, start, length, crc = r.take(f"<{n}HIII")
        pos = tuple(pos)
        if any(p >= c for p, c in zip(pos, h.grid)):
            raise InrError(f"partition index names partition {pos} outside the grid")
        if previous is not None and pos <= previous:
            raise InrError("partition index is not in raster order")
        if start != offset or start + length > len(local):
            raise InrError(f"partition index entry {pos} points outside the local blocks")
        block = local[start : start + length]
        if zlib.crc32(block) != crc:
            raise InrError(f"checksum mismatch in the local block of partition {pos}")
        blocks[pos], offset, previous = block, offset + length, pos
    r.done()
    if offset != len(local):
        raise InrError("local blocks hold bytes that no index entry covers")
    return blocks


def read(data: bytes) -> list[Stream]:
    """Parse and verify a whole .inr file (every checksum, every size) into its streams."""
    if not data:
        raise InrError("file is empty")
    if len(data) < _FILE_HEADER.size:
        raise InrError("file is truncated" if MAGIC.startswith(data[:4]) else "not an .inr file")
    magic, version, count, crc = _FILE_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise InrError("not an .inr file (bad magic)")
    if zlib.crc32(data[:8]) != crc:
        raise InrError("checksum mismatch in the file header")
    if version != VERSION:
        raise InrError(f"unsupported .inr version {version} (this decoder reads version {VERSION})")
    pos, parts = _FILE_HEADER.size, {}
    for _ in range(count):
        if pos + _CHUNK_HEADER.size > len(data):
            raise InrError("file is truncated")
        kind, sid, flags, length, crc = _CHUNK_HEADER.unpack_from(data, pos)
        fields = data[pos : pos + 16]
        pos += _CHUNK_HEADER.size
        if length > len(data) - pos:
            raise InrError("file is truncated")
        payload = data[pos : pos + length]
        pos += length
        if zlib.crc32(payload, zlib.crc32(fields)) != crc:
            raise InrError(f"checksum mismatch in chunk {kind!r} of stream {sid}")
        if kind[:1].islower():
            continue  # ancillary chunk: readers skip what they do not know
        if kind not in CHUNK_ORDER or flags != 0:
            raise InrError(f"unknown critical chunk {kind!r}")
        chunks = parts.setdefault(sid, {})
        if len(chunks) == len(CHUNK_ORDER) or CHUNK_ORDER[len(chunks)] != kind:
            raise InrError(f"chunk {kind!r} of stream {sid} is out of order")
        chunks[kind] = payload
    if pos != len(data):
        raise InrError(f"file has {len(data) - pos} unexpected trailing bytes")
    if sorted(parts) != list(range(len(parts))) or not parts:
        raise InrError("file has no streams or numbers them wrongly")
    streams = []
    for sid in sorted(parts):
        chunks = parts[sid]
        if len(chunks) != len(CHUNK_ORDER):
            raise InrError(f"stream {sid} is incomplete")
        header = _unpack_header(chunks[b"HEAD"])
        blocks = _unpack_blocks(header, chunks[b"PIDX"], chunks[b"LOCL"])
        _check_weights(header.arch, len(blocks))
        if any(p not in blocks for p in partitions_for_box(header.extents, header.grid, header.crop)):
            raise InrError(f"stream {sid} lacks a partition inside its crop box")
        streams.append(Stream(header, chunks[b"GLOB"], blocks))
    return streams


def _size(tensors) -> int:
    return sum(math.prod(shape) for _, shape in tensors)


def _check_weights(arch: Arch, blocks: int) -> None:
    weights = _size(arch.global_tensors()) + blocks * _size(arch.local_tensors())
    if weights > LIMITS.weights:
        raise InrError(f"stream holds {weights} weights, over this reader's ceiling of {LIMITS.weights}")


def check_decode(header: Header, region: Box) -> None:
    """Refuse, before allocating, to render ``region`` when its tiles exceed the ceilings.

    Every partition that intersects ``region`` is rendered on a whole tile (render.py).
    """
    a = header.arch
    per_axis = [len(overlapping(e, c, s, t)) * tile_size(e, c) for e, c, (s, t) in zip(header.extents, header.grid, region)]
    samples = math.prod(per_axis)
    # Audio and video render and deliver a few tiles along time at a time: memory is per tile.
    at_once = samples if header.kind == KIND_IMAGE else samples // per_axis[0] * tile_size(header.extents[0], header.grid[0])
    merge = (a.local_width + a.global_width) * a.local_width
    macs = sum(math.prod(s) for n, s in a.global_tensors() + a.local_tensors() if n.endswith("weight"))
    if at_once * a.channels > LIMITS.decode_samples or samples * (macs + (a.depth - 1) * merge) > LIMITS.decode_work:
        raise InrError(f"decoding {samples} samples of this network is over this reader's ceilings")


def cropped(stream: Stream, box: Box) -> Stream:
    """The stream restricted to ``box`` (original coordinates): blocks are kept byte for byte."""
    keep = partitions_for_box(stream.header.extents, stream.header.grid, box)
    return Stream(replace(stream.header, crop=box), stream.global_section, {p: stream.blocks[p] for p in keep})

"""Mutation fuzzing of .inr files, shared by tests/test_fuzz.py (CI) and tools/fuzz.py (long runs).

An input is a valid sample file of one kind with one or two mutations: byte-level ones (bit
flips, truncation, inserted, deleted, overwritten or appended bytes), structure-aware ones
that recompute the CRCs so the mutation gets past them (header fields, index entries, chunk
fields, chunks swapped, duplicated, removed, ancillary chunks added) and payload-level ones
made through the container (crop box edits, steps and class tables edited inside the GLOB
zstd frame, recompressed frames, rANS streams edited, blocks swapped or dropped). ``check`` runs info, decode (to every
output suffix of the kind) and crop on the input through the API, and ``check_cli`` the same
through the command line. The outcome of each must be a correct result or exactly one
InrError (a one-line error, exit 1, on the command line): never another exception, a
warning, a hang (``time_limit``) or a memory blow-up (``memory_cap``). Mutations that cannot
change the samples (an ancillary chunk, a recompressed frame) and crop-box edits must decode
to exactly the expected samples.

A new kind of signal joins by adding one ``Sample`` to ``SAMPLES``.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import signal
import struct
import tempfile
import traceback
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import zstandard
from PIL import Image

import inrcodec
from inrcodec import container, media
from inrcodec.errors import InrError
from inr_helpers import CHUNK_HEADER, FILE_HEADER_SIZE, chunk, moving_frames, smooth, to_uint, tones, write_png, write_video

# Ceilings for fuzzing: far below the defaults, so no input can take long; a file over them
# is refused with an InrError like any other bad file.
FUZZ_LIMITS = container.Limits(weights=2**16, decode_samples=2**17, decode_work=2**28)
SECONDS_PER_INPUT = 20.0  # a generous bound: a tiny file decodes in milliseconds
MEMORY_HEADROOM = 2 * 2**30  # address space allowed above what the process had when fuzzing began


# ---------------------------------------------------------------------------- sample files


def image_region(box: str) -> tuple[slice, ...]:
    """The samples of a decoded image that the crop box 'x0,y0,x1,y1' keeps."""
    x0, y0, x1, y1 = (int(v) for v in box.split(","))
    return slice(y0, y1), slice(x0, x1)


def samples_region(span: str) -> tuple[slice, ...]:
    """The samples of decoded audio that the crop 'A:B' keeps."""
    a, b = (int(v) for v in span.split(":"))
    return (slice(a, b),)


def video_region(box: str) -> tuple[slice, ...]:
    """The samples of a decoded video that the crop box 'x0,y0,x1,y1' keeps (every frame)."""
    return (slice(None), *image_region(box))


@dataclass(frozen=True)
class Sample:
    """A kind of valid file to mutate."""

    name: str
    make: Callable[[Path], Path]  # writes a small valid file into a folder, returns its path
    suffixes: tuple[str, ...]  # outputs ``inrcodec.decode`` writes for this kind
    box: str  # a crop region (API/CLI form) inside the sample's shape, of the option ``crop_by``
    region: Callable[[str], tuple[slice, ...]] = image_region  # the decoded samples that region keeps
    crop_by: str = "box"  # the crop option: box (images, video), samples (audio)


def _encoded_image(name: str, pixels: np.ndarray, crop: str | None = None, **options) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        src = write_png(folder / f"{name}.png", pixels)
        dst = folder / f"{name}.inr"
        inrcodec.encode(src, dst, device="cpu", seed=0, **options)
        if crop is None:
            return dst
        inrcodec.crop(dst, folder / f"{name}-crop.inr", crop)
        return folder / f"{name}-crop.inr"

    return make


def _encoded_media(name: str, write: Callable[[Path], Path], **options) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        dst = folder / f"{name}.inr"
        inrcodec.encode(write(folder), dst, device="cpu", seed=0, iterations=2, **options)
        return dst

    return make


def _wav(folder: Path) -> Path:
    import soundfile

    soundfile.write(folder / "a.wav", np.rint(tones(300, 2, 8000) * 32767).astype(np.int16), 8000, subtype="PCM_16")
    return folder / "a.wav"


def _video(folder: Path) -> Path:
    sound = np.rint(tones(800, 1, 4000) * 32767).astype(np.int16)
    return write_video(folder / "v.mkv", moving_frames(4, 8, 10), 10, sound=(sound, 4000))


SAMPLES = [
    Sample("image-rgb8", _encoded_image("rgb8", to_uint(smooth(9, 12, 3)), quality=0, iterations=2, partitions="2x2"),
           (".npy", ".png"), "2,1,9,7"),
    # quality 90 uses 9-bit symbols: two-byte planes
    Sample("image-gray16", _encoded_image("gray16", to_uint(smooth(7, 10, 1), 16), quality=90, iterations=2,
                                          partitions="2x2"), (".npy", ".png"), "1,1,8,6"),
    # a cropped file: crop box inside the original, some partitions absent
    Sample("image-rgba8-cropped", _encoded_image("rgba8", to_uint(smooth(9, 14, 4)), crop="3,2,12,8", quality=0,
                                                 iterations=2, partitions="3x2"), (".npy", ".png"), "1,1,6,4"),
    Sample("audio-stereo16", _encoded_media("audio", _wav, partitions="3"), (".npy", ".wav"), "40:200",
           samples_region, "samples"),
    # two streams: the video and its audio track
    Sample("video-with-track", _encoded_media("video", _video, partitions="2x2x2"), (".npy", ".mkv"), "2,1,9,7",
           video_region),
]


@dataclass(frozen=True)
class Reference:
    """A sample file and what it decodes to."""

    sample: Sample
    data: bytes
    samples: np.ndarray  # decoded crop box
    crop: tuple[tuple[int, int], ...]  # its crop box, original coordinates


def reference(sample: Sample, folder: Path) -> Reference:
    path = sample.make(folder)
    (stream, *_) = container.read(path.read_bytes())
    return Reference(sample, path.read_bytes(), inrcodec.decode_array(path, device="cpu"), stream.header.crop)


# ---------------------------------------------------------------------------- choices


class Chooser:
    """Where a mutation's choices come from: hypothesis (CI: shrinks) or random.Random (long runs)."""

    def __init__(self, integer: Callable[[int, int], int], raw: Callable[[int], bytes]):
        self.int, self.bytes = integer, raw  # int(lo, hi) inclusive; bytes(n)

    @classmethod
    def from_random(cls, rnd) -> "Chooser":
        return cls(rnd.randint, rnd.randbytes)

    @classmethod
    def from_hypothesis(cls, data) -> "Chooser":
        from hypothesis import strategies as st

        return cls(lambda lo, hi: data.draw(st.integers(lo, hi)),
                   lambda n: data.draw(st.binary(min_size=n, max_size=n)))

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]


# ---------------------------------------------------------------------------- mutations

SAME = "same"  # expectation: the samples are those of the file before the mutation
# A mutation returns (bytes, expectation): SAME, None (any outcome but a wrong one), or a box
# in original coordinates whose samples the file must decode to exactly.


def _walk(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, payload length) of the chunks of a possibly damaged file, as far as they go."""
    out, pos = [], FILE_HEADER_SIZE
    while pos + CHUNK_HEADER.size <= len(data):
        kind, _, _, length, _ = CHUNK_HEADER.unpack_from(data, pos)
        if pos + CHUNK_HEADER.size + length > len(data):
            break
        out.append((pos, kind, length))
        pos += CHUNK_HEADER.size + length
    return out


def _with_count(data: bytes, delta: int) -> bytes:
    """The file with its chunk count changed by ``delta`` and the header CRC recomputed."""
    if len(data) < FILE_HEADER_SIZE:
        return data
    count = (struct.unpack_from("<H", data, 6)[0] + delta) % 65536
    first = data[:6] + struct.pack("<H", count)
    return first + struct.pack("<I", zlib.crc32(first)) + data[FILE_HEADER_SIZE:]


def _rechunk(data: bytes, pos: int, fields: bytes, payload: bytes) -> bytes:
    """The chunk at ``pos`` rebuilt from 16 header bytes and a payload, its CRC valid."""
    _, _, _, length, _ = CHUNK_HEADER.unpack_from(data, pos)
    whole = fields + struct.pack("<I", zlib.crc32(fields + payload)) + payload
    return data[:pos] + whole + data[pos + CHUNK_HEADER.size + length :]


def _interesting_int(c: Chooser, original: int, bits: int) -> int:
    top = 2**bits - 1
    value = c.pick([0, 1, 2, 3, top, top - 1, original + 1, original - 1, original * 2, original // 2,
                    2 ** c.int(0, bits - 1), c.int(0, top), original + c.int(-4, 4)])
    return min(max(value, 0), top)


def _interesting_float(c: Chooser, original: float) -> float:
    return c.pick([0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-45, 1e-30, 1e30, 3.4e38,
                   original * 2, original / 2, original * 1e6, 2.0**32, 2.0**33, 1e4, 9999.0, 30.0])


def _edit_field(c: Chooser, payload: bytearray, offset: int, fmt: str) -> None:
    size = struct.calcsize("<" + fmt)
    if offset + size > len(payload):
        return
    (original,) = struct.unpack_from("<" + fmt, payload, offset)
    if fmt in "fd":
        value = _interesting_float(c, original)
        if fmt == "f" and abs(value) > 3.4e38 and value == value and abs(value) != float("inf"):
            value = 3.4e38
    else:
        value = _interesting_int(c, original, 8 * size)
    struct.pack_into("<" + fmt, payload, offset, value)


def _head_fields(n: int) -> list[tuple[int, str]]:
    """(offset, struct format) of every field of a HEAD payload with ``n`` axes (FORMAT.md section 4)."""
    fields = [(0, "B"), (1, "B"), (2, "B"), (3, "B"), (4, "d")]
    fields += [(12 + 4 * k * n + 4 * a, "I") for k in range(3) for a in range(n)]  # extents, starts, ends
    fields += [(12 + 12 * n + 2 * a, "H") for a in range(n)]  # grid
    fields += [(12 + 14 * n, "B"), (13 + 14 * n, "H"), (15 + 14 * n, "H"), (17 + 14 * n, "f")]
    fields += [(21 + 14 * n + k, "B") for k in range(4)]  # colour, quantizer, coder, prior name length
    return fields


def _payload_edit(data: bytes, c: Chooser, kind: bytes, edit) -> tuple[bytes, None]:
    """Apply ``edit(payload)`` to the first chunk of type ``kind``, recomputing its CRC."""
    found = [(p, length) for p, k, length in _walk(data) if k == kind]
    if not found:
        return data, None
    pos, length = found[0]
    payload = bytearray(data[pos + CHUNK_HEADER.size : pos + CHUNK_HEADER.size + length])
    edit(payload)
    return _rechunk(data, pos, data[pos : pos + 16], bytes(payload)), None


def m_flip(data, c):
    if not data:
        return data, None
    i = c.int(0, len(data) - 1)
    return data[:i] + bytes([data[i] ^ c.int(1, 255)]) + data[i + 1 :], None


def m_truncate(data, c):
    return data[: c.int(0, max(0, len(data) - 1))], None


def m_insert(data, c):
    i = c.int(0, len(data))
    return data[:i] + c.bytes(c.int(1, 16)) + data[i:], None


def m_delete(data, c):
    i = c.int(0, max(0, len(data) - 1))
    return data[:i] + data[i + c.int(1, 16) :], None


def m_overwrite(data, c):
    i = c.int(0, max(0, len(data) - 1))
    new = c.bytes(c.int(1, 8))
    return data[:i] + new + data[i + len(new) :], None


def m_append(data, c):
    return data + c.bytes(c.int(1, 16)), None


def m_head_field(data, c):
    def edit(payload):
        n = payload[1] if len(payload) > 1 and 1 <= payload[1] <= 3 else 2
        offset, fmt = c.pick(_head_fields(n))
        _edit_field(c, payload, offset, fmt)

    return _payload_edit(data, c, b"HEAD", edit)


def m_index_field(data, c):
    head = [(p, length) for p, k, length in _walk(data) if k == b"HEAD"]
    n = data[head[0][0] + CHUNK_HEADER.size + 1] if head and head[0][1] > 1 else 2
    n = n if 1 <= n <= 3 else 2

    def edit(payload):
        entries = max(1, (len(payload) - 4) // (2 * n + 12))
        k = c.int(0, entries - 1)
        offset, fmt = c.pick([(0, "I")] + [(4 + k * (2 * n + 12) + 2 * a, "H") for a in range(n)]
                             + [(4 + k * (2 * n + 12) + 2 * n + 4 * f, "I") for f in range(3)])
        _edit_field(c, payload, offset, fmt)

    return _payload_edit(data, c, b"PIDX", edit)


def m_chunk_field(data, c):
    chunks = _walk(data)
    if not chunks:
        return data, None
    pos, _, length = c.pick(chunks)
    fields = bytearray(data[pos : pos + 16])
    which = c.int(0, 3)
    if which == 0:
        fields[c.int(0, 3)] = c.int(0, 255)  # type
    elif which == 3:  # the length: the payload's bounds move, so the CRC cannot follow
        _edit_field(c, fields, 8, "Q")
        return data[:pos] + bytes(fields) + data[pos + 16 :], None
    else:
        _edit_field(c, fields, 2 + 2 * which, "H")  # stream id or flags
    payload = data[pos + CHUNK_HEADER.size : pos + CHUNK_HEADER.size + length]
    return _rechunk(data, pos, bytes(fields), payload), None


def m_file_header(data, c):
    if len(data) < FILE_HEADER_SIZE:
        return data, None
    first = bytearray(data[:8])
    _edit_field(c, first, c.pick([4, 6]), "H")  # version or chunk count
    return bytes(first) + struct.pack("<I", zlib.crc32(first)) + data[FILE_HEADER_SIZE:], None


def _spans(data):
    return [(p, p + CHUNK_HEADER.size + length) for p, _, length in _walk(data)]


def m_swap_chunks(data, c):
    spans = _spans(data)
    if len(spans) < 2:
        return data, None
    i = c.int(0, len(spans) - 2)
    j = c.int(i + 1, len(spans) - 1)
    (a0, a1), (b0, b1) = spans[i], spans[j]
    return data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:], None


def m_duplicate_chunk(data, c):
    spans = _spans(data)
    if not spans:
        return data, None
    a, b = c.pick(spans)
    at = c.pick([s for s, _ in spans] + [spans[-1][1]])
    return _with_count(data[:at] + data[a:b] + data[at:], +1), None


def m_remove_chunk(data, c):
    spans = _spans(data)
    if not spans:
        return data, None
    a, b = c.pick(spans)
    return _with_count(data[:a] + data[b:], -1), None


def m_ancillary(data, c):
    """An ancillary chunk anywhere between chunks, with any stream id and flags: readers skip it."""
    spans = _spans(data)
    at = c.pick([s for s, _ in spans] + [spans[-1][1] if spans else FILE_HEADER_SIZE])
    kind = bytes([c.int(ord("a"), ord("z"))]) + c.bytes(3)
    extra = chunk(kind, c.bytes(c.int(0, 24)), c.int(0, 65535), c.int(0, 65535))
    return _with_count(data[:at] + extra + data[at:], +1), SAME


# Payload-level mutations: through the container, on a file it reads (every CRC then valid).


def _streams(data):
    try:
        return container.read(data)
    except InrError:
        return None


def m_crop_box(data, c):
    """Another crop box inside the current one; with ``drop``, the partitions outside it removed."""
    streams = _streams(data)
    if streams is None:
        return data, SAME
    s = streams[0]
    box = []
    for lo, hi in s.header.crop:
        start = c.int(lo, hi - 1)
        box.append((start, c.int(start + 1, hi)))
    box = tuple(box)
    if c.int(0, 1):
        streams[0] = container.cropped(s, box)
    else:
        streams[0] = container.Stream(replace(s.header, crop=box), s.global_section, s.blocks)
    return container.write(streams), box


def _frame(c: Chooser, raw: bytes) -> tuple[bytes, str | None]:
    """``raw`` in a zstd frame of some form: valid ones keep the samples, others must be refused."""
    form = c.int(0, 7)
    if form == 0:
        return zstandard.ZstdCompressor(level=c.int(1, 19)).compress(raw), SAME
    if form == 1:
        return zstandard.ZstdCompressor(write_checksum=True).compress(raw), SAME
    if form == 2:
        frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(raw))
        frame[-1] ^= 1 << c.int(0, 7)  # a wrong content checksum
        return bytes(frame), None
    if form == 3:
        return zstandard.ZstdCompressor(write_content_size=False).compress(raw), None
    frame = zstandard.ZstdCompressor().compress(raw)
    if form == 4:
        return frame + c.bytes(c.int(1, 8)), None  # trailing bytes
    if form == 5:
        return frame + struct.pack("<II", 0x184D2A50, 0), None  # a skippable frame after it
    if form == 6:
        return frame + frame, None  # two frames
    return frame[: c.int(0, len(frame) - 1)], None


def _edit_raw(c: Chooser, raw: bytes) -> bytes:
    raw = bytearray(raw)
    form = c.int(0, 3)
    if form == 0 and raw:
        i = c.int(0, len(raw) - 1)
        raw[i] = c.pick([0, 0x7F, 0x80, 0xFF, c.int(0, 255)])
    elif form == 1:
        del raw[c.int(0, len(raw)) :]
    elif form == 2:
        raw += c.bytes(c.int(1, 8))
    elif raw:
        i = c.int(0, len(raw) - 1)
        raw[i : i + 4] = c.bytes(4)
    return bytes(raw)


def _quantizer_offsets(raw: bytes, arch) -> list[int]:
    """Offsets of the (f32 step, u8 n, class table) of each tensor in a decompressed GLOB (FORMAT.md 6, 7)."""
    pos, out = 0, []
    for _ in arch.global_tensors() + arch.local_tensors():
        if pos + 5 > len(raw):
            return out
        out.append(pos)
        pos += 5 + raw[pos + 4]
    return out


def m_global_payload(data, c):
    """GLOB decompressed, edited (a step, a class count, bytes) or not, and put back in a frame."""
    streams = _streams(data)
    if streams is None:
        return data, SAME
    s = streams[0]
    try:
        raw = zstandard.ZstdDecompressor().decompress(s.global_section)
    except zstandard.ZstdError:  # already damaged by an earlier mutation
        return data, None
    what = c.int(0, 2)
    expect = None
    if what == 0:
        raw, expect = _frame(c, raw)
    else:
        edited = bytearray(raw)
        offsets = _quantizer_offsets(raw, s.header.arch)
        if what == 1 and offsets:
            at = c.pick(offsets)
            if c.int(0, 1):
                struct.pack_into("<f", edited, at, _interesting_float(c, struct.unpack_from("<f", raw, at)[0]))
            else:
                edited[at + 4] = c.pick([0, 1, 2, 3, 48, 49, 255])
            edited = bytes(edited)
        else:
            edited = _edit_raw(c, raw)
        raw = zstandard.ZstdCompressor().compress(edited)
    streams[0] = container.Stream(s.header, raw, s.blocks)
    return container.write(streams), expect


def m_block_payload(data, c):
    """A local block's rANS stream edited (a byte, truncated, extended, overwritten) or wrapped in a zstd frame."""
    streams = _streams(data)
    if streams is None or not streams[0].blocks:
        return data, SAME
    s = streams[0]
    blocks = dict(s.blocks)
    pos = c.pick(sorted(blocks))
    if c.int(0, 3) == 0:
        blocks[pos] = _frame(c, blocks[pos])[0]
    else:
        blocks[pos] = _edit_raw(c, blocks[pos])
    streams[0] = container.Stream(s.header, s.global_section, blocks)
    return container.write(streams), None


def m_blocks_shuffled(data, c):
    """Two blocks swapped, or one dropped, or one replaced by garbage: the index stays consistent."""
    streams = _streams(data)
    if streams is None or not streams[0].blocks:
        return data, SAME
    s = streams[0]
    blocks = dict(s.blocks)
    keys = sorted(blocks)
    a, b = c.pick(keys), c.pick(keys)
    form = c.int(0, 2)
    if form == 0:
        blocks[a], blocks[b] = blocks[b], blocks[a]
    elif form == 1:
        del blocks[a]
    else:
        blocks[a] = c.bytes(c.int(0, 40))
    streams[0] = container.Stream(s.header, s.global_section, blocks)
    return container.write(streams), None


BYTE_MUTATIONS = [m_flip, m_truncate, m_insert, m_delete, m_overwrite, m_append]
STRUCTURE_MUTATIONS = [m_head_field, m_index_field, m_chunk_field, m_file_header, m_swap_chunks, m_duplicate_chunk,
                       m_remove_chunk, m_ancillary]
PAYLOAD_MUTATIONS = [m_crop_box, m_global_payload, m_block_payload, m_blocks_shuffled]
MUTATIONS = BYTE_MUTATIONS + STRUCTURE_MUTATIONS + PAYLOAD_MUTATIONS


def mutate(data: bytes, c: Chooser, first=None) -> tuple[bytes, object, list[str]]:
    """One or two mutations of a valid file, the first one ``first`` if given:
    (bytes, expectation, names of the mutations)."""
    expect, names = SAME, []
    for k in range(c.int(1, 2)):
        m = first if k == 0 and first is not None else c.pick(MUTATIONS)
        data, new = m(data, c)
        names.append(m.__name__[2:])
        expect = None if expect is None or new is None else (expect if new == SAME else new)
    return data, expect, names


# ---------------------------------------------------------------------------- resource guards


class FuzzTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise FuzzTimeout in the main thread when the block runs longer than ``seconds``."""

    def expire(*_):
        raise FuzzTimeout(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def memory_cap(headroom: int = MEMORY_HEADROOM):
    """Cap the address space (RLIMIT_AS, soft) at its current size plus ``headroom`` (Linux).

    An allocation over the cap fails at once (MemoryError in numpy, RuntimeError in torch),
    which the checks report as a failure; the previous limit comes back afterwards.
    """
    now = _address_space()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if now is None:
        yield None
        return
    cap = now + headroom if hard == resource.RLIM_INFINITY else min(now + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def limits(new: container.Limits):
    old, container.LIMITS = container.LIMITS, new
    try:
        yield
    finally:
        container.LIMITS = old


# ---------------------------------------------------------------------------- the checks


class FuzzFailure(AssertionError):
    pass


def _run(outcomes: dict, name: str, call):
    """Run ``call``; record 'ok' or the InrError's message; anything else is a failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = call()
    except InrError as e:
        message = str(e)
        if not message or "\n" in message:
            raise FuzzFailure(f"{name}: an InrError that is not one line: {message!r}") from None
        outcomes[name] = f"error: {message}"
        return None
    except Exception as e:  # noqa: BLE001
        raise FuzzFailure(f"{name}: {type(e).__name__}: {e}\n{traceback.format_exc()}") from None
    outcomes[name] = "ok"
    return result


def _png_pixels(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    pixels = np.asarray(image)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def check(ref: Reference, data: bytes, expect, folder: Path) -> dict:
    """Every operation on ``data`` (written in the empty ``folder``): outcomes by operation.

    Raises FuzzFailure when an outcome is wrong.
    """
    src = folder / "input.inr"
    src.write_bytes(data)
    sample, outcomes = ref.sample, {}
    info = _run(outcomes, "info", lambda: inrcodec.info(src))
    decoded = {}
    for suffix in sample.suffixes:
        out = folder / f"decoded{suffix}"
        if _run(outcomes, f"decode{suffix}", lambda: inrcodec.decode(src, out, device="cpu")) is not None:
            decoded[suffix] = out.read_bytes()
        elif out.exists():
            raise FuzzFailure(f"decode{suffix} failed but left {out.name}")
    cropped = folder / "cropped.inr"
    crop_ok = _run(outcomes, "crop", lambda: inrcodec.crop(src, cropped, **{sample.crop_by: sample.box})) is not None

    if src.read_bytes() != data:
        raise FuzzFailure("the input file changed")
    if info is None and (decoded or crop_ok):
        raise FuzzFailure(f"info refused a file that decode or crop accepted: {outcomes}")
    samples = None
    if ".npy" in decoded:
        samples = np.load(io.BytesIO(decoded[".npy"]), allow_pickle=False)
        if samples.dtype != np.float32 or list(samples.shape) != info["shape"] + [info["channels"]]:
            raise FuzzFailure(f"decoded {samples.dtype} {samples.shape}, info says {info['shape']}")
        low = -1 if info["kind"] == "audio" else 0
        if not (np.all(samples >= low) and np.all(samples <= 1)):
            raise FuzzFailure(f"decoded samples outside [{low}, 1] or NaN")
        if ".png" in decoded and info["bit_depth"] == 8:
            if not np.array_equal(_png_pixels(decoded[".png"]), media.quantize_samples(samples, 8)):
                raise FuzzFailure("the PNG is not the delivered form of the samples")
    if expect is not None:
        if samples is None:
            raise FuzzFailure(f"a file that must decode was refused: {outcomes}")
        box = ref.crop if expect == SAME else expect
        want = ref.samples[tuple(slice(s - c0, e - c0) for (s, e), (c0, _) in zip(box, ref.crop))]
        if not np.array_equal(samples, want):
            raise FuzzFailure("decoded samples differ from the expected ones")
    if crop_ok:
        again = _run(outcomes, "read-crop", lambda: container.read(cropped.read_bytes()))
        if again is None:
            raise FuzzFailure(f"crop wrote a file that does not read back: {outcomes['read-crop']}")
        if samples is not None:
            part = _run(outcomes, "decode-crop", lambda: inrcodec.decode_array(cropped, device="cpu"))
            if part is None or not np.array_equal(part, samples[sample.region(sample.box)]):
                raise FuzzFailure("the cropped file does not decode to the region of the file")
    left = {p.name for p in folder.iterdir()} - {"input.inr", "cropped.inr"} - {f"decoded{s}" for s in decoded}
    if left:
        raise FuzzFailure(f"files left behind: {sorted(left)}")
    return outcomes


def check_cli(ref: Reference, data: bytes, folder: Path, api: dict) -> None:
    """The same operations through the command line: exit 0, or 1 with one line on stderr, as the API did."""
    from click.testing import CliRunner

    from inrcodec.cli import main

    src = folder / "cli-input.inr"
    src.write_bytes(data)
    runs = {"info": ["info", src], "crop": ["crop", src, "-o", folder / "cli-crop.inr", f"--{ref.sample.crop_by}", ref.sample.box]}
    runs.update({f"decode{s}": ["decode", src, "-o", folder / f"cli{s}", "--device", "cpu"] for s in ref.sample.suffixes})
    for name, args in runs.items():
        result = CliRunner().invoke(main, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise FuzzFailure(f"cli {name}: raised {result.exception!r}")
        err = result.stderr.splitlines()
        if result.exit_code == 0:
            ok = True
        elif result.exit_code == 1 and len(err) == 1 and err[0].startswith("inrcodec: error: ") and not result.stdout:
            ok = False
        else:
            raise FuzzFailure(f"cli {name}: exit {result.exit_code}, stderr {result.stderr!r}")
        if ok != (api.get(name) == "ok"):
            raise FuzzFailure(f"cli {name} {'succeeded' if ok else 'failed'}, the API: {api.get(name)}")
    if src.read_bytes() != data:
        raise FuzzFailure("the CLI changed the input file")


def fuzz_one(ref: Reference, c: Chooser, workdir: Path, cli: bool = False, first=None) -> tuple[bytes, list[str], dict]:
    """Mutate the reference file, check it, clean up: (input, mutation names, outcomes).

    On FuzzFailure the exception carries the input as ``.data``.
    """
    data, expect, names = mutate(ref.data, c, first)
    folder = Path(tempfile.mkdtemp(dir=workdir))
    try:
        with time_limit(SECONDS_PER_INPUT):
            outcomes = check(ref, data, expect, folder)
            if cli:
                check_cli(ref, data, folder, outcomes)
    except (FuzzFailure, FuzzTimeout) as e:
        failure = FuzzFailure(f"{ref.sample.name} after {names}: {e}")
        failure.data = data
        raise failure from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return data, names, outcomes

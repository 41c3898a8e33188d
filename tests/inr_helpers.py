"""Helpers shared by the test modules: synthetic images and byte surgery on .inr files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from inrcodec import media

FILE_HEADER_SIZE = 12  # magic, version, chunk count, CRC-32 of the first 8 bytes
CHUNK_HEADER = struct.Struct("<4sHHQI")  # type, stream, flags, payload length, CRC-32 of those 16 bytes + payload


def chunk(kind: bytes, payload: bytes, stream: int = 0, flags: int = 0) -> bytes:
    """A chunk (header and payload) with a matching CRC, whatever its fields."""
    fields = struct.pack("<4sHHQ", kind, stream, flags, len(payload))
    return fields + struct.pack("<I", zlib.crc32(fields + bytes(payload))) + bytes(payload)


def smooth(height: int, width: int, channels: int = 3) -> np.ndarray:
    """A smooth image (gradients and low-frequency sinusoids), float64 in [0, 1], HxWxC."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    planes = [
        0.15 + 0.7 * u,
        0.2 + 0.6 * v,
        0.5 + 0.3 * np.sin(2 * np.pi * u) * np.cos(np.pi * v),
        0.3 + 0.6 * (u + v) / 2,
    ]
    out = np.stack(planes[:channels], -1)
    return np.clip(out, 0, 1)


def to_uint(samples: np.ndarray, bits: int = 8) -> np.ndarray:
    top = 2**bits - 1
    return np.rint(np.clip(samples, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """PNG of HxWxC uint8 or uint16 pixels (16-bit colour through inrcodec.media.png_bytes)."""
    Path(path).write_bytes(media.png_bytes(pixels))
    return Path(path)


def write_pillow(path: Path, pixels: np.ndarray, **save_args) -> Path:
    """An image file through Pillow, the format taken from the suffix (JPEG, WebP, TIFF, ...)."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    image.save(path, **save_args)
    return Path(path)


def png_ihdr(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


# ---------------------------------------------------------------------------- byte surgery


def chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset of the chunk header, type, payload length) of every chunk of a well-formed file."""
    out, pos = [], FILE_HEADER_SIZE
    while pos < len(data):
        kind, _sid, _flags, length, _crc = CHUNK_HEADER.unpack_from(data, pos)
        out.append((pos, kind, length))
        pos += CHUNK_HEADER.size + length
    assert pos == len(data)
    return out


def with_version(data: bytes, version: int) -> bytes:
    """The file with another version number and a file-header CRC that matches it."""
    first = data[:4] + struct.pack("<H", version) + data[6:8]
    return first + struct.pack("<I", zlib.crc32(first)) + data[12:]


def with_chunk_payload(data: bytes, kind: bytes, edit) -> bytes:
    """The file with chunk ``kind``'s payload replaced by ``edit(payload)``, length and CRC fixed."""
    for pos, k, length in chunks(data):
        if k == kind:
            start = pos + CHUNK_HEADER.size
            payload = edit(bytearray(data[start : start + length]))
            _, sid, flags, _, _ = CHUNK_HEADER.unpack_from(data, pos)
            return data[:pos] + chunk(kind, payload, sid, flags) + data[start + length :]
    raise AssertionError(f"no chunk {kind!r}")


def with_extents(data: bytes, extents: tuple[int, int]) -> bytes:
    """An image file whose HEAD chunk declares other extents (height, width), CRC fixed.

    HEAD starts with u8 kind, u8 axes, u8 channels, u8 bit depth, f64 rate (12 bytes), then
    the extents as u32 per axis.
    """

    def edit(payload: bytearray) -> bytearray:
        assert payload[1] == len(extents)
        payload[12 : 12 + 4 * len(extents)] = struct.pack(f"<{len(extents)}I", *extents)
        return payload

    return with_chunk_payload(data, b"HEAD", edit)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file (recursively, hidden ones included) of a folder with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- audio and video sources


def tones(samples: int, channels: int, rate: int) -> np.ndarray:
    """A few decaying sinusoids per channel, float64 in [-1, 1], shape (samples, channels)."""
    t = np.arange(samples) / rate
    out = [0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t + c) * np.exp(-2 * t) + 0.2 * np.sin(2 * np.pi * 90 * t)
           for c in range(channels)]
    return np.stack(out, -1)


def moving_frames(count: int, height: int, width: int) -> np.ndarray:
    """RGB frames (count, H, W, 3) uint8 of smooth gradients that drift from frame to frame."""
    base = smooth(height, width)
    shift = np.arange(count)[:, None, None, None] * np.array([0.06, -0.04, 0.05])
    return to_uint(np.clip(base[None] * 0.8 + 0.1 + shift, 0, 1))


def write_video(path: Path, frames: np.ndarray, fps, sound: tuple[np.ndarray, int] | None = None,
                codecs: tuple[str, str] = ("ffv1", "flac"), with_video: bool = True) -> Path:
    """A video file written with PyAV alone: frames uint8 RGB, sound (int16 (N, C), rate) as a second stream."""
    import av
    from fractions import Fraction

    layouts = {1: "mono", 2: "stereo"}
    with av.open(str(path), "w") as out:
        if with_video:
            v = out.add_stream(codecs[0], rate=Fraction(fps))
            v.width, v.height = frames.shape[2], frames.shape[1]
            v.pix_fmt = "bgr0" if codecs[0] == "ffv1" else "yuv420p"
        if sound is not None:
            a = out.add_stream(codecs[1], rate=sound[1])
            a.layout = layouts[sound[0].shape[1]]
        if with_video:
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, 1 / Fraction(fps)
                out.mux(v.encode(frame))
            out.mux(v.encode(None))
        if sound is not None:
            samples, rate = sound
            for first in range(0, len(samples), 1024):
                piece = np.ascontiguousarray(samples[first : first + 1024]).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(piece, format="s16", layout=layouts[samples.shape[1]])
                frame.sample_rate, frame.pts, frame.time_base = rate, first, Fraction(1, rate)
                out.mux(a.encode(frame))
            out.mux(a.encode(None))
    return Path(path)


def read_video(path: Path) -> tuple[np.ndarray, object, tuple[np.ndarray, int] | None]:
    """(RGB frames uint8, frame rate as a Fraction, (int16 samples (N, C), rate) or None) read with PyAV alone."""
    import av

    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate
        frames = np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(stream)])
    with av.open(str(path)) as inp:
        if not inp.streams.audio:
            return frames, rate, None
        a = inp.streams.audio[0]
        channels = len(a.layout.channels)
        resampler = av.AudioResampler(format="s16", layout=a.layout, rate=a.rate)
        parts = [f.to_ndarray().reshape(-1, channels) for fr in inp.decode(a) for f in resampler.resample(fr)]
        return frames, rate, (np.concatenate(parts), a.rate)

"""Classic codecs as anchors for rate-distortion comparisons, at their libraries' default settings.

Images through Pillow (JPEG, WebP, AVIF; ``quality`` 0-100, default chroma subsampling and speed);
audio through PyAV (MP3 with libmp3lame, Opus with libopus, AAC with FFmpeg's encoder; a target
bitrate in kbps); video through PyAV (H.264 with libx264, HEVC with libx265, AV1 with libsvtav1;
a CRF, yuv420p, in MP4). Each ``encode`` function takes the reference samples in their delivered
form and returns the whole file as written, headers included, and its decode in the same form.

Delivered forms: images and video frames uint8 RGB (H, W, 3); audio int16 (T, C). Audio encoders
get the samples at their own rate where they must (Opus works at 48 kHz) and the decode is
resampled back to the source rate; decoders trim priming and padding from the file's own
metadata (MP3 gapless header, MP4 edit list, Ogg pre-skip), and a decode that runs longer than
the source is cut to its length.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from PIL import Image

from .errors import InrError


@dataclass(frozen=True)
class Coded:
    data: bytes  # the encoded file, as it would be written to disk
    decoded: np.ndarray  # its decode, in the delivered form of the reference
    encode_seconds: float
    decode_seconds: float


# ---------------------------------------------------------------------------- images

IMAGE_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}


def encode_image(name: str, pixels: np.ndarray, quality: int) -> Coded:
    """Pillow ``name`` ('jpeg', 'webp', 'avif') at ``quality`` of uint8 RGB ``pixels``."""
    im = Image.fromarray(pixels)
    start = time.perf_counter()
    buffer = io.BytesIO()
    im.save(buffer, format=IMAGE_FORMATS[name], quality=int(quality))
    data = buffer.getvalue()
    encoded = time.perf_counter()
    with Image.open(io.BytesIO(data)) as out:
        decoded = np.asarray(out.convert("RGB"))
    return Coded(data, decoded, encoded - start, time.perf_counter() - encoded)


# ---------------------------------------------------------------------------- audio

# name -> (FFmpeg encoder, container format, the rates the encoder accepts or None for any)
AUDIO_CODECS = {
    "mp3": ("libmp3lame", "mp3", None),
    "opus": ("libopus", "ogg", (48000, 24000, 16000, 12000, 8000)),
    "aac": ("aac", "ipod", None),
}
_LAYOUTS = {1: "mono", 2: "stereo"}


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, as inrcodec and FFmpeg deliver them (x 32768, clipped)."""
    from .audio import delivered

    return delivered(samples, 16)


def _audio_frame(samples: np.ndarray, rate: int):
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T, dtype=np.float32), format="fltp",
                                       layout=_LAYOUTS[samples.shape[1]])
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    return frame


def decode_audio(source, rate: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 samples (T, C), sample rate) of the first audio stream of a file or bytes.

    With ``rate``, the samples are resampled to it.
    """
    import av

    chunks = []
    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
            if not container.streams.audio:
                raise InrError(f"{source}: no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate or stream.rate)
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
            out_rate = rate or stream.rate
    except av.FFmpegError as e:
        raise InrError(f"cannot read audio from {source if not isinstance(source, bytes) else 'encoded bytes'}: {e}") from None
    if not chunks:
        raise InrError(f"{source}: the audio stream holds no samples")
    return np.concatenate(chunks, axis=1).T.astype(np.float32), out_rate


def encode_audio(name: str, samples: np.ndarray, rate: int, kbps: float) -> Coded:
    """Audio codec ``name`` ('mp3', 'opus', 'aac') at ``kbps`` of int16 ``samples`` (T, C) at ``rate`` Hz."""
    import av

    encoder, container_format, rates = AUDIO_CODECS[name]
    if samples.shape[1] not in _LAYOUTS:
        raise InrError(f"the {name} anchor takes mono or stereo audio, not {samples.shape[1]} channels")
    coded_rate = rate if rates is None or rate in rates else rates[0]
    start = time.perf_counter()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=coded_rate, layout=_LAYOUTS[samples.shape[1]])
        stream.bit_rate = int(kbps * 1000)
        for packet in stream.encode(_audio_frame(samples / 32768, rate)) + stream.encode(None):
            container.mux(packet)
    data = buffer.getvalue()
    encoded = time.perf_counter()
    decoded, _ = decode_audio(data, rate)
    decoded = pcm16(decoded[: len(samples)])
    if len(decoded) < len(samples):
        raise InrError(f"the {name} decode is {len(samples) - len(decoded)} samples short of the source")
    return Coded(data, decoded, encoded - start, time.perf_counter() - encoded)


# ---------------------------------------------------------------------------- video

VIDEO_CODECS = {"x264": "libx264", "x265": "libx265", "av1": "libsvtav1"}
_QUIET = {"libx265": {"x265-params": "log-level=error"}}


def decode_video(source) -> tuple[np.ndarray, Fraction]:
    """(uint8 RGB frames (T, H, W, 3), frame rate) of the first video stream of a file or bytes."""
    import av

    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
            if not container.streams.video:
                raise InrError(f"{source}: no video stream")
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    except av.FFmpegError as e:
        raise InrError(f"cannot read video from {source if not isinstance(source, bytes) else 'encoded bytes'}: {e}") from None
    if not frames:
        raise InrError(f"{source}: the video stream holds no frames")
    return np.stack(frames), Fraction(fps)


def encode_video(name: str, frames: np.ndarray, fps: Fraction, crf: int) -> Coded:
    """Video codec ``name`` ('x264', 'x265', 'av1') at ``crf`` of uint8 RGB ``frames`` (T, H, W, 3).

    yuv420p needs even sizes: an odd width or height is padded by repeating the last column or
    row, and the decode is cut back to the source size (the padding is counted in the rate).
    """
    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration otherwise
    encoder = VIDEO_CODECS[name]
    t, h, w, _ = frames.shape
    if encoder == "libx265" and min(h, w) < 64:  # this libx265 corrupts memory on some smaller frames
        raise InrError(f"the x265 anchor takes frames of at least 64x64, not {w}x{h}")
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frames
    start = time.perf_counter()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = padded.shape[2], padded.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), **_QUIET.get(encoder, {})}
        for frame in padded:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = buffer.getvalue()
    encoded = time.perf_counter()
    decoded, _ = decode_video(data)
    if decoded.shape[0] != t:
        raise InrError(f"the {name} decode has {decoded.shape[0]} frames, the source {t}")
    return Coded(data, decoded[:, :h, :w], encoded - start, time.perf_counter() - encoded)


def versions() -> dict:
    """Versions of the libraries behind the anchors (part of every cached result's key)."""
    import av
    from PIL import __version__ as pillow, features

    return {"pillow": pillow, "libjpeg": features.version("jpg"), "libwebp": features.version("webp"),
            "libavif": features.version("avif"), "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info}

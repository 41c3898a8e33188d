"""Reading source video and writing decoded video, through PyAV (FFmpeg).

Frames travel as arrays (frames, height, width, 3), RGB: a source is read frame by frame into
a float16 buffer in [0, 1] (half the memory of float32, exact for 8-bit values after
rounding); decoded frames arrive as uint8 slabs and are encoded as they come. The first audio
stream of a source is its audio track. Outputs: MP4 (H.264, AAC audio), MKV (lossless FFV1,
FLAC audio).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from .audio import LAYOUTS, read_track
from .errors import InrError

DEFAULT_CRF = 18  # libx264 constant rate factor of decoded MP4s (0 lossless .. 51 worst)
_CONTAINERS = {".mp4": ("mp4", "libx264", "aac"), ".mkv": ("matroska", "ffv1", "flac")}


def load(path) -> tuple[np.ndarray, float, tuple[np.ndarray, float] | None]:
    """(frames float16 (T, H, W, 3) in [0, 1], frame rate, (audio samples (N, C), sample rate) or None).

    Frames are decoded one at a time into a buffer of the declared frame count (grown when a
    container declares none or too few), so the source never sits in memory twice.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise InrError(f"no such file: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InrError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            declared = stream.frames
            out, count = np.empty((declared, stream.height, stream.width, 3), np.float16), 0
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                if count == len(out) or rgb.shape != out.shape[1:]:  # more frames than declared, or a new size
                    if count and rgb.shape != out.shape[1:]:
                        raise InrError(f"{path} changes its frame size at frame {count}")
                    out = np.concatenate([out[:count], np.empty((max(count, 16), *rgb.shape), np.float16)])
                out[count] = rgb / np.float32(255)
                count += 1
        track = None
        with av.open(str(path)) as container:
            if container.streams.audio:
                samples, sample_rate = read_track(container)
                if len(samples):
                    track = (np.clip(samples, -1, 1), sample_rate)
    except (av.FFmpegError, ValueError) as e:
        raise InrError(f"{path} is not readable video ({e})") from None
    if not count:
        raise InrError(f"{path} has no video frames")
    if declared and count < declared:
        raise InrError(f"{path} is truncated: {count} of {declared} frames decode")
    if not rate or rate <= 0:
        raise InrError(f"{path} declares no frame rate")
    return out[:count], float(rate), track


def write(path, suffix: str, slabs: Iterable[np.ndarray], size, rate: float,
          sound: tuple[np.ndarray, float] | None = None, crf: int | None = None) -> None:
    """Encode uint8 RGB frame slabs (n, H, W, 3) to ``path`` as .mp4 or .mkv, with an audio track."""
    import av

    fmt, vcodec, acodec = _CONTAINERS[suffix]
    height, width = size
    fps = Fraction(rate).limit_denominator(1 << 20)
    try:
        with av.open(str(path), "w", format=fmt) as out:
            video = out.add_stream(vcodec, rate=fps)
            video.width, video.height = width, height
            if vcodec == "libx264":
                video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
                video.options = {"crf": str(DEFAULT_CRF if crf is None else crf)}
            else:
                video.pix_fmt = "bgr0"
            audio = None
            if sound is not None:
                samples, sample_rate = sound
                if samples.shape[1] not in LAYOUTS:
                    raise InrError(f"{samples.shape[1]} audio channels cannot be written to {suffix}")
                audio = out.add_stream(acodec, rate=int(round(sample_rate)))
                audio.layout = LAYOUTS[samples.shape[1]]
            count = 0
            for slab in slabs:
                for rgb in slab:
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    frame.pts, frame.time_base = count, 1 / fps
                    out.mux(video.encode(frame))
                    count += 1
            out.mux(video.encode(None))
            if audio is not None:
                _write_audio(out, audio, samples, int(round(sample_rate)))
    except (av.FFmpegError, ValueError, OverflowError, ZeroDivisionError) as e:  # e.g. rates no muxer takes
        raise InrError(f"cannot encode {suffix} video ({e})") from None


def _write_audio(out, stream, samples: np.ndarray, sample_rate: int, chunk: int = 4096) -> None:
    import av

    fmt = "s16" if samples.dtype == np.int16 else "flt"
    layout = LAYOUTS[samples.shape[1]]
    for first in range(0, len(samples), chunk):
        piece = np.ascontiguousarray(samples[first : first + chunk]).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format=fmt, layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, first, Fraction(1, sample_rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))

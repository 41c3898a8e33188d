"""Reading source audio and writing decoded audio.

Samples travel as float32 arrays (samples, channels) in [-1, 1]. soundfile reads WAV, FLAC,
OGG (Vorbis, Opus) and AIFF; PyAV (FFmpeg) reads MP3, AAC/M4A and Opus. Integer and lossy
sources deliver 16-bit PCM, float sources float32 (FORMAT.md section 10).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import InrError

SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff")
MAX_CHANNELS = 16
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _checked(samples: np.ndarray, rate: float, path) -> np.ndarray:
    if samples.shape[0] == 0:
        raise InrError(f"{path} has no audio samples")
    if not 1 <= samples.shape[1] <= MAX_CHANNELS:
        raise InrError(f"{path} has {samples.shape[1]} audio channels (at most {MAX_CHANNELS})")
    if not rate > 0:
        raise InrError(f"{path} declares no sample rate")
    if not np.isfinite(samples).all():
        raise InrError(f"{path} holds samples that are not finite")
    return np.clip(samples, -1, 1)


def load(path) -> tuple[np.ndarray, float, int]:
    """(samples float32 (N, C) in [-1, 1], sample rate, bit depth 16 or 32) of an audio file."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise InrError(f"no such file: {path}")
    if path.suffix.lower() not in SOUNDFILE_SUFFIXES:
        import av

        try:
            with av.open(str(path)) as container:
                if not container.streams.audio:
                    raise InrError(f"{path} has no audio stream")
                samples, rate = read_track(container)
        except (av.FFmpegError, ValueError) as e:
            raise InrError(f"{path} is not readable audio ({e})") from None
        return _checked(samples, rate, path), rate, 16
    try:
        with soundfile.SoundFile(path) as f:
            subtype, rate = f.subtype, f.samplerate
            samples = f.read(dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise InrError(f"{path} is not readable audio ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return _checked(samples, float(rate), path), float(rate), 32 if subtype in ("FLOAT", "DOUBLE") else 16


def read_track(container, index: int = 0) -> tuple[np.ndarray, float]:
    """All samples (float32 (N, C)) and the sample rate of an audio stream of an open PyAV container."""
    import av

    stream = container.streams.audio[index]
    channels = len(stream.layout.channels)
    resampler = av.AudioResampler(format="flt", layout=stream.layout, rate=stream.rate)
    parts = []
    for frame in container.decode(stream):
        parts += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)]
    samples = np.concatenate(parts) if parts else np.zeros((0, channels), np.float32)
    return samples.astype(np.float32, copy=False), float(stream.rate)


def delivered(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """Decoded samples in [-1, 1] as delivered: int16(clip(rint(v * 32768))) for 8/16 bits, float32 for 32."""
    if bit_depth == 32:
        return np.asarray(samples, np.float32)
    scaled = np.rint(np.asarray(samples, np.float32) * np.float32(32768))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


MAX_FILE_RATE = 655350  # the highest sample rate a FLAC header holds (WAV holds more)


def file_bytes(samples: np.ndarray, rate: float, suffix: str) -> bytes:
    """A .wav (16-bit PCM, or float for float samples) or .flac (16-bit) file of delivered samples."""
    import soundfile

    if suffix == ".flac" and samples.dtype != np.int16:  # FLAC holds integers only: 24 bits for a float source
        samples, subtype = np.rint(np.clip(samples, -1, 1) * 8388607).astype(np.int32) << 8, "PCM_24"
    else:
        subtype = "PCM_16" if samples.dtype == np.int16 else "FLOAT"
    if not 1 <= round(rate) <= MAX_FILE_RATE:
        raise InrError(f"a sample rate of {rate:g} Hz cannot be written to {suffix}: decode to .npy")
    buffer = io.BytesIO()
    try:
        soundfile.write(buffer, samples, int(round(rate)), subtype=subtype, format=suffix[1:].upper())
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as e:
        raise InrError(f"cannot write {suffix} ({e})") from None
    return buffer.getvalue()

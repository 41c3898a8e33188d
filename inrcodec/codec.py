"""The public API: encode, decode, crop and info, mirroring the command line, for every medium.

One path for every kind of signal: a source file is read into one ``Signal`` per stream
(samples with extents and channels, a rate and a bit depth: an image, an audio clip, a video
and its audio track), each is fitted and quantized into one stream of the container; decoding
renders a stream in slabs along axis 0 and hands them to the writer of its medium (media.py
for images, audio.py, video.py). ``crop`` and ``info`` work on the container alone and never
import torch.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from time import perf_counter
from typing import Callable, Iterator

import numpy as np

from . import coding, container, files, media, priors
from .arch import Arch
from .container import KIND_AUDIO, KIND_IMAGE, KIND_NAMES, KIND_VIDEO, Header, Stream
from .errors import InrError
from .grid import Box, all_partitions, auto_grid, check_grid, durations, parse_box, parse_partitions
from .quant import quantize, steps_for


@dataclass(frozen=True)
class Preset:
    quality: int  # the lowest quality this preset serves
    partition: int | tuple[int, ...]  # partition size in samples, on every axis or per axis, without --partitions
    local_width: int
    global_width: int
    depth: int
    steps: int  # float fitting steps; then qat[0] as many again per step with the quantizer in the loop
    lr: float  # peak learning rate: deeper, wider networks need a lower one (benchmarks/LEVERS.md)
    omega: float = 30.0  # SIREN frequency of every layer (stored in the file)
    hertz: tuple[float, float] | None = None  # audio: initial first-layer bandwidth of the local and global net (Hz)
    fraction: float | None = None  # share of each partition's samples drawn per step (None: fit.py's, by device)
    qat: tuple[float, float] = (0.05, 2e-4)  # quantization-aware steps per float step, and their lr


# Ordered by quality; each preset serves qualities from its own up to the next one's, and
# within it the quantizer's error share alpha falls from ALPHA[0] to ALPHA[1] as quality rises.
# Image presets, chosen from the sweep in
# benchmarks/LEVERS.md (rate-distortion frontier on corpus photos).
PRESETS = (
    Preset(0, 96, 8, 16, 2, 2000, 3e-3),
    Preset(20, 96, 12, 16, 2, 2000, 3e-3),
    Preset(40, 96, 16, 32, 3, 2000, 1.5e-3, qat=(0.2, 5e-4)),
    Preset(60, 96, 24, 32, 3, 1800, 1.5e-3, qat=(0.2, 5e-4)),
    Preset(80, 64, 24, 32, 3, 1200, 1.5e-3, qat=(0.2, 5e-4)),
    Preset(90, 48, 24, 32, 3, 1200, 1.5e-3, qat=(0.2, 5e-4)),
)
# Audio presets: partitions are samples along time (benchmarks/LEVERS.md, audio section); 10% of
# the samples per step for 2000 steps beat 5% for 3600 in less time (LEVERS.md, fourth round).
AUDIO_PRESETS = (
    Preset(0, 2048, 20, 32, 2, 2000, 3e-3, hertz=(370.0, 300.0), fraction=0.1),
)
ALPHA = (0.6, 0.15)
LOWEST_BPP = (0.0, 0.16, 0.4, 0.68, 1.5, 2.8)  # per preset at ALPHA[0], on corpus photos; for --bpp
ALPHA_RANGE, RATE_TOLERANCE = (1e-4, 200.0), 0.1  # rate control: alphas searched, allowed miss
DEFAULT_QUALITY = 75


@dataclass(frozen=True)
class Medium:
    """What differs between kinds of signal: the one table of per-medium defaults.

    The prior is found by kind and network (priors.default_for), so it needs no entry here.
    """

    presets: tuple[Preset, ...]  # by quality (preset())
    outputs: tuple[str, ...]  # decode output suffixes
    inputs: tuple[str, ...]  # source suffixes, what batch and bench pick up (encode tries Pillow on any other)
    signed: bool = False  # samples in [-1, 1] equal the network output (audio); else [0, 1] = 0.5 y + 0.5
    track_share: float = 0.0  # share of --kbps given to an audio track (video)


# Video, partitions as (frames, rows, columns): one network (the widest local net won at equal
# rate) whose partition size sets the rate; 2000 steps on 1% of the samples each keep a
# 5-s 320x240 clip within 10 minutes on 2 CPU cores (benchmarks/LEVERS.md, video section).
VIDEO_PRESETS = (
    Preset(0, (25, 120, 160), 24, 32, 3, 2000, 3e-3, fraction=0.01),  # 5x2x2 partitions on 125x240x320
    Preset(30, (16, 80, 107), 24, 32, 3, 2000, 3e-3, fraction=0.01),  # 8x3x3
    Preset(60, (12, 80, 80), 24, 32, 3, 2000, 3e-3, fraction=0.01),  # 10x3x4
    Preset(90, (8, 60, 64), 24, 32, 3, 2000, 3e-3, fraction=0.01),  # 16x4x5
)

MEDIA = {
    KIND_IMAGE: Medium(PRESETS, (".png", ".npy"), (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")),
    KIND_AUDIO: Medium(AUDIO_PRESETS, (".wav", ".flac", ".npy"),
                       (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".opus", ".aif", ".aiff"), signed=True),
    KIND_VIDEO: Medium(VIDEO_PRESETS, (".mp4", ".mkv", ".npy", ".wav", ".flac"),
                       (".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi"), track_share=0.125),
}
SOURCE_SUFFIXES = frozenset(s for m in MEDIA.values() for s in m.inputs)  # every kind's (batch, bench)


@dataclass
class Signal:
    """A sampled signal to encode: samples of shape extents + (channels,)."""

    kind: int
    samples: np.ndarray  # image/video in [0, 1] (float32, or float16 for video), audio in [-1, 1] (float32)
    bit_depth: int
    rate: float = 0.0  # samples per second along axis 0 (audio, video)

    @property
    def extents(self) -> tuple[int, ...]:
        return tuple(self.samples.shape[:-1])


def preset(quality: int, kind: int = KIND_IMAGE) -> Preset:
    """The preset of a kind of signal (KIND_IMAGE, ...) that serves ``quality``."""
    if not 0 <= quality <= 100:
        raise InrError(f"quality must be between 0 and 100, got {quality}")
    return [p for p in MEDIA[kind].presets if p.quality <= quality][-1]


def preset_for_bpp(bpp: float) -> Preset:
    """The largest preset whose rate at its coarsest quantizer (LOWEST_BPP) is at most ``bpp``.

    A smaller network quantized finely beats a larger one quantized coarsely (benchmarks/LEVERS.md).
    """
    ladder = MEDIA[KIND_IMAGE].presets
    fits = [p for p, low in zip(ladder, LOWEST_BPP) if low <= bpp]
    return fits[-1] if fits else ladder[0]


def _alpha_for_size(size: Callable[[float], int], target: float, guess: float = 0.3) -> float:
    """The quantizer share alpha whose ``size(alpha)`` is closest to ``target`` bytes (bisection on log alpha)."""
    lo, hi = math.log(ALPHA_RANGE[0]), math.log(ALPHA_RANGE[1])
    best = guess, abs(size(guess) - target)
    for _ in range(14):
        mid = (lo + hi) / 2
        got = size(math.exp(mid))
        if abs(got - target) < best[1]:
            best = math.exp(mid), abs(got - target)
        if got > target:
            lo = mid  # too big: quantize coarser
        else:
            hi = mid
        if best[1] < target * RATE_TOLERANCE / 4:
            break
    return best[0]


def alpha_for(quality: int, kind: int = KIND_IMAGE) -> float:
    """The quantizer's error share at ``quality``: log-interpolated across the preset's range."""
    p = preset(quality, kind)
    later = [q.quality for q in MEDIA[kind].presets if q.quality > p.quality]
    top = later[0] if later else 101
    t = (quality - p.quality) / (top - p.quality)
    return ALPHA[0] * (ALPHA[1] / ALPHA[0]) ** t


def pick_device(name: str):
    import torch

    if name not in ("auto", "cpu", "cuda"):
        raise InrError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InrError("--device cuda was asked for but no CUDA device is available")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------------- sources


def kind_of(path) -> int | None:
    """The kind of signal (KIND_IMAGE, ...) that a source file holds, by its suffix; None for a suffix no kind lists."""
    suffix = Path(path).suffix.lower()
    return next((kind for kind, m in MEDIA.items() if suffix in m.inputs), None)


def read_source(src) -> list[Signal]:
    """The signals of a source file, the primary one first (a video's audio track second);
    a file of a suffix no kind lists is read as an image if Pillow can."""
    kind = kind_of(src)
    if kind == KIND_AUDIO:
        from . import audio

        samples, rate, bit_depth = audio.load(src)
        return [Signal(KIND_AUDIO, samples, bit_depth, rate)]
    if kind == KIND_VIDEO:
        from . import video

        frames, rate, track = video.load(src)
        signals = [Signal(KIND_VIDEO, frames, 8, rate)]
        if track is not None:
            signals.append(Signal(KIND_AUDIO, track[0], 16, track[1]))
        return signals
    samples, bit_depth = media.load_image(src)
    return [Signal(KIND_IMAGE, samples, bit_depth)]


def partition_size(signal: Signal, p: Preset) -> tuple[int, ...]:
    """The partition size per axis without --partitions: the preset's, per axis or on every axis."""
    return p.partition if isinstance(p.partition, tuple) else (p.partition,) * len(signal.extents)


def _grid_for_budget(signal: Signal, p: Preset, arch: Arch, budget: float) -> tuple[int, ...]:
    """A partition grid whose stream should take about ``budget`` bytes at a middling quantizer
    (the quantizer is then set to meet the budget, _alpha_for_size)."""
    per_param = BYTES_PER_WEIGHT
    glob = sum(math.prod(s) for _, s in arch.global_tensors())
    local = sum(math.prod(s) for _, s in arch.local_tensors())
    per_partition = local * per_param + 2 * arch.naxes + 12 + BLOCK_OVERHEAD
    count = max(1.0, (budget - STREAM_OVERHEAD - glob * per_param) / per_partition)
    base = partition_size(signal, p)
    scale = (math.prod(e / b for e, b in zip(signal.extents, base)) / count) ** (1 / len(base))
    return tuple(max(1, min(e, round(e / (b * scale)))) for e, b in zip(signal.extents, base))


# Size model for --kbps: stored bytes per weight (class tables and rANS), and fixed costs.
BYTES_PER_WEIGHT = 0.85  # rough: a 3 s synthetic tone clip at the default alpha (0.21)
BLOCK_OVERHEAD = 4  # the rANS state that ends a local block
STREAM_OVERHEAD = 300  # four chunk headers, stream header, global steps and class tables


def _grid(signal: Signal, partitions, arch: Arch, kbps: float | None, p: Preset) -> tuple[int, ...]:
    if partitions is not None:
        grid = parse_partitions(partitions, len(signal.extents)) if isinstance(partitions, str) else tuple(partitions)
    elif kbps is not None:
        grid = _grid_for_budget(signal, p, arch, kbps * 125 * signal.extents[0] / signal.rate)
    else:
        grid = auto_grid(signal.extents, partition_size(signal, p))
    check_grid(signal.extents, grid)
    return grid


def first_layer(spans: tuple[float, float], hertz: tuple[float, float], omega: float) -> tuple[float, float]:
    """Initial first-layer scales (local, global net) that give a bandwidth in Hz.

    sin(omega * w * x) with |w| <= s over coordinates x in [-1, 1] spanning T seconds reaches
    omega * s / (pi * T) Hz; ``spans`` are a partition's duration (local) and the signal's
    (global), grid.durations.
    """
    return tuple(math.pi * t * f / omega for t, f in zip(spans, hertz))


def _first_layer(signal: Signal, p: Preset, grid) -> tuple[float, float]:
    """The preset's first-layer scales for ``signal`` (1, 1 where it gives no bandwidth in Hz)."""
    if p.hertz is None or not signal.rate:
        return 1.0, 1.0
    return first_layer(durations(signal.extents, grid, signal.rate), p.hertz, p.omega)


def _fit_values(signal: Signal) -> np.ndarray:
    """Samples in the fitting convention of fit.py, values in [0, 1]."""
    if MEDIA[signal.kind].signed:
        return (signal.samples + np.float32(1)) * np.float32(0.5)
    return signal.samples


# ---------------------------------------------------------------------------- encode


def encode(
    src,
    dst,
    *,
    quality: int = DEFAULT_QUALITY,
    bpp: float | None = None,
    iterations: int | None = None,
    partitions: str | tuple[int, ...] | None = None,
    kbps: float | None = None,
    device: str = "auto",
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    prior: str | None = "auto",
) -> dict:
    """Encode the image, audio or video ``src`` to the .inr file ``dst``; returns sizes, rate, quality, times.

    ``partitions`` is a grid written fastest axis first ('CxR' for an image, 'N' for audio,
    'CxRxT' for video) or a tuple in axis order; ``bpp`` (images) and ``kbps`` (audio, video)
    ask for a size instead of a quality, met within a few percent where the network can reach it;
    ``progress`` is called as progress(step, steps, psnr) during fitting, steps counting every stream.
    ``prior``: "auto" starts each stream from the installed prior of its kind that fits the
    quality's network (random init when none does), None from random init, else a prior name
    or path.
    """
    start = perf_counter()
    files.check_output(dst, src, force)
    if iterations is not None and iterations < 1:
        raise InrError(f"iterations must be at least 1, got {iterations}")
    for name, value in (("kbps", kbps), ("bpp", bpp)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InrError(f"{name} must be a positive number, got {value}")
    torch_device = pick_device(device)
    signals = read_source(src)
    if kbps is not None and signals[0].kind == KIND_IMAGE:
        raise InrError("--kbps applies to audio and video; use --quality or --bpp for images")
    if bpp is not None and signals[0].kind != KIND_IMAGE:
        raise InrError("--bpp applies to images; use --kbps for audio and video")
    chosen = [preset_for_bpp(bpp) if bpp is not None else preset(quality, s.kind) for s in signals]
    ends = list(itertools.accumulate(iterations or c.steps for c in chosen))  # progress counts every stream's steps
    budgets = [kbps] * len(signals) if kbps is None or len(signals) == 1 else [
        kbps * (1 - MEDIA[signals[0].kind].track_share), kbps * MEDIA[signals[0].kind].track_share]

    streams, used, alphas = [], [], []
    for n, (signal, p) in enumerate(zip(signals, chosen)):
        before = ends[n - 1] if n else 0
        report = None if progress is None else (lambda step, psnr, b=before: progress(b + step, ends[-1], psnr))
        target = (bpp * math.prod(signal.extents) / 8 if bpp is not None
                  else None if budgets[n] is None else budgets[n] * 125 * signal.extents[0] / signal.rate)
        job = dict(partitions=partitions if n == 0 else None, kbps=budgets[n], target=target, quality=quality,
                   iterations=iterations, seed=seed, device=torch_device, progress=report,
                   prior=prior if n == 0 else "auto")
        stream, start_from, alpha = _encode_signal(signal, p, **job)
        if bpp is not None:  # a rate this network cannot reach: refit with the next preset that way
            ladder = MEDIA[KIND_IMAGE].presets
            index, way = ladder.index(p), 1 if stream.size < target else -1
            while abs(stream.size / target - 1) > RATE_TOLERANCE and 0 <= index + way < len(ladder):
                index += way
                again = _encode_signal(signal, ladder[index], **job)
                if abs(again[0].size / target - 1) >= abs(stream.size / target - 1):
                    break
                (stream, start_from, alpha), chosen[n] = again, ladder[index]
        streams.append(stream.stream)
        used.append(start_from)
        alphas.append(alpha)
    fitted = perf_counter()
    data = container.write(streams)
    files.write_bytes(dst, data, src, force)

    # Each stream's size is that of a file holding it alone (its chunks, their headers, a file header).
    results = [_stream_result(s, signal, torch_device, start_from) | {"bytes": len(container.write([s])),
                                                                      "prior": start_from.name if start_from else None,
                                                                      "alpha": alpha}
               for s, signal, start_from, alpha in zip(container.read(data), signals, used, alphas)]
    return results[0] | {
        "input": str(src), "output": str(dst), "quality": None if bpp is not None else quality, "target_bpp": bpp,
        "iterations": iterations or chosen[0].steps, "device": str(torch_device), "bytes": len(data),
        **_rates(signals[0], len(data)), "fit_seconds": fitted - start, "encode_seconds": perf_counter() - start,
        "streams": results,
    }


@dataclass
class _Coded:
    stream: Stream
    size: int  # bytes of a file holding this stream alone


def _encode_signal(signal: Signal, p: Preset, *, partitions, kbps, target, quality, iterations, seed, device,
                   progress, prior) -> tuple[_Coded, object, float]:
    """Fit ``signal`` with preset ``p`` and quantize it: at the quality's alpha, or the alpha whose
    file is nearest ``target`` bytes. Returns the coded stream, the prior used and the alpha."""
    from .fit import FitSettings, finetune_quantized, fit, sensitivities

    steps = iterations or p.steps
    arch = Arch(len(signal.extents), signal.samples.shape[-1], p.depth, p.local_width, p.global_width, p.omega)
    grid = _grid(signal, partitions, arch, kbps, p)
    start_from = priors.for_encode(prior, KIND_NAMES[signal.kind], arch)
    if start_from is not None:  # an audio prior's first layers, scaled to this signal's durations
        start_from = start_from.scaled(signal.extents, grid, signal.rate)
    values = _fit_values(signal)
    share, qat_lr = p.qat  # longer QAT was measured on the depth-3 image presets only (benchmarks/LEVERS.md)
    settings = FitSettings(steps, lr=p.lr, fraction=p.fraction, seed=seed, qat_steps=max(1, int(steps * share)),
                           qat_lr=qat_lr, first=_first_layer(signal, p, grid))
    model = fit(values, grid, arch, settings, device, progress, start_from)
    mse, sens = sensitivities(model, values, grid, settings, device)
    sizes = [t.numel() for t in model.parameters()]
    full = tuple((0, e) for e in signal.extents)
    header = Header(signal.kind, arch.channels, signal.bit_depth, signal.extents, full, grid, arch, signal.rate)
    if start_from is not None:
        header = replace(header, quant=container.QUANT_RESIDUAL, prior_name=start_from.name,
                         prior_hash=start_from.sha256)

    def coded(alpha: float) -> _Coded:
        stream = _quantized_stream(model, header, steps_for(sizes, sens, mse, alpha), start_from)
        return _Coded(stream, len(container.write([stream])))

    def size_of(alpha: float) -> int:
        return coded(alpha).size

    alpha = alpha_for(quality, signal.kind) if target is None else _alpha_for_size(size_of, target)
    global_refs, local_refs = priors.references(start_from, arch)
    finetune_quantized(model, values, grid, steps_for(sizes, sens, mse, alpha), settings, device,
                       refs=global_refs + local_refs)
    out = coded(alpha)
    if target is not None and abs(out.size / target - 1) > RATE_TOLERANCE / 2:  # fine-tuning moved the rate
        alpha = _alpha_for_size(size_of, target, alpha)
        out = coded(alpha)
    return out, start_from, alpha


def _rates(signal: Signal | Header, size: int) -> dict:
    """bpp (images, video: per pixel of every frame) and kbps (audio, video) of ``size`` bytes."""
    shape = signal.extents if isinstance(signal, Signal) else signal.shape
    out = {}
    if signal.kind != KIND_AUDIO:
        out["bpp"] = 8 * size / math.prod(shape)
    if signal.kind != KIND_IMAGE:
        out["kbps"] = 8 * size / 1000 / (shape[0] / signal.rate)
    return out


def _stream_result(stream: Stream, signal: Signal, device, prior=None) -> dict:
    """Shape, grid and the quality of the decoded stream against its source (delivered forms)."""
    h = stream.header
    out = {"kind": KIND_NAMES[h.kind], "shape": list(h.shape), "channels": h.channels, "bit_depth": h.bit_depth,
           "partition_grid": list(h.grid)}
    if h.rate:
        out["rate"] = h.rate
    error = energy = 0.0
    for start, piece in _slabs(stream, h.crop, device, prior):
        source = signal.samples[start : start + len(piece)]
        ref, dec = (_delivered(h, np.asarray(x, np.float32)).astype(np.float64) for x in (source, piece))
        error += float(np.sum((ref - dec) ** 2))
        energy += float(np.sum(ref**2))
    count = math.prod(h.shape) * h.channels
    if h.kind == KIND_AUDIO:
        out["snr"] = float("inf") if error == 0 else 10 * math.log10(max(energy, 1e-30) / error)
    else:
        peak = 2**h.bit_depth - 1
        out["psnr"] = float("inf") if error == 0 else 10 * math.log10(peak**2 * count / error)
    return out


def _quantized_stream(model, header: Header, qsteps: list[float], prior=None) -> Stream:
    """The coded stream of a fitted model at per-tensor steps ``qsteps`` (model.parameters() order);
    tensors the prior covers are coded as residuals."""
    global_refs, local_refs = priors.references(prior, header.arch)
    global_values = priors.residuals([t.detach().cpu().numpy() for t in model.global_params], global_refs)
    local_values = priors.residuals([t.detach().cpu().numpy() for t in model.local_params], local_refs)  # (G, ...)
    global_q = [(s, quantize(v, s)) for v, s in zip(global_values, qsteps)]
    local_steps = qsteps[len(global_values):]
    per_part = [[quantize(v[g], s) for v, s in zip(local_values, local_steps)] for g in range(len(local_values[0]))]
    local_params = coding.local_params_for(per_part, local_steps)
    blocks = {pos: coding.encode_block(q, local_params) for pos, q in zip(all_partitions(header.grid), per_part)}
    return Stream(header, coding.encode_global(header.arch, global_q, local_params), blocks)


# ---------------------------------------------------------------------------- decode


def _delivered(h: Header, samples: np.ndarray) -> np.ndarray:
    """Samples in the form a decoder delivers them (FORMAT.md section 10)."""
    if h.kind == KIND_AUDIO:
        from . import audio

        return audio.delivered(samples, h.bit_depth)
    return samples if h.bit_depth == 32 else media.quantize_samples(samples, h.bit_depth)


def _slabs(stream: Stream, region: Box, device, prior=None) -> Iterator[tuple[int, np.ndarray]]:
    """(start, samples) pieces of ``region`` (original coordinates) along axis 0, start relative to region.

    ``prior`` (a Prior, name or path) overrides the installed prior a residual stream names.
    """
    import torch

    from .model import LocalGlobalINR
    from .render import image_values, render_slabs

    h = stream.header
    container.check_decode(h, region)
    if h.quant == container.QUANT_RESIDUAL:
        prior = (prior if isinstance(prior, priors.Prior) else priors.for_stream(h, prior)).scaled(h.extents, h.grid, h.rate)
    global_tensors, local_params = coding.decode_global(h.arch, stream.global_section)
    positions = sorted(stream.blocks)
    local_tensors = coding.decode_blocks(h.arch, [stream.blocks[p] for p in positions], local_params,
                                         [f"local block {p}" for p in positions])
    if h.quant == container.QUANT_RESIDUAL:
        global_refs, local_refs = priors.references(prior, h.arch)
        global_tensors, local_tensors = priors.add_back(global_tensors, global_refs), priors.add_back(local_tensors, local_refs)
    model = LocalGlobalINR(h.arch, len(positions), init=False).to(device)
    model.load_quantized(global_tensors, local_tensors)
    values = (lambda y: torch.clamp(y, -1, 1)) if MEDIA[h.kind].signed else image_values
    return render_slabs(model, positions, h.extents, h.grid, region, device, values)


def _render(stream: Stream, region: Box, device, prior=None) -> np.ndarray:
    h = stream.header
    out = np.empty([e - s for s, e in region] + [h.channels], np.float32)
    for start, piece in _slabs(stream, region, device, prior):
        out[start : start + len(piece)] = piece
    return out


def _to_original(header: Header, box: Box | None) -> Box:
    """A box relative to the current (cropped) signal, in original coordinates."""
    if box is None:
        return header.crop
    return tuple((c0 + s, c0 + e) for (c0, _), (s, e) in zip(header.crop, box))


def _box_region(h: Header, box) -> Box:
    """The region of a stream selected by a spatial box 'x0,y0,x1,y1' (image or video), original coordinates."""
    if box is None:
        return h.crop
    if h.kind == KIND_AUDIO:
        raise InrError("--box applies to images and video; use --samples or --time for audio")
    text = box if isinstance(box, str) else ",".join(map(str, box))
    spatial = parse_box(text, h.shape[-2:])
    return _to_original(h, tuple((0, n) for n in h.shape[:-2]) + spatial)


def _streams(src) -> tuple[bytes, list[Stream]]:
    """The bytes and streams of an .inr file given by path or as its bytes."""
    data = src if isinstance(src, bytes) else files.read_bytes(src)
    return data, container.read(data)


def _pick(streams: list[Stream], kind: int | None) -> Stream:
    """Stream 0, or the first stream of ``kind`` (a video's audio track) when asked for."""
    if kind is None or streams[0].header.kind == kind:
        return streams[0]
    for s in streams:
        if s.header.kind == kind:
            return s
    raise InrError(f"the file holds no {KIND_NAMES[kind]} stream (it holds {KIND_NAMES[streams[0].header.kind]})")


def decode_array(src, *, box=None, device: str = "auto", kind: str | None = None, prior: str | None = None) -> np.ndarray:
    """Decoded samples of an .inr file as float32 extents + (channels,).

    Images and video in [0, 1] ((height, width, C) or (frames, height, width, C)), audio in
    [-1, 1] ((samples, C)). ``kind`` ('audio') picks a video's audio track. ``prior``: name or
    path of the prior the file was made with (default: the installed one it names).
    """
    wanted = None if kind is None else {v: k for k, v in KIND_NAMES.items()}.get(kind)
    if kind is not None and wanted is None:
        raise InrError(f"kind must be image, audio or video, got {kind!r}")
    stream = _pick(_streams(src)[1], wanted)
    return _render(stream, _box_region(stream.header, box), pick_device(device), prior)


def decode(src, dst, *, box=None, device: str = "auto", force: bool = False, crf: int | None = None,
           prior: str | None = None) -> dict:
    """Decode ``src`` to ``dst``, the format taken from the suffix.

    Images: .png (8 or 16 bits, as the source) or .npy. Audio: .wav, .flac or .npy. Video:
    .mp4 (H.264 at ``crf``, audio track as AAC), .mkv (lossless FFV1, audio track as FLAC) or
    .npy (video samples only); .wav or .flac of a video file writes its audio track.
    """
    start = perf_counter()
    suffix = Path(dst).suffix.lower()
    _, streams = _streams(src)
    kind = streams[0].header.kind
    if suffix not in MEDIA[kind].outputs:
        raise InrError(f"cannot write {suffix or 'files without a suffix'}: a {KIND_NAMES[kind]} file decodes to "
                       + ", ".join(MEDIA[kind].outputs))
    files.check_output(dst, src, force)
    stream = _pick(streams, KIND_AUDIO if suffix in (".wav", ".flac") else None)
    h, device = stream.header, pick_device(device)
    if suffix != ".npy" and (h.bit_depth == 32 and h.kind == KIND_IMAGE or h.bit_depth != 8 and h.kind == KIND_VIDEO):
        raise InrError(f"this {KIND_NAMES[h.kind]} has {h.bit_depth}-bit samples, which {suffix} cannot hold here: "
                       f"decode to .npy")
    region = _box_region(h, box)
    shape = [e - s for s, e in region]
    if suffix == ".npy":
        with files.writing(dst, src, force) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(*shape, h.channels))
            for first, piece in _slabs(stream, region, device, prior):
                out[first : first + len(piece)] = piece
            out.flush()
            del out
    elif h.kind == KIND_IMAGE:
        files.write_bytes(dst, media.png_bytes(_delivered(h, _render(stream, region, device, prior))), src, force)
    elif h.kind == KIND_AUDIO:
        from . import audio

        samples = _delivered(h, _render(stream, region, device, prior))
        files.write_bytes(dst, audio.file_bytes(samples, h.rate, suffix), src, force)
    else:
        from . import video

        track = next((s for s in streams[1:] if s.header.kind == KIND_AUDIO), None)
        sound = None if track is None else (_delivered(track.header, _render(track, track.header.crop, device)),
                                            track.header.rate)
        frames = ((_delivered(h, piece) for _, piece in _slabs(stream, region, device, prior)))
        with files.writing(dst, src, force) as tmp:
            video.write(tmp, suffix, frames, shape[1:], h.rate, sound, crf)
    return {"input": str(src), "output": str(dst), "kind": KIND_NAMES[h.kind], "shape": shape,
            "bytes": Path(dst).stat().st_size, "decode_seconds": perf_counter() - start}


# ---------------------------------------------------------------------------- crop and info


def _range(text, length: int, rate: float | None, what: str) -> tuple[int, int]:
    """'A:B' (either side may be empty) to [first, end) along axis 0 of ``length`` samples.

    Integers index samples or frames directly; with ``rate`` the numbers are seconds and the
    range is [floor(A * rate), ceil(B * rate)), computed exactly.
    """
    if isinstance(text, (tuple, list)):
        text = ":".join("" if v is None else str(v) for v in text)
    try:
        a, b = str(text).split(":")
        lo = Fraction(a) if a.strip() else Fraction(0)
        hi = Fraction(b) if b.strip() else None
        if rate is None and (lo.denominator != 1 or (hi is not None and hi.denominator != 1)):
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise InrError(f"{what} must look like A:B, got {text!r}") from None
    if rate is not None:
        r = Fraction(rate)
        lo, hi = math.floor(lo * r), None if hi is None else math.ceil(hi * r)
    first, end = int(lo), length if hi is None else min(int(hi), length)
    if not 0 <= first < end:
        raise InrError(f"{what} {text} selects nothing of the {length} samples")
    return first, end


def _track_box(video: Header, track: Header) -> Box | None:
    """The crop box of an audio track that keeps the time span of the video's crop box (FORMAT.md 11)."""
    ratio = Fraction(track.rate) / Fraction(video.rate)
    f0, f1 = video.crop[0]
    a0, a1 = (math.floor(f * ratio + Fraction(1, 2)) for f in (f0, f1))
    (t0, t1), = track.crop
    lo, hi = max(a0, t0), min(a1, t1)
    return ((lo, hi),) if lo < hi else None


def crop(src, dst, box=None, *, time=None, frames=None, samples=None, force: bool = False) -> dict:
    """Keep the partitions of ``src`` that intersect a region of the current signal.

    ``box`` 'x0,y0,x1,y1' (pixels; images, video), ``time`` 'S:E' (seconds; audio, video),
    ``frames`` 'A:B' (video) and ``samples`` 'A:B' (audio), end-exclusive. A video's audio
    track is cut to the time span of the kept frames.
    """
    start = perf_counter()
    files.check_output(dst, src, force)
    data, streams = _streams(src)
    h = streams[0].header
    if box is None and time is None and frames is None and samples is None:
        raise InrError("crop needs a region: --box, --time, --frames or --samples")
    allowed = {KIND_IMAGE: {"box"}, KIND_AUDIO: {"time", "samples"}, KIND_VIDEO: {"box", "time", "frames"}}[h.kind]
    given = {k for k, v in (("box", box), ("time", time), ("frames", frames), ("samples", samples)) if v is not None}
    if given - allowed:
        raise InrError(f"--{sorted(given - allowed)[0]} does not apply to {KIND_NAMES[h.kind]} files")
    if time is not None and frames is not None:
        raise InrError("give --time or --frames, not both")
    region = list(_box_region(h, box))
    if time is not None or frames is not None or samples is not None:
        text = next(v for v in (time, frames, samples) if v is not None)
        what = "--time" if time is not None else "--frames" if frames is not None else "--samples"
        first, end = _range(text, h.shape[0], h.rate if time is not None else None, what)
        region[0] = (h.crop[0][0] + first, h.crop[0][0] + end)
    out_streams = [container.cropped(streams[0], tuple(region))]
    for other in streams[1:]:
        if other.header.kind == KIND_AUDIO and h.kind == KIND_VIDEO and (time is not None or frames is not None):
            kept = _track_box(out_streams[0].header, other.header)
            if kept is not None:
                out_streams.append(container.cropped(other, kept))
        else:
            out_streams.append(other)
    out = container.write(out_streams)
    files.write_bytes(dst, out, src, force)
    return {"input": str(src), "output": str(dst), "bytes_in": len(data), "bytes": len(out),
            "streams": len(out_streams), "crop_seconds": perf_counter() - start}


def _stream_info(s: Stream) -> dict:
    h = s.header
    local = sum(len(b) for b in s.blocks.values())
    out = {
        "kind": KIND_NAMES[h.kind],
        "shape": list(h.shape),
        "channels": h.channels,
        "bit_depth": h.bit_depth,
        "original_shape": list(h.extents),
        "crop_box": [[a, b] for a, b in h.crop],
        "partition_grid": list(h.grid),
        "partitions_present": len(s.blocks),
        "partitions_total": math.prod(h.grid),
        "architecture": {"depth": h.arch.depth, "local_width": h.arch.local_width,
                         "global_width": h.arch.global_width, "omega": h.arch.omega},
        "bytes_global": len(s.global_section),
        "bytes_local": local,
        "prior": {"name": h.prior_name, "sha256": h.prior_hash.hex()} if h.prior_name else None,
    }
    if h.kind != KIND_IMAGE:
        out |= {"rate": h.rate, "duration": h.shape[0] / h.rate}
    return out


def info(src) -> dict:
    """What an .inr file holds, as a dict (the keys of ``inrcodec info --json``).

    The top-level keys describe stream 0 and the whole file; ``streams`` lists every stream.
    """
    data, streams = _streams(src)
    per_stream = [_stream_info(s) for s in streams]
    return per_stream[0] | {"bytes_total": len(data), **_rates(streams[0].header, len(data)), "streams": per_stream}

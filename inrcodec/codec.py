"""The public API: encode, decode, crop and info, mirroring the command line.

``crop`` and ``info`` work on the container alone and never import torch.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import coding, container, files, media
from .arch import Arch
from .container import Header, Stream
from .errors import InrError
from .grid import Box, all_partitions, auto_grid, check_grid, parse_box, parse_partitions
from .quant import quantize, steps_for


@dataclass(frozen=True)
class Preset:
    quality: int  # the lowest quality this preset serves
    partition: int  # target partition size in pixels when --partitions is not given
    local_width: int
    global_width: int
    depth: int
    steps: int  # float fitting steps; a twentieth as many again with the quantizer in the loop
    lr: float  # peak learning rate: deeper, wider networks need a lower one (benchmarks/LEVERS.md)


# Ordered by quality; each preset serves qualities from its own up to the next one's, and
# within it the quantizer's error share alpha falls from ALPHA[0] to ALPHA[1] as quality rises.
# Chosen from the sweep in benchmarks/LEVERS.md (rate-distortion frontier on corpus photos).
PRESETS = (
    Preset(0, 96, 8, 16, 2, 2000, 3e-3),
    Preset(20, 96, 12, 16, 2, 2000, 3e-3),
    Preset(40, 96, 16, 32, 3, 1600, 1.5e-3),
    Preset(60, 96, 24, 32, 3, 1200, 1.5e-3),
    Preset(80, 64, 24, 32, 3, 1200, 1.5e-3),
    Preset(90, 48, 24, 32, 3, 1200, 1.5e-3),
)
ALPHA = (0.6, 0.15)
LOWEST_BPP = (0.0, 0.16, 0.4, 0.68, 1.5, 2.8)  # per preset at ALPHA[0], on corpus photos; for --bpp
ALPHA_RANGE, RATE_TOLERANCE = (0.005, 200.0), 0.1  # rate control: alphas searched, allowed miss
DEFAULT_QUALITY = 75


def preset(quality: int) -> Preset:
    if not 0 <= quality <= 100:
        raise InrError(f"quality must be between 0 and 100, got {quality}")
    return [p for p in PRESETS if p.quality <= quality][-1]


def preset_for_bpp(bpp: float) -> Preset:
    """The largest preset whose rate at its coarsest quantizer (LOWEST_BPP) is at most ``bpp``.

    A smaller network quantized finely beats a larger one quantized coarsely (benchmarks/LEVERS.md).
    """
    fits = [p for p, low in zip(PRESETS, LOWEST_BPP) if low <= bpp]
    return fits[-1] if fits else PRESETS[0]


def _alpha_for_size(coded, target: float, guess: float = 0.3) -> float:
    """The quantizer share alpha whose file is closest to ``target`` bytes (bisection on log alpha)."""
    lo, hi = math.log(ALPHA_RANGE[0]), math.log(ALPHA_RANGE[1])
    best = guess, abs(len(coded(guess)) - target)
    for _ in range(14):
        mid = (lo + hi) / 2
        size = len(coded(math.exp(mid)))
        if abs(size - target) < best[1]:
            best = math.exp(mid), abs(size - target)
        if size > target:
            lo = mid  # too big: quantize coarser
        else:
            hi = mid
        if best[1] < target * RATE_TOLERANCE / 4:
            break
    return best[0]


def alpha_for(quality: int) -> float:
    """The quantizer's error share at ``quality``: log-interpolated across the preset's range."""
    p = preset(quality)
    later = [q.quality for q in PRESETS if q.quality > p.quality]
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


def _box_arg(box, shape) -> Box | None:
    """A box given as 'x0,y0,x1,y1' or a 4-tuple, checked against the image shape."""
    if box is None:
        return None
    return parse_box(box if isinstance(box, str) else ",".join(map(str, box)), shape)


def _to_original(header: Header, box: Box | None) -> Box:
    """A box relative to the current (cropped) signal, in original coordinates."""
    if box is None:
        return header.crop
    return tuple((c0 + s, c0 + e) for (c0, _), (s, e) in zip(header.crop, box))


def _image_stream(data: bytes) -> Stream:
    streams = container.read(data)
    stream = streams[0]
    if stream.header.kind != container.KIND_IMAGE:
        raise InrError(f"this decoder handles images; the file holds {container.KIND_NAMES[stream.header.kind]}")
    return stream


# ---------------------------------------------------------------------------- encode


def encode(
    src,
    dst,
    *,
    quality: int = DEFAULT_QUALITY,
    bpp: float | None = None,
    iterations: int | None = None,
    partitions: str | tuple[int, int] | None = None,
    device: str = "auto",
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Encode the image ``src`` to the .inr file ``dst``; returns sizes, rate, quality, times.

    ``bpp`` asks for a rate instead of a quality (bits per pixel of the whole file, met within
    a few percent where the network can reach it). ``partitions`` is 'CxR' (columns x rows)
    or a (rows, cols) grid; ``progress`` is called as progress(step, steps, psnr) during fitting.
    """
    from .fit import FitSettings, finetune_quantized, fit, sensitivities

    start = time.perf_counter()
    files.check_output(dst, src, force)
    if bpp is not None and not (math.isfinite(bpp) and bpp > 0):
        raise InrError(f"bpp must be a positive number, got {bpp}")
    p = preset(quality) if bpp is None else preset_for_bpp(bpp)
    if iterations is not None and iterations < 1:
        raise InrError(f"iterations must be at least 1, got {iterations}")
    samples, bit_depth = media.load_image(src)
    shape = samples.shape[:2]
    torch_device = pick_device(device)
    target = None if bpp is None else bpp * math.prod(shape) / 8

    def attempt(p: Preset):
        """Fit with preset ``p``; the file's bytes at the quality's alpha, or nearest ``target``."""
        steps = iterations or p.steps
        grid = parse_partitions(partitions) if isinstance(partitions, str) else tuple(partitions or auto_grid(shape, p.partition))
        check_grid(shape, grid)
        arch = Arch(2, samples.shape[2], p.depth, p.local_width, p.global_width)
        settings = FitSettings(steps, lr=p.lr, seed=seed, qat_steps=max(1, steps // 20))
        model = fit(
            samples, grid, arch, settings, torch_device,
            None if progress is None else (lambda step, psnr: progress(step, steps, psnr)),
        )
        mse, sens = sensitivities(model, samples, grid, settings, torch_device)
        sizes = [t.numel() for t in model.parameters()]
        header = Header(container.KIND_IMAGE, arch.channels, bit_depth, shape, ((0, shape[0]), (0, shape[1])), grid, arch)

        def coded(alpha: float) -> bytes:
            return container.write([_quantized_stream(model, header, steps_for(sizes, sens, mse, alpha))])

        alpha = alpha_for(quality) if target is None else _alpha_for_size(coded, target)
        finetune_quantized(model, samples, grid, steps_for(sizes, sens, mse, alpha), settings, torch_device)
        data = coded(alpha)
        if target is not None and abs(len(data) / target - 1) > RATE_TOLERANCE / 2:  # fine-tuning moved the rate
            alpha = _alpha_for_size(coded, target, alpha)
            data = coded(alpha)
        return data, alpha, grid, arch, steps

    index = PRESETS.index(p)
    data, alpha, grid, arch, steps = attempt(p)
    if target is not None:  # a rate this network cannot reach: refit with the next preset that way
        way = 1 if len(data) < target else -1
        while abs(len(data) / target - 1) > RATE_TOLERANCE and 0 <= index + way < len(PRESETS):
            index += way
            again = attempt(PRESETS[index])
            if abs(len(again[0]) / target - 1) >= abs(len(data) / target - 1):
                break
            data, alpha, grid, arch, steps = again
    fitted = time.perf_counter()
    files.write_bytes(dst, data, src, force)

    decoded = _render(_image_stream(data), None, torch_device)
    peak = 2**bit_depth - 1
    psnr = media.psnr(media.quantize_samples(samples, bit_depth), media.quantize_samples(decoded, bit_depth), peak)
    return {
        "input": str(src), "output": str(dst), "shape": list(shape), "channels": arch.channels,
        "bit_depth": bit_depth, "partition_grid": list(grid), "quality": None if bpp is not None else quality,
        "target_bpp": bpp, "alpha": alpha, "iterations": steps,
        "device": str(torch_device), "bytes": len(data), "bpp": 8 * len(data) / math.prod(shape),
        "psnr": psnr, "fit_seconds": fitted - start, "encode_seconds": time.perf_counter() - start,
    }


def _quantized_stream(model, header: Header, qsteps: list[float]) -> Stream:
    global_values = [t.detach().cpu().numpy() for t in model.global_params]
    local_values = [t.detach().cpu().numpy() for t in model.local_params]  # (G, ...) each
    global_q = [(s, quantize(v, s)) for v, s in zip(global_values, qsteps)]
    local_steps = qsteps[len(global_values):]
    per_part = [[quantize(v[g], s) for v, s in zip(local_values, local_steps)] for g in range(len(local_values[0]))]
    local_params = coding.local_params_for(per_part, local_steps)
    blocks = {pos: coding.encode_block(q, local_params) for pos, q in zip(all_partitions(header.grid), per_part)}
    return Stream(header, coding.encode_global(header.arch, global_q, local_params), blocks)


# ---------------------------------------------------------------------------- decode


def _render(stream: Stream, box: Box | None, device) -> np.ndarray:
    """Samples (float32 in [0, 1]) of ``box`` (relative to the current crop) of an image stream."""
    from .model import LocalGlobalINR
    from .render import render

    h = stream.header
    region = _to_original(h, box)
    global_tensors, local_params = coding.decode_global(h.arch, stream.global_section)
    positions = sorted(stream.blocks)
    per_part = [coding.decode_block(h.arch, stream.blocks[p], local_params, f"local block {p}") for p in positions]
    local_tensors = [np.stack(t) for t in zip(*per_part)]
    model = LocalGlobalINR(h.arch, len(positions)).to(device)
    model.load_quantized(global_tensors, local_tensors)
    return render(model, positions, h.extents, h.grid, region, device)


def decode_array(src, *, box=None, device: str = "auto") -> np.ndarray:
    """Decoded samples of an .inr image as float32 (height, width, channels) in [0, 1]."""
    stream = _image_stream(files.read_bytes(src))
    return _render(stream, _box_arg(box, stream.header.shape), pick_device(device))


def decode(src, dst, *, box=None, device: str = "auto", force: bool = False) -> dict:
    """Decode ``src`` to ``dst``: .png (8 or 16 bits, as the source) or .npy (float32 samples)."""
    start = time.perf_counter()
    suffix = Path(dst).suffix.lower()
    if suffix not in (".png", ".npy"):
        raise InrError(f"cannot write {suffix or 'files without a suffix'}: decode writes .png or .npy")
    files.check_output(dst, src, force)
    stream = _image_stream(files.read_bytes(src))
    samples = _render(stream, _box_arg(box, stream.header.shape), pick_device(device))
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, samples, allow_pickle=False)
        data = buffer.getvalue()
    else:
        data = media.png_bytes(media.quantize_samples(samples, stream.header.bit_depth))
    files.write_bytes(dst, data, src, force)
    return {"input": str(src), "output": str(dst), "shape": list(samples.shape[:2]),
            "bytes": len(data), "decode_seconds": time.perf_counter() - start}


# ---------------------------------------------------------------------------- crop and info


def crop(src, dst, box, *, force: bool = False) -> dict:
    """Keep the partitions of ``src`` that intersect ``box`` (pixels of the current image)."""
    start = time.perf_counter()
    files.check_output(dst, src, force)
    data = files.read_bytes(src)
    streams = container.read(data)
    if len(streams) != 1 or streams[0].header.kind != container.KIND_IMAGE:
        raise InrError("crop --box handles single-stream image files")
    stream = streams[0]
    region = _to_original(stream.header, _box_arg(box, stream.header.shape))
    out = container.write([container.cropped(stream, region)])
    files.write_bytes(dst, out, src, force)
    return {"input": str(src), "output": str(dst), "bytes_in": len(data), "bytes": len(out),
            "crop_seconds": time.perf_counter() - start}


def info(src) -> dict:
    """What an .inr file holds, as a dict (the keys of ``inrcodec info --json``)."""
    data = files.read_bytes(src)
    streams = container.read(data)
    h = streams[0].header
    s = streams[0]
    local = sum(len(b) for b in s.blocks.values())
    shape = list(h.shape)
    return {
        "kind": container.KIND_NAMES[h.kind],
        "shape": shape,
        "channels": h.channels,
        "bit_depth": h.bit_depth,
        "original_shape": list(h.extents),
        "crop_box": [[a, b] for a, b in h.crop],
        "partition_grid": list(h.grid),
        "partitions_present": len(s.blocks),
        "partitions_total": math.prod(h.grid),
        "architecture": {"depth": h.arch.depth, "local_width": h.arch.local_width,
                         "global_width": h.arch.global_width, "omega": h.arch.omega},
        "bytes_total": len(data),
        "bytes_global": len(s.global_section),
        "bytes_local": local,
        "bpp": 8 * len(data) / math.prod(shape),
        "prior": {"name": h.prior_name, "sha256": h.prior_hash.hex()} if h.prior_name else None,
        "streams": len(streams),
    }

"""Lever experiments: fit one configuration, then quantize at several alphas, with and without QAT.

    python benchmarks/levers.py CONFIGS.json [--device cpu|cuda] > results.jsonl

CONFIGS.json is a list of dicts with keys image, crop (side of a centre crop, or null),
partition (px), wl, wg, depth, steps, lr, fraction, alphas (list), qat_steps, qat_lr, seed.
Rates are ideal: the order-0 entropy of each tensor's symbols (local tensors pooled over
partitions, the shared model coder.py uses) plus 4 bytes per tensor for its step; PSNR is on
8-bit pixels of the rendered image. One JSON line per (config, alpha, qat).
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch
from PIL import Image

from inrcodec.arch import Arch
from inrcodec.fit import FitSettings, finetune_quantized, fit, sensitivities
from inrcodec.grid import all_partitions, auto_grid
from inrcodec.quant import dequantize, entropy_bits, quantize, steps_for
from inrcodec.render import render

DEFAULTS = dict(crop=None, partition=64, wl=20, wg=32, depth=2, steps=1000, lr=2e-3, fraction=0.1,
                alphas=[0.25], qat_steps=0, qat_lr=2e-4, seed=0, omega=30.0)


def load(path, crop):
    px = np.asarray(Image.open(path).convert("RGB"))
    if crop:
        h, w = px.shape[:2]
        y, x = (h - crop) // 2, (w - crop) // 2
        px = px[y : y + crop, x : x + crop]
    return px


def psnr8(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse) if mse > 0 else 99.0


def rendered(model, shape, grid, device):
    full = ((0, shape[0]), (0, shape[1]))
    v = render(model, all_partitions(grid), shape, grid, full, device)
    return np.rint(np.clip(v, 0, 1) * 255).astype(np.uint8)


def quantized_copy(model, steps):
    import copy

    q = copy.deepcopy(model)
    symbols = []
    with torch.no_grad():
        for p, s in zip(q.parameters(), steps):
            sym = quantize(p.detach().cpu().numpy(), s)
            symbols.append(sym)
            p.copy_(torch.from_numpy(dequantize(sym, s)))
    return q, symbols


def ideal_bits(symbols, n_global):
    return sum(entropy_bits(s) for s in symbols) + 32 * len(symbols)


def run(cfg, device):
    cfg = {**DEFAULTS, **cfg}
    px = load(cfg["image"], cfg["crop"])
    samples = px.astype(np.float32) / 255
    shape = px.shape[:2]
    grid = auto_grid(shape, cfg["partition"])
    arch = Arch(2, 3, cfg["depth"], cfg["wl"], cfg["wg"], cfg["omega"])
    settings = FitSettings(cfg["steps"], lr=cfg["lr"], fraction=cfg["fraction"], seed=cfg["seed"],
                           qat_steps=cfg["qat_steps"], qat_lr=cfg["qat_lr"])
    t0 = time.perf_counter()
    model = fit(samples, grid, arch, settings, device)
    t_fit = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    base = dict(cfg, grid=list(grid), params=params, fit_s=t_fit, psnr_float=psnr8(px, rendered(model, shape, grid, device)))
    mse, sens = sensitivities(model, samples, grid, settings, device)
    sizes = [p.numel() for p in model.parameters()]
    n_global = len(arch.global_tensors())
    for alpha in cfg["alphas"]:
        steps = steps_for(sizes, sens, mse, alpha)
        q, symbols = quantized_copy(model, steps)
        bits = ideal_bits(symbols, n_global)
        out = dict(base, alpha=alpha, qat=0, bpp=bits / math.prod(shape), psnr=psnr8(px, rendered(q, shape, grid, device)),
                   max_symbol=int(max(np.abs(s).max() for s in symbols)))
        print(json.dumps(out), flush=True)
        if cfg["qat_steps"]:
            import copy

            t1 = time.perf_counter()
            m2 = finetune_quantized(copy.deepcopy(model), samples, grid, steps, settings, device)
            q, symbols = quantized_copy(m2, steps)
            bits = ideal_bits(symbols, n_global)
            out = dict(base, alpha=alpha, qat=cfg["qat_steps"], qat_s=time.perf_counter() - t1,
                       bpp=bits / math.prod(shape), psnr=psnr8(px, rendered(q, shape, grid, device)))
            print(json.dumps(out), flush=True)


def main():
    configs = json.load(open(sys.argv[1]))
    device = torch.device(sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    for cfg in configs:
        run(cfg, device)


if __name__ == "__main__":
    main()

"""Distortion measures, computed on decoded samples in their delivered form.

PSNR and SNR are the textbook formulas. MS-SSIM follows Wang, Simoncelli and Bovik (2003):
an 11-tap Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, five scales with weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 mean pooling between scales (an odd last row or
column is dropped), negative terms clipped to 0, computed per channel and averaged over channels.
An image too small for five scales uses the scales that fit (the window must fit at the
coarsest), with their weights renormalized to sum to one; one smaller than the window has none.
Checked against pytorch-msssim 1.0 on photos: equal to 1e-5 (it filters in float32).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA = 11, 1.5


def psnr(reference: np.ndarray, decoded: np.ndarray, peak: float) -> float:
    """PSNR in dB over all samples and channels, on integer (delivered) samples."""
    mse = np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def snr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: signal energy over error energy, over all samples."""
    ref = reference.astype(np.float64)
    noise = np.sum((ref - decoded.astype(np.float64)) ** 2)
    signal = np.sum(ref**2)
    return float("inf") if noise == 0 else float(10 * np.log10(signal / noise)) if signal > 0 else float("-inf")


def _gaussian() -> np.ndarray:
    x = np.arange(WINDOW) - WINDOW // 2
    g = np.exp(-(x**2) / (2 * SIGMA**2))
    return g / g.sum()


def _filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (H, W, C) with the 1-D window g on both image axes."""
    x = sliding_window_view(x, len(g), axis=0) @ g
    return sliding_window_view(x, len(g), axis=1) @ g


def _ssim_terms(x: np.ndarray, y: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel means of the contrast-structure term and of the full SSIM map, at one scale."""
    g = _gaussian()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _filter(x, g), _filter(y, g)
    vx = _filter(x * x, g) - mx * mx
    vy = _filter(y * y, g) - my * my
    cxy = _filter(x * y, g) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return cs.mean(axis=(0, 1)), (lum * cs).mean(axis=(0, 1))


def _pool(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image of this size gets (0: smaller than the window)."""
    side = min(height, width)
    return max(0, min(len(MS_SSIM_WEIGHTS), int(math.floor(math.log2(side / WINDOW))) + 1)) if side >= WINDOW else 0


def ms_ssim(reference: np.ndarray, decoded: np.ndarray, peak: float = 255) -> float | None:
    """MS-SSIM of two (H, W) or (H, W, C) images of the same shape; None when too small."""
    x = reference.astype(np.float64)
    y = decoded.astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    scales = ms_ssim_scales(*x.shape[:2])
    if scales == 0:
        return None
    weights = np.array(MS_SSIM_WEIGHTS[:scales])
    if scales < len(MS_SSIM_WEIGHTS):
        weights /= weights.sum()
    value = np.ones(x.shape[2])
    for scale, w in enumerate(weights):
        cs, full = _ssim_terms(x, y, peak)
        last = scale == scales - 1
        value *= np.maximum(full if last else cs, 0) ** w
        if not last:
            x, y = _pool(x), _pool(y)
    return float(value.mean())

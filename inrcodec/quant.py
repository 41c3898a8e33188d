"""Uniform scalar quantization of weight tensors to signed integers, one step per tensor.

The steps are spread over the tensors by rate-distortion: a tensor whose weights move the
error by ``h`` per unit of noise variance gets the step ``k / sqrt(h)`` (at equal slope of
distortion against rate, every tensor then adds the same error per weight, ``k^2 / 12``),
and ``k`` is set so that quantization adds ``alpha`` times the fitted model's error.
"""

from __future__ import annotations

import math

import numpy as np


def steps_for(sizes: list[int], sensitivities: list[float], mse: float, alpha: float) -> list[float]:
    """Per-tensor steps (float32 values) for tensors of ``sizes`` elements and ``sensitivities``."""
    k = math.sqrt(12 * alpha * max(mse, 1e-12) / max(1, sum(sizes)))
    return [float(np.float32(k / math.sqrt(h))) for h in sensitivities]


def quantize(values: np.ndarray, step: float) -> np.ndarray:
    return np.rint(np.asarray(values, np.float64) / step).astype(np.int32)


def dequantize(symbols: np.ndarray, step: float) -> np.ndarray:
    """Exactly as the format specifies: float32(symbol) * float32(step), in float32."""
    return symbols.astype(np.float32) * np.float32(step)


def entropy_bits(symbols: np.ndarray) -> float:
    """Empirical order-0 entropy of ``symbols``, in bits in all."""
    if symbols.size == 0:
        return 0.0
    counts = np.unique(symbols, return_counts=True)[1].astype(np.float64)
    return float(-(counts * np.log2(counts / symbols.size)).sum())

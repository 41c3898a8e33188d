"""Uniform scalar quantization of weight tensors to signed integers, one step per tensor."""

from __future__ import annotations

import numpy as np


def step_for(values: np.ndarray, bits: int) -> float:
    """The step that maps the largest magnitude in ``values`` to the largest ``bits``-bit symbol."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    top = 2 ** (bits - 1) - 1
    return float(np.float32(peak / top)) if peak > 0 else 1.0


def quantize(values: np.ndarray, step: float) -> np.ndarray:
    return np.rint(np.asarray(values, np.float64) / step).astype(np.int32)


def dequantize(symbols: np.ndarray, step: float) -> np.ndarray:
    """Exactly as the format specifies: float32(symbol) * float32(step), in float32."""
    return symbols.astype(np.float32) * np.float32(step)

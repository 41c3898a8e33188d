"""Comparing rate-distortion curves: Bjøntegaard deltas and quality at a given rate.

A curve is a sequence of (rate, quality) points, e.g. (bpp, PSNR). Bjøntegaard's method
(VCEG-M33, 2001): fit a cubic polynomial (degree n-1 below four points) to each curve, log-rate
as a function of quality for the delta rate and quality as a function of log-rate for the delta
quality, and average the difference of the two fits over the range where the curves overlap.
"""

from __future__ import annotations

import numpy as np

def _points(curve) -> tuple[np.ndarray, np.ndarray]:
    rates, quality = np.asarray(curve, dtype=np.float64).reshape(-1, 2).T
    if len(rates) < 2:
        raise ValueError("a curve needs at least two points")
    if np.any(rates <= 0) or not np.all(np.isfinite(quality)):
        raise ValueError("rates must be positive and qualities finite")
    return np.log(rates), quality


def _mean_gap(x_a, y_a, x_b, y_b) -> float | None:
    """Mean of (fit of y_b - fit of y_a) as functions of x over the overlap of the x ranges."""
    lo, hi = max(x_a.min(), x_b.min()), min(x_a.max(), x_b.max())
    if not hi > lo:
        return None
    areas = []
    for x, y in ((x_a, y_a), (x_b, y_b)):
        primitive = np.polyint(np.polyfit(x, y, min(3, len(x) - 1)))
        areas.append(np.polyval(primitive, hi) - np.polyval(primitive, lo))
    return float((areas[1] - areas[0]) / (hi - lo))


def bd_rate(anchor, test) -> float | None:
    """Average rate difference of ``test`` against ``anchor`` at equal quality, in percent.

    Negative means ``test`` needs fewer bits. None when the quality ranges do not overlap.
    """
    log_a, q_a = _points(anchor)
    log_t, q_t = _points(test)
    gap = _mean_gap(q_a, log_a, q_t, log_t)
    return None if gap is None else float(100 * np.expm1(gap))


def bd_quality(anchor, test) -> float | None:
    """Average quality difference (e.g. dB of PSNR) of ``test`` against ``anchor`` at equal rate."""
    log_a, q_a = _points(anchor)
    log_t, q_t = _points(test)
    return _mean_gap(log_a, q_a, log_t, q_t)


def quality_at_rate(curve, rate: float) -> float | None:
    """Quality of a curve at ``rate``, interpolated linearly in log-rate; None outside its range."""
    log_r, quality = _points(curve)
    order = np.argsort(log_r)
    log_r, quality = log_r[order], quality[order]
    x = np.log(rate)
    if not log_r[0] <= x <= log_r[-1]:
        return None
    return float(np.interp(x, log_r, quality))

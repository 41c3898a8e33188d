"""Distortion measures and Bjøntegaard deltas against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inrcodec import bdrate, metrics

# ---------------------------------------------------------------------------- PSNR, SNR


def test_psnr_by_hand():
    ref = np.zeros((4, 4, 3), np.uint8)
    dec = np.ones((4, 4, 3), np.uint8)  # every sample off by one: MSE 1
    assert metrics.psnr(ref, dec, 255) == pytest.approx(20 * math.log10(255), abs=1e-12)
    dec[0, 0, 0] = 17  # MSE (17^2 + 47 * 1) / 48
    assert metrics.psnr(ref, dec, 255) == pytest.approx(10 * math.log10(255**2 * 48 / (289 + 47)), abs=1e-12)
    assert metrics.psnr(ref, ref, 255) == math.inf


def test_snr_by_hand():
    ref = np.array([[10000, -10000], [5000, -5000]], np.int16)
    assert metrics.snr(ref, ref // 10 * 9) == pytest.approx(20.0, abs=1e-9)  # error is a tenth
    assert metrics.snr(ref, np.zeros_like(ref)) == pytest.approx(0.0, abs=1e-12)
    assert metrics.snr(ref, ref) == math.inf


# ---------------------------------------------------------------------------- MS-SSIM

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def test_ms_ssim_scales():
    assert [metrics.ms_ssim_scales(n, 1000) for n in (10, 11, 21, 22, 43, 44, 175, 176, 5000)] == [0, 1, 1, 2, 2, 3, 4, 5, 5]


def test_ms_ssim_of_flat_images_is_the_luminance_term_at_the_coarsest_scale():
    a, b = np.full((200, 180, 3), 100, np.uint8), np.full((200, 180, 3), 110, np.uint8)
    lum = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)  # contrast-structure is 1 at every scale
    assert metrics.ms_ssim(a, b) == pytest.approx(lum**0.1333, abs=1e-12)
    # 24 rows give two scales, weights renormalized
    assert metrics.ms_ssim(a[:24, :32], b[:24, :32]) == pytest.approx(lum ** (0.2856 / (0.0448 + 0.2856)), abs=1e-12)


def test_ms_ssim_single_window_by_definition():
    """An 11x11 image is one window at one scale: SSIM from its Gaussian-weighted statistics."""
    rng = np.random.default_rng(1)
    x = rng.integers(40, 200, (11, 11)).astype(np.float64)
    y = 0.5 * x + 30  # mean, variance and covariance follow by hand from those of x
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx = (w * x).sum()
    vx = (w * x * x).sum() - mx**2
    my, vy, cxy = 0.5 * mx + 30, 0.25 * vx, 0.5 * vx
    expected = (2 * mx * my + C1) / (mx**2 + my**2 + C1) * (2 * cxy + C2) / (vx + vy + C2)
    assert metrics.ms_ssim(x, y) == pytest.approx(expected, abs=1e-12)


def test_ms_ssim_bounds_and_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 48, 3)).astype(np.uint8)
    slight = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a.astype(int) + rng.integers(-60, 61, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert 1 > metrics.ms_ssim(a, slight) > metrics.ms_ssim(a, heavy) > 0
    assert metrics.ms_ssim(a[:10], a[:10]) is None
    with pytest.raises(ValueError):
        metrics.ms_ssim(a, a[:32])


# ---------------------------------------------------------------------------- Bjøntegaard

ANCHOR = [(0.1, 26.0), (0.25, 29.5), (0.5, 32.4), (1.0, 35.6), (2.0, 39.0)]


def test_bd_rate_identical_curves_is_zero():
    assert bdrate.bd_rate(ANCHOR, ANCHOR) == pytest.approx(0, abs=1e-9)
    assert bdrate.bd_quality(ANCHOR, ANCHOR) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.25, 2.0])
def test_bd_rate_of_a_curve_at_a_fixed_rate_ratio(factor):
    scaled = [(r * factor, q) for r, q in ANCHOR]
    assert bdrate.bd_rate(ANCHOR, scaled) == pytest.approx(100 * (factor - 1), abs=1e-6)


def test_bd_rate_half_rate_is_minus_fifty_percent_also_with_different_points():
    # the test curve samples the same underlying cubic at other qualities, at half the rate
    def log_rate(q):
        return -9.0 + 0.2 * q + 0.001 * (q - 30) ** 2 - 1e-4 * (q - 30) ** 3

    test = [(0.5 * math.exp(log_rate(q)), q) for q in (27.0, 30.0, 33.5, 36.0, 38.0)]
    anchor = [(math.exp(log_rate(q)), q) for q in (25.0, 29.0, 32.0, 35.0, 40.0)]
    assert bdrate.bd_rate(anchor, test) == pytest.approx(-50.0, abs=1e-6)


def test_bd_quality_of_a_shifted_curve():
    better = [(r, q + 1.5) for r, q in ANCHOR]
    assert bdrate.bd_quality(ANCHOR, better) == pytest.approx(1.5, abs=1e-9)
    assert bdrate.bd_rate(ANCHOR, better) < 0


def test_bd_needs_overlap_and_two_points():
    assert bdrate.bd_rate(ANCHOR, [(5.0, 45.0), (8.0, 48.0)]) is None
    assert bdrate.bd_rate(ANCHOR[:2], [(r / 2, q) for r, q in ANCHOR[:2]]) == pytest.approx(-50.0, abs=1e-9)
    with pytest.raises(ValueError):
        bdrate.bd_rate(ANCHOR, [(1.0, 30.0)])


def test_quality_at_rate_interpolates_in_log_rate():
    curve = [(0.5, 30.0), (1.0, 36.0)]
    assert bdrate.quality_at_rate(curve, math.sqrt(0.5)) == pytest.approx(33.0, abs=1e-12)
    assert bdrate.quality_at_rate(curve, 1.0) == 36.0
    assert bdrate.quality_at_rate(curve, 1.01) is None
    assert bdrate.quality_at_rate(curve, 0.25) is None

"""Fitting: how coordinates are drawn, and a fit that diverges recovers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from inrcodec import fit
from inrcodec.arch import Arch
from inrcodec.fit import FitSettings
from inrcodec.model import LocalGlobalINR
from inr_helpers import smooth

CPU = torch.device("cpu")


def _offsets(extents, grid, count, seed=0):
    """One draw's sample positions (G, count, naxes) in partition-relative integer units."""
    sampler = fit._Sampler(np.zeros((*extents, 1), np.float32), grid, FitSettings(steps=1, seed=seed), CPU)
    local, _, _ = sampler.draw(count)
    return torch.round((local + 1) * sampler.sizes / 2 - 0.5).long()


def test_a_draw_is_evenly_spread_on_a_line():
    """205 of 2048 samples (audio's share): no gap is more than 3x the mean, where independent
    draws leave gaps of about ln(205) = 5.3 times it."""
    positions = np.sort(_offsets((2048,), (1,), 205)[0, :, 0].numpy())
    gaps = np.diff(np.concatenate([positions, [positions[0] + 2048]]))
    assert gaps.max() <= 3 * 2048 / 205


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_draw_is_evenly_spread_on_a_plane(seed):
    """256 samples of a 96x96 partition land in every cell of an 8x8 grid (4 expected in each);
    independent draws leave one empty with probability about 1 - (1 - e^-4)^64 = 69 %."""
    at = _offsets((96, 96), (1, 1), 256, seed)[0].numpy()
    cells = np.zeros((8, 8), int)
    np.add.at(cells, (at[:, 0] // 12, at[:, 1] // 12), 1)
    assert cells.min() >= 1


def test_draws_cover_every_sample_equally_often():
    """Over many draws each sample of an edge partition (a partial tile) is hit about equally
    often: the random shift keeps the loss unbiased."""
    sampler = fit._Sampler(np.zeros((10, 7, 1), np.float32), (2, 1), FitSettings(steps=1), CPU)
    hits = torch.zeros(10 * 7)
    for _ in range(400):
        _, glob, _ = sampler.draw(7)
        rows = torch.round((glob + 1) * sampler.ext / 2 - 0.5).long()
        hits += torch.bincount((rows * sampler.strides).sum(-1).flatten(), minlength=70)
    per_sample = hits.view(10, 7)
    top, bottom = per_sample[:5], per_sample[5:]  # partitions of 5 rows each: 35 samples, 7 drawn per step
    for part in (top, bottom):
        assert part.min() >= 0.7 * part.mean() and part.max() <= 1.3 * part.mean()


def _fitted_psnr(kick_at: int | None) -> float:
    """A 32x32 fit whose weights get noise of scale 1 before step ``kick_at``: a divergence."""
    image, arch, settings = smooth(32, 32).astype(np.float32), Arch(2, 3, 2, 16, 16), FitSettings(steps=400)
    model = LocalGlobalINR(arch, 1, torch.Generator().manual_seed(0))
    calls, noise = itertools.count(1), torch.Generator().manual_seed(1)

    def params():
        if next(calls) == kick_at:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn(p.shape, generator=noise))
        return dict(model.named_parameters())

    fit._train(model, fit._Sampler(image, (1, 1), settings, CPU), settings.steps, settings.lr, params, None)
    return fit.psnr_from_mse(fit.sensitivities(model, image, (1, 1), settings, CPU)[0])


def test_a_diverged_fit_goes_back_to_its_last_good_state(monkeypatch):
    clean, kicked = _fitted_psnr(None), _fitted_psnr(250)
    monkeypatch.setattr(fit, "DIVERGED", math.inf)  # no check
    unguarded = _fitted_psnr(250)
    assert clean > 45
    assert kicked > clean - 4
    assert unguarded < kicked - 20

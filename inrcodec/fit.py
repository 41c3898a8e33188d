"""Fitting a Local-Global INR to a signal: Adam on randomly sampled coordinates.

Three phases, all on the same sampler: ``fit`` trains the float weights; ``sensitivities``
measures how much the error grows per unit of weight noise in each tensor (what the
quantizer needs to spread its steps, quant.py); ``finetune_quantized`` trains on with the
quantizer in the loop (straight-through rounding), so the weights settle on the grid they
will be stored on.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from .arch import Arch
from .grid import all_partitions, bounds, tile_size
from .model import LocalGlobalINR

MIN_BATCH = 4096  # samples per step in all, at least (or every sample): small images fit full batch


@dataclass(frozen=True)
class FitSettings:
    steps: int
    lr: float = 3e-3
    fraction: float | None = None  # share of every partition's samples drawn per step; None: by device
    max_batch: int | None = None  # at most this many samples per step in all; None: by device
    seed: int = 0
    qat_steps: int = 0  # steps of quantization-aware fine-tuning after the float phase
    qat_lr: float = 2e-4
    first: tuple[float, float] = (1.0, 1.0)  # initial first-layer scale of the local and the global net (model.py)

    def batch(self, device: torch.device, tile: int, partitions: int) -> int:
        """Samples drawn per partition per step: 5% of a tile on the CPU, a whole tile on a GPU.

        A GPU runs a whole tile of every partition in about the time a CPU takes for a few
        thousand samples, so there the batch is bounded only by memory. On the CPU 5% fits
        as well per step as 10% or 100% (benchmarks/LEVERS.md), at a fraction of the cost.
        """
        cuda = device.type == "cuda"
        fraction = self.fraction if self.fraction is not None else (1.0 if cuda else 0.05)
        cap = self.max_batch if self.max_batch is not None else (2**22 if cuda else 2**18)
        wanted = max(math.ceil(fraction * tile), min(tile, math.ceil(MIN_BATCH / partitions)))
        return max(1, min(wanted, cap // partitions))


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of samples in [0, 1] given their mean squared error."""
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


def spread(naxes: int) -> torch.Tensor:
    """The step of the additive recurrence x_i = frac(x_0 + i a) that covers [0, 1)^naxes most
    evenly for any count of points (the R_d sequence: a_k = phi^-k, phi the positive root of
    phi^(d+1) = phi + 1; the golden ratio for one axis)."""
    phi = 2.0
    for _ in range(60):
        phi = (1 + phi) ** (1 / (naxes + 1))
    return torch.tensor([phi ** -(k + 1) for k in range(naxes)], dtype=torch.float64)


class _Sampler:
    """Coordinates of every partition, and the target samples there (scaled to [-1, 1]).

    Each draw is, per partition, the R_d sequence (``spread``) moved by a random shift: every
    point is uniform over the partition, so the loss is unbiased, but a draw's points are evenly
    spread rather than independent, without clumps or holes, so its gradient is less noisy
    (+0.1 to +0.2 dB at equal rate, benchmarks/LEVERS.md).
    """

    def __init__(self, samples: np.ndarray, grid, settings: FitSettings, device):
        extents = samples.shape[:-1]
        self.positions = all_partitions(grid)
        self.naxes, self.device = len(extents), device
        self.rng = torch.Generator(device=device).manual_seed(settings.seed)
        spans = [[bounds(e, c, p[a]) for p in self.positions] for a, (e, c) in enumerate(zip(extents, grid))]
        self.starts = torch.tensor([[s for s, _ in axis] for axis in spans], device=device).T[:, None, :]  # (G, 1, N)
        self.sizes = torch.tensor([[t - s for s, t in axis] for axis in spans], device=device).T[:, None, :]
        self.ext = torch.tensor(extents, device=device, dtype=torch.float32)
        self.strides = torch.tensor([math.prod(extents[a + 1 :]) for a in range(len(extents))], device=device)
        self.target = torch.from_numpy(samples.reshape(-1, samples.shape[-1])).to(device) * 2 - 1
        tile = math.prod(tile_size(e, c) for e, c in zip(extents, grid))
        self.per_step = settings.batch(device, tile, len(self.positions))
        self.spread = spread(self.naxes).to(device)

    def draw(self, count: int | None = None):
        """Local coordinates, global coordinates (G, T, naxes) and targets (G, T, channels)."""
        count = count or self.per_step
        shift = torch.rand(len(self.positions), 1, self.naxes, generator=self.rng, device=self.device,
                           dtype=torch.float64)
        steps = torch.arange(count, device=self.device, dtype=torch.float64)[:, None] * self.spread
        offsets = (torch.frac(shift + steps) * self.sizes).long()
        rows = self.starts + offsets
        local = (2 * offsets + 1) / self.sizes - 1
        glob = (2 * rows + 1) / self.ext - 1
        return local.float(), glob.float(), self.target[(rows * self.strides).sum(-1)].float()  # video is held as float16


CHECK_EVERY, DIVERGED = 100, 4.0  # steps per divergence check; a window this many times worse than the best diverged


def _train(model, sampler: _Sampler, steps: int, lr: float, params_for, progress):
    """Adam, linear warm-up then cosine decay; ``params_for()`` gives the weights the forward pass uses.

    A sine network at a high learning rate now and then diverges: its loss jumps to that of a
    blank signal and stays there. Every ``CHECK_EVERY`` steps the mean loss of the window is
    compared with the best window's; a window ``DIVERGED`` times worse sends the weights and the
    optimizer back to the last good check and halves the learning rate for the rest of the fit.
    """
    device = sampler.device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda")
    warm, scale = max(1, steps // 20), [1.0]  # large rates diverge without the warm-up
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: scale[0] * min(1, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * s / max(1, steps)))
    )
    report = _Reporter(progress, device)
    good, best, window = _state(model, optimizer), math.inf, torch.zeros((), device=device)
    for step in range(1, steps + 1):
        local, glob, wanted = sampler.draw()
        loss = torch.mean((functional_call(model, params_for(), (local, glob), {"exact": False}) - wanted) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        window += loss.detach()
        if step % CHECK_EVERY == 0:
            mean = window.item() / CHECK_EVERY
            window.zero_()
            if not mean <= DIVERGED * best:  # NaN too
                _restore(model, optimizer, good)
                scale[0] /= 2
            elif loss.item() <= DIVERGED * best:  # the state at this step is sound: the next fallback
                best, good = min(best, mean), _state(model, optimizer)
        schedule.step()  # sets the rate of the next step (after a restore too)
        if step % 10 == 0 or step == steps:
            report(step, loss)
    report.flush()


def _state(model, optimizer) -> tuple[dict, dict]:
    """Copies of the weights and the optimizer's moments."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def _restore(model, optimizer, state: tuple[dict, dict]) -> None:
    model.load_state_dict(state[0])
    optimizer.load_state_dict(copy.deepcopy(state[1]))  # a copy: the optimizer updates its state in place


def fit(
    samples: np.ndarray,
    grid: tuple[int, ...],
    arch: Arch,
    settings: FitSettings,
    device: torch.device,
    progress: Callable[[int, float], None] | None = None,
    prior=None,
) -> LocalGlobalINR:
    """A model fitted to ``samples`` (extents + (channels,), float32 in [0, 1]), float weights.

    With a ``prior`` (priors.Prior) the tensors it covers start from its weights, and each
    partition's head from the least-squares fit of the prior's features to a first sample of
    the signal (STRAINER's heads are signal-specific); otherwise from the seeded SIREN init.
    """
    sampler = _Sampler(samples, grid, settings, device)
    torch.manual_seed(settings.seed)
    model = LocalGlobalINR(arch, len(sampler.positions), torch.Generator().manual_seed(settings.seed),
                           first=settings.first)
    if prior is not None:
        prior.initialise(model)
    model = model.to(device)
    if prior is not None:  # enough samples to determine each head (width + 1 unknowns), within the memory cap
        enough = replace(settings, fraction=1.0).batch(device, 16 * (arch.local_width + 1), len(sampler.positions))
        solve_heads(model, *sampler.draw(max(sampler.per_step, enough)))
    _train(model, sampler, settings.steps, settings.lr, lambda: dict(model.named_parameters()), progress)
    return model


def _fake_quantized(model, steps: list[float], refs: list) -> dict:
    """The model's weights on their grids ``ref + k * step`` (ref 0 where no prior covers the
    tensor, quant.py), with straight-through gradients."""
    out = {}
    for (name, p), s, r in zip(model.named_parameters(), steps, refs):
        r = 0 if r is None else torch.as_tensor(r, device=p.device)
        out[name] = p + (r + torch.round((p - r) / s) * s - p).detach()
    return out


def finetune_quantized(
    model: LocalGlobalINR, samples: np.ndarray, grid, steps: list[float], settings: FitSettings, device,
    progress: Callable[[int, float], None] | None = None, refs: list | None = None,
) -> LocalGlobalINR:
    """Train on with every tensor rounded to its quantizer ``steps`` (model.parameters() order);
    ``refs``: the prior tensor of each (None: not covered), the residuals being what is quantized."""
    if settings.qat_steps > 0:
        refs = refs or [None] * len(steps)
        sampler = _Sampler(samples, grid, replace(settings, seed=settings.seed + 1), device)
        _train(model, sampler, settings.qat_steps, settings.qat_lr, lambda: _fake_quantized(model, steps, refs), progress)
    return model


@torch.no_grad()
def sensitivities(model: LocalGlobalINR, samples: np.ndarray, grid, settings: FitSettings, device,
                  probes: int = 2) -> tuple[float, list[float]]:
    """The model's MSE (on [0, 1] samples) and, per tensor, d MSE / d (noise variance per weight).

    Measured on a fixed draw of coordinates by adding Gaussian noise of a known size to one
    tensor at a time; the quantizer spreads its steps by them (quant.steps_for).
    """
    sampler = _Sampler(samples, grid, replace(settings, seed=settings.seed + 2), device)
    local, glob, wanted = sampler.draw(max(sampler.per_step, min(4096, 4 * sampler.per_step)))
    params = dict(model.named_parameters())

    def mse(p):
        return float(torch.mean((functional_call(model, p, (local, glob), {"exact": False}) - wanted) ** 2)) / 4

    base = mse(params)
    gen = torch.Generator(device=device).manual_seed(settings.seed + 3)
    out = []
    for name, p in params.items():
        sigma = max(float(p.detach().abs().mean()), 1e-8) / 64
        grow = 0.0
        for _ in range(probes):
            noisy = dict(params, **{name: p + sigma * torch.randn(p.shape, generator=gen, device=device)})
            grow += mse(noisy) - base
        out.append(max(grow / probes, 1e-12) / (sigma**2 * p.numel()))
    return base, out


class _Reporter:
    """Calls progress(step, psnr) without stalling a GPU: a loss is copied to the host
    asynchronously and reported once the copy has landed, at a later step or at the end."""

    def __init__(self, progress: Callable[[int, float], None] | None, device: torch.device):
        self.progress, self.cuda, self.pending = progress, device.type == "cuda", []

    def __call__(self, step: int, loss: torch.Tensor):
        if self.progress is None:
            return
        if not self.cuda:
            self.progress(step, psnr_from_mse(loss.item() / 4))
            return
        host = torch.empty((), pin_memory=True)
        host.copy_(loss.detach(), non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self.pending.append((step, host, done))
        while self.pending and self.pending[0][2].query():
            self._emit()

    def _emit(self):
        step, host, _ = self.pending.pop(0)
        self.progress(step, psnr_from_mse(host.item() / 4))

    def flush(self):
        if self.pending:
            self.pending[-1][2].synchronize()
        while self.pending:
            self._emit()


@torch.no_grad()
def solve_heads(model: LocalGlobalINR, local: torch.Tensor, glob: torch.Tensor, wanted: torch.Tensor,
                ridge: float = 1e-3) -> None:
    """Set every partition's head to the ridge least-squares map from its features to ``wanted``."""
    features = model.features(local, glob)
    a = torch.cat([features, torch.ones_like(features[..., :1])], -1)  # (G, T, width + 1)
    gram = a.transpose(1, 2) @ a + ridge * torch.eye(a.shape[-1], device=a.device)
    solution = torch.linalg.solve(gram, a.transpose(1, 2) @ wanted)
    model.local_params[-2].copy_(solution[:, :-1])
    model.local_params[-1].copy_(solution[:, -1])

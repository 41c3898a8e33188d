"""Fitting a Local-Global INR to a signal: Adam on randomly sampled coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from .arch import Arch
from .grid import all_partitions, bounds, tile_size
from .model import LocalGlobalINR


@dataclass(frozen=True)
class FitSettings:
    steps: int
    lr: float = 2e-3
    fraction: float | None = None  # share of every partition's samples drawn per step; None: by device
    max_batch: int | None = None  # at most this many samples per step in all; None: by device
    seed: int = 0

    def batch(self, device: torch.device, tile: int, partitions: int) -> int:
        """Samples drawn per partition per step: a tenth of a tile on the CPU, a whole tile on a GPU.

        A GPU runs a whole tile of every partition in about the time a CPU takes for a few
        thousand samples, so there the batch is bounded only by memory.
        """
        cuda = device.type == "cuda"
        fraction = self.fraction if self.fraction is not None else (1.0 if cuda else 0.1)
        cap = self.max_batch if self.max_batch is not None else (2**22 if cuda else 2**18)
        return max(1, min(math.ceil(fraction * tile), cap // partitions))


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of samples in [0, 1] given their mean squared error."""
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


def fit(
    samples: np.ndarray,
    grid: tuple[int, ...],
    arch: Arch,
    settings: FitSettings,
    device: torch.device,
    progress: Callable[[int, float], None] | None = None,
    prior=None,
) -> LocalGlobalINR:
    """A model fitted to ``samples`` (extents + (channels,), float32 in [0, 1]).

    With a ``prior`` (priors.Prior) the tensors it covers start from its weights, and each
    partition's head from the least-squares fit of the prior's features to a first sample of
    the signal (STRAINER's heads are signal-specific); otherwise from the seeded SIREN init.
    """
    extents = samples.shape[:-1]
    positions = all_partitions(grid)
    torch.manual_seed(settings.seed)
    init = torch.Generator().manual_seed(settings.seed)
    model = LocalGlobalINR(arch, len(positions), init)
    if prior is not None:
        prior.initialise(model)
    model = model.to(device)
    rng = torch.Generator(device=device).manual_seed(settings.seed)

    spans = [[bounds(e, c, p[a]) for p in positions] for a, (e, c) in enumerate(zip(extents, grid))]
    starts = torch.tensor([[s for s, _ in axis] for axis in spans], device=device).T[:, None, :]  # (G, 1, N)
    sizes = torch.tensor([[t - s for s, t in axis] for axis in spans], device=device).T[:, None, :]
    ext = torch.tensor(extents, device=device, dtype=torch.float32)
    strides = torch.tensor([math.prod(extents[a + 1 :]) for a in range(len(extents))], device=device)
    target = torch.from_numpy(samples.reshape(-1, samples.shape[-1])).to(device) * 2 - 1
    tile = math.prod(tile_size(e, c) for e, c in zip(extents, grid))
    per_step = settings.batch(device, tile, len(positions))
    report = _Reporter(progress, device)

    def draw(count: int = per_step):
        u = torch.rand(len(positions), count, len(extents), generator=rng, device=device)
        offsets = (u * sizes).long()
        rows = starts + offsets
        local = (2 * offsets + 1) / sizes - 1
        glob = (2 * rows + 1) / ext - 1
        return local.float(), glob.float(), target[(rows * strides).sum(-1)]

    if prior is not None:  # enough samples to determine each head (width + 1 unknowns), within the memory cap
        enough = replace(settings, fraction=1.0).batch(device, 16 * (arch.local_width + 1), len(positions))
        solve_heads(model, *draw(max(per_step, enough)))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, fused=device.type == "cuda")
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, settings.steps)))
    )
    for step in range(1, settings.steps + 1):
        local, glob, wanted = draw()
        loss = torch.mean((model(local, glob) - wanted) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == settings.steps:
            report(step, loss)
    report.flush()
    return model


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

"""The Local-Global INR in torch, for any number of axes.

    l = sin(w (lc @ A0[p] + a0[p]))          g = sin(w (gc @ B0 + c0))
    for k in 1..depth-1:
        m = sin(w ([l, g] @ M + m))          (one merge, shared by every depth)
        l = sin(w (m @ Ak[p] + ak[p]))       g = sin(w (g @ Bk + ck))
    m = sin(w ([l, g] @ M + m))
    y = m @ H[p] + h[p]

``lc`` are partition-local coordinates, ``gc`` global ones (grid.py, render.py). Local
tensors carry a leading partition axis and every product runs as a batched matmul over
(partitions, samples, features); the global weights are broadcast over the same batch so
that each partition is computed identically whichever other partitions share the batch,
which is what makes a cropped file decode to exactly the same samples.

Fitting does not need bit-exactness, so it computes the same function faster
(``forward(..., exact=False)``): the merge split into its local and global halves instead of
multiplying a concatenation, and omega folded into the (small) weights instead of the (large)
activations, sin(x @ (w W) + w b) rather than sin(w (x @ W + b)). Its last bits differ from
the exact form; a fit run twice on one machine still gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .arch import Arch


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (G, T, in) @ weight (G, in, out) + bias (G, out); a 2-D weight is shared by all G."""
    if weight.dim() == 2:
        weight, bias = weight.expand(x.shape[0], *weight.shape), bias.expand(x.shape[0], -1)
    return torch.baddbmm(bias.unsqueeze(1), x, weight)


class LocalGlobalINR(nn.Module):
    def __init__(self, arch: Arch, partitions: int, generator: torch.Generator | None = None, init: bool = True,
                 first: tuple[float, float] = (1.0, 1.0)):
        """``init=False`` leaves the weights unset, for a decoder that loads them (load_quantized);
        ``first`` scales the initial first-layer weights of the local and the global net (their
        frequencies: audio needs far more cycles per partition than an image)."""
        super().__init__()
        self.arch = arch
        self.global_params = nn.ParameterList(
            nn.Parameter(torch.empty(shape)) for _, shape in arch.global_tensors()
        )
        self.local_params = nn.ParameterList(
            nn.Parameter(torch.empty(partitions, *shape)) for _, shape in arch.local_tensors()
        )
        if init:
            self._siren_init(generator, first)

    @torch.no_grad()
    def _siren_init(self, generator, first):
        """SIREN: first layers U(-1/in, 1/in) (times ``first``), later ones U(-sqrt(6/in)/w, sqrt(6/in)/w)."""
        arch = self.arch
        for specs, params, scale in ((arch.global_tensors(), self.global_params, first[1]),
                                     (arch.local_tensors(), self.local_params, first[0])):
            for (name, shape), weight, bias in zip(specs[0::2], params[0::2], params[1::2]):
                fan_in = shape[0]
                bound = scale / fan_in if name.endswith(".0.weight") else math.sqrt(6 / fan_in) / arch.omega
                weight.uniform_(-bound, bound, generator=generator)
                bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)

    def load_quantized(self, global_tensors: list[np.ndarray], local_tensors: list[np.ndarray]):
        """Set every weight from arrays (local ones stacked on a leading partition axis)."""
        with torch.no_grad():
            for p, t in zip(list(self.global_params) + list(self.local_params), global_tensors + local_tensors):
                p.copy_(torch.from_numpy(np.ascontiguousarray(t)))

    def forward(self, lc: torch.Tensor, gc: torch.Tensor, parts: slice | torch.Tensor = slice(None),
                exact: bool = True) -> torch.Tensor:
        """Samples (G, T, channels) at coordinates (G, T, naxes) of the partitions ``parts`` (slice or index);
        ``exact=False``: computed the fitting way (module docstring)."""
        return _linear(self.features(lc, gc, parts, exact), self.local_params[-2][parts], self.local_params[-1][parts])

    def features(self, lc: torch.Tensor, gc: torch.Tensor, parts: slice | torch.Tensor = slice(None),
                 exact: bool = True) -> torch.Tensor:
        """The last merge's output (G, T, local width), which the heads map to samples."""
        w, depth, wl = self.arch.omega, self.arch.depth, self.arch.local_width
        gp = list(self.global_params)
        lp = [p[parts] for p in list(self.local_params)[:-2]]  # not the head
        if exact:
            def layer(x, weight, bias):
                return self._sine(_linear(x, weight, bias))

            def merge(l, g):
                return layer(torch.cat([l, g], -1), gp[2 * depth], gp[2 * depth + 1])
        else:  # omega folded into the weights, the merge split into its local and global halves
            gp, lp = [p * w for p in gp], [p * w for p in lp]
            merge_l, merge_g, merge_b = gp[2 * depth][:wl], gp[2 * depth][wl:], gp[2 * depth + 1]

            def layer(x, weight, bias):
                return torch.sin(_linear(x, weight, bias))

            def merge(l, g):
                return torch.sin(torch.baddbmm(_linear(g, merge_g, merge_b), l, merge_l.expand(len(l), *merge_l.shape)))

        l, g = layer(lc, lp[0], lp[1]), layer(gc, gp[0], gp[1])
        for k in range(1, depth):
            m = merge(l, g)
            l, g = layer(m, lp[2 * k], lp[2 * k + 1]), layer(g, gp[2 * k], gp[2 * k + 1])
        return merge(l, g)

    def _sine(self, y: torch.Tensor) -> torch.Tensor:
        """sin(omega * y); in place when no gradient is recorded (decoding: the same values, a third faster)."""
        if torch.is_grad_enabled():
            return torch.sin(self.arch.omega * y)
        return y.mul_(self.arch.omega).sin_()

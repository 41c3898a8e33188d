"""Rendering a Local-Global INR on its sample grid, partition by partition.

Every partition is rendered on a tile of the largest partition size (``grid.tile_size`` per
axis), whatever its own size; the tile's extra samples are discarded. Partitions are rendered
in chunks of a fixed number of partitions (a function of the architecture, the grid and the
device type only), and a short last chunk is padded to that number, so every batched matmul
has the same shape whichever partitions the file holds: a partition's samples do not depend
on which other partitions are in the file, and a crop decodes bit for bit as the full file
does on the same device.

On a GPU the next chunk is computed while the previous one is copied back and placed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .grid import Box, bounds, partitions_for_box, tile_size
from .model import LocalGlobalINR

CHUNK_BYTES = {"cpu": 256 * 2**20, "cuda": 2**30}  # activation memory per chunk of partitions


def coordinates(extents, grid, positions) -> tuple[np.ndarray, np.ndarray]:
    """Local and global coordinates (G, T, naxes) of the tiles of ``positions``.

    Along an axis of extent E, the sample at offset t in a partition [s, e) has local
    coordinate (2t + 1) / (e - s) - 1 and global coordinate (2(s + t) + 1) / E - 1, computed
    in float64 and rounded to float32.
    """
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    naxes, count = len(extents), len(positions)
    local = np.empty((count, *tiles, naxes), np.float32)
    glob = np.empty((count, *tiles, naxes), np.float32)
    for a, (e, c, n) in enumerate(zip(extents, grid, tiles)):
        spans = np.array([bounds(e, c, pos[a]) for pos in positions], np.float64).reshape(count, 2)
        starts, sizes = spans[:, :1], spans[:, 1:] - spans[:, :1]
        offsets = np.arange(n, dtype=np.float64)
        shape = [count] + [n if b == a else 1 for b in range(naxes)]  # broadcast along the other axes
        local[..., a] = ((2 * offsets + 1) / sizes - 1).reshape(shape)
        glob[..., a] = ((2 * (starts + offsets) + 1) / e - 1).reshape(shape)
    return local.reshape(count, -1, naxes), glob.reshape(count, -1, naxes)


def partitions_per_chunk(arch, extents, grid, device_type: str = "cpu") -> int:
    samples = math.prod(tile_size(e, c) for e, c in zip(extents, grid))
    per_sample = 4 * (4 * arch.local_width + 3 * arch.global_width + 2 * arch.naxes + arch.channels)
    return max(1, min(math.prod(grid), CHUNK_BYTES[device_type] // (samples * per_sample)))


@torch.no_grad()
def render(model: LocalGlobalINR, positions, extents, grid, region: Box, device) -> np.ndarray:
    """Samples of ``region`` (original coordinates), shape region + (channels,), float32 in [0, 1].

    ``positions`` lists the grid position of each partition the model holds, in model order;
    only those intersecting ``region`` are rendered.
    """
    device = torch.device(device)
    order = {p: i for i, p in enumerate(positions)}
    needed = partitions_for_box(extents, grid, region)
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    out = np.empty([e - s for s, e in region] + [model.arch.channels], np.float32)
    chunk = partitions_per_chunk(model.arch, extents, grid, device.type)

    def place(batch, samples: np.ndarray):
        for pos, values in zip(batch, samples):
            values = values.reshape(*tiles, -1)
            src, dst = [], []
            for e, c, i, (r0, r1) in zip(extents, grid, pos, region):
                s, t = bounds(e, c, i)
                lo, hi = max(s, r0), min(t, r1)
                src.append(slice(lo - s, hi - s))
                dst.append(slice(lo - r0, hi - r0))
            out[tuple(dst)] = values[tuple(src)]

    pending = None  # (batch, host tensor, event) of the chunk being copied back
    for first in range(0, len(needed), chunk):
        batch = needed[first : first + chunk]
        padded = batch + [batch[-1]] * (chunk - len(batch))  # every chunk has the same shape
        local, glob = coordinates(extents, grid, padded)
        index = torch.tensor([order[p] for p in padded], device=device)
        y = model(torch.from_numpy(local).to(device), torch.from_numpy(glob).to(device), index)
        samples = torch.clamp(0.5 * y + 0.5, 0, 1)[: len(batch)]
        if device.type != "cuda":
            place(batch, samples.numpy())
            continue
        host = torch.empty(samples.shape, dtype=samples.dtype, pin_memory=True)
        host.copy_(samples, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        if pending is not None:
            pending[2].synchronize()
            place(pending[0], pending[1].numpy())
        pending = (batch, host, done)
    if pending is not None:
        pending[2].synchronize()
        place(pending[0], pending[1].numpy())
    return out

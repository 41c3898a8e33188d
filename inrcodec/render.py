"""Rendering a Local-Global INR on its sample grid, partition by partition.

Every partition is rendered on a tile of the largest partition size (``grid.tile_size`` per
axis), whatever its own size; the tile's extra samples are discarded. With equal shapes for
every partition and a fixed number of partitions per chunk, a partition's samples do not
depend on which other partitions are in the file, so a crop decodes bit for bit as the full
file does.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .grid import Box, bounds, partitions_for_box, tile_size
from .model import LocalGlobalINR

CHUNK_BYTES = 256 * 2**20  # activation memory per chunk of partitions


def coordinates(extents, grid, positions) -> tuple[np.ndarray, np.ndarray]:
    """Local and global coordinates (G, T, naxes) of the tiles of ``positions``.

    Along an axis of extent E, the sample at offset t in a partition [s, e) has local
    coordinate (2t + 1) / (e - s) - 1 and global coordinate (2(s + t) + 1) / E - 1, computed
    in float64 and rounded to float32.
    """
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    local, glob = [], []
    for pos in positions:
        per_axis_l, per_axis_g = [], []
        for e, c, i, n in zip(extents, grid, pos, tiles):
            s, t = bounds(e, c, i)
            offsets = np.arange(n, dtype=np.float64)
            per_axis_l.append((2 * offsets + 1) / (t - s) - 1)
            per_axis_g.append((2 * (s + offsets) + 1) / e - 1)
        local.append(np.stack(np.meshgrid(*per_axis_l, indexing="ij"), -1).reshape(-1, len(extents)))
        glob.append(np.stack(np.meshgrid(*per_axis_g, indexing="ij"), -1).reshape(-1, len(extents)))
    return np.asarray(local, np.float32), np.asarray(glob, np.float32)


def partitions_per_chunk(arch, extents, grid) -> int:
    samples = math.prod(tile_size(e, c) for e, c in zip(extents, grid))
    per_sample = 4 * (4 * arch.local_width + 3 * arch.global_width + 2 * arch.naxes + arch.channels)
    return max(1, CHUNK_BYTES // (samples * per_sample))


@torch.no_grad()
def render(model: LocalGlobalINR, positions, extents, grid, region: Box, device) -> np.ndarray:
    """Samples of ``region`` (original coordinates), shape region + (channels,), float32 in [0, 1].

    ``positions`` lists the grid position of each partition the model holds, in model order;
    only those intersecting ``region`` are rendered.
    """
    order = {p: i for i, p in enumerate(positions)}
    needed = partitions_for_box(extents, grid, region)
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    out = np.empty([e - s for s, e in region] + [model.arch.channels], np.float32)
    chunk = partitions_per_chunk(model.arch, extents, grid)
    for first in range(0, len(needed), chunk):
        batch = needed[first : first + chunk]
        local, glob = coordinates(extents, grid, batch)
        index = torch.tensor([order[p] for p in batch], device=device)
        y = model(torch.from_numpy(local).to(device), torch.from_numpy(glob).to(device), index)
        samples = torch.clamp(0.5 * y + 0.5, 0, 1).cpu().numpy()
        for pos, values in zip(batch, samples):
            values = values.reshape(*tiles, -1)
            src, dst = [], []
            for e, c, i, (r0, r1) in zip(extents, grid, pos, region):
                s, t = bounds(e, c, i)
                lo, hi = max(s, r0), min(t, r1)
                src.append(slice(lo - s, hi - s))
                dst.append(slice(lo - r0, hi - r0))
            out[tuple(dst)] = values[tuple(src)]
    return out


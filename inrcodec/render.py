"""Rendering a Local-Global INR on its sample grid, partition by partition, in slabs along axis 0.

Every partition is rendered on a tile of the largest partition size (``grid.tile_size`` per
axis), whatever its own size; the tile's extra samples are discarded. Along axis 0 a tile is
cut into slabs of ``slab_length`` samples (the whole tile when it fits the memory budget, as
for images), so a long video renders a few frames at a time and its frames come out in order.
Slabs are rendered in chunks of a fixed number of partition slabs (a function of the
architecture, the grid and the device type only), and a short last chunk is padded to that
number, so every batched matmul has the same shape whichever partitions the file holds: a
partition's samples do not depend on which other partitions are in the file, and a crop
decodes bit for bit as the full file does on the same device.

On a GPU the next chunk is computed while the previous one is copied back and placed.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np
import torch

from .grid import Box, bounds, overlapping, partitions_for_box, tile_size
from .model import LocalGlobalINR

CHUNK_BYTES = {"cpu": 256 * 2**20, "cuda": 2**30}  # activation memory per chunk of partitions


def coordinates(extents, grid, positions, first=None, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Local and global coordinates (G, T, naxes) of the tiles of ``positions``.

    Along an axis of extent E, the sample at offset t in a partition [s, e) has local
    coordinate (2t + 1) / (e - s) - 1 and global coordinate (2(s + t) + 1) / E - 1, computed
    in float64 and rounded to float32. Along axis 0 a slab of ``length`` offsets (default: the
    tile) starting at ``first[g]`` (default 0) is taken for position g.
    """
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    if length is not None:
        tiles[0] = length
    naxes, count = len(extents), len(positions)
    local = np.empty((count, *tiles, naxes), np.float32)
    glob = np.empty((count, *tiles, naxes), np.float32)
    for a, (e, c, n) in enumerate(zip(extents, grid, tiles)):
        spans = np.array([bounds(e, c, pos[a]) for pos in positions], np.float64).reshape(count, 2)
        starts, sizes = spans[:, :1], spans[:, 1:] - spans[:, :1]
        offsets = np.arange(n, dtype=np.float64)[None, :]
        if a == 0 and first is not None:
            offsets = offsets + np.asarray(first, np.float64)[:, None]
        shape = [count] + [n if b == a else 1 for b in range(naxes)]  # broadcast along the other axes
        local[..., a] = ((2 * offsets + 1) / sizes - 1).reshape(shape)
        glob[..., a] = ((2 * (starts + offsets) + 1) / e - 1).reshape(shape)
    return local.reshape(count, -1, naxes), glob.reshape(count, -1, naxes)


def _bytes_per_sample(arch) -> int:
    return 4 * (4 * arch.local_width + 3 * arch.global_width + 2 * arch.naxes + arch.channels)


def slab_length(arch, extents, grid, device_type: str = "cpu") -> int:
    """Samples along axis 0 rendered at once per partition: the whole tile when it fits the budget."""
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    rest = math.prod(tiles[1:]) * _bytes_per_sample(arch)
    return max(1, min(tiles[0], CHUNK_BYTES[device_type] // rest))


def partitions_per_chunk(arch, extents, grid, device_type: str = "cpu") -> int:
    """Partition slabs per batched evaluation."""
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    k = slab_length(arch, extents, grid, device_type)
    slabs = math.prod(grid) * -(-tiles[0] // k)
    samples = k * math.prod(tiles[1:])
    return max(1, min(slabs, CHUNK_BYTES[device_type] // (samples * _bytes_per_sample(arch))))


def image_values(y: torch.Tensor) -> torch.Tensor:
    """Network output to samples of an image or video: clamp(0.5 y + 0.5, 0, 1)."""
    return torch.clamp(0.5 * y + 0.5, 0, 1)


@torch.no_grad()
def render_slabs(
    model: LocalGlobalINR, positions, extents, grid, region: Box, device,
    values: Callable[[torch.Tensor], torch.Tensor] = image_values,
) -> Iterator[tuple[int, np.ndarray]]:
    """(start, samples) of consecutive pieces of ``region`` along axis 0, in order.

    ``start`` is relative to the region; samples have shape (length,) + region[1:] +
    (channels,), float32, mapped from the network output by ``values``. ``positions`` lists
    the grid position of each partition the model holds, in model order.
    """
    device = torch.device(device)
    order = {p: i for i, p in enumerate(positions)}
    tiles = [tile_size(e, c) for e, c in zip(extents, grid)]
    k = slab_length(model.arch, extents, grid, device.type)
    chunk = partitions_per_chunk(model.arch, extents, grid, device.type)
    rest = partitions_for_box(extents[1:], grid[1:], region[1:])
    (r0, r1), size = region[0], [e - s for s, e in region[1:]]
    units = []  # (axis-0 partition, slab offset in its tile, first and end sample of the region it fills)
    for i in overlapping(extents[0], grid[0], r0, r1):
        s, e = bounds(extents[0], grid[0], i)
        for j in range(0, tiles[0], k):
            lo, hi = max(s + j, r0), min(s + j + k, e, r1)
            if lo < hi:
                units.append((i, j, lo, hi))
    items = [(u, (unit[0], *p)) for u, unit in enumerate(units) for p in rest]
    buffers, filled = {}, [0] * len(units)

    def place(batch, samples: np.ndarray):
        for (u, pos), v in zip(batch, samples):
            i, j, lo, hi = units[u]
            if u not in buffers:
                buffers[u] = np.empty([hi - lo, *size, model.arch.channels], np.float32)
            s = bounds(extents[0], grid[0], i)[0]
            v = v.reshape(k, *tiles[1:], -1)
            src, dst = [slice(lo - s - j, hi - s - j)], [slice(None)]
            for ex, c, p, (q0, q1) in zip(extents[1:], grid[1:], pos[1:], region[1:]):
                a, b = bounds(ex, c, p)
                src.append(slice(max(a, q0) - a, min(b, q1) - a))
                dst.append(slice(max(a, q0) - q0, min(b, q1) - q0))
            buffers[u][tuple(dst)] = v[tuple(src)]
            filled[u] += 1

    done = 0
    pending = None  # (batch, host tensor, event) of the chunk being copied back
    for first in range(0, len(items) + chunk, chunk):
        batch = items[first : first + chunk]
        if batch:
            padded = batch + [batch[-1]] * (chunk - len(batch))  # every chunk has the same shape
            local, glob = coordinates(extents, grid, [p for _, p in padded], [units[u][1] for u, _ in padded], k)
            index = torch.tensor([order[p] for _, p in padded], device=device)
            y = model(torch.from_numpy(local).to(device), torch.from_numpy(glob).to(device), index)
            samples = values(y)[: len(batch)]
            if device.type != "cuda":
                place(batch, samples.numpy())
            else:
                host = torch.empty(samples.shape, dtype=samples.dtype, pin_memory=True)
                host.copy_(samples, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                if pending is not None:
                    pending[2].synchronize()
                    place(pending[0], pending[1].numpy())
                pending = (batch, host, event)
        elif pending is not None:
            pending[2].synchronize()
            place(pending[0], pending[1].numpy())
            pending = None
        while done < len(units) and filled[done] == len(rest):
            yield units[done][2] - r0, buffers.pop(done)
            done += 1


def render(model: LocalGlobalINR, positions, extents, grid, region: Box, device, values=image_values) -> np.ndarray:
    """Samples of ``region`` (original coordinates), shape region + (channels,), float32."""
    out = np.empty([e - s for s, e in region] + [model.arch.channels], np.float32)
    for start, piece in render_slabs(model, positions, extents, grid, region, device, values):
        out[start : start + len(piece)] = piece
    return out

"""Partition geometry: which samples belong to which partition, for any number of axes.

Axis ``a`` of extent ``E`` split into ``C`` partitions has boundaries ``floor(i * E / C)``,
so every partition is non-empty when ``C <= E`` and sizes differ by at most one. Everything
here is plain integer arithmetic (no torch), so ``crop`` and ``info`` can use it.
"""

from __future__ import annotations

import itertools
import math

from .errors import InrError

Box = tuple[tuple[int, int], ...]  # per axis (start, end), end-exclusive


def bounds(extent: int, parts: int, i: int) -> tuple[int, int]:
    """Start and end (exclusive) of partition ``i`` along one axis."""
    return (i * extent) // parts, ((i + 1) * extent) // parts


def durations(extents: tuple[int, ...], grid: tuple[int, ...], rate: float) -> tuple[float, float]:
    """Seconds spanned along axis 0 by a partition (nominally extent / count) and by the whole
    signal, at ``rate`` samples per second: what a first layer's frequencies are measured against."""
    return extents[0] / grid[0] / rate, extents[0] / rate


def tile_size(extent: int, parts: int) -> int:
    """The largest partition size along one axis (every partition is rendered at this size)."""
    return -(-extent // parts)


def overlapping(extent: int, parts: int, start: int, end: int) -> range:
    """Indices of the partitions along one axis that intersect ``[start, end)``."""
    first = next(i for i in range(parts) if bounds(extent, parts, i)[1] > start)
    last = max(i for i in range(parts) if bounds(extent, parts, i)[0] < end)
    return range(first, last + 1)


def partitions_for_box(extents, grid, box: Box) -> list[tuple[int, ...]]:
    """Grid positions (raster order, axis 0 slowest) of all partitions that intersect ``box``."""
    ranges = [overlapping(e, c, s, t) for e, c, (s, t) in zip(extents, grid, box)]
    return list(itertools.product(*ranges))


def all_partitions(grid) -> list[tuple[int, ...]]:
    return list(itertools.product(*[range(c) for c in grid]))


def auto_grid(extents, target) -> tuple[int, ...]:
    """A partition grid with partitions of about ``target`` samples per axis (one number or one per axis)."""
    targets = target if isinstance(target, (tuple, list)) else [target] * len(extents)
    return tuple(max(1, min(e, round(e / t))) for e, t in zip(extents, targets))


def check_grid(extents, grid) -> None:
    if len(grid) != len(extents):
        raise InrError(f"partition grid has {len(grid)} axes, the signal has {len(extents)}")
    for e, c in zip(extents, grid):
        if not 1 <= c <= e:
            raise InrError(f"cannot split an axis of {e} samples into {c} partitions")
    if math.prod(grid) > 65535:
        raise InrError(f"{math.prod(grid)} partitions is too many (at most 65535)")


_GRID_FORMS = {1: "16 (partitions along time)", 2: "12x8 (columns x rows)", 3: "8x6x5 (columns x rows x frames)"}


def parse_partitions(text: str, naxes: int = 2) -> tuple[int, ...]:
    """A grid written fastest axis first, as media tools write sizes, to axis order.

    Image ``'CxR'`` (columns x rows) -> (rows, cols); audio ``'N'``; video ``'CxRxT'`` -> (T, R, C).
    """
    try:
        values = [int(v) for v in text.lower().split("x")]
        if len(values) != naxes:
            raise ValueError
    except ValueError:
        raise InrError(f"--partitions must look like {_GRID_FORMS[naxes]}, got {text!r}") from None
    return tuple(reversed(values))


def parse_box(text: str, shape) -> Box:
    """``'x0,y0,x1,y1'`` (pixels, end-exclusive) to a per-axis box, checked against ``shape``."""
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise InrError(f"--box must look like x0,y0,x1,y1 (four integers), got {text!r}") from None
    height, width = shape
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InrError(f"box {text} is outside the {width}x{height} image or empty")
    return ((y0, y1), (x0, x1))

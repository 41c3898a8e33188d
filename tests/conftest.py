"""Shared fixtures: small images encoded once per session.

Everything runs on the CPU with one torch thread: the images are tiny, and the machines that
run the suite are small and shared, where two threads fighting for two cores are much slower.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import inrcodec
from inr_helpers import smooth, to_uint, write_png

settings.register_profile(
    "inrcodec", deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("inrcodec")

# The shared encoded image: odd size, a partition grid that divides neither axis.
HEIGHT, WIDTH = 23, 37
PARTITIONS = "5x4"  # columns x rows
GRID = (4, 5)  # rows, columns
ITERATIONS = 20


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    import torch

    torch.set_num_threads(1)


@dataclass(frozen=True)
class Encoded:
    source: Path  # the source PNG
    path: Path  # the .inr file
    pixels: np.ndarray  # source pixels (uint8 or uint16, HxWxC)
    decoded: np.ndarray  # decode_array of the whole file
    result: dict  # what encode returned

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def _encode(folder: Path, name: str, pixels: np.ndarray, **options) -> Encoded:
    src = write_png(folder / f"{name}.png", pixels)
    dst = folder / f"{name}.inr"
    options.setdefault("device", "cpu")
    result = inrcodec.encode(src, dst, **options)
    return Encoded(src, dst, pixels, inrcodec.decode_array(dst, device="cpu"), result)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="session")
def rgb(shared_dir) -> Encoded:
    """37x23 RGB, partitions 5x4 (columns x rows), default quality, 20 iterations, seed 0."""
    return _encode(shared_dir, "rgb", to_uint(smooth(HEIGHT, WIDTH, 3)), iterations=ITERATIONS,
                   partitions=PARTITIONS, seed=0)


@pytest.fixture(scope="session")
def tiny(shared_dir) -> Encoded:
    """A very small file (12x9 RGB, 2x2 partitions, quality 0, 2 iterations) for byte-level sweeps."""
    return _encode(shared_dir, "tiny", to_uint(smooth(9, 12, 3)), quality=0, iterations=2, partitions="2x2")

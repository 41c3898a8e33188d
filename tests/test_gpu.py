"""The CUDA path: encode and decode on a GPU, agreement with the CPU, crop equivalence there.

Skipped where no CUDA device is present (run them on a machine with one: pytest -m gpu).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inrcodec

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# Float32 on two devices: other matmul kernels and sin implementations, same equations.
AGREEMENT = 1e-4  # max |cuda - cpu| of a decoded sample in [0, 1]


def test_cuda_decode_agrees_with_cpu(rgb):
    on_gpu = inrcodec.decode_array(rgb.path, device="cuda")
    assert on_gpu.shape == rgb.decoded.shape
    assert np.abs(on_gpu - rgb.decoded).max() <= AGREEMENT
    assert np.array_equal(on_gpu, inrcodec.decode_array(rgb.path, device="cuda"))  # deterministic


def test_crop_and_box_decode_are_exact_on_cuda(rgb, tmp_path):
    full = inrcodec.decode_array(rgb.path, device="cuda")
    for box in [(0, 0, 5, 4), (3, 2, 30, 21), (10, 7, 37, 23)]:
        x0, y0, x1, y1 = box
        region = full[y0:y1, x0:x1]
        assert np.array_equal(inrcodec.decode_array(rgb.path, box=box, device="cuda"), region)
        cut = tmp_path / f"crop-{x0}-{y0}.inr"
        inrcodec.crop(rgb.path, cut, box)
        assert np.array_equal(inrcodec.decode_array(cut, device="cuda"), region)


def test_encode_on_cuda(rgb, tmp_path):
    dst = tmp_path / "gpu.inr"
    r = inrcodec.encode(rgb.source, dst, iterations=200, partitions="5x4", device="cuda")
    assert r["device"].startswith("cuda")
    assert r["psnr"] >= rgb.result["psnr"]  # ten times the steps, whole tiles per step
    assert r["psnr"] > 25
    on_cpu = inrcodec.decode_array(dst, device="cpu")
    assert np.abs(on_cpu - inrcodec.decode_array(dst, device="cuda")).max() <= AGREEMENT

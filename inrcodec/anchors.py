"""Classic codecs as anchors for rate-distortion comparisons (Pillow JPEG for now)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .media import psnr


def jpeg_curve(pixels: np.ndarray, qualities=range(5, 100, 5)) -> list[tuple[float, float]]:
    """(bpp, PSNR) of Pillow JPEG (4:2:0, default settings) over ``qualities``, for uint8 HxWxC pixels."""
    im = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    reference = np.asarray(im)
    points = []
    for q in qualities:
        buffer = io.BytesIO()
        im.save(buffer, format="JPEG", quality=q)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
        points.append((8 * buffer.tell() / (im.width * im.height), psnr(reference, decoded, 255)))
    return points


def psnr_at_bpp(curve: list[tuple[float, float]], bpp: float) -> float | None:
    """PSNR of a codec at ``bpp``, interpolated linearly on its curve; None outside its range."""
    rates, values = zip(*sorted(curve))
    if not rates[0] <= bpp <= rates[-1]:
        return None
    return float(np.interp(bpp, rates, values))

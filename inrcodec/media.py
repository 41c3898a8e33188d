"""Reading source images and writing decoded ones.

Samples travel as float32 arrays (height, width, channels) in [0, 1]. Channels: 1 gray,
2 gray+alpha, 3 RGB, 4 RGBA (alpha is kept and coded like any other channel). Bit depth 8 or
16. Pillow reads and writes everything except 16-bit colour, which Pillow truncates to 8 bits;
for that PyAV's PNG/TIFF decoder and PNG encoder are used.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InrError

_MODES_8 = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_AV_FORMATS = {3: "rgb48le", 4: "rgba64le"}
_AV_PNG = {3: "rgb48be", 4: "rgba64be"}


def _is_deep_colour(im: Image.Image, head: bytes) -> bool:
    """A 16-bit-per-channel RGB(A) file, which Pillow would silently reduce to 8 bits."""
    if im.format == "PNG" and len(head) > 25:
        return head[24] == 16 and head[25] in (2, 6)
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return im.mode in ("RGB", "RGBA") and max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _read_deep_colour(path: Path, channels: int) -> np.ndarray:
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return frame.to_ndarray(format=_AV_FORMATS[channels])
    except (av.FFmpegError, StopIteration, ValueError) as e:
        raise InrError(f"cannot read 16-bit image {path}: {e}") from None


def load_image(path) -> tuple[np.ndarray, int]:
    """(samples in [0, 1] as float32 HxWxC, bit depth) of an image file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(32)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            if im.format == "INR":  # readable once inrcodec.pillow is imported; not a source
                im.close()
                raise InrError(f"{path} is an .inr file, not a source image")
            im.load()
    except FileNotFoundError:
        raise InrError(f"no such file: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InrError(f"{path} is not a readable image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im, np.uint16)[..., None].astype(np.float32) / 65535, 16
    if im.mode == "I":
        values = np.asarray(im)
        if values.min() < 0 or values.max() > 65535:
            raise InrError(f"{path}: 32-bit integer images are not supported")
        return values[..., None].astype(np.float32) / 65535, 16
    if im.mode == "F":
        raise InrError(f"{path}: floating-point images are not supported")
    if im.mode in ("L", "RGB") and "transparency" in im.info:  # a tRNS colour key becomes alpha
        im = im.convert("LA" if im.mode == "L" else "RGBA")
    elif im.mode not in _MODES_8:
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else ("L" if im.mode == "1" else "RGB"))
    channels = _MODES_8[im.mode]
    if _is_deep_colour(im, head):
        return _read_deep_colour(path, channels).astype(np.float32) / 65535, 16
    return np.asarray(im, np.uint8).reshape(im.height, im.width, channels).astype(np.float32) / 255, 8


def quantize_samples(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """Decoded float samples to the integers of the delivered form (uint8 or uint16)."""
    if bit_depth not in (8, 16):
        raise InrError(f"samples of a {bit_depth}-bit float source have no 8- or 16-bit form; decode to .npy")
    top = 2**bit_depth - 1
    return np.rint(np.clip(samples, 0, 1) * top).astype(np.uint8 if bit_depth == 8 else np.uint16)


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of an HxWxC uint8 or uint16 array."""
    channels = pixels.shape[2]
    if pixels.dtype == np.uint16 and channels in _AV_PNG:
        import av

        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = pixels.shape[1], pixels.shape[0], _AV_PNG[channels]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=_AV_FORMATS[channels])
        return b"".join(bytes(p) for p in codec.encode(frame) + codec.encode(None))
    if pixels.dtype == np.uint16 and channels == 2:  # no PNG writer at hand keeps 16-bit gray+alpha
        raise InrError("16-bit gray+alpha cannot be written as PNG; decode to .npy instead")
    im = Image.fromarray(np.ascontiguousarray(pixels[..., 0] if channels == 1 else pixels))
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()

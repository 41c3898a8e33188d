"""Pillow plugin: after ``import inrcodec.pillow``, ``PIL.Image.open("x.inr")`` opens an encoded image.

Pillow finds its format plugins in a fixed list, with no entry points, so importing this module
is what registers the format. Opening reads the container (header, index, checksums) and never
runs the network; the pixels are rendered on the first access to them (``load``), on the GPU
when there is one. Modes: 1 channel L, 2 LA, 3 RGB, 4 RGBA, 8-bit. A 16-bit grayscale image
opens as I;16 with every bit; 16-bit colour opens in the 8-bit mode, as Pillow itself opens
16-bit colour PNGs (``inrcodec.decode_array`` gives every bit). ``info["bit_depth"]`` is the
source's depth.
"""

from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageFile

from . import codec, container, media
from .errors import InrError

FORMAT = "INR"
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _accept(prefix: bytes) -> bool:
    return prefix[: len(container.MAGIC)] == container.MAGIC


class InrImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "Local-Global implicit neural representation"

    def _open(self):
        self._data = self.fp.read()
        try:
            header = container.read(self._data)[0].header
        except InrError as e:
            raise SyntaxError(f"not a readable .inr file: {e}") from None
        if header.kind != container.KIND_IMAGE:
            raise SyntaxError(f"the .inr file holds {container.KIND_NAMES[header.kind]}, not an image")
        height, width = header.shape
        self._size = (width, height)
        self._mode = "I;16" if header.bit_depth == 16 and header.channels == 1 else _MODES[header.channels]
        self.info["bit_depth"] = header.bit_depth
        self._rendered = False

    def load(self):
        if not self._rendered:
            try:
                samples = codec.decode_array(self._data)
            except InrError as e:
                raise OSError(f"cannot decode the .inr image: {e}") from None
            pixels = media.quantize_samples(samples, 16 if self.mode == "I;16" else 8)
            raw = (pixels[..., 0].astype("<u2") if self.mode == "I;16" else pixels).tobytes()
            if self.fp and self._exclusive_fp:
                self.fp.close()
            self.fp = BytesIO(raw)
            self.tile = [("raw", (0, 0, *self.size), 0, self.mode)]
            self._rendered = True
        return super().load()

    def load_seek(self, pos: int):  # its presence keeps Pillow from memory-mapping the .inr file as pixels
        self.fp.seek(pos)


Image.register_open(FORMAT, InrImageFile, _accept)
Image.register_extension(FORMAT, ".inr")

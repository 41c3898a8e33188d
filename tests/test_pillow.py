"""The Pillow plugin: Image.open of an .inr file, modes, lazy decoding, and files it must not claim."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import inrcodec
import inrcodec.pillow  # registers the format
from inrcodec import codec, media
from inr_helpers import smooth, to_uint, write_png
from conftest import HEIGHT, WIDTH


def _encoded(tmp_path, pixels) -> tuple:
    src = write_png(tmp_path / "src.png", pixels)
    inrcodec.encode(src, tmp_path / "x.inr", quality=0, iterations=3, partitions="2x2", device="cpu")
    return tmp_path / "x.inr", inrcodec.decode_array(tmp_path / "x.inr", device="cpu")


def test_open_rgb(rgb):
    with Image.open(rgb.path) as im:
        assert (im.format, im.mode, im.size, im.info["bit_depth"]) == ("INR", "RGB", (WIDTH, HEIGHT), 8)
        pixels = np.asarray(im)
    assert np.array_equal(pixels, media.quantize_samples(rgb.decoded, 8))


def test_decoding_waits_for_the_pixels(rgb, monkeypatch):
    calls = []
    decode_array = codec.decode_array
    monkeypatch.setattr(codec, "decode_array", lambda *a, **k: calls.append(1) or decode_array(*a, **k))
    with Image.open(rgb.path) as im:
        assert im.size == (WIDTH, HEIGHT) and calls == []
        im.load()
        im.getpixel((0, 0))
        assert calls == [1]


@pytest.mark.parametrize("channels, mode", [(1, "L"), (2, "LA"), (4, "RGBA")])
def test_modes(tmp_path, channels, mode):
    path, decoded = _encoded(tmp_path, to_uint(smooth(9, 13, channels)))
    with Image.open(path) as im:
        assert (im.mode, im.size) == (mode, (13, 9))
        pixels = np.asarray(im).reshape(9, 13, channels)
    assert np.array_equal(pixels, media.quantize_samples(decoded, 8))


def test_16bit_gray_keeps_every_bit(tmp_path):
    path, decoded = _encoded(tmp_path, to_uint(smooth(9, 13, 1), 16))
    with Image.open(path) as im:
        assert (im.mode, im.info["bit_depth"]) == ("I;16", 16)
        pixels = np.asarray(im)
    assert pixels.dtype == np.uint16 and np.array_equal(pixels, media.quantize_samples(decoded, 16)[..., 0])


def test_16bit_colour_opens_as_8bit(tmp_path):
    path, decoded = _encoded(tmp_path, to_uint(smooth(9, 13, 3), 16))
    with Image.open(path) as im:
        assert (im.mode, im.info["bit_depth"]) == ("RGB", 16)
        assert np.array_equal(np.asarray(im), media.quantize_samples(decoded, 8))


def test_a_cropped_file_opens_at_its_crop(rgb, tmp_path):
    inrcodec.crop(rgb.path, tmp_path / "c.inr", (8, 6, 30, 20))
    with Image.open(tmp_path / "c.inr") as im:
        shape = inrcodec.info(tmp_path / "c.inr")["shape"]
        assert im.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(im), media.quantize_samples(inrcodec.decode_array(tmp_path / "c.inr"), 8))


def test_a_corrupt_file_is_not_identified(rgb, tmp_path):
    data = bytearray(rgb.data)
    data[-5] ^= 0xFF
    (tmp_path / "bad.inr").write_bytes(bytes(data))
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "bad.inr")


def test_other_formats_still_open(rgb):
    with Image.open(rgb.source) as im:
        assert im.format == "PNG"


def test_an_inr_file_is_still_no_source_for_encode(rgb, tmp_path):
    with pytest.raises(inrcodec.InrError, match="is an .inr file"):
        inrcodec.encode(rgb.path, tmp_path / "again.inr", device="cpu")

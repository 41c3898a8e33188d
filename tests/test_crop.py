"""Cropping without decoding: the cropped file decodes to exactly the region of the full decode."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inrcodec
from inrcodec import container
from inrcodec.errors import InrError
from inrcodec.grid import bounds, partitions_for_box
from conftest import GRID, HEIGHT, WIDTH


@st.composite
def boxes(draw, width: int, height: int) -> tuple[int, int, int, int]:
    """An x0,y0,x1,y1 box (end-exclusive, non-empty) inside a width x height image."""
    x0 = draw(st.integers(0, width - 1))
    x1 = draw(st.integers(x0 + 1, width))
    y0 = draw(st.integers(0, height - 1))
    y1 = draw(st.integers(y0 + 1, height))
    return x0, y0, x1, y1


def _region(pixels: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return pixels[y0:y1, x0:x1]


def _expected_partitions(box) -> list[tuple[int, int]]:
    """Partitions of the 4x5 grid of the shared image that intersect box, computed independently."""
    x0, y0, x1, y1 = box
    out = []
    for r in range(GRID[0]):
        for c in range(GRID[1]):
            ys, ye = bounds(HEIGHT, GRID[0], r)
            xs, xe = bounds(WIDTH, GRID[1], c)
            if ys < y1 and y0 < ye and xs < x1 and x0 < xe:
                out.append((r, c))
    return out


@settings(max_examples=40)
@given(box=boxes(WIDTH, HEIGHT))
def test_cropped_file_decodes_to_the_region_exactly(rgb, box):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "crop.inr"
        inrcodec.crop(rgb.path, out, box)
        pixels = inrcodec.decode_array(out, device="cpu")
        info = inrcodec.info(out)
    expected = _region(rgb.decoded, box)
    assert pixels.dtype == np.float32
    assert pixels.shape == expected.shape
    assert np.array_equal(pixels, expected)
    x0, y0, x1, y1 = box
    assert info["shape"] == [y1 - y0, x1 - x0]
    assert info["crop_box"] == [[y0, y1], [x0, x1]]
    assert info["original_shape"] == [HEIGHT, WIDTH]
    assert info["partitions_present"] == len(_expected_partitions(box))


@settings(max_examples=25)
@given(box=boxes(WIDTH, HEIGHT))
def test_decode_with_box_is_the_region_of_the_full_decode(rgb, box):
    pixels = inrcodec.decode_array(rgb.path, box=box, device="cpu")
    assert np.array_equal(pixels, _region(rgb.decoded, box))
    as_text = inrcodec.decode_array(rgb.path, box=",".join(map(str, box)), device="cpu")
    assert np.array_equal(as_text, pixels)


@settings(max_examples=25)
@given(data=st.data())
def test_crop_of_a_crop(rgb, data):
    first = data.draw(boxes(WIDTH, HEIGHT), label="first")
    fw, fh = first[2] - first[0], first[3] - first[1]
    second = data.draw(boxes(fw, fh), label="second")  # in pixels of the first crop
    composed = (first[0] + second[0], first[1] + second[1], first[0] + second[2], first[1] + second[3])
    with tempfile.TemporaryDirectory() as folder:
        a, b, direct = Path(folder) / "a.inr", Path(folder) / "b.inr", Path(folder) / "direct.inr"
        inrcodec.crop(rgb.path, a, first)
        inrcodec.crop(a, b, second)
        inrcodec.crop(rgb.path, direct, composed)
        twice = inrcodec.decode_array(b, device="cpu")
        assert b.read_bytes() == direct.read_bytes()
        # decode with a box of a cropped file: the box is in the cropped file's pixels
        boxed = inrcodec.decode_array(a, box=second, device="cpu")
    assert np.array_equal(twice, _region(rgb.decoded, composed))
    assert np.array_equal(boxed, twice)


def test_crop_copies_global_section_and_blocks_byte_for_byte(rgb, tmp_path):
    box = (9, 4, 30, 15)
    out = tmp_path / "crop.inr"
    result = inrcodec.crop(rgb.path, out, box)
    (original,) = container.read(rgb.data)
    (cropped,) = container.read(out.read_bytes())
    assert cropped.global_section == original.global_section
    assert sorted(cropped.blocks) == _expected_partitions(box)
    assert 0 < len(cropped.blocks) < len(original.blocks)
    for pos, block in cropped.blocks.items():
        assert block == original.blocks[pos]
    assert cropped.header.arch == original.header.arch
    assert cropped.header.extents == original.header.extents
    assert cropped.header.grid == original.header.grid
    assert cropped.header.crop == ((4, 15), (9, 30))
    assert result["bytes_in"] == len(rgb.data)
    assert result["bytes"] == out.stat().st_size < len(rgb.data)


def test_crop_to_the_whole_image_gives_the_same_bytes(rgb, tmp_path):
    out = tmp_path / "same.inr"
    inrcodec.crop(rgb.path, out, (0, 0, WIDTH, HEIGHT))
    assert out.read_bytes() == rgb.data


def test_crop_leaves_the_input_unchanged(rgb, tmp_path):
    src = tmp_path / "in.inr"
    src.write_bytes(rgb.data)
    before, stat = src.read_bytes(), src.stat()
    inrcodec.crop(src, tmp_path / "out.inr", (1, 2, 20, 11))
    assert src.read_bytes() == before
    assert src.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.inr", "out.inr"]


def test_cropped_png_is_the_region_of_the_full_png(rgb, tmp_path):
    box = (3, 5, 31, 22)
    inrcodec.decode(rgb.path, tmp_path / "full.png", device="cpu")
    inrcodec.crop(rgb.path, tmp_path / "crop.inr", box)
    inrcodec.decode(tmp_path / "crop.inr", tmp_path / "crop.png", device="cpu")
    from PIL import Image

    full = np.asarray(Image.open(tmp_path / "full.png"))
    part = np.asarray(Image.open(tmp_path / "crop.png"))
    assert np.array_equal(part, _region(full, box))


def test_partitions_for_box_agrees_with_geometry():
    for box in [(0, 0, 1, 1), (0, 0, WIDTH, HEIGHT), (7, 5, 8, 6), (36, 22, 37, 23), (10, 0, 20, 23)]:
        x0, y0, x1, y1 = box
        got = partitions_for_box((HEIGHT, WIDTH), GRID, ((y0, y1), (x0, x1)))
        assert got == _expected_partitions(box)


def test_crop_and_info_do_not_import_torch(rgb, tmp_path):
    out = tmp_path / "crop.inr"
    code = (
        "import sys, inrcodec\n"
        f"inrcodec.crop({str(rgb.path)!r}, {str(out)!r}, (2, 3, 20, 14))\n"
        f"info = inrcodec.info({str(out)!r})\n"
        "assert info['shape'] == [11, 18], info\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
    assert out.exists()


BAD_BOXES = [
    (0, 0, 0, 0),  # empty
    (5, 5, 5, 10),  # zero width
    (5, 5, 10, 5),  # zero height
    (10, 5, 5, 10),  # x0 > x1
    (0, 0, WIDTH + 1, HEIGHT),  # beyond the right edge
    (0, 0, WIDTH, HEIGHT + 1),  # beyond the bottom edge
    (-1, 0, 5, 5),  # negative
    (WIDTH, 0, WIDTH + 1, 1),  # starts at the edge
    "1,2,3",
    "a,b,c,d",
    "1,2,3,4,5",
    "",
]


@pytest.mark.parametrize("box", BAD_BOXES, ids=[str(b) for b in BAD_BOXES])
def test_bad_box_is_refused(rgb, tmp_path, box):
    out = tmp_path / "crop.inr"
    with pytest.raises(InrError):
        inrcodec.crop(rgb.path, out, box)
    with pytest.raises(InrError):
        inrcodec.decode_array(rgb.path, box=box, device="cpu")
    with pytest.raises(InrError):
        inrcodec.decode(rgb.path, tmp_path / "out.png", box=box, device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_box_outside_a_cropped_file_is_refused(rgb, tmp_path):
    a = tmp_path / "a.inr"
    inrcodec.crop(rgb.path, a, (10, 5, 20, 15))  # now 10x10
    with pytest.raises(InrError):
        inrcodec.crop(a, tmp_path / "b.inr", (0, 0, 11, 10))
    with pytest.raises(InrError):
        inrcodec.decode_array(a, box=(0, 0, 10, 11), device="cpu")
    assert not (tmp_path / "b.inr").exists()

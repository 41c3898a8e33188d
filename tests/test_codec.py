"""The encode/decode API: sizes, channel layouts, bit depths, input formats, quality, determinism, info."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inrcodec
from inrcodec import container, media, priors
from inrcodec.errors import InrError
from inr_helpers import png_ihdr, psnr, smooth, to_uint, write_pillow, write_png
from conftest import GRID, HEIGHT, WIDTH

FAST = dict(iterations=10, device="cpu")


def _encode(tmp_path: Path, pixels: np.ndarray, name: str = "src.png", **options) -> tuple[Path, dict]:
    src = write_png(tmp_path / name, pixels)
    dst = tmp_path / "out.inr"
    return dst, inrcodec.encode(src, dst, **{**FAST, **options})


def _decode_png(path: Path, out: Path) -> bytes:
    inrcodec.decode(path, out, device="cpu")
    return out.read_bytes()


# ---------------------------------------------------------------------------- sizes and grids


def test_shared_encode_keeps_size_and_grid(rgb, tmp_path):
    assert rgb.decoded.shape == (HEIGHT, WIDTH, 3)
    assert rgb.decoded.dtype == np.float32
    assert rgb.decoded.min() >= 0 and rgb.decoded.max() <= 1
    r = rgb.result
    assert r["shape"] == [HEIGHT, WIDTH]
    assert r["partition_grid"] == list(GRID)
    assert r["channels"] == 3 and r["bit_depth"] == 8
    assert r["bytes"] == len(rgb.data)
    assert r["iterations"] == 20
    assert r["device"] == "cpu"
    assert r["bpp"] == pytest.approx(8 * len(rgb.data) / (HEIGHT * WIDTH))
    png = _decode_png(rgb.path, tmp_path / "out.png")
    assert png_ihdr(png) == (WIDTH, HEIGHT, 8, 2)


def test_reported_psnr_is_that_of_the_decoded_png(rgb, tmp_path):
    decoded = np.asarray(Image.open(io.BytesIO(_decode_png(rgb.path, tmp_path / "out.png"))))
    assert decoded.shape == rgb.pixels.shape
    assert rgb.result["psnr"] == pytest.approx(psnr(rgb.pixels, decoded), abs=1e-9)
    assert np.array_equal(decoded, to_uint(rgb.decoded))


@pytest.mark.parametrize(
    "height, width, partitions, grid",
    [
        (1, 1, None, (1, 1)),
        (1, 7, "7x1", (1, 7)),
        (5, 1, "1x5", (5, 1)),
        (17, 24, None, (1, 1)),
        (17, 24, "5x3", (3, 5)),
        (31, 2, "2x4", (4, 2)),
        (48, 64, (2, 3), (2, 3)),
    ],
)
def test_odd_sizes_and_grids_round_trip(tmp_path, height, width, partitions, grid):
    dst, r = _encode(tmp_path, to_uint(smooth(height, width)), partitions=partitions)
    assert r["partition_grid"] == list(grid)
    pixels = inrcodec.decode_array(dst, device="cpu")
    assert pixels.shape == (height, width, 3)
    assert np.isfinite(pixels).all()
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png)[:2] == (width, height)
    assert inrcodec.info(dst)["partition_grid"] == list(grid)


@pytest.mark.parametrize("partitions", ["38x1", "1x24", "0x1", "3", "axb", "3x3x3"])
def test_impossible_partition_grid_is_refused(tmp_path, partitions):
    with pytest.raises(InrError):
        _encode(tmp_path, to_uint(smooth(23, 37)), partitions=partitions)
    assert not (tmp_path / "out.inr").exists()


@pytest.mark.parametrize("options", [dict(quality=101), dict(quality=-1), dict(iterations=0), dict(device="tpu")])
def test_bad_options_are_refused(tmp_path, options):
    with pytest.raises(InrError):
        _encode(tmp_path, to_uint(smooth(9, 12)), **options)
    assert not (tmp_path / "out.inr").exists()


# ---------------------------------------------------------------------------- channels and bit depths


def test_grayscale(tmp_path):
    dst, r = _encode(tmp_path, to_uint(smooth(17, 24, 1)))
    assert r["channels"] == 1 and r["bit_depth"] == 8
    assert inrcodec.decode_array(dst, device="cpu").shape == (17, 24, 1)
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png) == (24, 17, 8, 0)
    assert Image.open(io.BytesIO(png)).mode == "L"


def test_gray_alpha(tmp_path):
    pixels = to_uint(smooth(17, 24, 4))[..., 2:]
    dst, r = _encode(tmp_path, pixels)
    assert r["channels"] == 2
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png) == (24, 17, 8, 4)


def test_rgba_keeps_alpha(tmp_path):
    source = to_uint(smooth(17, 24, 4))
    assert source[..., 3].std() > 20  # the alpha plane carries an image of its own
    dst, r = _encode(tmp_path, source, iterations=200)
    assert r["channels"] == 4 and inrcodec.info(dst)["channels"] == 4
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png) == (24, 17, 8, 6)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (17, 24, 4)
    assert psnr(decoded[..., 3], source[..., 3]) > 25  # about 34 dB observed; opaque alpha gives ~10 dB


def test_palette_png_is_expanded(tmp_path):
    src = tmp_path / "palette.png"
    Image.fromarray(to_uint(smooth(17, 24))).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(src)
    assert Image.open(src).mode == "P"
    dst = tmp_path / "out.inr"
    r = inrcodec.encode(src, dst, **FAST)
    assert r["channels"] == 3


def test_palette_png_with_transparency_keeps_it_as_alpha(tmp_path):
    pixels = to_uint(smooth(9, 12))
    image = Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    image.save(tmp_path / "src.png", transparency=0)
    samples, depth = media.load_image(tmp_path / "src.png")
    assert samples.shape == (9, 12, 4) and depth == 8
    index = np.asarray(Image.open(tmp_path / "src.png"))
    assert np.array_equal(samples[..., 3] == 0, index == 0)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_colour_key_transparency_is_kept(tmp_path, mode):
    pixels = to_uint(smooth(9, 12, 3 if mode == "RGB" else 1))
    key = (1, 2, 3) if mode == "RGB" else 1
    pixels[0, 0] = key
    Image.fromarray(pixels if mode == "RGB" else pixels[..., 0]).save(tmp_path / "src.png", transparency=key)
    assert Image.open(tmp_path / "src.png").info["transparency"] == key
    samples, _ = media.load_image(tmp_path / "src.png")
    assert samples.shape[2] in (2, 4)  # an alpha channel
    assert samples[0, 0, -1] == 0 and samples[1, 1, -1] == 1


def test_16bit_grayscale_decodes_to_16bit_png(tmp_path):
    source = to_uint(smooth(17, 24, 1), 16)
    assert (source % 257 != 0).any()  # not an 8-bit image in disguise
    src = tmp_path / "gray16.png"
    Image.fromarray(source[..., 0]).save(src)
    assert png_ihdr(src.read_bytes())[2:] == (16, 0)
    samples, depth = media.load_image(src)
    assert depth == 16 and np.array_equal(to_uint(samples, 16), source)
    dst = tmp_path / "out.inr"
    r = inrcodec.encode(src, dst, **FAST)
    assert r["bit_depth"] == 16 and inrcodec.info(dst)["bit_depth"] == 16
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png) == (24, 17, 16, 0)
    decoded = np.asarray(Image.open(io.BytesIO(png))).astype(np.uint16)
    assert np.array_equal(decoded, to_uint(inrcodec.decode_array(dst, device="cpu"), 16)[..., 0])


@pytest.mark.parametrize("channels, colour", [(3, 2), (4, 6)], ids=["rgb48", "rgba64"])
def test_16bit_colour_decodes_to_16bit_png(tmp_path, channels, colour):
    source = to_uint(smooth(17, 24, channels), 16)
    src = write_png(tmp_path / "deep.png", source)
    assert png_ihdr(src.read_bytes()) == (24, 17, 16, colour)
    samples, depth = media.load_image(src)
    assert depth == 16 and np.array_equal(to_uint(samples, 16), source)  # not truncated to 8 bits
    dst = tmp_path / "out.inr"
    r = inrcodec.encode(src, dst, **FAST)
    assert r["bit_depth"] == 16 and r["channels"] == channels
    png = _decode_png(dst, tmp_path / "out.png")
    assert png_ihdr(png) == (24, 17, 16, colour)
    back, depth = media.load_image(tmp_path / "out.png")
    assert depth == 16
    assert np.array_equal(to_uint(back, 16), to_uint(inrcodec.decode_array(dst, device="cpu"), 16))


def test_16bit_tiff_sources(tmp_path):
    import av

    gray = to_uint(smooth(17, 24, 1), 16)
    write_pillow(tmp_path / "gray16.tif", gray)
    colour = to_uint(smooth(17, 24, 3), 16)
    coder = av.CodecContext.create("tiff", "w")
    coder.width, coder.height, coder.pix_fmt = 24, 17, "rgb48le"
    frame = av.VideoFrame.from_ndarray(colour, format="rgb48le")
    (tmp_path / "rgb48.tif").write_bytes(b"".join(bytes(p) for p in coder.encode(frame) + coder.encode(None)))
    for name, source in (("gray16.tif", gray), ("rgb48.tif", colour)):
        samples, depth = media.load_image(tmp_path / name)
        assert depth == 16 and np.array_equal(to_uint(samples, 16), source), name
        out = tmp_path / f"{name}.inr"
        r = inrcodec.encode(tmp_path / name, out, **FAST)
        assert r["bit_depth"] == 16 and r["channels"] == source.shape[2]
        png = _decode_png(out, tmp_path / f"{name}.png")
        assert png_ihdr(png)[2] == 16


@pytest.mark.parametrize(
    "suffix, mode, save_args",
    [
        (".jpg", "RGB", dict(quality=95)),
        (".jpg", "L", dict(quality=95)),
        (".webp", "RGB", dict(lossless=True)),
        (".webp", "RGBA", dict(lossless=True)),
        (".tif", "RGB", {}),
        (".tiff", "L", {}),
    ],
)
def test_other_input_formats(tmp_path, suffix, mode, save_args):
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    src = write_pillow(tmp_path / f"src{suffix}", to_uint(smooth(17, 24, channels)), **save_args)
    dst = tmp_path / "out.inr"
    r = inrcodec.encode(src, dst, **FAST)
    assert r["shape"] == [17, 24] and r["channels"] == channels and r["bit_depth"] == 8
    assert inrcodec.decode_array(dst, device="cpu").shape == (17, 24, channels)


@pytest.mark.parametrize(
    "content",
    [b"", b"not an image at all\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "text", "broken-png"],
)
def test_unreadable_sources_are_refused(tmp_path, content):
    src = tmp_path / "src.png"
    src.write_bytes(content)
    with pytest.raises(InrError):
        inrcodec.encode(src, tmp_path / "out.inr", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.png"]


def test_float_images_are_refused(tmp_path):
    src = tmp_path / "float.tif"
    Image.fromarray(smooth(9, 12, 1)[..., 0].astype(np.float32), mode="F").save(src)
    with pytest.raises(InrError, match="floating-point"):
        inrcodec.encode(src, tmp_path / "out.inr", **FAST)


def test_missing_source(tmp_path):
    with pytest.raises(InrError, match="no such file"):
        inrcodec.encode(tmp_path / "nothing.png", tmp_path / "out.inr", **FAST)
    with pytest.raises(InrError, match="no such file"):
        inrcodec.decode_array(tmp_path / "nothing.inr", device="cpu")


# ---------------------------------------------------------------------------- quality and determinism


def test_quality_floor_on_a_smooth_image(tmp_path):
    """48x32 gradients + sinusoids, default quality, 300 steps: about 40.7 dB observed (seeds 0-2: 39.9-44.3)."""
    source = to_uint(smooth(32, 48))
    dst, r = _encode(tmp_path, source, iterations=300)
    assert r["quality"] == 75
    decoded = to_uint(inrcodec.decode_array(dst, device="cpu"))
    measured = psnr(source, decoded)
    assert measured == pytest.approx(r["psnr"], abs=1e-9)
    assert measured > 36.0


def test_more_steps_fit_better(tmp_path):
    source = to_uint(smooth(32, 48))
    _, short = _encode(tmp_path, source, iterations=20)
    _, long = _encode(tmp_path, source, iterations=300, force=True)
    assert long["psnr"] > short["psnr"] + 5


def test_same_seed_same_bytes(rgb, tmp_path):
    again = tmp_path / "again.inr"
    inrcodec.encode(rgb.source, again, iterations=20, partitions="5x4", seed=0, device="cpu")
    assert again.read_bytes() == rgb.data


def test_different_seed_different_bytes(rgb, tmp_path):
    other = tmp_path / "other.inr"
    inrcodec.encode(rgb.source, other, iterations=20, partitions="5x4", seed=1, device="cpu")
    assert other.read_bytes() != rgb.data
    (a,), (b,) = container.read(rgb.data), container.read(other.read_bytes())
    assert a.header == b.header  # the same image and settings, only the weights differ
    assert a.global_section != b.global_section


def test_higher_quality_is_bigger(tmp_path):
    source = to_uint(smooth(17, 24))
    _, low = _encode(tmp_path, source, quality=0)
    _, high = _encode(tmp_path, source, quality=95, force=True)
    assert high["bytes"] > low["bytes"]


# ---------------------------------------------------------------------------- outputs


def test_npy_output_equals_decode_array(rgb, tmp_path):
    out = tmp_path / "samples.npy"
    r = inrcodec.decode(rgb.path, out, device="cpu")
    loaded = np.load(out, allow_pickle=False)
    assert loaded.dtype == np.float32
    assert np.array_equal(loaded, rgb.decoded)
    assert r["shape"] == [HEIGHT, WIDTH] and r["bytes"] == out.stat().st_size


def test_npy_output_with_box(rgb, tmp_path):
    out = tmp_path / "samples.npy"
    inrcodec.decode(rgb.path, out, box=(4, 3, 30, 20), device="cpu")
    assert np.array_equal(np.load(out), rgb.decoded[3:20, 4:30])


@pytest.mark.parametrize("name", ["out.jpg", "out.inr", "out", "out.PNG.txt"])
def test_unsupported_decode_suffix(rgb, tmp_path, name):
    with pytest.raises(InrError):
        inrcodec.decode(rgb.path, tmp_path / name, device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_upper_case_png_suffix_is_accepted(rgb, tmp_path):
    inrcodec.decode(rgb.path, tmp_path / "OUT.PNG", device="cpu")
    assert png_ihdr((tmp_path / "OUT.PNG").read_bytes())[:2] == (WIDTH, HEIGHT)


def test_existing_output_needs_force(rgb, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    with pytest.raises(InrError, match="exists"):
        inrcodec.decode(rgb.path, out, device="cpu")
    assert out.read_bytes() == b"keep me"
    inrcodec.decode(rgb.path, out, device="cpu", force=True)
    assert png_ihdr(out.read_bytes())[:2] == (WIDTH, HEIGHT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left


def test_output_equal_to_input_is_refused_even_with_force(tmp_path, rgb):
    src = tmp_path / "x.inr"
    src.write_bytes(rgb.data)
    with pytest.raises(InrError, match="input"):
        inrcodec.crop(src, src, (0, 0, 5, 5), force=True)
    png = write_png(tmp_path / "x.png", rgb.pixels)
    with pytest.raises(InrError, match="input"):
        inrcodec.encode(png, png, force=True, **FAST)
    assert src.read_bytes() == rgb.data
    assert png.read_bytes() == write_png(tmp_path / "y.png", rgb.pixels).read_bytes()


def test_cuda_without_cuda_is_refused(rgb, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(InrError, match="CUDA"):
        inrcodec.decode_array(rgb.path, device="cuda")
    with pytest.raises(InrError, match="CUDA"):
        inrcodec.encode(rgb.source, tmp_path / "out.inr", iterations=2, device="cuda")
    assert list(tmp_path.iterdir()) == []


def test_progress_callback(tmp_path):
    calls = []
    _encode(tmp_path, to_uint(smooth(9, 12)), iterations=25, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [10, 20, 25]
    assert all(c[1] == 25 and np.isfinite(c[2]) for c in calls)


# ---------------------------------------------------------------------------- info


INFO_KEYS = {"kind", "shape", "channels", "partition_grid", "partitions_present", "bytes_total", "bytes_global",
             "bytes_local", "bpp", "prior"}


def test_info(rgb):
    i = inrcodec.info(rgb.path)
    assert INFO_KEYS <= set(i)
    assert i["kind"] == "image"
    assert i["shape"] == [HEIGHT, WIDTH]
    assert i["channels"] == 3
    assert i["bit_depth"] == 8
    assert i["partition_grid"] == list(GRID)
    assert i["partitions_present"] == i["partitions_total"] == 20
    assert i["bytes_total"] == os.path.getsize(rgb.path)
    assert i["bytes_global"] > 0 and i["bytes_local"] > 0
    assert i["bytes_global"] + i["bytes_local"] < i["bytes_total"]
    assert i["bpp"] == pytest.approx(8 * i["bytes_total"] / (HEIGHT * WIDTH))
    prior = priors.find(i["prior"]["name"])  # quality 75 starts from the installed prior
    assert i["prior"]["sha256"] == prior.sha256.hex()
    (stream,) = container.read(rgb.data)
    assert i["bytes_global"] == len(stream.global_section)
    assert i["bytes_local"] == sum(map(len, stream.blocks.values()))


def test_info_of_a_crop(rgb, tmp_path):
    out = tmp_path / "crop.inr"
    inrcodec.crop(rgb.path, out, (0, 0, 7, 5))  # exactly partition (0, 0): rows 0-4, columns 0-6
    i = inrcodec.info(out)
    assert i["shape"] == [5, 7]
    assert i["partitions_present"] == 1 and i["partitions_total"] == 20
    assert i["bytes_total"] == out.stat().st_size
    assert i["bpp"] == pytest.approx(8 * i["bytes_total"] / 35)
    assert i["bytes_global"] == inrcodec.info(rgb.path)["bytes_global"]


def test_the_bundled_photo_small_crop(tmp_path):
    """The real photo, once: a 40x30 region of inrcodec/data/chelsea.png, few steps."""
    photo = Path(inrcodec.__file__).parent / "data" / "chelsea.png"
    pixels = np.asarray(Image.open(photo).convert("RGB"))
    assert pixels.shape == (300, 451, 3)
    region = np.ascontiguousarray(pixels[130:160, 200:240])
    dst, r = _encode(tmp_path, region, iterations=60)
    assert r["shape"] == [30, 40]
    decoded = to_uint(inrcodec.decode_array(dst, device="cpu"))
    assert psnr(region, decoded) == pytest.approx(r["psnr"], abs=1e-9)
    assert r["psnr"] > 12  # a real photo after 60 steps: coarse, but far from noise

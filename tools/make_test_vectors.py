#!/usr/bin/env python3
"""Regenerate the .inr test vectors in format_spec/vectors/ with the inrcodec API.

    python tools/make_test_vectors.py [--iterations 20] [--out format_spec/vectors] [--only NAME ...]

Each vector is a tiny synthetic signal (an image saved as PNG with Pillow, a WAV written with
soundfile, a lossless FFV1 video with a FLAC audio track written with inrcodec.video, all in a
temporary folder) encoded on the CPU with few iterations, so the files are a few KB. For every
vector the folder gets NAME.inr, NAME.npy (float32 samples of stream 0 from
inrcodec.decode_array), NAME.track.npy for a video's audio track, and an entry in
vectors.json: file, kind, sha256 of the .inr bytes, shape, channels, bit depth, and sha256 of
stream 0's delivered samples (FORMAT.md section 10: uint8, little-endian uint16 or int16, C
order, shape extents + (C,)), as "pixels_sha256" for every kind.
Vectors made with a prior (quantizer id 2) name it in "prior": a copy of the installed prior
file that lies in the same folder.

The fitted weights may differ between machines or torch builds, so regenerating can change
the files and their hashes; the tests only check that the committed vectors stay consistent.
``--only`` remakes the vectors named (a crop remakes its source too) and keeps the other entries
of vectors.json as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inrcodec  # noqa: E402
from inrcodec import video  # noqa: E402
from inrcodec import priors  # noqa: E402

# name: (width, height, mode, bit depth, quality, partitions 'CxR', prior: "auto" or None)
SOURCES = {
    "gray8_37x23": (37, 23, "L", 8, 0, "3x2", None),  # sizes not divisible by the grid
    "rgb8_40x30": (40, 30, "RGB", 8, 0, "3x3", None),
    "rgba8_24x20": (24, 20, "RGBA", 8, 0, "2x2", None),
    "gray16_20x14": (20, 14, "L", 16, 90, "2x1", None),  # quality 90: the finest steps, the widest class tables
    "rgb8_prior_33x26": (33, 26, "RGB", 8, 10, "2x2", "auto"),  # residuals, quality 10: a network with a shipped prior
}
# name: (source vector, first crop, second crop), crop options relative to the signal cropped
CROPS = {
    "rgb8_crop2": ("rgb8_40x30", dict(box="5,4,33,27"), dict(box="3,2,20,15")),
    "audio_crop": ("audio16_300", dict(samples="37:260"), dict(time="0.002:0.02")),
    "audio_prior_crop": ("audio16_prior_400", dict(samples="90:390"), dict(samples="10:150")),
    "video_crop": ("video8_track", dict(frames="1:4"), dict(box="2,1,9,7", time="0.1:0.2")),
}
# name: (source file name, partitions); audio: 300 (400) samples of 8 kHz stereo, 16-bit WAV, the
# second from the shipped audio prior (duration-invariant, FORMAT.md 14); video: 4 frames of
# 10x8 RGB at 10 fps with 0.4 s of 4 kHz mono audio as stream 1
MEDIA = {"audio16_300": ("a.wav", "3"), "video8_track": ("v.mkv", "2x2x2"), "audio16_prior_400": ("a.wav", "4")}
KINDS = {"image": 1, "audio": 2, "video": 3}


def synthetic(width: int, height: int, channels: int, seed: int) -> np.ndarray:
    """Smooth gradients plus a few sinusoids, float64 in [0, 1], shape (H, W, C)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    planes = []
    for _ in range(channels):
        a, b, f, g = rng.uniform(0.2, 1.0, 4)
        planes.append(0.5 + 0.25 * a * (x - y) + 0.2 * np.sin(6 * f * x + 4 * g * y) * b)
    return np.clip(np.stack(planes, -1), 0, 1)


def save_png(path: Path, samples: np.ndarray, bit_depth: int) -> None:
    top = 2**bit_depth - 1
    pixels = np.rint(samples * top).astype(np.uint8 if bit_depth == 8 else np.uint16)
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)


def delivered(samples: np.ndarray, bit_depth: int, kind: str = "image") -> np.ndarray:
    if kind == "audio":
        return np.clip(np.rint(samples * np.float32(32768)), -32768, 32767).astype("<i2")
    top = 2**bit_depth - 1
    return np.rint(np.clip(samples, 0, 1) * top).astype("<u1" if bit_depth == 8 else "<u2")


def media_source(folder: Path, name: str) -> Path:
    rng = np.random.default_rng(7)
    if name.startswith("audio"):
        t = np.arange(400 if "prior" in name else 300) / 8000
        x = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.cos(2 * np.pi * 500 * t)], -1)
        soundfile.write(folder / "a.wav", np.rint(x * 32767).astype(np.int16), 8000, subtype="PCM_16")
        return folder / "a.wav"
    frames = np.stack([synthetic(10, 8, 3, seed) for seed in range(4)])
    sound = np.rint(np.sin(np.arange(1600) / 4000 * 2 * np.pi * 200)[:, None] * 12000 + rng.normal(0, 50, (1600, 1)))
    video.write(folder / "v.mkv", ".mkv", [np.rint(frames * 255).astype(np.uint8)], (8, 10), 10.0,
                (sound.astype(np.int16), 4000))
    return folder / "v.mkv"


def copy_prior(out: Path, name: str | None) -> str | None:
    """A copy of the installed prior ``name`` beside the vectors; its file name."""
    if not name:
        return None
    shutil.copyfile(priors.INSTALLED / f"{name}{priors.SUFFIX}", out / f"{name}{priors.SUFFIX}")
    return f"{name}{priors.SUFFIX}"


def record(out: Path, name: str, bit_depth: int, prior: str | None = None) -> dict:
    inr = out / f"{name}.inr"
    inr.chmod(0o644)  # inrcodec writes through mkstemp, which leaves 0600
    kind = inrcodec.info(inr)["kind"]
    samples = inrcodec.decode_array(inr, device="cpu", prior=prior and str(out / prior))
    np.save(out / f"{name}.npy", samples, allow_pickle=False)
    pixels = np.ascontiguousarray(delivered(samples, bit_depth, kind))
    entry = {
        "file": inr.name,
        "kind": kind,
        "sha256": hashlib.sha256(inr.read_bytes()).hexdigest(),
        "shape": list(samples.shape[:-1]),
        "channels": int(samples.shape[-1]),
        "bit_depth": bit_depth,
        "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        "samples": f"{name}.npy",
    } | ({"prior": prior} if prior else {})
    if len(inrcodec.info(inr)["streams"]) > 1:
        track = inrcodec.decode_array(inr, kind="audio", device="cpu")
        np.save(out / f"{name}.track.npy", track, allow_pickle=False)
        entry["track"] = f"{name}.track.npy"
        entry["track_sha256"] = hashlib.sha256(np.ascontiguousarray(delivered(track, 16, "audio")).tobytes()).hexdigest()
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "format_spec" / "vectors")
    ap.add_argument("--only", nargs="+", choices=sorted(SOURCES | MEDIA | CROPS), help="remake these vectors only")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or SOURCES | MEDIA | CROPS)
    wanted |= {CROPS[n][0] for n in wanted if n in CROPS}
    entries, depths, priors_of = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (name, (w, h, mode, depth, quality, parts, prior)) in enumerate(SOURCES.items()):
            if name not in wanted:
                continue
            src = Path(tmp) / f"{name}.png"
            save_png(src, synthetic(w, h, len(mode), seed), depth)
            info = inrcodec.encode(src, out / f"{name}.inr", quality=quality, iterations=args.iterations,
                                   partitions=parts, device="cpu", seed=0, force=True, prior=prior)
            depths[name], priors_of[name] = depth, copy_prior(out, info["prior"])
            entries.append(record(out, name, depth, priors_of[name]))
            print(f"{name}: {info['bytes']} bytes, {info['psnr']:.1f} dB")
        for name, (file, parts) in MEDIA.items():
            if name not in wanted:
                continue
            src = media_source(Path(tmp), name)
            info = inrcodec.encode(src, out / f"{name}.inr", iterations=args.iterations, partitions=parts,
                                   device="cpu", seed=0, force=True, prior="auto" if "prior" in name else None)
            depths[name], priors_of[name] = info["bit_depth"], copy_prior(out, info["prior"])
            entries.append(record(out, name, info["bit_depth"], priors_of[name]))
            print(f"{name}: {info['bytes']} bytes")
        for name, (source, first, second) in CROPS.items():
            if name not in wanted:
                continue
            middle = Path(tmp) / f"{name}_1.inr"
            inrcodec.crop(out / f"{source}.inr", middle, **first)
            inrcodec.crop(middle, out / f"{name}.inr", force=True, **second)
            entries.append(record(out, name, depths[source], priors_of.get(source)) | {"cropped_from": source,
                                                                                      "crops": [first, second]})
            print(f"{name}: {(out / f'{name}.inr').stat().st_size} bytes")
    if args.only:  # the other vectors stay as recorded, in their order
        kept = json.loads((out / "vectors.json").read_text())["vectors"]
        mine = {e["file"]: e for e in entries}
        entries = [mine.pop(e["file"], e) for e in kept] + list(mine.values())
    (out / "vectors.json").write_text(json.dumps({"vectors": entries}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Regenerate the .inr test vectors in format_spec/vectors/ with the inrcodec API.

    python tools/make_test_vectors.py [--iterations 20] [--out format_spec/vectors]

Each vector is a tiny synthetic image (numpy, saved as PNG with Pillow in a temporary
folder) encoded on the CPU with few iterations, so the files are a few KB. For every vector
the folder gets NAME.inr, NAME.npy (float32 samples from inrcodec.decode_array) and an entry
in vectors.json: file, sha256 of the .inr bytes, shape, channels, bit depth, and sha256 of
the delivered pixels (rint(clip(v, 0, 1) * (2**depth - 1)) as uint8 or little-endian uint16,
C order, shape (H, W, C)).

The fitted weights may differ between machines or torch builds, so regenerating can change
the files and their hashes; the tests only check that the committed vectors stay consistent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import inrcodec  # noqa: E402

# name: (width, height, mode, bit depth, quality, partitions 'CxR')
SOURCES = {
    "gray8_37x23": (37, 23, "L", 8, 0, "3x2"),  # sizes not divisible by the grid
    "rgb8_40x30": (40, 30, "RGB", 8, 0, "3x3"),
    "rgba8_24x20": (24, 20, "RGBA", 8, 0, "2x2"),
    "gray16_20x14": (20, 14, "L", 16, 90, "2x1"),  # quality 90: the finest steps, the widest class tables
}
# name: (source vector, first box, second box), boxes x0,y0,x1,y1 relative to the image cropped
CROPS = {"rgb8_crop2": ("rgb8_40x30", "5,4,33,27", "3,2,20,15")}


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


def delivered(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    top = 2**bit_depth - 1
    return np.rint(np.clip(samples, 0, 1) * top).astype("<u1" if bit_depth == 8 else "<u2")


def record(out: Path, name: str, bit_depth: int) -> dict:
    inr = out / f"{name}.inr"
    inr.chmod(0o644)  # inrcodec writes through mkstemp, which leaves 0600
    samples = inrcodec.decode_array(inr, device="cpu")
    np.save(out / f"{name}.npy", samples, allow_pickle=False)
    pixels = np.ascontiguousarray(delivered(samples, bit_depth))
    return {
        "file": inr.name,
        "sha256": hashlib.sha256(inr.read_bytes()).hexdigest(),
        "shape": list(samples.shape[:2]),
        "channels": int(samples.shape[2]),
        "bit_depth": bit_depth,
        "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        "samples": f"{name}.npy",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "format_spec" / "vectors")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    entries, depths = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (name, (w, h, mode, depth, quality, parts)) in enumerate(SOURCES.items()):
            src = Path(tmp) / f"{name}.png"
            save_png(src, synthetic(w, h, len(mode), seed), depth)
            info = inrcodec.encode(src, out / f"{name}.inr", quality=quality, iterations=args.iterations,
                                   partitions=parts, device="cpu", seed=0, force=True)
            depths[name] = depth
            entries.append(record(out, name, depth))
            print(f"{name}: {info['bytes']} bytes, {info['psnr']:.1f} dB")
        for name, (source, box1, box2) in CROPS.items():
            middle = Path(tmp) / f"{name}_1.inr"
            inrcodec.crop(out / f"{source}.inr", middle, box1)
            inrcodec.crop(middle, out / f"{name}.inr", box2, force=True)
            entries.append(record(out, name, depths[source]) | {"cropped_from": source, "boxes": [box1, box2]})
            print(f"{name}: {(out / f'{name}.inr').stat().st_size} bytes")
    (out / "vectors.json").write_text(json.dumps({"vectors": entries}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Image benchmark: encode/decode/crop times, bpp and PSNR at one quality, next to Pillow JPEG.

    python benchmarks/bench_image.py [--quality Q] [--iterations N] [--out benchmarks/results] IMAGES...

Rates count the bytes of the real .inr file; PSNR is measured on the decoded 8-bit PNG pixels.
JPEG's PSNR at the same bpp is interpolated on its curve over Pillow qualities 5..95. Decode
and crop times are in-process, best of three, after one warm-up decode. Prints a markdown
table and writes JSON in CompressAI's result shape (one entry per file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import inrcodec
from inrcodec import anchors, media


def best_of(n, fn):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_file(path: Path, work: Path, quality: int, iterations: int | None) -> dict:
    inr = work / (path.stem + ".inr")
    enc = inrcodec.encode(path, inr, quality=quality, iterations=iterations, device="cpu", force=True)
    inrcodec.decode_array(inr, device="cpu")  # warm-up
    decode_s = best_of(3, lambda: inrcodec.decode(inr, work / "out.png", device="cpu", force=True))
    h, w = enc["shape"]
    box = (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    crop_s = best_of(3, lambda: inrcodec.crop(inr, work / "crop.inr", box, force=True))
    source = media.quantize_samples(media.load_image(path)[0], 8)
    jpeg = anchors.psnr_at_bpp(anchors.jpeg_curve(source), enc["bpp"])
    return {
        "file": path.name, "width": w, "height": h, "bytes": enc["bytes"], "bpp": enc["bpp"],
        "psnr": enc["psnr"], "jpeg_psnr_same_bpp": jpeg, "encode_s": enc["encode_seconds"],
        "decode_s": decode_s, "crop_s": crop_s, "partition_grid": enc["partition_grid"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--quality", type=int, default=inrcodec.codec.DEFAULT_QUALITY)
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.images:
            rows.append(bench_file(path, Path(tmp), args.quality, args.iterations))
            print(f"done {path.name}", file=sys.stderr, flush=True)

    print(f"| file | size | bytes | bpp | PSNR dB | JPEG PSNR at same bpp | encode s | decode s | crop ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        jpeg = f"{r['jpeg_psnr_same_bpp']:.2f}" if r["jpeg_psnr_same_bpp"] is not None else "n/a"
        print(f"| {r['file']} | {r['width']}x{r['height']} | {r['bytes']} | {r['bpp']:.3f} | {r['psnr']:.2f} | "
              f"{jpeg} | {r['encode_s']:.1f} | {r['decode_s']:.3f} | {1000 * r['crop_s']:.1f} |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("bpp", "psnr", "encode_s", "decode_s", "crop_s")}
    print(f"| mean | | | {mean['bpp']:.3f} | {mean['psnr']:.2f} | | {mean['encode_s']:.1f} | "
          f"{mean['decode_s']:.3f} | {1000 * mean['crop_s']:.1f} |")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "name": "inrcodec",
        "description": f"inrcodec {inrcodec.__version__} quality {args.quality}, CPU; "
                       f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "results": {
            "bpp": [r["bpp"] for r in rows],
            "psnr-rgb": [r["psnr"] for r in rows],
            "encoding_time": [r["encode_s"] for r in rows],
            "decoding_time": [r["decode_s"] for r in rows],
        },
        "files": rows,
    }
    target = args.out / f"image-q{args.quality}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Batch throughput: 20 small photos (128x96 crops of the corpus) with --jobs 1, --jobs 2 and local Ray.

    python benchmarks/bench_batch.py [--corpus corpus] [--quality Q] [--iterations N] [--out benchmarks/out]
        [--runs jobs1,jobs2,ray]

Each run is a fresh process (as `inrcodec batch` would be), into an empty destination, on the
CPU; its time is that of batch.run (walk to last manifest line), so the start of Python and
torch in the parent is left out, while the start of worker processes (spawned, each importing
torch) and of Ray's workers is in. The Ray run starts a local instance with ray.init(num_cpus=2)
first and reports that time apart. Prints a markdown table, writes JSON, and says whether the
three runs wrote the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

CROP = (128, 96)  # width, height
COUNT = 20


def make_photos(corpus: Path, folder: Path) -> list[Path]:
    """COUNT crops of CROP pixels, spread over the corpus photos, as 8-bit RGB PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(corpus.glob("*.png"))
    made = []
    for i in range(COUNT):
        photo = photos[i % len(photos)]
        k = i // len(photos)  # which crop of this photo
        with Image.open(photo) as im:
            w, h = im.size
            x = (w - CROP[0]) * (2 * k + 1) // 8
            y = (h - CROP[1]) * (3 * k + 2) // 12
            path = folder / f"{photo.stem}_{k}.png"
            im.convert("RGB").crop((x, y, x + CROP[0], y + CROP[1])).save(path)
        made.append(path)
    return made


def one_run(kind: str, src: Path, dst: Path, options: dict) -> dict:
    """In a fresh process: one batch, as `inrcodec batch SRC DST [--jobs N | --ray auto]`."""
    from inrcodec import batch

    ray_init = None
    if kind == "ray":
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_init = time.perf_counter() - start
    r = batch.run(src, dst, options=options, jobs=2 if kind == "jobs2" else 1, ray="auto" if kind == "ray" else None)
    records = batch.read_manifest(dst / batch.MANIFEST)
    return {
        "run": kind, "files": r["files"], "converted": r["converted"], "failed": r["failed"],
        "seconds": r["seconds"], "files_per_minute": 60 * r["converted"] / r["seconds"],
        "ray_init_seconds": ray_init,
        "mean_encode_seconds": float(np.mean([x["encode_seconds"] for x in records if x["status"] == "ok"])),
        "mean_psnr": float(np.mean([x["psnr"] for x in records if x["status"] == "ok"])),
        "mean_bpp": float(np.mean([x["bpp"] for x in records if x["status"] == "ok"])),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--quality", type=int)
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    ap.add_argument("--runs", default="jobs1,jobs2,ray")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = ap.parse_args()
    options = {"device": "cpu", "seed": 0}
    options.update({k: v for k, v in (("quality", args.quality), ("iterations", args.iterations)) if v is not None})
    work = args.out / "batch"
    if args.one:
        print(json.dumps(one_run(args.one, work / "photos", work / args.one, options)))
        return

    import shutil

    shutil.rmtree(work, ignore_errors=True)
    make_photos(args.corpus, work / "photos")
    rows = []
    for kind in args.runs.split(","):
        command = [sys.executable, __file__, "--one", kind, "--out", str(args.out)]
        command += [f"--{k}={v}" for k, v in (("quality", args.quality), ("iterations", args.iterations)) if v is not None]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode:
            sys.exit(f"{kind} failed:\n{done.stderr}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    names = sorted(p.name for p in (work / "photos").glob("*.png"))
    same = all(
        len({(work / r["run"] / n).with_suffix(".inr").read_bytes() for r in rows}) == 1 for n in names)

    print(f"{COUNT} photos {CROP[0]}x{CROP[1]}, options {options}, {os.cpu_count()} cores\n")
    print("| run | files | seconds | files/min | mean encode s | mean PSNR dB | mean bpp | Ray start s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        init = f"{r['ray_init_seconds']:.1f}" if r["ray_init_seconds"] is not None else ""
        print(f"| {r['run']} | {r['converted']}/{r['files']} | {r['seconds']:.1f} | {r['files_per_minute']:.1f} | "
              f"{r['mean_encode_seconds']:.2f} | {r['mean_psnr']:.2f} | {r['mean_bpp']:.3f} | {init} |")
    print(f"\nsame bytes in every run: {same}")
    out = {"machine": platform.machine(), "cores": os.cpu_count(), "options": options, "crop": CROP,
           "runs": rows, "same_bytes": same}
    (args.out / "batch.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

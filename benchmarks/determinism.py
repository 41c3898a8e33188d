#!/usr/bin/env python3
"""What is bit-for-bit reproducible on this machine's devices: CPU, and CUDA when present.

    OMP_NUM_THREADS=1 python benchmarks/determinism.py [--out determinism.json]

On the format's test vectors (format_spec/vectors) and on a small image encoded here:
  * decode twice on a device: bit-identical samples?
  * crops on a device: does decoding a box (a lone partition, a corner, the middle), and the
    file cropped to it, give exactly the region of the full decode?
  * CPU against CUDA: largest sample difference and delivered (8/16-bit) samples that differ;
    also with TF32 matrix products allowed, which a program around the codec may switch on;
  * encode twice with the same seed on a device: the same bytes? CUDA against CPU? And on CUDA
    with torch.use_deterministic_algorithms(True)?
Prints one line per measurement and writes them all as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # lets deterministic mode run cuBLAS
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import inrcodec  # noqa: E402
from inrcodec import container, media  # noqa: E402

VECTORS = ROOT / "format_spec" / "vectors"


def boxes(height: int, width: int) -> list[str]:
    return [f"0,0,1,1", f"{width - 1},{height - 1},{width},{height}", f"{width // 3},{height // 3},{width // 2},{height // 2}",
            f"1,1,{width - 1},{height - 1}", f"0,0,{width},1"]


def decode_checks(path: Path, device: str, folder: Path) -> dict:
    full = inrcodec.decode_array(path, device=device)
    again = inrcodec.decode_array(path, device=device)
    height, width = full.shape[:2]
    box_exact, crop_exact = [], []
    for box in boxes(height, width):
        x0, y0, x1, y1 = map(int, box.split(","))
        box_exact.append(bool(np.array_equal(inrcodec.decode_array(path, box=box, device=device), full[y0:y1, x0:x1])))
        cropped = folder / "crop.inr"
        inrcodec.crop(path, cropped, box, force=True)
        crop_exact.append(bool(np.array_equal(inrcodec.decode_array(cropped, device=device), full[y0:y1, x0:x1])))
    return {"samples": full, "twice_identical": bool(np.array_equal(full, again)),
            "box_exact": all(box_exact), "crop_exact": all(crop_exact), "boxes": len(box_exact)}


def encode_bytes(src: Path, folder: Path, device: str, tag: str) -> bytes:
    dst = folder / f"{tag}.inr"
    inrcodec.encode(src, dst, quality=75, iterations=60, partitions="3x2", device=device, seed=0, force=True)
    return dst.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {"torch": torch.__version__, "devices": devices,
               "cuda_device": torch.cuda.get_device_name() if "cuda" in devices else None,
               "threads": torch.get_num_threads(), "vectors": {}, "encode": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        entries = json.loads((VECTORS / "vectors.json").read_text())
        for entry in entries if isinstance(entries, list) else entries["vectors"]:
            path = VECTORS / entry["file"]
            depth = container.read(path.read_bytes())[0].header.bit_depth
            row, samples = {}, {}
            for device in devices:
                checks = decode_checks(path, device, folder)
                samples[device] = checks.pop("samples")
                row[device] = checks
            if "cuda" in devices:
                diff = np.abs(samples["cpu"] - samples["cuda"])
                delivered = media.quantize_samples(samples["cpu"], depth) != media.quantize_samples(samples["cuda"], depth)
                torch.backends.cuda.matmul.allow_tf32 = True
                try:
                    tf32 = inrcodec.decode_array(path, device="cuda")
                finally:
                    torch.backends.cuda.matmul.allow_tf32 = False
                row["cpu_vs_cuda"] = {"max_abs": float(diff.max()), "delivered_differ": int(delivered.sum()),
                                      "delivered_total": int(delivered.size),
                                      "tf32_max_abs_vs_cpu": float(np.abs(tf32 - samples["cpu"]).max())}
            results["vectors"][entry["file"]] = row
            print(entry["file"], json.dumps(row), flush=True)

        y, x = np.mgrid[0:48, 0:64] / 64
        pixels = np.stack([0.5 + 0.4 * np.sin(5 * x + 3 * y), 0.3 + 0.6 * x * y, 0.6 - 0.4 * y], -1)
        src = folder / "src.png"
        Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(src)
        encoded = {}
        for device in devices:
            first, second = encode_bytes(src, folder, device, "a"), encode_bytes(src, folder, device, "b")
            encoded[device] = first
            results["encode"][device] = {"twice_identical": first == second, "bytes": len(first)}
        if "cuda" in devices:
            results["encode"]["cuda_equals_cpu"] = encoded["cuda"] == encoded["cpu"]
            try:
                torch.use_deterministic_algorithms(True)
                first, second = encode_bytes(src, folder, "cuda", "c"), encode_bytes(src, folder, "cuda", "d")
                results["encode"]["cuda_deterministic_mode_twice_identical"] = first == second
            except RuntimeError as e:
                results["encode"]["cuda_deterministic_mode_twice_identical"] = f"error: {str(e).splitlines()[0]}"
            finally:
                torch.use_deterministic_algorithms(False)
        print("encode", json.dumps(results["encode"]), flush=True)
    results["seconds"] = round(time.perf_counter() - start, 1)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

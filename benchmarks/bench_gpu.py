"""GPU benchmark: encode and decode times, memory peaks and numeric options on a CUDA device.

    python benchmarks/bench_gpu.py [--out benchmarks/out] IMAGES...

For each image: encode at the default quality on CUDA (after a warm-up encode of a small image,
so CUDA start-up is not counted), with TF32 matmuls off (the default) and on, reporting time,
bpp, PSNR of the decoded 8-bit PNG and the peak GPU memory; then decode times after warm-up
(median of 20): the rendering alone (``decode_array``) and the whole ``decode`` to PNG.
Then video-sized rendering: a Local-Global INR of the image preset's size on a 1280x720x48
grid, frames per second. Then one fitting step, eager against ``torch.compile``. Prints
markdown tables and writes JSON (the files in CompressAI's result shape).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import inrcodec
from inrcodec import codec
from inrcodec.arch import Arch
from inrcodec.grid import all_partitions, auto_grid
from inrcodec.model import LocalGlobalINR
from inrcodec.render import render


def timed(fn, repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, the device synchronised around each."""
    times = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_image(path: Path, work: Path) -> dict:
    row = {"file": path.name}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.cuda.reset_peak_memory_stats()
        r = inrcodec.encode(path, work / f"{path.stem}-{tf32}.inr", device="cuda", force=True)
        key = "tf32" if tf32 else "fp32"
        row.update({f"{key}_encode_s": r["encode_seconds"], f"{key}_bpp": r["bpp"], f"{key}_psnr": r["psnr"],
                    f"{key}_encode_peak_mib": torch.cuda.max_memory_allocated() / 2**20})
    torch.backends.cuda.matmul.allow_tf32 = False
    inr = work / f"{path.stem}-False.inr"
    h, w = r["shape"]
    row.update({"width": w, "height": h})
    inrcodec.decode_array(inr, device="cuda")  # warm-up
    torch.cuda.reset_peak_memory_stats()
    row["render_s"] = timed(lambda: inrcodec.decode_array(inr, device="cuda"), 20)
    row["decode_png_s"] = timed(lambda: inrcodec.decode(inr, work / "out.png", device="cuda", force=True), 20)
    row["decode_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    cpu = inrcodec.decode_array(inr, device="cpu")
    row["max_abs_cuda_vs_cpu"] = float(np.abs(cpu - inrcodec.decode_array(inr, device="cuda")).max())
    return row


def bench_video(frames: int = 48, height: int = 720, width: int = 1280) -> dict:
    p = codec.preset(codec.DEFAULT_QUALITY)
    extents = (frames, height, width)
    grid = (max(1, frames // 16),) + auto_grid((height, width), p.partition)
    arch = Arch(3, 3, p.depth, p.local_width, p.global_width)
    positions = all_partitions(grid)
    model = LocalGlobalINR(arch, len(positions), torch.Generator().manual_seed(0)).cuda()
    region = tuple((0, e) for e in extents)
    render(model, positions, extents, grid, ((0, 16), (0, height), (0, width)), "cuda")  # warm-up
    torch.cuda.reset_peak_memory_stats()
    seconds = timed(lambda: render(model, positions, extents, grid, region, "cuda"), 3)
    return {"frames": frames, "size": f"{width}x{height}", "grid": list(grid), "seconds": seconds,
            "fps": frames / seconds, "peak_mib": torch.cuda.max_memory_allocated() / 2**20}


def bench_compile(steps: int = 200) -> dict:
    """Seconds per fitting step of a 768x512 image's model, eager and compiled."""
    p = codec.preset(codec.DEFAULT_QUALITY)
    grid = auto_grid((512, 768), p.partition)
    arch = Arch(2, 3, p.depth, p.local_width, p.global_width)
    n = len(all_partitions(grid))
    per = (512 // grid[0] + 1) * (768 // grid[1] + 1)
    out = {}
    for name in ("eager", "compiled"):
        model = LocalGlobalINR(arch, n, torch.Generator().manual_seed(0)).cuda()
        forward = torch.compile(model) if name == "compiled" else model
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        lc, gc = torch.rand(n, per, 2, device="cuda") * 2 - 1, torch.rand(n, per, 2, device="cuda") * 2 - 1
        target = torch.rand(n, per, 3, device="cuda")

        def step():
            loss = torch.mean((forward(lc, gc) - target) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        out[f"{name}_first_step_s"] = time.perf_counter() - start
        out[f"{name}_step_ms"] = 1000 * timed(lambda: [step() for _ in range(steps)], 1) / steps
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device")
    gpu = torch.cuda.get_device_name()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        warm = work / "warm.png"
        from PIL import Image

        Image.new("RGB", (64, 48), (90, 120, 200)).save(warm)
        inrcodec.encode(warm, work / "warm.inr", iterations=20, device="cuda")
        for path in args.images:
            rows.append(bench_image(path, work))
            print(f"done {path.name}", file=sys.stderr, flush=True)
    video = bench_video()
    compiled = bench_compile()

    print(f"GPU: {gpu}, torch {torch.__version__}\n")
    print("| file | size | encode s fp32 | bpp | PSNR dB | encode s TF32 | bpp | PSNR dB | encode peak MiB "
          "| render ms | decode to PNG ms | decode peak MiB | max abs CUDA-CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['width']}x{r['height']} | {r['fp32_encode_s']:.2f} | {r['fp32_bpp']:.3f} | "
              f"{r['fp32_psnr']:.2f} | {r['tf32_encode_s']:.2f} | {r['tf32_bpp']:.3f} | {r['tf32_psnr']:.2f} | "
              f"{r['fp32_encode_peak_mib']:.0f} | {1000 * r['render_s']:.1f} | {1000 * r['decode_png_s']:.1f} | "
              f"{r['decode_peak_mib']:.0f} | {r['max_abs_cuda_vs_cpu']:.1e} |")
    print(f"\nvideo render {video['size']} x {video['frames']} frames, grid {video['grid']}: "
          f"{video['seconds']:.2f} s, {video['fps']:.0f} fps, peak {video['peak_mib']:.0f} MiB")
    print(f"fitting step (768x512 model, whole tiles): eager {compiled['eager_step_ms']:.2f} ms, "
          f"compiled {compiled['compiled_step_ms']:.2f} ms (first compiled step {compiled['compiled_first_step_s']:.1f} s)")

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "name": "inrcodec-cuda",
        "description": f"inrcodec {inrcodec.__version__} quality {codec.DEFAULT_QUALITY} on {gpu}, torch {torch.__version__}",
        "results": {
            "bpp": [r["fp32_bpp"] for r in rows], "psnr-rgb": [r["fp32_psnr"] for r in rows],
            "encoding_time": [r["fp32_encode_s"] for r in rows], "decoding_time": [r["decode_png_s"] for r in rows],
        },
        "files": rows, "video_render": video, "fit_step": compiled,
    }
    (args.out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

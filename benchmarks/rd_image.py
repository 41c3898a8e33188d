"""Rate-distortion of the image codec against Pillow JPEG and WebP, and the entropy coder's gap.

    python benchmarks/rd_image.py [--qualities 5,25,45,65,75,85,95] [--bpp 0.25,0.5,0.75]
                                  [--device cpu] [--out benchmarks/out/rd.json] IMAGES...

For every image and quality (and every --bpp target): real bytes of the .inr file, PSNR of
the decoded 8-bit pixels, encode seconds; JPEG and WebP PSNR at the same bpp (linear
interpolation on their curves over Pillow qualities 2..98); Bjontegaard delta rate of the
codec against each (negative: fewer bits for the same PSNR) over the overlapping PSNR range.
Entropy gap: for every local block, coded bytes over the order-0 entropy of its symbols
(pooled over the block, as the issue defines it, and summed per tensor).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import inrcodec
from inrcodec import container, rans
from inrcodec.quant import entropy_bits


def anchor_curve(pixels: np.ndarray, fmt: str) -> list[tuple[float, float]]:
    im, points = Image.fromarray(pixels), []
    for q in range(2, 99, 3):
        buffer = io.BytesIO()
        im.save(buffer, format=fmt, quality=q)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        mse = np.mean((pixels.astype(np.float64) - decoded) ** 2)
        points.append((8 * buffer.tell() / (im.width * im.height), 10 * math.log10(255**2 / mse)))
    return sorted(points)


def at_bpp(curve, bpp):
    rates, values = zip(*curve)
    return float(np.interp(bpp, rates, values)) if rates[0] <= bpp <= rates[-1] else None


def bd_rate(ours, anchor) -> float | None:
    """Bjontegaard delta rate (%) of ``ours`` against ``anchor``: cubic fits of log rate on PSNR."""
    ours, anchor = sorted(ours, key=lambda p: p[1]), sorted(anchor, key=lambda p: p[1])
    lo, hi = max(ours[0][1], anchor[0][1]), min(ours[-1][1], anchor[-1][1])
    if len(ours) < 4 or hi <= lo:
        return None
    integrals = []
    for pts in (ours, anchor):
        fit = np.polyfit([p for _, p in pts], [math.log(r) for r, _ in pts], 3)
        integral = np.polyint(fit)
        integrals.append((np.polyval(integral, hi) - np.polyval(integral, lo)) / (hi - lo))
    return float((math.exp(integrals[0] - integrals[1]) - 1) * 100)


def block_gaps(path: Path) -> list[tuple[int, float, float]]:
    """(coded bytes, pooled entropy bytes, per-tensor entropy bytes) of every local block."""
    stream = container.read(path.read_bytes())[0]
    arch = stream.header.arch
    from inrcodec import coding

    _, local_params = coding.decode_global(arch, stream.global_section)
    shapes = [s for _, s in arch.local_tensors()]
    out = []
    for block in stream.blocks.values():
        parts = [p[0] for p in rans.decode([block], [(math.prod(s), table) for s, (_, table) in zip(shapes, local_params)])]
        pooled = entropy_bits(np.concatenate(parts)) / 8
        per_tensor = sum(entropy_bits(p) for p in parts) / 8
        out.append((len(block), pooled, per_tensor))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--qualities", default="5,25,45,65,75,85,95")
    ap.add_argument("--bpp", default="", help="rate-control targets to test, comma separated")
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/rd.json"))
    args = ap.parse_args()
    qualities = [int(q) for q in args.qualities.split(",") if q]
    targets = [float(b) for b in args.bpp.split(",") if b]

    report = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.images:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            curves = {fmt: anchor_curve(pixels, fmt) for fmt in ("JPEG", "WEBP")}
            rows = []
            for q, b in [(q, None) for q in qualities] + [(inrcodec.codec.DEFAULT_QUALITY, b) for b in targets]:
                dst = Path(tmp) / f"{path.stem}.inr"
                r = inrcodec.encode(path, dst, quality=q, bpp=b, iterations=args.iterations, device=args.device, force=True)
                gaps = block_gaps(dst)
                row = {"quality": q if b is None else None, "target_bpp": b, "bytes": r["bytes"], "bpp": r["bpp"],
                       "psnr": r["psnr"], "encode_s": r["encode_seconds"],
                       "jpeg_psnr": at_bpp(curves["JPEG"], r["bpp"]), "webp_psnr": at_bpp(curves["WEBP"], r["bpp"]),
                       "gap_pooled_mean": float(np.mean([c / e - 1 for c, e, _ in gaps if e > 0])),
                       "gap_pooled_max": float(np.max([c / e - 1 for c, e, _ in gaps if e > 0])),
                       "gap_tensor_mean": float(np.mean([c / t - 1 for c, _, t in gaps if t > 0])),
                       "bytes_local": sum(c for c, _, _ in gaps), "blocks": len(gaps)}
                rows.append(row)
                print(json.dumps({"image": path.name, **row}), file=sys.stderr, flush=True)
            points = [(r["bpp"], r["psnr"]) for r in rows if r["target_bpp"] is None]
            entry = {"image": path.name, "size": list(pixels.shape[:2]), "rows": rows, "jpeg": curves["JPEG"],
                     "webp": curves["WEBP"], "bd_rate_jpeg": bd_rate(points, curves["JPEG"]),
                     "bd_rate_webp": bd_rate(points, curves["WEBP"])}
            for target in (0.25, 0.5, 0.75):
                entry[f"psnr_at_{target}"] = at_bpp(sorted(points), target)
                entry[f"jpeg_at_{target}"] = at_bpp(curves["JPEG"], target)
                entry[f"webp_at_{target}"] = at_bpp(curves["WEBP"], target)
            report.append(entry)

    print("| image | quality/target | bpp | PSNR | JPEG @bpp | WebP @bpp | encode s | block gap (pooled mean/max, per-tensor mean) |")
    print("|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    for e in report:
        for r in e["rows"]:
            label = f"q{r['quality']}" if r["target_bpp"] is None else f"--bpp {r['target_bpp']}"
            print(f"| {e['image']} | {label} | {r['bpp']:.3f} | {r['psnr']:.2f} | {fmt(r['jpeg_psnr'])} | "
                  f"{fmt(r['webp_psnr'])} | {r['encode_s']:.1f} | {100 * r['gap_pooled_mean']:+.1f}% / "
                  f"{100 * r['gap_pooled_max']:+.1f}%, {100 * r['gap_tensor_mean']:+.1f}% |")
    print("\n| image | BD-rate vs JPEG | BD-rate vs WebP | PSNR @0.25/0.5/0.75 | JPEG | WebP |")
    print("|---|---|---|---|---|---|")
    for e in report:
        trio = lambda k: "/".join(fmt(e[f"{k}_at_{t}"]) for t in (0.25, 0.5, 0.75))
        bd = lambda v: "n/a" if v is None else f"{v:+.1f}%"
        print(f"| {e['image']} | {bd(e['bd_rate_jpeg'])} | {bd(e['bd_rate_webp'])} | {trio('psnr')} | {trio('jpeg')} | {trio('webp')} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

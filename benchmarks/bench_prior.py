"""Prior benchmark: fitting from the installed image prior versus random init, same network, same steps.

    python benchmarks/bench_prior.py [--quality Q] [--crop 256] [--steps 100,300,1000] [--out benchmarks/results] IMAGES...

For each photo (centre crop of --crop px, 0 for the whole photo), encoded at quality Q with
the prior (default) and with --no-prior, for each step count: real .inr bytes, bpp, PSNR of
the delivered 8-bit pixels, encode seconds. The curve is the training PSNR (on the sampled
coordinates, every 10 steps) of the longest fit. "Residual" compares, for the model fitted from
the prior at the longest step count, the file that codes covered tensors as residuals against
the prior with the file that codes the same weights directly: bytes and PSNR of both.
Writes prior-qQ.json and, when matplotlib is installed, prior-qQ.png (PSNR against iteration).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import inrcodec
from inrcodec import codec, container, media, metrics, priors
from inrcodec.arch import Arch
from inrcodec.fit import FitSettings, fit, sensitivities
from inrcodec.grid import auto_grid
from inrcodec.quant import steps_for


def crop_to(path: Path, size: int, work: Path) -> Path:
    im = Image.open(path).convert("RGB")
    if size:
        x0, y0 = (im.width - size) // 2, (im.height - size) // 2
        im = im.crop((x0, y0, x0 + size, y0 + size))
    out = work / path.name
    im.save(out)
    return out


def residual_gain(src: Path, quality: int, steps: int) -> dict:
    """Bytes and PSNR of one prior-started fit, coded as residuals and coded directly."""
    p = codec.preset(quality)
    samples, depth = media.load_image(src)
    shape = samples.shape[:2]
    grid = auto_grid(shape, p.partition)
    arch = Arch(2, samples.shape[2], p.depth, p.local_width, p.global_width)
    prior = priors.default_for("image", arch)
    settings = FitSettings(steps, lr=p.lr)
    model = fit(samples, grid, arch, settings, torch.device("cpu"), prior=prior)
    mse, sens = sensitivities(model, samples, grid, settings, torch.device("cpu"))
    qsteps = steps_for([t.numel() for t in model.parameters()], sens, mse, codec.alpha_for(quality))
    plain = container.Header(container.KIND_IMAGE, arch.channels, depth, shape, ((0, shape[0]), (0, shape[1])), grid, arch)
    out = {}
    for how, header, ref in (("direct", plain, None),
                             ("residual", replace(plain, quant=container.QUANT_RESIDUAL, prior_name=prior.name,
                                                  prior_hash=prior.sha256), prior)):
        data = container.write([codec._quantized_stream(model, header, qsteps, ref)])
        decoded = codec._render(container.read(data)[0], None, torch.device("cpu"), ref)
        out[how] = {"bytes": len(data), "psnr": metrics.psnr(media.quantize_samples(samples, depth),
                                                            media.quantize_samples(decoded, depth), 2**depth - 1)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--quality", type=int, default=codec.DEFAULT_QUALITY)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", default="100,300,1000")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    steps = [int(s) for s in args.steps.split(",")]

    rows, curves, residual = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in args.images:
            src = crop_to(path, args.crop, work)
            for init in ("prior", "random"):
                for n in steps:
                    trace = []
                    r = inrcodec.encode(src, work / "x.inr", quality=args.quality, iterations=n, device="cpu",
                                        force=True, prior="auto" if init == "prior" else None,
                                        progress=lambda s, _n, psnr: trace.append((s, psnr)))
                    rows.append({"file": path.name, "init": init, "steps": n, "bytes": r["bytes"], "bpp": r["bpp"],
                                 "psnr": r["psnr"], "encode_s": r["encode_seconds"], "prior": r["prior"]})
                    if n == max(steps):
                        curves[f"{path.name}/{init}"] = trace
                    print(f"{path.name} {init} {n}: {r['psnr']:.2f} dB {r['bpp']:.3f} bpp {r['encode_seconds']:.1f} s",
                          file=sys.stderr, flush=True)
            residual[path.name] = residual_gain(src, args.quality, max(steps))

    print(f"| file | steps | PSNR prior | PSNR random | gain dB | bpp prior | bpp random | s prior | s random |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = {}
    for r in rows:
        table.setdefault((r["file"], r["steps"]), {})[r["init"]] = r
    for (name, n), d in list(table.items()) + [(("mean", n), None) for n in steps]:
        if d is None:
            sel = [v for (f, m), v in table.items() if m == n]
            d = {k: {q: float(np.mean([v[k][q] for v in sel])) for q in ("psnr", "bpp", "encode_s")} for k in ("prior", "random")}
        p, q = d["prior"], d["random"]
        print(f"| {name} | {n} | {p['psnr']:.2f} | {q['psnr']:.2f} | {p['psnr'] - q['psnr']:+.2f} | {p['bpp']:.3f} | "
              f"{q['bpp']:.3f} | {p['encode_s']:.1f} | {q['encode_s']:.1f} |")
    print(f"\n| file | residual bytes | direct bytes | saved | residual PSNR | direct PSNR |")
    print("|---|---|---|---|---|---|")
    for name, d in residual.items():
        a, b = d["residual"], d["direct"]
        print(f"| {name} | {a['bytes']} | {b['bytes']} | {1 - a['bytes'] / b['bytes']:+.1%} | {a['psnr']:.2f} | {b['psnr']:.2f} |")

    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"prior-q{args.quality}.json"
    target.write_text(json.dumps({"quality": args.quality, "crop": args.crop, "rows": rows, "curves": curves,
                                  "residual": residual, "torch": torch.__version__}, indent=1) + "\n")
    print(f"wrote {target}", file=sys.stderr)
    early_table(curves)
    plot(curves, args.quality, args.out / f"prior-q{args.quality}.png")


def early_table(curves: dict) -> None:
    """Training PSNR of the longest fits at a few early steps, prior against random, per photo."""
    at = (10, 20, 50, 100)
    print(f"\n| file | " + " | ".join(f"step {n}: prior / random" for n in at) + " |")
    print("|---|" + "---|" * len(at))
    gains = []
    for key in [k for k in curves if k.endswith("/prior")]:
        name = key.split("/")[0]
        p, r = dict(curves[key]), dict(curves[f"{name}/random"])
        gains.append([p[n] - r[n] for n in at])
        print(f"| {name} | " + " | ".join(f"{p[n]:.1f} / {r[n]:.1f}" for n in at) + " |")
    print("| mean gain dB | " + " | ".join(f"{g:+.1f}" for g in np.mean(gains, 0)) + " |")


def plot(curves: dict, quality: int, target: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(dict.fromkeys(k.split("/")[0] for k in curves))
    for key, trace in curves.items():
        name, init = key.split("/")
        s, v = zip(*trace)
        ax.plot(s, v, "-" if init == "prior" else "--", color=f"C{names.index(name)}", lw=1,
                label=name if init == "prior" else None)
    ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training PSNR (dB, sampled coordinates)")
    ax.set_title(f"quality {quality}: from the prior (solid) and from random init (dashed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(target, dpi=110)

if __name__ == "__main__":
    main()

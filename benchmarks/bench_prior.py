"""Prior benchmark: fitting from the installed image prior versus random init, same network, same steps.

    python benchmarks/bench_prior.py [--quality Q | --bpp B] [--crop 256] [--steps 100,300,1000]
        [--random-lrs 1.5e-3,3e-3] [--out benchmarks/results] IMAGES...

For each photo (centre crop of --crop px, 0 for the whole photo), encoded at quality Q (or at
B bits per pixel, so that both starts are compared at the same rate) with the prior (default)
and with --no-prior, for each step count: real .inr bytes, bpp, PSNR of the delivered 8-bit
pixels, encode seconds. Random init is run at the preset's learning rate and at every rate of
--random-lrs (the preset's rate replaced for that encode only); "random" in the table is the
best of them for each photo and step count, so the baseline is not handicapped by a rate
chosen for the prior. The curve is the training PSNR (on the sampled
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
from contextlib import contextmanager
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
        decoded = codec._render(container.read(data)[0], plain.crop, torch.device("cpu"), ref)
        out[how] = {"bytes": len(data), "psnr": metrics.psnr(media.quantize_samples(samples, depth),
                                                            media.quantize_samples(decoded, depth), 2**depth - 1)}
    return out


@contextmanager
def learning_rate(lr: float | None):
    """Every preset fitted at ``lr`` while the block runs (None: the presets' own rates)."""
    medium = codec.MEDIA[codec.KIND_IMAGE]
    if lr is not None:
        codec.MEDIA[codec.KIND_IMAGE] = replace(medium, presets=tuple(replace(p, lr=lr) for p in medium.presets))
    try:
        yield
    finally:
        codec.MEDIA[codec.KIND_IMAGE] = medium


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--quality", type=int, default=codec.DEFAULT_QUALITY)
    ap.add_argument("--bpp", type=float, help="encode both starts at this rate instead of at --quality")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", default="100,300,1000")
    ap.add_argument("--random-lrs", default="", help="more learning rates tried for random init")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    steps = [int(s) for s in args.steps.split(",")]
    lrs = [None] + [float(v) for v in args.random_lrs.split(",") if v]
    tag = f"bpp{args.bpp:g}" if args.bpp else f"q{args.quality}"

    rows, curves, residual = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in args.images:
            src = crop_to(path, args.crop, work)
            for init, lr in [("prior", None)] + [("random", lr) for lr in lrs]:
                for n in steps:
                    trace, cpu = [], time.process_time()
                    with learning_rate(lr):
                        r = inrcodec.encode(src, work / "x.inr", quality=args.quality, bpp=args.bpp, iterations=n,
                                            device="cpu", force=True, prior="auto" if init == "prior" else None,
                                            progress=lambda s, _n, psnr: trace.append((s, psnr)))
                    preset = codec.preset_for_bpp(args.bpp) if args.bpp else codec.preset(args.quality)
                    lr_used = lr or preset.lr
                    rows.append({"file": path.name, "init": init, "lr": lr_used, "steps": n, "bytes": r["bytes"],
                                 "bpp": r["bpp"], "psnr": r["psnr"], "encode_s": r["encode_seconds"],
                                 "cpu_s": time.process_time() - cpu, "prior": r["prior"]})
                    if n == max(steps):
                        curves[f"{path.name}/{init}@{lr_used:g}"] = trace
                    print(f"{path.name} {init} lr {lr_used:g} {n}: {r['psnr']:.2f} dB {r['bpp']:.3f} bpp "
                          f"{r['encode_seconds']:.1f} s", file=sys.stderr, flush=True)
            if args.bpp is None:
                residual[path.name] = residual_gain(src, args.quality, max(steps))

    table = summary(rows, steps)
    if residual:
        print("\n| file | residual bytes | direct bytes | saved | residual PSNR | direct PSNR |")
        print("|---|---|---|---|---|---|")
        for name, d in residual.items():
            a, b = d["residual"], d["direct"]
            print(f"| {name} | {a['bytes']} | {b['bytes']} | {1 - a['bytes'] / b['bytes']:+.1%} | {a['psnr']:.2f} | "
                  f"{b['psnr']:.2f} |")

    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"prior-{tag}.json"
    target.write_text(json.dumps({"quality": args.quality, "bpp": args.bpp, "crop": args.crop, "rows": rows,
                                  "table": table, "curves": curves, "residual": residual,
                                  "torch": torch.__version__}, indent=1) + "\n")
    print(f"wrote {target}", file=sys.stderr)
    early_table(curves)
    plot(curves, tag, args.out / f"prior-{tag}.png")


def summary(rows: list[dict], steps: list[int]) -> list[dict]:
    """Prior against random init at the preset's rate and at its best rate, per photo and step count."""
    table = []
    for name in dict.fromkeys(r["file"] for r in rows):
        for n in steps:
            mine = [r for r in rows if r["file"] == name and r["steps"] == n]
            prior = next(r for r in mine if r["init"] == "prior")
            randoms = [r for r in mine if r["init"] == "random"]
            table.append({"file": name, "steps": n, "prior": prior, "random_preset_lr": randoms[0],
                          "random_best": max(randoms, key=lambda r: r["psnr"])})
    print("| file | steps | PSNR prior | random (preset lr) | random (best lr) | gain vs preset lr | gain vs best "
          "| bpp prior / best random | s prior / best random |")
    print("|---|---|---|---|---|---|---|---|---|")
    means = [{"file": "**mean**", "steps": n, **{k: {q: float(np.mean([t[k][q] for t in table if t["steps"] == n]))
                                                     for q in ("psnr", "bpp", "encode_s")}
                                                 for k in ("prior", "random_preset_lr", "random_best")}}
             for n in steps]
    for t in table + means:
        p, q, b = t["prior"], t["random_preset_lr"], t["random_best"]
        lr = f" @{b['lr']:g}" if "lr" in b else ""
        print(f"| {t['file']} | {t['steps']} | {p['psnr']:.2f} | {q['psnr']:.2f} | {b['psnr']:.2f}{lr} | "
              f"{p['psnr'] - q['psnr']:+.2f} | {p['psnr'] - b['psnr']:+.2f} | {p['bpp']:.3f} / {b['bpp']:.3f} | "
              f"{p['encode_s']:.1f} / {b['encode_s']:.1f} |")
    return table


def early_table(curves: dict) -> None:
    """Training PSNR of the longest fits at a few early steps: prior against the best random curve."""
    at = (10, 20, 50, 100)
    print("\n| file | " + " | ".join(f"step {n}: prior / random" for n in at) + " |")
    print("|---|" + "---|" * len(at))
    gains = []
    for key in [k for k in curves if "/prior@" in k]:
        name = key.split("/")[0]
        p = dict(curves[key])
        r = max((dict(v) for k, v in curves.items() if k.startswith(f"{name}/random@")), key=lambda c: c[max(at)])
        gains.append([p[n] - r[n] for n in at])
        print(f"| {name} | " + " | ".join(f"{p[n]:.1f} / {r[n]:.1f}" for n in at) + " |")
    print("| mean gain dB | " + " | ".join(f"{g:+.1f}" for g in np.mean(gains, 0)) + " |")


def plot(curves: dict, tag: str, target: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(dict.fromkeys(k.split("/")[0] for k in curves))
    lrs = list(dict.fromkeys(k.split("@")[1] for k in curves if "/random@" in k))
    for key, trace in curves.items():
        name, init = key.split("/")
        kind, lr = init.split("@")
        s, v = zip(*trace)
        style = "-" if kind == "prior" else ("--", ":", "-.")[lrs.index(lr) % 3]
        ax.plot(s, v, style, color=f"C{names.index(name)}", lw=1, label=name if kind == "prior" else None)
    ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training PSNR (dB, sampled coordinates)")
    ax.set_title(f"{tag}: from the prior (solid), random init (lr " + ", ".join(lrs) + ": dashed, dotted)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main()

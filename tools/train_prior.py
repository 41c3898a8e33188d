#!/usr/bin/env python3
"""Learn a STRAINER image prior for the Local-Global INR and write it as a .safetensors prior file.

    python tools/train_prior.py --depth 2 --local-width 12 --global-width 16   # inrcodec/priors/image-d2-l12-g16.safetensors
    python tools/train_prior.py --presets            # one prior per preset network, into inrcodec/priors/
    python tools/train_prior.py ... -o elsewhere.safetensors --wheel scikit_image-0.26.0-....whl

The defaults (2000 steps) are the recipe of the shipped priors: about 6-9 minutes per prior on
a 2-core CPU (see inrcodec/priors/PROVENANCE.md for each prior's recipe and time).

Training (STRAINER, adapted): every training photo is split into partitions of about 64 px, as
the encoder does. All partitions of all photos share ONE set of hidden local layers (they see
partition-local coordinates, so one set serves every partition), and all photos share the
global layers and the merge; each partition of each photo keeps its own output head. The
shared tensors, trained jointly on the sum of the photos' MSE, are the prior; the heads are
thrown away. Seeded and deterministic on one machine (CPU, one thread).

Training photos: scikit-image's package data, read from its PyPI wheel (pip download, no
install; or --wheel PATH), never the benchmark corpus (tools/fetch_corpus.py). Their
provenance and licences go into the prior's metadata and into PROVENANCE.md next to it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inrcodec import priors  # noqa: E402
from inrcodec.arch import Arch  # noqa: E402
from inrcodec.grid import all_partitions, auto_grid, bounds  # noqa: E402
from inrcodec.model import LocalGlobalINR  # noqa: E402

WHEEL = "scikit-image==0.26.0"
# skimage/data file -> licence as scikit-image's skimage/data/_fetchers.py states it.
# None of these is in the benchmark corpus (hubble_deep_field, retina, coffee, astronaut, rocket, chelsea).
PHOTOS = {
    "camera.png": "CC0, photograph by Lav Varshney",
    "brick.png": "CC0 (CC0Textures, Bricks25)",
    "grass.png": "CC0 (CC0Textures)",
    "gravel.png": "CC0 (CC0Textures, Gravel04)",
    "ihc.png": "no known copyright restrictions (CMMI)",
    "coins.png": "no known copyright restrictions",
    "cell.png": "CC0, Allen Institute for Cell Science",
    "clock_motion.png": "public domain, photograph by Stefan van der Walt",
    "text.png": "public domain",
}


def training_photos(wheel: Path | None) -> tuple[list[np.ndarray], str]:
    """The photos as float32 (H, W, 3) in [0, 1] (gray ones replicated), and the wheel's name."""
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL], check=True)
            wheel = next(Path(tmp).glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            photos = [np.asarray(Image.open(io.BytesIO(z.read(f"skimage/data/{n}"))).convert("RGB"), np.float32) / 255
                      for n in PHOTOS]
    return photos, Path(wheel).name


class Batches:
    """Random coordinates of every partition of every photo, with their target samples."""

    def __init__(self, photos: list[np.ndarray], partition: int):
        starts, sizes, extents, bases, widths = [], [], [], [], []
        base = 0
        for photo in photos:
            shape = photo.shape[:2]
            grid = auto_grid(shape, partition)
            for pos in all_partitions(grid):
                spans = [bounds(e, c, i) for e, c, i in zip(shape, grid, pos)]
                starts.append([s for s, _ in spans])
                sizes.append([t - s for s, t in spans])
                extents.append(shape)
                bases.append(base)
                widths.append(shape[1])
            base += shape[0] * shape[1]
        t = lambda v, dt=torch.float32: torch.tensor(v, dtype=dt)[:, None, :]  # noqa: E731
        self.starts, self.sizes, self.extents = t(starts, torch.long), t(sizes, torch.long), t(extents)
        self.bases, self.widths = torch.tensor(bases)[:, None], torch.tensor(widths)[:, None]
        self.target = torch.from_numpy(np.concatenate([p.reshape(-1, 3) for p in photos])) * 2 - 1
        self.partitions = len(starts)

    def draw(self, per_partition: int, rng: torch.Generator):
        u = torch.rand(self.partitions, per_partition, 2, generator=rng)
        offsets = (u * self.sizes).long()
        rows = self.starts + offsets
        local = (2 * offsets + 1) / self.sizes - 1
        glob = (2 * rows + 1) / self.extents - 1
        index = self.bases + rows[..., 0] * self.widths + rows[..., 1]
        return local.float(), glob.float(), self.target[index]


def shared_model(arch: Arch, partitions: int, seed: int) -> LocalGlobalINR:
    """A LocalGlobalINR whose hidden local layers are one 2-D set shared by every partition."""
    model = LocalGlobalINR(arch, partitions, torch.Generator().manual_seed(seed))
    heads = {"head.weight", "head.bias"}
    for i, (name, _) in enumerate(arch.local_tensors()):
        if name not in heads:
            model.local_params[i] = torch.nn.Parameter(model.local_params[i][0].clone())
    return model


def train(photos, arch: Arch, steps: int, lr: float, per_partition: int, partition: int, seed: int,
          log=None) -> tuple[dict[str, np.ndarray], LocalGlobalINR]:
    torch.manual_seed(seed)
    batches = Batches(photos, partition)
    model = shared_model(arch, batches.partitions, seed)
    rng = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    for step in range(1, steps + 1):
        local, glob, wanted = batches.draw(per_partition, rng)
        loss = torch.mean((model(local, glob) - wanted) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log and (step % 100 == 0 or step == steps):
            log(step, 10 * math.log10(4 / loss.item()))
    names = [n for n, _ in priors.covered_tensors(arch)]
    values = {n: p.detach().numpy().astype(np.float32)
              for (n, _), p in zip(arch.global_tensors() + arch.local_tensors(), list(model.global_params) + list(model.local_params))}
    return {n: values[n] for n in names}, model


def write_prior(target: Path, name: str, arch: Arch, tensors, recipe: dict, wheel: str) -> priors.Prior:
    """The prior file, its provenance in the metadata and in PROVENANCE.md beside it."""
    meta = {"training_data": json.dumps({"source": f"PyPI wheel {wheel}, skimage/data/", "photos": PHOTOS}),
            "recipe": json.dumps(recipe), "tool": "tools/train_prior.py"}
    prior = priors.Prior(name, "image", Arch(2, 1, arch.depth, arch.local_width, arch.global_width), tensors, meta)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(priors.to_bytes(prior))
    write_provenance(target.parent, wheel)
    return prior


def write_provenance(folder: Path, wheel: str) -> None:
    """PROVENANCE.md beside the priors: training photos, licences, each prior's digest and recipe."""
    lines = ["# Priors\n", "Trained by `tools/train_prior.py` (STRAINER: shared global, merge and hidden local layers,",
             f"one head per partition of each photo) on photos from the PyPI wheel `{wheel}`",
             "(package data under `skimage/data/`). None of them is in the benchmark corpus.\n",
             "| photo | licence |", "|---|---|"] + [f"| {n} | {lic} |" for n, lic in PHOTOS.items()]
    lines += ["", "| prior | sha256 | recipe |", "|---|---|---|"]
    for p in sorted(folder.glob(f"*{priors.SUFFIX}")):
        q = priors.load(p)
        lines.append(f"| {q.name} | {q.sha256.hex()} | `{q.metadata.get('recipe', '')}` |")
    (folder / "PROVENANCE.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, help="[default: inrcodec/priors/NAME.safetensors]")
    ap.add_argument("--name", help="[default: image-dDEPTH-lLOCAL-gGLOBAL]")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--local-width", type=int, default=20)
    ap.add_argument("--global-width", type=int, default=32)
    ap.add_argument("--presets", action="store_true", help="one prior per distinct preset architecture")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--samples", type=int, default=64, help="samples per partition per step")
    ap.add_argument("--partition", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wheel", type=Path, help="a local copy of the scikit-image wheel")
    args = ap.parse_args(argv)
    if args.presets and (args.output or args.name):
        ap.error("--presets names and places its priors itself (inrcodec/priors/)")
    torch.set_num_threads(1)

    if args.presets:
        from inrcodec.codec import PRESETS

        archs = sorted({Arch(2, 3, p.depth, p.local_width, p.global_width) for p in PRESETS}, key=lambda a: a.local_width)
    else:
        archs = [Arch(2, 3, args.depth, args.local_width, args.global_width)]
    jobs = []
    for arch in archs:
        name = args.name or f"image-d{arch.depth}-l{arch.local_width}-g{arch.global_width}"
        jobs.append((name, args.output or ROOT / "inrcodec" / "priors" / f"{name}{priors.SUFFIX}", arch))

    photos, wheel = training_photos(args.wheel)
    for name, target, arch in jobs:
        start = time.perf_counter()
        tensors, _ = train(photos, arch, args.steps, args.lr, args.samples, args.partition, args.seed,
                           lambda s, p: print(f"{name}: step {s} PSNR {p:.2f} dB", file=sys.stderr, flush=True))
        seconds = time.perf_counter() - start
        recipe = {"steps": args.steps, "lr": args.lr, "samples_per_partition": args.samples,
                  "partition": args.partition, "seed": args.seed, "torch": torch.__version__,
                  "train_seconds": round(seconds, 1)}
        prior = write_prior(target, name, arch, tensors, recipe, wheel)
        print(f"wrote {target}: {target.stat().st_size} bytes, sha256 {prior.sha256.hex()[:16]}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

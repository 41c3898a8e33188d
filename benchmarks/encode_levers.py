#!/usr/bin/env python3
"""Lever experiments (issue 6): real encodes of one source with one preset setting each.

    python benchmarks/encode_levers.py SOURCE [--quality Q | --bpp B,... | --kbps K,...] \
        --config 'steps=1800 fraction=0.025' [--config ...] [--start S --seconds D] [--out ROWS.jsonl]

SOURCE is an image, audio or video file. Every --config overrides fields of the preset that
serves the rate asked for (the quality's, or for --bpp the one `codec.preset_for_bpp` picks; the
other presets stay as they are, so the quality's alpha is unchanged): partition (N, or
FRAMESxROWSxCOLUMNS for video), local, global, depth, steps, lr, omega, fraction, hertz=LOCAL,GLOBAL
and qat=SHARE,LR; prior=NAME|PATH|none (default: the codec's own choice); per_weight (the size
model's bytes per weight, which sets the audio and video partition count for --kbps). No --config
runs the presets as they are. --start and --seconds encode an excerpt of an audio source.

The real encoder runs (fit, sensitivities, alpha or rate search, quantization-aware steps);
the rate counts the real file, the quality is measured on the decoded output as the codec
reports it (PSNR on 8-bit pixels, SNR on 16-bit PCM). One JSON line per (config, rate) on
stdout, appended to --out too, with CPU seconds (process time) and wall seconds. The results
are logged in benchmarks/LEVERS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inrcodec import codec  # noqa: E402


def _pair(kind):
    return lambda v: tuple(kind(x) for x in v.split(","))


def _partition(v: str):
    return tuple(int(x) for x in v.split("x")) if "x" in v else int(v)


KEYS = {"partition": ("partition", _partition), "local": ("local_width", int), "global": ("global_width", int),
        "depth": ("depth", int), "steps": ("steps", int), "lr": ("lr", float), "omega": ("omega", float),
        "fraction": ("fraction", float), "hertz": ("hertz", _pair(float)), "qat": ("qat", _pair(float))}
EXTRA = {"prior": str, "per_weight": float}


def parse(text: str) -> dict:
    """'KEY=VALUE ...' to {key: value}; an unknown key is an error."""
    out = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if key not in KEYS and key not in EXTRA:
            raise SystemExit(f"unknown config key {key!r}; known: {', '.join([*KEYS, *EXTRA])}")
        out[key] = KEYS[key][1](value) if key in KEYS else EXTRA[key](value)
    return out


def run(source: Path, config: dict, quality: int, bpp: float | None, kbps: float | None, seed: int, work: Path) -> dict:
    """One encode of ``source`` with ``config`` applied to its preset; the row to print."""
    kind = codec.kind_of(source) or codec.KIND_IMAGE  # what encode reads it as
    medium, size_model = codec.MEDIA[kind], codec.BYTES_PER_WEIGHT
    base = codec.preset_for_bpp(bpp) if bpp is not None else codec.preset(quality, kind)
    changed = replace(base, **{KEYS[k][0]: v for k, v in config.items() if k in KEYS})
    codec.MEDIA[kind] = replace(medium, presets=tuple(changed if p == base else p for p in medium.presets))
    codec.BYTES_PER_WEIGHT = config.get("per_weight", size_model)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        r = codec.encode(source, work / "lever.inr", quality=quality, bpp=bpp, kbps=kbps, device="cpu", force=True,
                         seed=seed, prior=config.get("prior", "auto"))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        codec.MEDIA[kind], codec.BYTES_PER_WEIGHT = medium, size_model
    rate = {"bpp": round(r["bpp"], 4)} if kind == codec.KIND_IMAGE else {"kbps": round(r["kbps"], 2)}
    score = {k: round(r[k], 2) for k in ("psnr", "snr") if r.get(k) is not None}
    return {"source": source.name, "config": config, "quality": quality, "target_bpp": bpp, "target_kbps": kbps,
            **rate, **score, "bytes": r["bytes"], "grid": r["partition_grid"], "alpha": round(r["alpha"], 4),
            "prior": r["prior"], "steps": changed.steps, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}


def _excerpt(source: Path, start: float, seconds: float | None, work: Path) -> Path:
    """The audio ``source`` cut to [start, start + seconds), as 16-bit WAV in ``work``."""
    import soundfile

    samples, rate = soundfile.read(source, dtype="int16", always_2d=True)
    first = int(start * rate)
    last = len(samples) if seconds is None else first + int(seconds * rate)
    out = work / f"{source.stem}_{first}_{last}.wav"
    soundfile.write(out, samples[first:last], rate, subtype="PCM_16")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("--quality", type=int, default=codec.DEFAULT_QUALITY)
    ap.add_argument("--bpp", help="comma-separated image rates to meet")
    ap.add_argument("--kbps", help="comma-separated audio or video rates to meet")
    ap.add_argument("--config", action="append", default=[], help="KEY=VALUE ... (see the module help)")
    ap.add_argument("--start", type=float, default=0.0, help="audio: excerpt start (s)")
    ap.add_argument("--seconds", type=float, help="audio: excerpt length (s) [default: to the end]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads [default: 1]")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "encode_levers.jsonl")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    configs = [parse(text) for text in args.config or [""]]
    rates = [(float(b), None) for b in args.bpp.split(",")] if args.bpp else []
    rates += [(None, float(k)) for k in args.kbps.split(",")] if args.kbps else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = _excerpt(args.source, args.start, args.seconds, work) if args.start or args.seconds else args.source
        for config in configs:
            for bpp, kbps in rates or [(None, None)]:
                row = run(source, config, args.quality, bpp, kbps, args.seed, work)
                print(json.dumps(row), flush=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

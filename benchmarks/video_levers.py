#!/usr/bin/env python3
"""Video levers (issue 6): PSNR at a fixed bitrate and encode CPU time per video preset setting.

    OMP_NUM_THREADS=1 nice python benchmarks/video_levers.py CLIP --kbps 100 \
        --config 'partition=16x64x64 local=24 global=32 depth=3 steps=200 lr=1.5e-3 fraction=0.05' [--config ...]
        [--out benchmarks/out/video_levers.jsonl]

Every --config is one encode of CLIP at --kbps (the partition count follows the rate, the
partition shape is the config's, frames x rows x columns) with that network and training;
the unset keys are the default video preset's. Prints and appends one JSON line per config:
kbps, PSNR (8-bit RGB, decoded), grid, CPU seconds of the encode (process time; one thread)
and wall seconds. The results are logged in benchmarks/LEVERS.md (video section).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inrcodec import codec  # noqa: E402
from inrcodec.container import KIND_VIDEO  # noqa: E402

KEYS = {"partition": lambda v: tuple(int(x) for x in v.split("x")), "local": int, "global": int, "depth": int,
        "steps": int, "lr": float, "fraction": float, "prior": str}
FIELDS = {"local": "local_width", "global": "global_width"}


def parse(text: str) -> dict:
    out = {}
    for item in text.split():
        key, value = item.split("=")
        out[key] = KEYS[key](value)
    return out


def run(clip: Path, kbps: float | None, quality: int, config: dict, work: Path) -> dict:
    import torch

    torch.set_num_threads(1)
    base = codec.preset(quality, KIND_VIDEO)
    p = replace(base, **{FIELDS.get(k, k): v for k, v in config.items() if k != "prior"}, quality=0)
    medium = codec.MEDIA[KIND_VIDEO]
    codec.MEDIA[KIND_VIDEO] = replace(medium, presets=(p,))
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        r = codec.encode(clip, work / "lever.inr", quality=quality, kbps=kbps, device="cpu", force=True,
                         prior=config.get("prior", "auto"))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        codec.MEDIA[KIND_VIDEO] = medium
    return {"config": {k: v for k, v in config.items()}, "kbps": round(r["kbps"], 1), "psnr": round(r["psnr"], 2),
            "grid": r["partition_grid"], "prior": r["prior"], "encode_cpu_s": round(cpu, 1),
            "encode_wall_s": round(wall, 1), "steps": p.steps}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--kbps", type=float, help="rate to meet [default: the quality's own]")
    ap.add_argument("--quality", type=int, default=codec.DEFAULT_QUALITY)
    ap.add_argument("--config", action="append", default=[], help="KEY=VALUE ... (see the module help)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "video_levers.jsonl")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for text in args.config or [""]:
        row = run(args.clip, args.kbps, args.quality, parse(text), args.out.parent) | {"target_kbps": args.kbps}
        print(json.dumps(row), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

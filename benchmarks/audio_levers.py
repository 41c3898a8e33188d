"""Audio lever experiments: encode an excerpt at a target kbps with one network configuration each.

    python benchmarks/audio_levers.py SOURCE.wav --start 2 --seconds 1 --kbps 32,64 \
        --config '{"local_width": 12, "omega": 300}' --config '{...}' > rows.jsonl

Each configuration overrides fields of the audio preset (inrcodec.codec.AUDIO_PRESETS[0]:
partition, local_width, global_width, depth, steps, lr, omega) and may set "per_weight" (the
size model's bytes per weight, which sets the partition count for a budget) and "prior"
(a prior name or path; default none). The real encoder runs (fit, sensitivities, alpha search
for the size, QAT); the rate counts the real file, SNR is on 16-bit PCM. One JSON line per
(configuration, kbps), with CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inrcodec import codec  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("--start", type=float, default=0.0)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--kbps", default="32,64")
    ap.add_argument("--config", action="append", default=[], help="JSON object of preset overrides")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    samples, rate = soundfile.read(args.source, dtype="int16", always_2d=True)
    first = int(args.start * rate)
    excerpt = samples[first : first + int(args.seconds * rate)]
    work = Path("/tmp") / f"audio_levers_{args.source.stem}_{first}_{len(excerpt)}.wav"
    soundfile.write(work, excerpt, rate, subtype="PCM_16")
    base, size_model = codec.MEDIA[codec.KIND_AUDIO], codec.BYTES_PER_WEIGHT
    for text in args.config or ["{}"]:
        config = json.loads(text)
        per_weight = config.pop("per_weight", size_model)
        prior = config.pop("prior", None)
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        p = replace(base.presets[0], **config)
        codec.MEDIA[codec.KIND_AUDIO] = replace(base, presets=(p,))
        codec.BYTES_PER_WEIGHT = per_weight
        for kbps in (float(k) for k in args.kbps.split(",")):
            cpu = time.process_time()
            r = codec.encode(work, work.with_suffix(".inr"), kbps=kbps, device="cpu", force=True, seed=args.seed,
                             prior=prior)
            row = {"source": args.source.stem, "start": args.start, "seconds": args.seconds, "target_kbps": kbps,
                   "kbps": round(r["kbps"], 2), "snr": round(r["snr"], 2), "grid": r["partition_grid"][0],
                   "samples_per_partition": len(excerpt) / r["partition_grid"][0], "alpha": round(r["alpha"], 4),
                   "cpu_s": round(time.process_time() - cpu, 1), "per_weight": per_weight, "prior": r["prior"],
                   **{k: getattr(p, k) for k in ("local_width", "global_width", "depth", "steps", "lr", "omega", "hertz")}}
            print(json.dumps(row), flush=True)
    codec.MEDIA[codec.KIND_AUDIO] = base
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

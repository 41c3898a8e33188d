"""Entropy coding speed: decode time split into entropy decode and render, and entropy encode time.

    OMP_NUM_THREADS=1 python benchmarks/bench_entropy.py [--inr FILE.inr] [--repeat N] [--json OUT.json] [PNG]

Encodes PNG (default: corpus/retina.png, 768x512) once at the default quality on the CPU unless
--inr names an existing file, then times on the CPU, median of N runs, in CPU seconds of this
process (``time.process_time``, one thread) and wall seconds:
- entropy decode: the global section and every local block to integer weights (coding.py);
- decode_array: the whole decode (file parsing, entropy decode, network, placing), so render is
  the difference;
- entropy encode: coding the same integer weights again (global section and blocks).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zstandard

import inrcodec
from inrcodec import coding, container, quant

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of ``fn`` over ``repeat`` runs after one warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("png", nargs="?", default=str(ROOT / "corpus" / "retina.png"))
    ap.add_argument("--inr", type=Path, help="an encoded file to reuse (written here first if missing)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    inr = args.inr or Path(tempfile.mkdtemp()) / "bench.inr"
    if not inr.exists():
        print(f"encoding {args.png} at the default quality (minutes) ...", file=sys.stderr)
        inrcodec.encode(args.png, inr, device="cpu")
    stream = container.read(inr.read_bytes())[0]
    h = stream.header
    positions = sorted(stream.blocks)

    def entropy_decode():
        """Local tensors per block (G, ...); main before branch rans had only decode_block, one block at a time."""
        _, params = coding.decode_global(h.arch, stream.global_section)
        if hasattr(coding, "decode_blocks"):
            return coding.decode_blocks(h.arch, [stream.blocks[p] for p in positions], params, list(map(str, positions)))
        return [np.stack(t) for t in zip(*[coding.decode_block(h.arch, stream.blocks[p], params) for p in positions])]

    tensors, params = coding.decode_global(h.arch, stream.global_section)
    global_q = [(step, quant.quantize(t, step)) for t, step in zip(tensors, _global_steps(stream))]
    blocks = list(zip(*[quant.quantize(t, s) for t, (s, _) in zip(entropy_decode(), params)]))
    symbols = sum(q.size for _, q in global_q) + sum(q.size for b in blocks for q in b)

    def entropy_encode():
        coding.encode_global(h.arch, global_q, params)
        return [coding.encode_block(b, params) for b in blocks]

    assert [bytes(e) for e in entropy_encode()] == [stream.blocks[p] for p in positions], "re-encoding differs"
    row = {"file": str(inr), "shape": list(h.shape), "grid": list(h.grid), "bytes": inr.stat().st_size,
           "blocks": len(positions), "symbols": symbols, "load": os.getloadavg()[0]}
    for name, fn in [("entropy_decode", entropy_decode),
                     ("decode_array", lambda: inrcodec.decode_array(inr, device="cpu")),
                     ("entropy_encode", entropy_encode)]:
        row[f"{name}_cpu_ms"], row[f"{name}_wall_ms"] = (1000 * t for t in timed(fn, args.repeat))
    row["render_cpu_ms"] = row["decode_array_cpu_ms"] - row["entropy_decode_cpu_ms"]
    print("| file | symbols | entropy decode ms | render ms | decode_array ms | entropy encode ms |")
    print("|---|---|---|---|---|---|")
    print(f"| {inr.name} {h.shape[1]}x{h.shape[0]}, {len(positions)} blocks | {symbols} "
          f"| {row['entropy_decode_cpu_ms']:.1f} | {row['render_cpu_ms']:.1f} | {row['decode_array_cpu_ms']:.1f} "
          f"| {row['entropy_encode_cpu_ms']:.1f} |")
    print(f"(CPU ms, median of {args.repeat}; wall ms: decode {row['entropy_decode_wall_ms']:.1f}, "
          f"decode_array {row['decode_array_wall_ms']:.1f}, encode {row['entropy_encode_wall_ms']:.1f}; "
          f"load {row['load']:.1f})")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1) + "\n")
    return 0


def _global_steps(stream) -> list[float]:
    """The quantizer step of each tensor named in the global section (FORMAT.md 7), global ones first."""
    raw, pos, steps = zstandard.ZstdDecompressor().decompress(stream.global_section), 0, []
    for _ in range(len(stream.header.arch.global_tensors())):
        step, n = struct.unpack_from("<fB", raw, pos)
        steps.append(step)
        pos += 5 + n
    return steps


if __name__ == "__main__":
    sys.exit(main())

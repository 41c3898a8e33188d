#!/usr/bin/env python3
"""Long fuzz runs for maintainers: mutated .inr files through info, decode and crop until time is up.

    OMP_NUM_THREADS=1 nice python tools/fuzz.py --minutes 15 [--seed 1] [--out fuzz-crashes] [--cli-every 25]

Uses the harness of the test suite (tests/fuzzing.py: sample kinds, mutations, checks) with
random choices instead of hypothesis, under the same time bound per input, address-space cap
and reader ceilings. Prints the inputs tried (per sample kind, per first mutation, outcomes)
and saves every failing input as OUT/<sample>-<sha256 prefix>.inr with the failure beside it
(.txt). Reproduce one with ``python tools/fuzz.py --replay OUT/FILE.inr``. Exit status 1 when
anything failed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("OMP_NUM_THREADS", "1")

import fuzzing  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"), help="where failing inputs go")
    parser.add_argument("--cli-every", type=int, default=25, help="every Nth input also through the CLI")
    parser.add_argument("--json", type=Path, help="write the summary here as JSON")
    parser.add_argument("--replay", type=Path, help="check one saved input (of the sample named in its name)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        refs = [fuzzing.reference(s, work) for s in fuzzing.SAMPLES]
        print(f"samples: {', '.join(r.sample.name for r in refs)} ({time.perf_counter() - t0:.1f} s to encode)",
              file=sys.stderr)
        if args.replay:
            ref = next(r for r in refs if args.replay.name.startswith(r.sample.name + "-"))
            folder = Path(tempfile.mkdtemp(dir=work))
            with fuzzing.limits(fuzzing.FUZZ_LIMITS), fuzzing.memory_cap():
                print(fuzzing.check(ref, args.replay.read_bytes(), None, folder))
            return 0
        return fuzz(refs, work, seed, args)


def fuzz(refs, work: Path, seed: int, args) -> int:
    rnd = random.Random(seed)
    chooser = fuzzing.Chooser.from_random(rnd)
    counts, by_sample, by_mutation, failures = collections.Counter(), collections.Counter(), collections.Counter(), []
    start = time.perf_counter()
    deadline, report = start + 60 * args.minutes, start + 60
    with fuzzing.limits(fuzzing.FUZZ_LIMITS), fuzzing.memory_cap():
        while time.perf_counter() < deadline:
            ref = refs[counts["inputs"] % len(refs)]
            first = fuzzing.MUTATIONS[(counts["inputs"] // len(refs)) % len(fuzzing.MUTATIONS)]
            cli = args.cli_every > 0 and counts["inputs"] % args.cli_every == 0
            counts["inputs"] += 1
            counts["cli"] += cli
            by_sample[ref.sample.name] += 1
            by_mutation[first.__name__[2:]] += 1
            try:
                _, _, outcomes = fuzzing.fuzz_one(ref, chooser, work, cli=cli, first=first)
            except fuzzing.FuzzFailure as e:
                failures.append(save(args.out, ref, e))
                print(f"FAILURE {failures[-1]}: {str(e).splitlines()[0]}", file=sys.stderr)
                continue
            counts["decoded" if outcomes.get("decode.npy") == "ok" else "refused"] += 1
            if time.perf_counter() > report:
                report += 60
                print(f"{time.perf_counter() - start:6.0f} s: {counts['inputs']} inputs, {len(failures)} failures",
                      file=sys.stderr)
    seconds = time.perf_counter() - start
    summary = {
        "seed": seed, "minutes": args.minutes, "seconds": round(seconds, 1), "inputs": counts["inputs"],
        "inputs_per_second": round(counts["inputs"] / seconds, 1), "decoded": counts["decoded"],
        "refused": counts["refused"], "through_cli": counts["cli"], "failures": len(failures),
        "failure_files": [str(f) for f in failures], "by_sample": dict(by_sample), "by_first_mutation": dict(by_mutation),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if failures else 0


def save(out: Path, ref, failure: fuzzing.FuzzFailure) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = getattr(failure, "data", b"")
    path = out / f"{ref.sample.name}-{hashlib.sha256(data).hexdigest()[:12]}.inr"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(str(failure) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())

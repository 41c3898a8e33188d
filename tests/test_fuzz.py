"""Fuzzing in CI: thousands of mutated files through info, decode and crop (harness: tests/fuzzing.py).

Each input must give a correct result or exactly one InrError, within a time bound and under
a cap on the address space; the count of inputs tried is printed (pytest -s) and checked.
INRCODEC_FUZZ_EXAMPLES sets the inputs per sample kind (default 700); tools/fuzz.py runs longer.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fuzzing
from fuzzing import Chooser
from inr_helpers import chunk
from test_cli import assert_one_line_error, console_script

EXAMPLES = int(os.environ.get("INRCODEC_FUZZ_EXAMPLES", "40"))  # per sample kind and first mutation
CLI_EXAMPLES = max(1, EXAMPLES)  # per sample kind
NAMES = [s.name for s in fuzzing.SAMPLES]
MUTATIONS = {m.__name__[2:]: m for m in fuzzing.MUTATIONS}


@pytest.fixture(scope="session")
def references(tmp_path_factory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    return {s.name: fuzzing.reference(s, folder) for s in fuzzing.SAMPLES}, folder


@pytest.fixture(scope="module")
def tally():
    """Inputs tried by this module's fuzz tests, printed at the end (pytest -s shows it)."""
    counts = collections.Counter()
    yield counts
    print(f"\nfuzz: {counts['inputs']} inputs ({counts['decoded']} decoded, {counts['refused']} refused), "
          f"{counts['cli']} of them through the CLI")


def _fuzz(ref, workdir: Path, examples: int, cli: bool, first=None) -> collections.Counter:
    tried = collections.Counter()

    @settings(max_examples=examples)
    @given(data=st.data())
    def run(data):
        _, names, outcomes = fuzzing.fuzz_one(ref, Chooser.from_hypothesis(data), workdir, cli=cli, first=first)
        tried["inputs"] += 1
        tried["cli"] += cli
        tried["decoded" if outcomes.get("decode.npy") == "ok" else "refused"] += 1

    with fuzzing.limits(fuzzing.FUZZ_LIMITS), fuzzing.memory_cap():
        run()
    return tried


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("name", NAMES)
def test_mutated_files_decode_or_raise_one_inr_error(references, tally, name, mutation):
    refs, workdir = references
    tried = _fuzz(refs[name], workdir, EXAMPLES, cli=False, first=MUTATIONS[mutation])
    tally.update(tried)
    assert tried["inputs"] >= 0.8 * EXAMPLES


@pytest.mark.parametrize("name", NAMES)
def test_mutated_files_through_the_cli(references, tally, name):
    refs, workdir = references
    tried = _fuzz(refs[name], workdir, CLI_EXAMPLES, cli=True)
    tally.update(tried)
    assert tried["inputs"] >= 0.8 * CLI_EXAMPLES


def test_fuzzing_tried_both_outcomes(tally):
    """Runs after the fuzz tests above: the oracle was exercised on files that decode and ones refused."""
    if tally["inputs"] < 100:
        pytest.skip("run with the fuzz tests")
    assert tally["decoded"] >= 0.03 * tally["inputs"] and tally["refused"] >= 0.5 * tally["inputs"]


def test_harness_catches_what_it_must(references, tmp_path):
    """The checks fail on a wrong outcome: an unexpected exception, changed samples, a hang."""
    refs, _ = references
    ref, other = refs[NAMES[0]], refs[NAMES[2]]
    folders = (tmp_path / str(k) for k in range(10))

    def folder():
        path = next(folders)
        path.mkdir()
        return path

    with fuzzing.limits(fuzzing.FUZZ_LIMITS):
        assert fuzzing.check(ref, ref.data, fuzzing.SAME, folder())["decode.npy"] == "ok"
        with pytest.raises(fuzzing.FuzzFailure, match="differ"):  # other samples where the same are due
            fuzzing.check(ref, other.data, fuzzing.SAME, folder())
        with pytest.raises(fuzzing.FuzzFailure, match="must decode"):
            fuzzing.check(ref, b"not a file", fuzzing.SAME, folder())
        assert fuzzing.check(ref, b"not a file", None, folder())["info"].startswith("error: ")
    outcomes = {}
    with pytest.raises(fuzzing.FuzzFailure, match="ZeroDivisionError"):
        fuzzing._run(outcomes, "op", lambda: 1 / 0)
    with pytest.raises(fuzzing.FuzzFailure, match="RuntimeWarning"):
        fuzzing._run(outcomes, "op", lambda: np.float32(3e38) * np.float32(10))
    with pytest.raises(fuzzing.FuzzTimeout):
        with fuzzing.time_limit(0.05):
            while True:
                pass
    with fuzzing.memory_cap(2**28):
        with pytest.raises(MemoryError):
            np.ones(2**30, np.uint8)


def test_mutations_are_deterministic_given_the_choices(references):
    import random

    ref = references[0][NAMES[0]]
    runs = [[fuzzing.mutate(ref.data, Chooser.from_random(random.Random(seed)))[0] for seed in range(50)]
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 40 and ref.data not in runs[0][:1]


def test_console_script_on_mutated_files(references, tmp_path):
    """The installed command, for real, on a file that must decode and one that must be refused."""
    ref = references[0][NAMES[0]]
    count = int.from_bytes(ref.data[6:8], "little")
    good = fuzzing._with_count(ref.data + chunk(b"zzzz", b"ancillary", 9, 9), +1)
    bad = ref.data + ref.data[-30:]  # trailing bytes
    assert int.from_bytes(good[6:8], "little") == count + 1
    script = console_script()
    for name, data in (("good", good), ("bad", bad)):
        src = tmp_path / f"{name}.inr"
        src.write_bytes(data)
        for args in (["info", "--json"], ["decode", "-o", tmp_path / f"{name}.npy", "--device", "cpu"],
                     ["crop", "-o", tmp_path / f"{name}-crop.inr", f"--{ref.sample.crop_by}", ref.sample.box]):
            run = subprocess.run([script, args[0], src, *args[1:]], capture_output=True, text=True, timeout=300)
            if name == "bad":
                assert_one_line_error(run.returncode, run.stdout, run.stderr)
            else:
                assert run.returncode == 0, run.stderr
        assert src.read_bytes() == data
    assert json.loads(subprocess.run([script, "info", "--json", tmp_path / "good.inr"], capture_output=True,
                                     text=True, timeout=300).stdout)["shape"] == list(ref.samples.shape[:2])
    assert np.array_equal(np.load(tmp_path / "good.npy"), ref.samples)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.inr", "good-crop.inr", "good.inr", "good.npy"]

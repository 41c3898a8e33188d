"""The ``inrcodec`` command: happy paths, --json, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import inrcodec
from inrcodec.cli import main
from inr_helpers import listing, png_ihdr, with_extents, with_version
from conftest import HEIGHT, WIDTH


def cli(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the command raised {result.exception!r}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, out: str, err: str):
    assert code == 1, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("inrcodec: error: "), err
    assert len(lines[0]) > len("inrcodec: error: ")
    assert "Traceback" not in err + out
    assert out == ""


@pytest.fixture
def work(tmp_path, rgb) -> Path:
    """A folder holding the shared image as src.png and its encoding as src.inr."""
    shutil.copyfile(rgb.source, tmp_path / "src.png")
    shutil.copyfile(rgb.path, tmp_path / "src.inr")
    return tmp_path


def console_script() -> str:
    beside = Path(sys.executable).parent / "inrcodec"
    found = str(beside) if beside.exists() else shutil.which("inrcodec")
    assert found, "the inrcodec console script is not installed"
    return found


# ---------------------------------------------------------------------------- happy paths


def test_version_and_help():
    code, out, _ = cli("--version")
    assert code == 0 and inrcodec.__version__ in out
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("encode", "decode", "crop", "info"):
        assert command in out


def test_encode_json(work):
    code, out, err = cli("encode", work / "src.png", "-o", work / "a.inr", "--iterations", 12, "--partitions", "3x2",
                         "--device", "cpu", "--seed", 3, "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["output"] == str(work / "a.inr")
    assert r["shape"] == [HEIGHT, WIDTH] and r["partition_grid"] == [2, 3]
    assert r["iterations"] == 12 and r["bytes"] == (work / "a.inr").stat().st_size
    assert r["psnr"] > 0
    assert "Traceback" not in err
    assert not list(work.glob("*.part")) and not list(work.glob(".*"))


def test_encode_default_output(tmp_path, rgb):
    shutil.copyfile(rgb.source, tmp_path / "photo.png")
    code, out, err = cli("encode", tmp_path / "photo.png", "--iterations", 20, "--partitions", "5x4", "--device",
                         "cpu")
    assert code == 0, err
    assert (tmp_path / "photo.inr").read_bytes() == rgb.data  # same settings, same seed: same bytes
    assert "photo.inr" in out and "bytes" in out and "PSNR" in out
    code, out, err = cli("encode", tmp_path / "photo.png", "-q", "--iterations", 2, "--device", "cpu")
    assert_one_line_error(code, out, err)  # photo.inr exists now
    assert (tmp_path / "photo.inr").read_bytes() == rgb.data


def test_encode_quiet_and_force(work):
    target = work / "b.inr"
    target.write_bytes(b"old")
    code, out, err = cli("encode", work / "src.png", "-o", target, "--iterations", 5, "--device", "cpu", "-q",
                         "--force")
    assert code == 0, err
    assert out == "" and err == ""
    assert inrcodec.info(target)["shape"] == [HEIGHT, WIDTH]
    assert sorted(p.name for p in work.iterdir()) == ["b.inr", "src.inr", "src.png"]


def test_decode_png_and_npy(work, rgb):
    code, out, err = cli("decode", work / "src.inr", "-o", work / "out.png", "--device", "cpu", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["output"] == str(work / "out.png") and r["shape"] == [HEIGHT, WIDTH]
    assert r["bytes"] == (work / "out.png").stat().st_size
    assert png_ihdr((work / "out.png").read_bytes()) == (WIDTH, HEIGHT, 8, 2)
    code, out, err = cli("decode", work / "src.inr", "-o", work / "out.npy", "--box", "2,3,30,20", "--device", "cpu")
    assert code == 0, err
    assert np.array_equal(np.load(work / "out.npy"), rgb.decoded[3:20, 2:30])
    assert "28x17" in out


def test_decode_default_output(tmp_path, rgb):
    shutil.copyfile(rgb.path, tmp_path / "pic.inr")
    code, out, err = cli("decode", tmp_path / "pic.inr", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["output"] == str(tmp_path / "pic.png")
    assert png_ihdr((tmp_path / "pic.png").read_bytes()) == (WIDTH, HEIGHT, 8, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.inr", "pic.png"]


def test_crop_and_info(work, rgb):
    code, out, err = cli("crop", work / "src.inr", "-o", work / "c.inr", "--box", "5,4,25,18", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["bytes_in"] == len(rgb.data) and r["bytes"] == (work / "c.inr").stat().st_size
    assert (work / "src.inr").read_bytes() == rgb.data
    assert np.array_equal(inrcodec.decode_array(work / "c.inr", device="cpu"), rgb.decoded[4:18, 5:25])

    code, out, err = cli("info", work / "c.inr", "--json")
    assert code == 0, err
    i = json.loads(out)
    assert i == json.loads(json.dumps(inrcodec.info(work / "c.inr")))
    assert i["shape"] == [14, 20] and i["crop_box"] == [[4, 18], [5, 25]]

    code, out, err = cli("info", work / "c.inr")
    assert code == 0, err
    assert "image 20x14" in out and f"original {WIDTH}x{HEIGHT}" in out and "crop box 5,4,25,18" in out
    assert f"prior: {inrcodec.info(work / 'c.inr')['prior']['name']} " in out


def test_console_script_subprocess(work):
    """The installed console script, for real: a happy path and an error."""
    script = console_script()
    run = subprocess.run([script, "info", "--json", str(work / "src.inr")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["shape"] == [HEIGHT, WIDTH]

    bad = work / "bad.inr"
    bad.write_bytes((work / "src.inr").read_bytes()[:100])
    before = listing(work)
    run = subprocess.run([script, "decode", str(bad), "-o", str(work / "out.png")], capture_output=True, text=True,
                         timeout=120)
    assert_one_line_error(run.returncode, run.stdout, run.stderr)
    assert "truncated" in run.stderr
    assert listing(work) == before


# ---------------------------------------------------------------------------- errors


def _corrupt(kind: str, data: bytes) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "flipped":
        bad = bytearray(data)
        bad[len(bad) // 3] ^= 0x04
        return bytes(bad)
    if kind == "version":
        return with_version(data, 7)
    if kind == "absurd":
        return with_extents(data, (2**24, 2**24))
    if kind == "magic":
        return b"RIFF" + data[4:]
    if kind == "trailing":
        return data + b"\n"
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n" + data[8:]
    raise AssertionError(kind)


CORRUPTIONS = ["empty", "truncated", "flipped", "version", "absurd", "magic", "trailing", "png"]
COMMANDS = {
    "decode-png": lambda src, w: ["decode", src, "-o", w / "out.png", "--device", "cpu"],
    "decode-npy": lambda src, w: ["decode", src, "-o", w / "out.npy", "--device", "cpu"],
    "decode-default": lambda src, w: ["decode", src, "--device", "cpu"],
    "crop": lambda src, w: ["crop", src, "-o", w / "out.inr", "--box", "0,0,5,5"],
    "info": lambda src, w: ["info", src],
    "info-json": lambda src, w: ["info", src, "--json"],
}
EXPECTED_WORDS = {"empty": "empty", "truncated": "truncated", "flipped": "checksum", "version": "version 7",
                  "absurd": "absurd size", "magic": "not an .inr file", "trailing": "trailing", "png": "not an .inr"}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_inr_files(tmp_path, rgb, corruption, command):
    src = tmp_path / "bad.inr"
    src.write_bytes(_corrupt(corruption, rgb.data))
    before = listing(tmp_path)
    code, out, err = cli(*COMMANDS[command](src, tmp_path))
    assert_one_line_error(code, out, err)
    assert EXPECTED_WORDS[corruption] in err
    assert listing(tmp_path) == before  # no output, no temporary file, input unchanged


def _bad_runs(w: Path) -> dict:
    """Command lines that must fail, each run in a folder prepared by the ``work`` fixture."""
    text = w / "notes.png"
    text.write_text("this is not an image\n")
    empty = w / "empty.png"
    empty.write_bytes(b"")
    existing = w / "exists.inr"
    existing.write_bytes(b"precious")
    existing_png = w / "exists.png"
    existing_png.write_bytes(b"precious too")
    src, inr = w / "src.png", w / "src.inr"
    enc = ["--iterations", "3", "--device", "cpu"]
    return {
        "encode-not-an-image": ["encode", text, "-o", w / "o.inr", *enc],
        "encode-empty": ["encode", empty, "-o", w / "o.inr", *enc],
        "encode-missing": ["encode", w / "missing.png", "-o", w / "o.inr", *enc],
        "encode-existing": ["encode", src, "-o", existing, *enc],
        "encode-default-existing": ["encode", src, *enc],  # src.inr exists
        "encode-into-input": ["encode", src, "-o", src, "--force", *enc],
        "encode-bad-grid": ["encode", src, "-o", w / "o.inr", "--partitions", "99x1", *enc],
        "encode-bad-grid-text": ["encode", src, "-o", w / "o.inr", "--partitions", "4by4", *enc],
        "encode-an-inr": ["encode", inr, "-o", w / "o.inr", *enc],
        "encode-no-folder": ["encode", src, "-o", w / "nowhere" / "o.inr", *enc],
        "decode-box-outside": ["decode", inr, "-o", w / "o.png", "--box", f"0,0,{WIDTH + 1},{HEIGHT}"],
        "decode-box-empty": ["decode", inr, "-o", w / "o.png", "--box", "3,3,3,9"],
        "decode-box-malformed": ["decode", inr, "-o", w / "o.png", "--box", "1,2,3"],
        "decode-existing": ["decode", inr, "-o", existing_png],
        "decode-into-input": ["decode", inr, "-o", inr, "--force"],
        "decode-suffix-jpg": ["decode", inr, "-o", w / "o.jpg"],
        "decode-suffix-none": ["decode", inr, "-o", w / "o"],
        "decode-missing": ["decode", w / "missing.inr", "-o", w / "o.png"],
        "decode-a-png": ["decode", src, "-o", w / "o.png"],
        "crop-box-outside": ["crop", inr, "-o", w / "o.inr", "--box", f"0,0,{WIDTH},{HEIGHT + 1}"],
        "crop-box-negative": ["crop", inr, "-o", w / "o.inr", "--box", "-1,0,5,5"],
        "crop-box-empty": ["crop", inr, "-o", w / "o.inr", "--box", "4,4,4,4"],
        "crop-existing": ["crop", inr, "-o", existing, "--box", "0,0,5,5"],
        "crop-into-input": ["crop", inr, "-o", inr, "--box", "0,0,5,5", "--force"],
        "info-missing": ["info", w / "missing.inr"],
        "info-a-png": ["info", src],
    }


BAD_RUNS = [
    "encode-not-an-image", "encode-empty", "encode-missing", "encode-existing", "encode-default-existing",
    "encode-into-input", "encode-bad-grid", "encode-bad-grid-text", "encode-an-inr", "encode-no-folder",
    "decode-box-outside", "decode-box-empty", "decode-box-malformed", "decode-existing", "decode-into-input",
    "decode-suffix-jpg", "decode-suffix-none", "decode-missing", "decode-a-png",
    "crop-box-outside", "crop-box-negative", "crop-box-empty", "crop-existing", "crop-into-input",
    "info-missing", "info-a-png",
]


@pytest.mark.parametrize("case", BAD_RUNS)
def test_bad_runs(work, case):
    runs = _bad_runs(work)
    assert set(runs) == set(BAD_RUNS)
    before = listing(work)
    code, out, err = cli(*runs[case])
    assert_one_line_error(code, out, err)
    assert listing(work) == before  # existing files unchanged, no output, no *.part


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_cuda_without_cuda(work, command):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    src = work / ("src.png" if command == "encode" else "src.inr")
    out = work / ("o.inr" if command == "encode" else "o.png")
    before = listing(work)
    code, stdout, err = cli(command, src, "-o", out, "--device", "cuda", *(["--iterations", 2] if command == "encode" else []))
    assert_one_line_error(code, stdout, err)
    assert "CUDA" in err
    assert listing(work) == before


@pytest.mark.parametrize(
    "args",
    [
        ["encode", "{w}/src.png", "-o", "{w}/o.inr", "--quality", "101"],
        ["encode", "{w}/src.png", "-o", "{w}/o.inr", "--iterations", "0"],
        ["decode", "{w}/src.inr", "-o", "{w}/o.png", "--device", "tpu"],
        ["decode", "{w}", "-o", "{w}/o.png"],
    ],
    ids=["quality-101", "iterations-0", "device-tpu", "src-is-a-folder"],
)
def test_values_refused_by_click_are_one_line_errors(work, args):
    before = listing(work)
    code, out, err = cli(*(a.format(w=work) for a in args))
    assert code != 0
    assert listing(work) == before
    assert_one_line_error(code, out, err)

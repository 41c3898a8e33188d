"""``inrcodec batch``: a tree with a bad file, resume after kill -9, decoding, and Ray giving the same bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import inrcodec
from inrcodec import batch, media, metrics
from inr_helpers import smooth, to_uint, write_png
from test_cli import assert_one_line_error, cli, console_script

OPTIONS = {"iterations": 3, "partitions": "2x2", "device": "cpu", "seed": 0}
CLI_OPTIONS = ["--iterations", "3", "--partitions", "2x2", "--device", "cpu"]
GOOD = ["a.png", "sub/b.png", "sub/deeper/d.png", "z.jpg"]
BAD = "sub/c.png"  # in the middle of the walk: a.png, sub/b.png, sub/c.png, sub/deeper/d.png, z.jpg


def make_tree(root: Path) -> Path:
    """Four small images (gray, RGB, RGBA, a JPEG), a corrupt PNG, and files batch must ignore."""
    (root / "sub" / "deeper").mkdir(parents=True)
    write_png(root / "a.png", to_uint(smooth(12, 16, 3)))
    write_png(root / "sub" / "b.png", to_uint(smooth(10, 14, 1)))
    (root / BAD).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    write_png(root / "sub" / "deeper" / "d.png", to_uint(smooth(9, 11, 4)))
    from PIL import Image

    Image.fromarray(to_uint(smooth(12, 12, 3))).save(root / "z.jpg", quality=90)
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.png").write_bytes((root / "a.png").read_bytes())
    return root


def outputs(dst: Path) -> set[str]:
    return {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}


def inr(name: str) -> str:
    return str(Path(name).with_suffix(".inr").as_posix())


def manifest(dst: Path) -> dict[str, dict]:
    lines = (dst / batch.MANIFEST).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    by_output = {r["output"]: r for r in records}
    assert len(by_output) == len(records), "one line per output after a run"
    return by_output


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The tree and the CLI's run over it with one worker: (src, dst, exit code, stdout, stderr)."""
    root = tmp_path_factory.mktemp("batch")
    src = make_tree(root / "src")
    code, out, err = cli("batch", src, root / "dst", *CLI_OPTIONS, "--jobs", "1")
    return src, root / "dst", code, out, err


def test_a_bad_file_is_counted_and_the_rest_converted(local):
    src, dst, code, out, err = local
    assert code == 1, (out, err)
    assert outputs(dst) == {inr(n) for n in GOOD} | {batch.MANIFEST}
    assert f"inrcodec: error: {BAD}: " in err and "not a readable image" in err
    assert "5 files: 4 converted, 0 up to date, 1 failed" in out
    records = manifest(dst)
    assert set(records) == {inr(n) for n in GOOD + [BAD]}
    for name in GOOD:
        r = records[inr(name)]
        info = inrcodec.info(dst / inr(name))
        assert (r["source"], r["status"], r["error"]) == (name, "ok", None)
        assert r["source_bytes"] == (src / name).stat().st_size
        assert r["bytes"] == info["bytes_total"] == (dst / r["output"]).stat().st_size
        assert r["bpp"] == pytest.approx(info["bpp"])
        assert r["shape"] == info["shape"] and r["iterations"] == 3
        decoded = media.quantize_samples(inrcodec.decode_array(dst / r["output"], device="cpu"), 8)
        source, _ = media.load_image(src / name)
        assert r["psnr"] == pytest.approx(metrics.psnr(media.quantize_samples(source, 8), decoded, 255))
        assert r["encode_seconds"] > 0 and r["seconds"] >= r["encode_seconds"]
    bad = records[inr(BAD)]
    assert bad["status"] == "failed" and "not a readable image" in bad["error"] and "bytes" not in bad


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(local, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    shutil.copytree(local[0], src)
    shutil.copytree(local[1], dst)
    before = {n: (dst / inr(n)).stat().st_mtime_ns for n in GOOD}
    older = (src / "a.png").stat().st_mtime_ns - 10**9
    os.utime(dst / inr("a.png"), ns=(older, older))  # a.png changed after its output was written
    with open(dst / batch.MANIFEST, "a") as f:
        f.write('{"source": "torn')  # what a crash in the middle of a write would leave at worst
    r = batch.run(src, dst, options=OPTIONS)
    assert (r["files"], r["converted"], r["skipped"], r["failed"]) == (5, 1, 3, 1)
    after = {n: (dst / inr(n)).stat().st_mtime_ns for n in GOOD}
    assert after["a.png"] > older + 10**9 and all(after[n] == before[n] for n in GOOD[1:])
    records = manifest(dst)
    assert set(records) == {inr(n) for n in GOOD + [BAD]}
    assert all(records[inr(n)]["status"] == "ok" and records[inr(n)]["psnr"] > 0 for n in GOOD)
    assert records[inr(BAD)]["status"] == "failed"


def test_decode_mirrors_the_tree(local, tmp_path):
    _, encoded, *_ = local
    code, out, err = cli("batch", encoded, tmp_path, "--decode", "--to", "png", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["converted"] == len(GOOD)
    assert outputs(tmp_path) == {str(Path(n).with_suffix(".png").as_posix()) for n in GOOD} | {batch.MANIFEST}
    for name in GOOD:
        expected = media.png_bytes(media.quantize_samples(inrcodec.decode_array(encoded / inr(name), device="cpu"), 8))
        assert (tmp_path / Path(name).with_suffix(".png")).read_bytes() == expected
    assert {r["status"] for r in manifest(tmp_path).values()} == {"ok"}


def test_every_source_encode_reads_is_picked_up(tmp_path):
    """The batch takes the suffixes the codec lists (an AIFF, a BMP), and only those."""
    import soundfile
    from PIL import Image

    from inrcodec import codec

    soundfile.write(tmp_path / "tone.aiff", np.sin(np.arange(800) / 5)[:, None] * 0.5, 8000, subtype="PCM_16")
    Image.fromarray(to_uint(smooth(8, 8, 3))).save(tmp_path / "pic.bmp")
    (tmp_path / "notes.txt").write_text("not media")
    todo, current, clashes = batch.plan(tmp_path, tmp_path / "out", None)
    assert sorted(job.source for job in todo) == ["pic.bmp", "tone.aiff"] and not current and not clashes
    assert [s.kind for s in codec.read_source(tmp_path / "tone.aiff")] == [codec.KIND_AUDIO]
    assert [s.kind for s in codec.read_source(tmp_path / "pic.bmp")] == [codec.KIND_IMAGE]


@pytest.mark.parametrize("args", [
    ["--decode", "--quality", "50"],
    ["--to", "npy"],
    ["--jobs", "2", "--ray", "auto"],
])
def test_contradictory_options_are_one_line_errors(tmp_path, args):
    assert_one_line_error(*cli("batch", tmp_path, tmp_path / "out", *args))
    assert not (tmp_path / "out").exists()


def test_ray_missing_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as it does without the extra
    code, out, err = cli("batch", tmp_path, tmp_path / "out", "--ray", "auto")
    assert_one_line_error(code, out, err)
    assert "inrcodec[ray]" in err and not (tmp_path / "out").exists()


def test_kill_9_mid_run_then_rerun_finishes_the_rest(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    names = [f"img{i}.png" for i in range(6)]
    for i, name in enumerate(names):
        write_png(src / name, to_uint(smooth(12 + i, 16, 3)))
    command = [console_script(), "batch", str(src), str(dst), "-q", "--iterations", "60", "--partitions", "2x2",
               "--device", "cpu", "--jobs", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(dst.glob("*.inr")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(1.0)  # the workers notice that their parent is gone and exit
    first = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dst.glob("*.inr")}
    assert 1 <= len(first) < len(names), "the kill did not land in the middle of the batch"
    for name in first:
        inrcodec.decode_array(dst / name, device="cpu")  # every output there is whole

    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert outputs(dst) == {inr(n) for n in names} | {batch.MANIFEST}  # no temporaries left either
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dst.glob("*.inr") if p.name in first} == first
    records = manifest(dst)
    assert set(records) == {inr(n) for n in names}
    # an output a worker wrote just before the kill may have no record yet: "skipped" then (one per worker at most)
    assert all(r["status"] == "ok" or r["status"] == "skipped" and r["output"] in first for r in records.values())
    assert sum(r["status"] == "ok" for r in records.values()) >= len(names) - 2
    for name in names:
        assert inrcodec.info(dst / inr(name))["shape"] == list(media.load_image(src / name)[0].shape[:2])


def test_ray_gives_the_same_bytes_as_local_workers(local, tmp_path):
    ray = pytest.importorskip("ray")
    src, _, *_ = local
    batch.run(src, tmp_path / "local", options=OPTIONS, threads=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = batch.run(src, tmp_path / "ray", options=OPTIONS, ray="auto", threads=1)
        assert ray.is_initialized(), "a Ray instance the caller started stays up"
    finally:
        ray.shutdown()
    assert (r["converted"], r["failed"], r["failures"][0]["source"]) == (len(GOOD), 1, BAD)
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    for name in GOOD:
        assert (tmp_path / "ray" / inr(name)).read_bytes() == (tmp_path / "local" / inr(name)).read_bytes()
    local_records, ray_records = manifest(tmp_path / "local"), manifest(tmp_path / "ray")
    for key in ("source", "status", "bytes", "psnr", "error"):
        assert {k: r.get(key) for k, r in ray_records.items()} == {k: r.get(key) for k, r in local_records.items()}
    assert np.isfinite([ray_records[inr(n)]["psnr"] for n in GOOD]).all()

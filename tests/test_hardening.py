"""Hardening against hostile files (format_spec/HARDENING.md): ceilings before allocation, integrity,
no code from data, safe outputs, determinism, and regressions of what the fuzzer found."""

from __future__ import annotations

import ast
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import zstandard
from click.testing import CliRunner

import fuzzing
import inrcodec
from inrcodec import container, files
from inrcodec.arch import Arch
from inrcodec.cli import main
from inrcodec.container import KIND_AUDIO, KIND_IMAGE, KIND_VIDEO, Header, Stream
from inrcodec.errors import InrError
from inrcodec.grid import all_partitions
from inr_helpers import chunk, chunks, listing, smooth, to_uint, with_chunk_payload, with_extents, write_png

ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _with_streams(data: bytes, edit) -> bytes:
    streams = container.read(data)
    edit(streams[0])
    return container.write(streams)


# ---------------------------------------------------------------------------- ceilings before allocation


def test_huge_declared_image_is_refused_before_allocating(tiny, tmp_path):
    """Extents of 2^16 x 2^16 (3 * 2^32 samples: within the format's 2^34) in a 1.3 KB file."""
    path = _write(tmp_path, "huge.inr", with_extents(tiny.data, (2**16, 2**16)))
    assert inrcodec.info(path)["original_shape"] == [2**16, 2**16]  # a valid file: info reads it
    tracemalloc.start()
    try:
        with fuzzing.memory_cap(2**28):  # a decode that allocated for it would fail here
            with pytest.raises(InrError, match="ceilings"):
                inrcodec.decode_array(path, device="cpu")
            with pytest.raises(InrError, match="ceilings"):
                inrcodec.decode(path, tmp_path / "huge.png", device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.inr"]


def _wide_stream(grid=(64, 64), depth=16, width=1024) -> Stream:
    extents = (1024, 1024)
    header = Header(KIND_IMAGE, 3, 8, extents, ((0, 1024), (0, 1024)), grid, Arch(2, 3, depth, width, width))
    return Stream(header, b"not even zstd", {p: b"x" for p in all_partitions(grid)})


def test_weights_ceiling_is_checked_before_decompressing(tmp_path):
    """4096 partitions of a depth-16 width-1024 network: 2^36 weights declared in about 150 KB."""
    data = container.write([_wide_stream()])
    assert len(data) < 2**18
    path = _write(tmp_path, "wide.inr", data)
    for call in (lambda: inrcodec.info(path), lambda: inrcodec.decode_array(path, device="cpu"),
                 lambda: inrcodec.crop(path, tmp_path / "c.inr", "0,0,5,5")):
        with pytest.raises(InrError, match="weights, over this reader's ceiling"):  # not a zstd error
            call()
    with fuzzing.limits(container.Limits(weights=2**40)):
        assert inrcodec.info(path)["partitions_present"] == 4096


def test_ceilings_can_be_changed_through_the_api(tiny, tmp_path):
    weights = inrcodec.info(tiny.path)  # 12x9 RGB, 2x2 partitions of 6x5 samples
    assert weights["shape"] == [9, 12]
    for lowered, call in [
        (container.Limits(decode_samples=4 * 30 * 3 - 1), lambda: inrcodec.decode_array(tiny.path, device="cpu")),
        (container.Limits(decode_work=1000), lambda: inrcodec.decode_array(tiny.path, device="cpu")),
        (container.Limits(weights=100), lambda: inrcodec.info(tiny.path)),
    ]:
        with fuzzing.limits(lowered):
            with pytest.raises(InrError, match="ceiling"):
                call()
    with fuzzing.limits(container.Limits(decode_samples=4 * 30 * 3)):  # exactly enough: whole tiles count
        assert np.array_equal(inrcodec.decode_array(tiny.path, device="cpu"), tiny.decoded)
    with fuzzing.limits(container.Limits(decode_samples=30 * 3)):  # one tile: a box inside one partition
        assert np.array_equal(inrcodec.decode_array(tiny.path, box="0,0,3,3", device="cpu"), tiny.decoded[:3, :3])
    assert container.LIMITS == container.Limits()


# ---------------------------------------------------------------------------- bad payloads (fuzzer regressions)


@pytest.mark.parametrize("tail", [b"\x00", struct.pack("<II", 0x184D2A50, 0), "frame"], ids=["byte", "skippable", "frame"])
@pytest.mark.parametrize("where", ["global", "block"])
def test_bytes_after_a_payload_are_refused(tiny, tmp_path, tail, where):
    """GLOB is one zstd frame, a block one coded stream: nothing may follow either."""
    def edit(stream):
        if where == "global":
            stream.global_section += stream.global_section if tail == "frame" else tail
        else:
            stream.blocks[(0, 1)] += stream.blocks[(0, 1)] if tail == "frame" else tail

    path = _write(tmp_path, "tail.inr", _with_streams(tiny.data, edit))
    with pytest.raises(InrError, match="unused data" if where == "global" else "does not end where its symbols do"):
        inrcodec.decode_array(path, device="cpu")


def _glob_with_step(data: bytes, step: float) -> bytes:
    def edit(stream):
        raw = bytearray(zstandard.ZstdDecompressor().decompress(stream.global_section))
        struct.pack_into("<f", raw, 0, step)  # the step of the first global tensor
        stream.global_section = zstandard.ZstdCompressor().compress(bytes(raw))

    return _with_streams(data, edit)


@pytest.mark.parametrize("step", [2.0**33, 3e38, float("inf"), float("nan"), 0.0, -1.0])
def test_quantizer_steps_out_of_range_are_refused(tiny, tmp_path, step):
    path = _write(tmp_path, "step.inr", _glob_with_step(tiny.data, step))
    with pytest.raises(InrError, match="invalid quantizer"):
        inrcodec.decode_array(path, device="cpu")


def test_largest_step_still_gives_finite_samples(tiny, tmp_path):
    path = _write(tmp_path, "step.inr", _glob_with_step(tiny.data, 2.0**32))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samples = inrcodec.decode_array(path, device="cpu")
    assert samples.shape == tiny.decoded.shape and np.all((samples >= 0) & (samples <= 1))


def test_repeated_critical_chunk_is_refused(tiny):
    pos, _, length = chunks(tiny.data)[-1]  # LOCL, twice
    data = tiny.data + tiny.data[pos:]
    count = struct.unpack_from("<H", data, 6)[0] + 1
    first = data[:6] + struct.pack("<H", count)
    with pytest.raises(InrError, match="out of order"):
        container.read(first + struct.pack("<I", zlib.crc32(first)) + data[12:])


def test_float_source_decodes_to_npy_only(tiny, tmp_path):
    def edit(payload):
        payload[3] = 32  # bit depth of the source: float
        return payload

    path = _write(tmp_path, "float.inr", with_chunk_payload(tiny.data, b"HEAD", edit))
    assert np.array_equal(inrcodec.decode_array(path, device="cpu"), tiny.decoded)
    before = listing(tmp_path)
    with pytest.raises(InrError, match="decode to .npy"):
        inrcodec.decode(path, tmp_path / "float.png", device="cpu")
    assert listing(tmp_path) == before


@pytest.mark.parametrize("omega", [1e-30, 1e-45, 9999.0])
def test_extreme_siren_frequency_decodes(tiny, tmp_path, omega):
    """A decoder used to run the random SIREN initialisation first, whose bound 1/omega overflowed."""

    def edit(payload):
        struct.pack_into("<f", payload, 45, omega)  # image HEAD: omega at 17 + 14n
        return payload

    plain = tmp_path / "plain.inr"  # no prior: a prior fixes omega, so an edited omega is refused there
    inrcodec.encode(tiny.source, plain, quality=0, iterations=2, partitions="2x2", device="cpu", prior=None)
    path = _write(tmp_path, "omega.inr", with_chunk_payload(plain.read_bytes(), b"HEAD", edit))
    samples = inrcodec.decode_array(path, device="cpu")
    assert samples.shape == tiny.decoded.shape and np.all((samples >= 0) & (samples <= 1))


@pytest.mark.parametrize("channels", [1, 3])
def test_crop_to_a_single_partition_is_bit_exact(tmp_path, channels):
    """A lone partition used to take another matmul kernel (one output channel) than a batch of them."""
    src = write_png(tmp_path / "g.png", to_uint(smooth(12, 14, channels)))
    inrcodec.encode(src, tmp_path / "g.inr", quality=90, iterations=3, partitions="2x2", device="cpu")
    full = inrcodec.decode_array(tmp_path / "g.inr", device="cpu")
    for box in ["0,0,1,1", "8,7,14,12", "2,3,5,5", "0,0,14,1"]:
        inrcodec.crop(tmp_path / "g.inr", tmp_path / "c.inr", box, force=True)
        x0, y0, x1, y1 = map(int, box.split(","))
        assert np.array_equal(inrcodec.decode_array(tmp_path / "c.inr", device="cpu"), full[y0:y1, x0:x1]), box
        assert np.array_equal(inrcodec.decode_array(tmp_path / "g.inr", box=box, device="cpu"), full[y0:y1, x0:x1])


@pytest.mark.parametrize("kind, extents, grid", [(KIND_AUDIO, (1000,), (3,)), (KIND_VIDEO, (5, 16, 9), (2, 3, 2))])
def test_info_command_on_other_kinds(tmp_path, kind, extents, grid):
    header = Header(kind, 2, 16, extents, tuple((0, e) for e in extents), grid, Arch(len(extents), 2, 2, 8, 8),
                    rate=8000.0)
    path = _write(tmp_path, "x.inr", container.write([Stream(header, b"g", {p: b"b" for p in all_partitions(grid)})]))
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    size = f"{extents[0]} samples" if kind == KIND_AUDIO else f"{extents[2]}x{extents[1]}, {extents[0]} frames"
    assert size in result.stdout


# ---------------------------------------------------------------------------- integrity


def _flips_accepted(data: bytes) -> list[tuple[int, int]]:
    accepted = []
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            try:
                container.read(bytes(bad))
            except InrError:
                continue
            accepted.append((i, bit))
    return accepted


def test_every_bit_flip_is_detected_even_in_ancillary_chunk_headers(tiny):
    """Every section carries a CRC: file header, each chunk (header fields too), each local block."""
    extra = chunk(b"tEXt", b"note", stream=3, flags=5)
    count = struct.unpack_from("<H", tiny.data, 6)[0] + 1
    first = tiny.data[:6] + struct.pack("<H", count)
    data = first + struct.pack("<I", zlib.crc32(first)) + tiny.data[12:] + extra
    assert container.read(data)[0].blocks == container.read(tiny.data)[0].blocks
    assert _flips_accepted(data) == []


def test_crop_output_keeps_every_checksum_valid(rgb, tmp_path):
    inrcodec.crop(rgb.path, tmp_path / "c.inr", "5,4,25,18")
    data = (tmp_path / "c.inr").read_bytes()
    (stream,) = container.read(data)  # every CRC verified
    assert 0 < len(stream.blocks) < 20
    assert _flips_accepted(data) == []


# ---------------------------------------------------------------------------- no code from data

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "torch.load", "torch.save", "torch.jit.load",
                   "importlib.import_module", "yaml.load", "yaml.unsafe_load", "pd.read_pickle", "pandas.read_pickle"}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def code_from_data(source: str) -> list[str]:
    """What in ``source`` could run code found in data: pickle-like modules, eval, torch.load,
    np.load without allow_pickle=False."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: {name}()")
            if name in ("np.load", "numpy.load"):
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                    found.append(f"line {node.lineno}: {name}() without allow_pickle=False")
    return found


def test_the_scan_finds_what_it_looks_for():
    planted = textwrap.dedent("""
        import pickle
        from marshal import loads
        import numpy as np, torch
        np.load(f)
        np.load(f, allow_pickle=True)
        np.load(f, allow_pickle=False)
        torch.load(f, weights_only=True)
        eval(text)
    """)
    assert [f.split(": ")[1] for f in code_from_data(planted)] == [
        "import pickle", "import marshal", "np.load() without allow_pickle=False",
        "np.load() without allow_pickle=False", "torch.load()", "eval()"]


def test_nothing_loads_code_from_file_content():
    sources = [*ROOT.glob("inrcodec/**/*.py"), *ROOT.glob("tools/*.py"), *ROOT.glob("benchmarks/*.py"),
               ROOT / "format_spec" / "refdecode.py"]
    assert len(sources) > 15
    found = {str(p.relative_to(ROOT)): code_from_data(p.read_text()) for p in sources}
    assert {p: f for p, f in found.items() if f} == {}


# ---------------------------------------------------------------------------- files


def _other_spellings(tmp_path: Path, src: Path) -> dict[str, Path]:
    (tmp_path / "sub").mkdir()
    (tmp_path / f"link{src.suffix}").symlink_to(src)
    os.link(src, tmp_path / f"hard{src.suffix}")
    return {"same": src, "dotdot": tmp_path / "sub" / ".." / src.name, "dot": tmp_path / "." / src.name,
            "symlink": tmp_path / f"link{src.suffix}", "hardlink": tmp_path / f"hard{src.suffix}"}


@pytest.mark.parametrize("spelling", ["same", "dotdot", "dot", "symlink", "hardlink"])
@pytest.mark.parametrize("command", ["decode", "crop"])
def test_output_that_is_the_input_is_refused_even_with_force(tmp_path, tiny, spelling, command):
    src = _write(tmp_path, "in.png" if command == "decode" else "in.inr", tiny.data)  # decode writes .png
    dst = _other_spellings(tmp_path, src)[spelling]
    before = listing(tmp_path)
    args = ["decode", src, "-o", dst, "--device", "cpu"] if command == "decode" else ["crop", src, "-o", dst, "--box", "0,0,4,4"]
    result = CliRunner().invoke(main, [str(a) for a in args] + ["--force"])
    assert result.exit_code == 1 and "is the input file" in result.stderr, result.stderr
    assert listing(tmp_path) == before and src.read_bytes() == tiny.data


def test_encode_into_its_own_source_through_a_hard_link_is_refused(tmp_path, tiny):
    os.link(tiny.source, tmp_path / "alias.png")
    with pytest.raises(InrError, match="is the input"):
        inrcodec.encode(tiny.source, tmp_path / "alias.png", force=True, iterations=1, device="cpu")


def test_an_output_created_meanwhile_is_not_overwritten(tmp_path):
    dst = tmp_path / "out.bin"
    with pytest.raises(InrError, match="exists"):
        with files.writing(dst) as tmp:
            tmp.write_bytes(b"new")
            dst.write_bytes(b"someone else's")  # appears between the check and the publication
    assert dst.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_force_replaces_a_symlink_not_its_target(tmp_path):
    target = _write(tmp_path, "target.txt", b"keep me")
    (tmp_path / "out.bin").symlink_to(target)
    with pytest.raises(InrError, match="exists"):
        files.write_bytes(tmp_path / "out.bin", b"new")
    files.write_bytes(tmp_path / "out.bin", b"new", force=True)
    assert target.read_bytes() == b"keep me"
    assert not (tmp_path / "out.bin").is_symlink() and (tmp_path / "out.bin").read_bytes() == b"new"


def test_outputs_get_the_permissions_of_new_files(tmp_path):
    old = os.umask(0o027)
    try:
        files.write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with files.writing(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            1 / 0
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- determinism


def test_decoding_twice_is_bit_identical(rgb, tmp_path):
    arrays = [inrcodec.decode_array(rgb.path, device="cpu") for _ in range(2)]
    assert np.array_equal(arrays[0], arrays[1]) and arrays[0].tobytes() == rgb.decoded.tobytes()
    for suffix in (".png", ".npy"):
        outputs = [inrcodec.decode(rgb.path, tmp_path / f"{k}{suffix}", device="cpu") for k in range(2)]
        assert (tmp_path / f"0{suffix}").read_bytes() == (tmp_path / f"1{suffix}").read_bytes(), outputs


def test_decoding_does_not_depend_on_the_thread_count(rgb):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = inrcodec.decode_array(rgb.path, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert two.tobytes() == rgb.decoded.tobytes()


def test_encoding_in_another_process_gives_the_same_bytes(tiny, tmp_path):
    """Same image, settings and seed in a fresh process with two threads: the same file, decoding the same.

    The image is tiny, so no kernel runs in parallel; larger signals give thread-count-dependent
    bytes (format_spec/HARDENING.md, section 6)."""
    script = textwrap.dedent(f"""
        import sys, torch, numpy as np, inrcodec
        torch.set_num_threads(2)
        inrcodec.encode({str(tiny.source)!r}, {str(tmp_path / 'again.inr')!r}, quality=0, iterations=2,
                        partitions="2x2", device="cpu")
        np.save({str(tmp_path / 'again.npy')!r}, inrcodec.decode_array({str(tmp_path / 'again.inr')!r}, device="cpu"))
    """)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "again.inr").read_bytes() == tiny.data
    assert np.load(tmp_path / "again.npy", allow_pickle=False).tobytes() == tiny.decoded.tobytes()


@pytest.mark.parametrize("sample, field, value, output", [
    ("audio-stereo16", "rate", 1e30, ".wav"),
    ("audio-stereo16", "rate", 1e-30, ".flac"),
    ("video-with-track", "rate", 1e-30, ".mkv"),
    ("video-with-track", "bit_depth", 16, ".mkv"),
])
def test_headers_no_output_format_can_hold_are_refused_there(tmp_path, sample, field, value, output):
    """Found by the fuzzer: such headers crashed the WAV, FLAC and Matroska writers."""
    make = next(s for s in fuzzing.SAMPLES if s.name == sample).make

    def edit(payload):
        if field == "rate":
            struct.pack_into("<d", payload, 4, value)
        else:
            payload[3] = value
        return payload

    path = _write(tmp_path, "edited.inr", with_chunk_payload(make(tmp_path).read_bytes(), b"HEAD", edit))
    before = listing(tmp_path)
    with pytest.raises(InrError, match="cannot"):
        inrcodec.decode(path, tmp_path / f"out{output}", device="cpu")
    assert listing(tmp_path) == before
    assert inrcodec.decode_array(path, device="cpu").size  # the samples themselves still decode

"""The test vectors of format_spec/vectors/ against inrcodec and the reference decoder.

inrcodec must decode every vector exactly as recorded (float32 samples and delivered pixels);
the independent reference decoder (format_spec/refdecode.py, numpy in float64) must agree
within a tolerance: max |ref - inrcodec| <= 1e-5 on the float samples (at most 1.5e-7
observed), 5e-5 for audio (1.7e-5 observed on the vector made from the audio prior, whose
float32 network is less exact than float64 by about that much; without the prior's scaling
the error is 2.0), and delivered samples off by at most one level in at most 1% of the
samples (10% for audio: 16-bit PCM levels are 3e-5 apart, 5.4% observed) (samples near a
rounding tie that float64 and float32 resolve differently).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import inrcodec

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "format_spec" / "vectors"
ENTRIES = json.loads((VECTORS / "vectors.json").read_text())["vectors"]
IDS = [e["file"] for e in ENTRIES]
SAMPLE_TOLERANCE = {1: 1e-5, 2: 5e-5, 3: 1e-5}  # per kind (module docstring)
LEVEL_FRACTION = {1: 0.01, 2: 0.1, 3: 0.01}  # per kind: 16-bit PCM has 2^15 levels per unit, so more near-ties


def _load_refdecode():
    spec = importlib.util.spec_from_file_location("inr_refdecode", ROOT / "format_spec" / "refdecode.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


refdecode = _load_refdecode()


KINDS = {"image": 1, "audio": 2, "video": 3}


def _delivered(samples: np.ndarray, bit_depth: int, kind: str = "image") -> np.ndarray:
    if kind == "audio":
        return np.ascontiguousarray(np.clip(np.rint(samples * np.float32(32768)), -32768, 32767).astype("<i2"))
    top = 2**bit_depth - 1
    return np.ascontiguousarray(np.rint(np.clip(samples, 0, 1) * top).astype("<u1" if bit_depth == 8 else "<u2"))


def test_vectors_present():
    assert len(ENTRIES) >= 4
    assert {e["bit_depth"] for e in ENTRIES} >= {8, 16}
    assert {e["kind"] for e in ENTRIES} == set(KINDS)
    assert {e["kind"] for e in ENTRIES if "cropped_from" in e} == set(KINDS)
    assert any("track" in e for e in ENTRIES if "cropped_from" in e)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_file_hash_is_recorded(entry):
    data = (VECTORS / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_inrcodec_decodes_exactly(entry):
    prior = str(VECTORS / entry["prior"]) if "prior" in entry else None
    samples = inrcodec.decode_array(VECTORS / entry["file"], device="cpu", prior=prior)
    stored = np.load(VECTORS / entry["samples"])
    assert samples.dtype == stored.dtype == np.float32
    assert samples.shape == tuple(entry["shape"]) + (entry["channels"],)
    assert np.array_equal(samples, stored)
    pixels = _delivered(samples, entry["bit_depth"], entry["kind"])
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == entry["pixels_sha256"]
    if "track" in entry:
        track = inrcodec.decode_array(VECTORS / entry["file"], kind="audio", device="cpu")
        assert np.array_equal(track, np.load(VECTORS / entry["track"]))
        assert hashlib.sha256(_delivered(track, 16, "audio").tobytes()).hexdigest() == entry["track_sha256"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_reference_decoder_agrees(entry):
    prior = (VECTORS / entry["prior"]).read_bytes() if "prior" in entry else None
    data = (VECTORS / entry["file"]).read_bytes()
    header, samples = refdecode.decode(data, prior_file=prior)
    stored = np.load(VECTORS / entry["samples"])
    assert header["kind"] == KINDS[entry["kind"]]
    assert header["bit_depth"] == entry["bit_depth"] and header["channels"] == entry["channels"]
    recorded = _delivered(stored, entry["bit_depth"], entry["kind"])
    assert hashlib.sha256(recorded.tobytes()).hexdigest() == entry["pixels_sha256"]
    checks = [(header, samples, stored, recorded)]
    if "track" in entry:
        track_header, track = refdecode.decode(data, 1, prior)
        stored_track = np.load(VECTORS / entry["track"])
        assert track_header["kind"] == KINDS["audio"]
        checks.append((track_header, track, stored_track, _delivered(stored_track, 16, "audio")))
    for h, mine, theirs, delivered in checks:
        assert mine.dtype == np.float32 and mine.shape == theirs.shape
        assert np.max(np.abs(mine.astype(np.float64) - theirs)) <= SAMPLE_TOLERANCE[h["kind"]]
        diff = np.abs(refdecode.delivered(mine, h["bit_depth"], h["kind"]).astype(np.int64) - delivered.astype(np.int64))
        assert diff.max() <= 1
        assert np.count_nonzero(diff) <= LEVEL_FRACTION[h["kind"]] * diff.size


@pytest.mark.parametrize("entry", [e for e in ENTRIES if "cropped_from" in e], ids=lambda e: e["file"])
def test_crop_copies_payloads_and_samples(entry):
    source = next(e for e in ENTRIES if e["file"] == entry["cropped_from"] + ".inr")
    big = refdecode.read_chunks((VECTORS / source["file"]).read_bytes())[0]
    small = refdecode.read_chunks((VECTORS / entry["file"]).read_bytes())[0]
    assert small[b"GLOB"] == big[b"GLOB"]
    h_big, h_small = refdecode.parse_head(big[b"HEAD"]), refdecode.parse_head(small[b"HEAD"])
    assert {k: v for k, v in h_big.items() if k != "crop"} == {k: v for k, v in h_small.items() if k != "crop"}
    blocks_big = refdecode.parse_index(h_big, big[b"PIDX"], big[b"LOCL"])
    blocks_small = refdecode.parse_index(h_small, small[b"PIDX"], small[b"LOCL"])
    assert sorted(blocks_small) == refdecode.needed_partitions(h_small)
    assert all(blocks_small[p] == blocks_big[p] for p in blocks_small)
    # a crop decodes bit for bit as the same region of the full file
    region = tuple(slice(s, e) for s, e in h_small["crop"])
    assert np.array_equal(np.load(VECTORS / entry["samples"]), np.load(VECTORS / source["samples"])[region])


def test_flipped_byte_is_refused():
    entry = min(ENTRIES, key=lambda e: (VECTORS / e["file"]).stat().st_size)
    data = (VECTORS / entry["file"]).read_bytes()
    for i in range(len(data)):  # every byte of the smallest vector
        bad = bytearray(data)
        bad[i] ^= 0xFF
        with pytest.raises(refdecode.FormatError):
            refdecode.decode(bytes(bad))


def test_ancillary_chunk_is_skipped():
    entry = ENTRIES[0]
    data = (VECTORS / entry["file"]).read_bytes()
    payload = b"a comment"
    fields = struct.pack("<4sHHQ", b"tEXt", 7, 3, len(payload))
    chunk = fields + struct.pack("<I", zlib.crc32(fields + payload)) + payload
    first = struct.pack("<4sHH", b"INRC", 1, struct.unpack_from("<H", data, 6)[0] + 1)
    patched = first + struct.pack("<I", zlib.crc32(first)) + data[12:] + chunk
    _, samples = refdecode.decode(patched)
    assert np.max(np.abs(samples - np.load(VECTORS / entry["samples"]))) <= SAMPLE_TOLERANCE[KINDS[entry["kind"]]]
    with pytest.raises(refdecode.FormatError):  # a chunk's CRC is checked even when it is skipped
        refdecode.decode(patched[:-1] + bytes([patched[-1] ^ 1]))


def test_reference_decoder_needs_the_right_prior():
    entry = next(e for e in ENTRIES if "prior" in e)
    data, prior = (VECTORS / entry["file"]).read_bytes(), (VECTORS / entry["prior"]).read_bytes()
    with pytest.raises(refdecode.FormatError, match="needs prior"):
        refdecode.decode(data)
    with pytest.raises(refdecode.FormatError, match="damaged"):
        refdecode.decode(data, prior_file=prior[:-1] + bytes([prior[-1] ^ 1]))

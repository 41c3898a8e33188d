"""The .inr container: write/read round trips, and InrError (never anything else) for bad bytes."""

from __future__ import annotations

import struct
import zlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import inrcodec
from inrcodec import container
from inrcodec.arch import Arch
from inrcodec.container import KIND_AUDIO, KIND_IMAGE, KIND_VIDEO, Header, Stream
from inrcodec.errors import InrError
from inrcodec.grid import all_partitions
from inr_helpers import CHUNK_HEADER, FILE_HEADER_SIZE, chunk, chunks, with_chunk_payload, with_extents, with_version


def _stream(kind=KIND_IMAGE, extents=(23, 37), grid=(4, 5), crop=None, channels=3, **header_fields) -> Stream:
    n = len(extents)
    header = Header(
        kind, channels, header_fields.pop("bit_depth", 8), extents, crop or tuple((0, e) for e in extents), grid,
        Arch(n, channels, 2, 12, 24), **header_fields,
    )
    blocks = {pos: bytes([len(pos), *pos]) * (1 + sum(pos)) for pos in all_partitions(grid)}
    return Stream(header, b"global section \x00\xff" * 3, blocks)


def _read_one(data: bytes) -> Stream:
    streams = container.read(data)
    assert len(streams) == 1
    return streams[0]


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "stream",
    [
        _stream(),
        _stream(bit_depth=16, channels=1),
        _stream(prior_name="photo-prior-v1", prior_hash=bytes(range(32))),
        _stream(prior_name="prior é", prior_hash=b"\xff" * 32),
        _stream(extents=(1, 1), grid=(1, 1)),
        _stream(KIND_AUDIO, extents=(48000,), grid=(7,), rate=48000.0, channels=2),
        _stream(KIND_VIDEO, extents=(5, 16, 9), grid=(2, 3, 2), rate=24.0),
    ],
    ids=["rgb", "gray16", "prior", "prior-utf8", "1x1", "audio", "video"],
)
def test_built_stream_round_trips(stream):
    data = container.write([stream])
    assert data[:4] == b"INRC"
    back = _read_one(data)
    assert back.header == stream.header
    assert back.global_section == stream.global_section
    assert back.blocks == stream.blocks
    assert container.write([back]) == data


def test_cropped_stream_round_trips_with_only_its_blocks():
    full = _stream()
    box = ((5, 12), (8, 20))
    part = container.cropped(full, box)
    assert part.header.crop == box
    assert part.header.shape == (7, 12)
    assert part.global_section == full.global_section
    assert 0 < len(part.blocks) < len(full.blocks)
    assert all(part.blocks[p] == full.blocks[p] for p in part.blocks)
    data = container.write([part])
    back = _read_one(data)
    assert back.header == part.header and back.blocks == part.blocks
    assert container.write([back]) == data


def test_several_streams_round_trip():
    streams = [_stream(), _stream(KIND_AUDIO, extents=(1000,), grid=(3,), rate=8000.0)]
    data = container.write(streams)
    back = container.read(data)
    assert [s.header for s in back] == [s.header for s in streams]
    assert [s.blocks for s in back] == [s.blocks for s in streams]
    assert container.write(back) == data


def test_encoded_file_reserialises_to_identical_bytes(rgb):
    data = rgb.data
    stream = _read_one(data)
    assert stream.header.kind == KIND_IMAGE
    assert stream.header.shape == (23, 37)
    assert stream.header.grid == (4, 5)
    assert len(stream.blocks) == 20
    assert container.write([stream]) == data


def test_chunks_are_in_the_documented_order(rgb):
    assert [kind for _, kind, _ in chunks(rgb.data)] == [b"HEAD", b"GLOB", b"PIDX", b"LOCL"]


def test_ancillary_chunk_is_skipped(tiny):
    """A chunk whose type starts with a lowercase letter is not critical: readers skip it."""
    data = tiny.data
    payload = b"made by a test"
    extra = chunk(b"tEXt", payload)
    count = struct.unpack_from("<H", data, 6)[0] + 1
    first = data[:6] + struct.pack("<H", count)
    patched = first + struct.pack("<I", zlib.crc32(first)) + data[FILE_HEADER_SIZE:] + extra
    original = _read_one(data)
    stream = _read_one(patched)
    assert stream.header == original.header and stream.blocks == original.blocks


# ---------------------------------------------------------------------------- bad input


def test_empty_file():
    with pytest.raises(InrError, match="empty"):
        container.read(b"")


def test_every_prefix_is_refused(tiny):
    data = tiny.data
    assert len(data) > 200
    wrong = {}
    for size in range(len(data)):
        try:
            container.read(data[:size])
        except InrError:
            continue
        except Exception as e:  # noqa: BLE001 - collected and reported below
            wrong[size] = repr(e)
        else:
            wrong[size] = "accepted"
    assert not wrong, f"prefixes not refused with InrError: {dict(list(wrong.items())[:10])}"


@pytest.mark.parametrize("mask", [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF])
def test_every_flipped_byte_is_refused(tiny, mask):
    data = tiny.data
    wrong = {}
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= mask
        try:
            container.read(bytes(bad))
        except InrError:
            continue
        except Exception as e:  # noqa: BLE001
            wrong[i] = repr(e)
        else:
            wrong[i] = "accepted"
    assert not wrong, f"flips (xor {mask:#x}) not refused with InrError: {dict(list(wrong.items())[:10])}"


def test_flipped_payload_byte_is_a_checksum_error(rgb):
    data = bytearray(rgb.data)
    data[-1] ^= 0x10  # last byte of the last local block
    with pytest.raises(InrError, match="checksum"):
        container.read(bytes(data))


def test_unknown_version(tiny):
    data = with_version(tiny.data, 2)
    assert with_version(data, 1) == tiny.data  # the surgery itself is exact
    with pytest.raises(InrError, match="version 2"):
        container.read(data)
    with pytest.raises(InrError, match="version 0"):
        container.read(with_version(tiny.data, 0))


def test_version_change_without_new_crc_is_a_checksum_error(tiny):
    data = bytearray(tiny.data)
    data[4] = 2
    with pytest.raises(InrError, match="checksum"):
        container.read(bytes(data))


@pytest.mark.parametrize(
    "extents", [(2**20, 2**20), (2**32 - 1, 2**32 - 1), (0, 37), (23, 0)], ids=["2^20", "u32-max", "zero-h", "zero-w"]
)
def test_absurd_size_is_refused_by_the_size_check(rgb, extents, tmp_path):
    data = with_extents(rgb.data, extents)
    assert len(data) == len(rgb.data)
    assert with_extents(data, (23, 37)) == rgb.data  # only the extents (and the CRC) changed
    with pytest.raises(InrError, match="absurd size"):
        container.read(data)
    path = tmp_path / "absurd.inr"
    path.write_bytes(data)
    with pytest.raises(InrError, match="absurd size"):
        inrcodec.info(path)
    with pytest.raises(InrError, match="absurd size"):
        inrcodec.decode_array(path, device="cpu")


def test_extents_change_without_new_crc_is_a_checksum_error(rgb):
    data = bytearray(rgb.data)
    head = FILE_HEADER_SIZE + CHUNK_HEADER.size
    data[head + 12 : head + 16] = struct.pack("<I", 2**20)
    with pytest.raises(InrError, match="checksum"):
        container.read(bytes(data))


@pytest.mark.parametrize("magic", [b"INRD", b"\x89PNG", b"\x00\x00\x00\x00", b"inrc"])
def test_bad_magic(tiny, magic):
    with pytest.raises(InrError, match="not an .inr file"):
        container.read(magic + tiny.data[4:])


def test_other_file_types_are_not_inr(rgb):
    with pytest.raises(InrError, match="not an .inr file"):
        container.read(rgb.source.read_bytes())
    with pytest.raises(InrError):
        container.read(b"hello\n")


@pytest.mark.parametrize("tail", [b"\x00", b"INRC", b"\x00" * 1000], ids=["one", "magic", "many"])
def test_trailing_bytes(tiny, tail):
    with pytest.raises(InrError, match="trailing"):
        container.read(tiny.data + tail)


def test_two_files_concatenated(tiny):
    with pytest.raises(InrError):
        container.read(tiny.data + tiny.data)


def test_missing_partition_inside_the_crop_box():
    stream = _stream()
    del stream.blocks[(2, 3)]
    with pytest.raises(InrError, match="lacks a partition"):
        container.read(container.write([stream]))


def test_header_crop_box_outside_the_signal(tiny):
    def edit(payload):
        # after 12 bytes of fields and 2 extents: 2 crop starts, then 2 crop ends (u32 each)
        payload[28:32] = struct.pack("<I", 10)  # crop end along y beyond the height 9
        return payload

    with pytest.raises(InrError, match="crop box"):
        container.read(with_chunk_payload(tiny.data, b"HEAD", edit))


def test_unknown_critical_chunk(tiny):
    def rename(data, old, new, fix_crc):
        pos, _, length = next(c for c in chunks(data) if c[1] == old)
        end = pos + CHUNK_HEADER.size + length
        renamed = chunk(new, data[pos + CHUNK_HEADER.size : end]) if fix_crc else new + data[pos + 4 : end]
        return data[:pos] + renamed + data[end:]

    with pytest.raises(InrError, match="critical chunk"):
        container.read(rename(tiny.data, b"GLOB", b"GLOX", fix_crc=True))
    with pytest.raises(InrError, match="checksum"):  # the chunk CRC covers the chunk type
        container.read(rename(tiny.data, b"GLOB", b"GLOX", fix_crc=False))


# ---------------------------------------------------------------------------- bad payloads behind good checksums


def _decode_stream(tmp_path, stream: Stream):
    path = tmp_path / "payload.inr"
    path.write_bytes(container.write([stream]))
    return inrcodec.decode_array(path, device="cpu")


def _zstd(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(raw)


@settings(max_examples=30)
@given(payload=st.one_of(st.binary(max_size=300), st.binary(max_size=3000).map(_zstd)))
def test_garbage_global_section_is_an_inr_error(tiny, tmp_path_factory, payload):
    (stream,) = container.read(tiny.data)
    try:
        pixels = _decode_stream(tmp_path_factory.mktemp("glob"), Stream(stream.header, payload, stream.blocks))
    except InrError:
        return
    assert pixels.shape == (9, 12, 3)  # a payload that happens to be well-formed decodes


@settings(max_examples=30)
@given(payload=st.one_of(st.binary(max_size=300), st.binary(max_size=3000).map(_zstd)), which=st.integers(0, 3))
def test_garbage_local_block_is_an_inr_error(tiny, tmp_path_factory, payload, which):
    (stream,) = container.read(tiny.data)
    blocks = dict(stream.blocks)
    blocks[sorted(blocks)[which]] = payload
    try:
        pixels = _decode_stream(tmp_path_factory.mktemp("locl"), Stream(stream.header, stream.global_section, blocks))
    except InrError:
        return
    assert pixels.shape == (9, 12, 3)


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_cut_local_block_is_an_inr_error(tiny, tmp_path, cut):
    (stream,) = container.read(tiny.data)
    blocks = {p: b[:-cut] if p == (1, 1) else b for p, b in stream.blocks.items()}
    with pytest.raises(InrError, match=r"local block \(1, 1\)"):
        _decode_stream(tmp_path, Stream(stream.header, stream.global_section, blocks))


def test_global_section_for_another_architecture_is_an_inr_error(tiny, rgb, tmp_path):
    (small,), (big,) = container.read(tiny.data), container.read(rgb.data)
    with pytest.raises(InrError, match="global section"):
        _decode_stream(tmp_path, Stream(small.header, big.global_section, small.blocks))


def test_audio_stream_with_a_bad_global_section_and_a_box_crop_are_refused(tmp_path):
    path = tmp_path / "audio.inr"
    path.write_bytes(container.write([_stream(KIND_AUDIO, extents=(1000,), grid=(3,), rate=8000.0)]))
    assert inrcodec.info(path)["kind"] == "audio"
    with pytest.raises(InrError, match="global section"):
        inrcodec.decode_array(path, device="cpu")
    with pytest.raises(InrError, match="audio"):
        inrcodec.crop(path, tmp_path / "out.inr", (0, 0, 1, 1))
    assert not (tmp_path / "out.inr").exists()


@pytest.mark.parametrize("coder", [0, 1, 2, 255])  # 1, 2: zstd symbol planes, all-rANS symbols of earlier builds
def test_unknown_coder_ids_are_refused(coder):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("inr_refdecode", Path(__file__).parents[1] / "format_spec" / "refdecode.py")
    refdecode = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refdecode)
    data = container.write([_stream(coder=coder)])
    with pytest.raises(InrError, match="unsupported colour/quantizer/coder"):
        container.read(data)
    with pytest.raises(refdecode.FormatError, match="unsupported colour/quantizer/coder"):
        refdecode.decode(data)

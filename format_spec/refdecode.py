#!/usr/bin/env python3
"""Reference decoder for .inr version 1, written from format_spec/FORMAT.md alone.

Standard library, numpy and zstandard only (Pillow, optionally, to write PNG). It verifies
every checksum and rule of the spec and renders the crop box of one stream (stream 0 unless
told) to float32 samples (crop extents..., channels), in [0, 1] for images and video and in
[-1, 1] for audio, computing the network in float64.

    python format_spec/refdecode.py FILE.inr [--stream K] [--prior PRIOR.safetensors] [-o out.npy | -o out.png]

A stream with quantizer id 2 needs the prior it names (FORMAT.md section 14), given by --prior.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import struct
import sys
import zlib

import numpy as np
import zstandard

MAGIC, VERSION = b"INRC", 1
CRITICAL = (b"HEAD", b"GLOB", b"PIDX", b"LOCL")
AXES = {1: 2, 2: 1, 3: 3}  # kind -> number of axes (image, audio, video)
MAX_SAMPLES, MAX_CHANNELS, MAX_DEPTH, MAX_WIDTH, MAX_PARTITIONS = 2**34, 16, 16, 1024, 65535


class FormatError(Exception):
    """The file breaks a rule of FORMAT.md."""


def need(ok: bool, message: str) -> None:
    if not ok:
        raise FormatError(message)


class Cursor:
    """Little-endian reads from bytes, refusing to run past the end."""

    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.raw(struct.calcsize("<" + fmt)))

    def raw(self, size: int) -> bytes:
        need(self.pos + size <= len(self.data), f"{self.what} is truncated")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def end(self) -> None:
        need(self.pos == len(self.data), f"{self.what} has trailing bytes")


# ---------------------------------------------------------------- container (FORMAT.md 2-5)

def read_chunks(data: bytes) -> dict:
    """{stream id: {chunk type: payload}} of the critical chunks, every CRC checked."""
    c = Cursor(data, "file")
    magic, version, count = c.take("4sHH")
    need(magic == MAGIC, "bad magic")
    need(c.take("I")[0] == zlib.crc32(data[:8]), "file header CRC mismatch")
    need(version == VERSION, f"unsupported version {version}")
    streams: dict = {}
    for _ in range(count):
        fields = data[c.pos : c.pos + 16]
        kind, sid, flags, length, crc = c.take("4sHHQI")
        payload = c.raw(length)
        need(zlib.crc32(fields + payload) == crc, f"CRC mismatch in chunk {kind!r}")
        if 0x61 <= kind[0] <= 0x7A:  # ancillary (lowercase first byte): skipped
            continue
        need(kind in CRITICAL and flags == 0, f"unknown critical chunk {kind!r}")
        have = streams.setdefault(sid, {})
        need(len(have) < 4 and CRITICAL[len(have)] == kind, f"chunk {kind!r} of stream {sid} out of order")
        have[kind] = payload
    c.end()
    need(bool(streams) and sorted(streams) == list(range(len(streams))), "streams missing or misnumbered")
    need(all(len(s) == 4 for s in streams.values()), "incomplete stream")
    return streams


def bounds(extent: int, parts: int, i: int) -> tuple[int, int]:
    return i * extent // parts, (i + 1) * extent // parts


def parse_head(payload: bytes) -> dict:
    c = Cursor(payload, "HEAD")
    kind, n, channels, bit_depth, rate = c.take("BBBBd")
    need(AXES.get(kind) == n, "bad kind or number of axes")
    extents, starts, ends, grid = c.take(f"{n}I"), c.take(f"{n}I"), c.take(f"{n}I"), c.take(f"{n}H")
    depth, local_width, global_width, omega = c.take("BHHf")
    colour, quant, coder, name_len = c.take("BBBB")
    name, prior_hash = c.raw(name_len), c.raw(32)
    c.end()
    need(1 <= channels <= MAX_CHANNELS and bit_depth in (8, 16, 32), "bad channels or bit depth")
    need(math.isfinite(rate) and rate >= 0 and (kind == 1 or rate > 0), "bad rate")
    need(min(extents) >= 1 and math.prod(extents) * channels <= MAX_SAMPLES, "bad extents")
    need(all(0 <= s < e <= x for s, e, x in zip(starts, ends, extents)), "bad crop box")
    need(all(1 <= g <= x for g, x in zip(grid, extents)) and math.prod(grid) <= MAX_PARTITIONS, "bad grid")
    need(1 <= depth <= MAX_DEPTH and 1 <= local_width <= MAX_WIDTH and 1 <= global_width <= MAX_WIDTH, "bad network")
    need(math.isfinite(omega) and 0 < omega < 1e4, "bad omega")
    need(colour == 0 and quant in (1, 2) and coder == 3, "unsupported colour/quantizer/coder")
    try:
        prior_name = name.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("prior name is not UTF-8") from None
    need(quant == 1 or name_len > 0, "residual weights without a prior name")
    return dict(kind=kind, n=n, channels=channels, bit_depth=bit_depth, rate=rate, extents=extents,
                crop=tuple(zip(starts, ends)), grid=grid, depth=depth, wl=local_width, wg=global_width,
                omega=omega, quant=quant, prior_name=prior_name, prior_hash=prior_hash)


def needed_partitions(h: dict) -> list[tuple]:
    """Grid positions intersecting the crop box, raster order (axis 0 slowest)."""
    per_axis = []
    for x, g, (s, e) in zip(h["extents"], h["grid"], h["crop"]):
        per_axis.append([i for i in range(g) if bounds(x, g, i)[1] > s and bounds(x, g, i)[0] < e])
    return list(itertools.product(*per_axis))


def parse_index(h: dict, pidx: bytes, locl: bytes) -> dict:
    c = Cursor(pidx, "PIDX")
    (count,) = c.take("I")
    need(count <= math.prod(h["grid"]), "too many index entries")
    blocks, offset, previous = {}, 0, None
    for _ in range(count):
        *pos, start, length, crc = c.take(f"{h['n']}HIII")
        pos = tuple(pos)
        need(all(p < g for p, g in zip(pos, h["grid"])), "partition outside the grid")
        need(previous is None or pos > previous, "index not in raster order")
        need(start == offset and start + length <= len(locl), "block not contiguous")
        need(zlib.crc32(locl[start : start + length]) == crc, f"CRC mismatch in block {pos}")
        blocks[pos], offset, previous = locl[start : start + length], offset + length, pos
    c.end()
    need(offset == len(locl), "LOCL has bytes no entry covers")
    need(all(p in blocks for p in needed_partitions(h)), "a partition inside the crop box is missing")
    return blocks


# ---------------------------------------------------------------- payloads (FORMAT.md 6-7)

def tensor_shapes(h: dict) -> tuple[list, list]:
    n, d, wl, wg, ch = h["n"], h["depth"], h["wl"], h["wg"], h["channels"]
    glob = [s for k in range(d) for s in ((n if k == 0 else wg, wg), (wg,))] + [(wl + wg, wl), (wl,)]
    local = [s for k in range(d) for s in ((n if k == 0 else wl, wl), (wl,))] + [(wl, ch), (ch,)]
    return glob, local


PREC, LOW, MAX_CLASSES = 12, 1 << 23, 48


def class_start_bits(c: int) -> tuple[int, int]:
    """First magnitude of magnitude class c and its number of offset bits (FORMAT.md 6)."""
    if c < 4:
        return c, 0
    k = 2 + (c - 4) // 2
    return (2 + (c - 4) % 2) * 2 ** (k - 1), k - 1


class Stream:
    """A coded stream (FORMAT.md 6): byte-wise rANS of the classes, 32-bit state, then raw bits."""

    def __init__(self, data: bytes):
        need(len(data) >= 4, "rANS stream shorter than its state")
        self.data, self.pos, self.x = data, 4, int.from_bytes(data[:4], "little")
        need(LOW <= self.x < LOW * 256, "rANS stream starts with a bad state")
        self.classes = []  # (class, table's freqs) of each symbol so far

    def get(self, starts: list, freqs: list) -> int:
        slot = self.x % (1 << PREC)
        i = next(i for i, (s, f) in enumerate(zip(starts, freqs)) if s <= slot < s + f)
        self.x = freqs[i] * (self.x >> PREC) + slot - starts[i]
        while self.x < LOW:
            need(self.pos < len(self.data), "rANS stream truncated")
            self.x = self.x * 256 + self.data[self.pos]
            self.pos += 1
        return i

    def symbols(self, count: int, freqs: list) -> list:
        """Classes of the next ``count`` symbols; their values come from the raw field (``end``)."""
        starts = [sum(freqs[:i]) for i in range(len(freqs))]
        first = len(self.classes)
        self.classes += [self.get(starts, freqs) for _ in range(count)]
        return [first, first + count]

    def end(self) -> np.ndarray:
        """Check the end of the rANS part, read the raw field: the values of every symbol."""
        need(self.x == LOW, "rANS stream does not end cleanly")
        bits = "".join(f"{b:08b}" for b in self.data[self.pos :])
        at, out = 0, []
        for c in self.classes:
            m, n = class_start_bits(c)
            m += int(bits[at : at + n] or "0", 2)
            negative = c > 0 and bits[at + n : at + n + 1] == "1"
            at += n + (c > 0)
            out.append(-m if negative else m)
        need(at <= len(bits) and len(bits) - at < 8 and "1" not in bits[at:], "raw bit field has the wrong size")
        return np.array(out, dtype=np.int64)


def model(c: Cursor) -> tuple[float, list]:
    """Step and class frequencies of one tensor (FORMAT.md 6, class table)."""
    step, n = c.take("fB")
    need(0 < step <= 2**32, "bad quantizer step")
    need(1 <= n <= MAX_CLASSES, "bad class table")
    weights = list(c.take(f"{n}B"))
    need(sum(weights) > 0, "class table without weights")
    freqs = [max(1, w * 4096 // sum(weights)) if w else 0 for w in weights]
    freqs[weights.index(max(weights))] += 4096 - sum(freqs)
    return step, freqs


def tensors(stream: bytes, shapes: list, models: list) -> list:
    r = Stream(stream)
    spans = [r.symbols(math.prod(shape), freqs) for shape, (_, freqs) in zip(shapes, models)]
    q = r.end()
    return [(q[a:b].astype(np.float32) * np.float32(step)).reshape(shape)
            for (a, b), shape, (step, _) in zip(spans, shapes, models)]


def parse_global(h: dict, payload: bytes) -> tuple[list, list]:
    gshapes, lshapes = tensor_shapes(h)
    bound = (len(gshapes) + len(lshapes)) * (5 + MAX_CLASSES) + 4 + 6 * sum(math.prod(s) for s in gshapes)
    try:
        size = zstandard.frame_content_size(payload)
        need(0 <= size <= bound, "GLOB size impossible")
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as e:
        raise FormatError(f"bad zstd frame ({e})") from None
    need(len(raw) == size, "zstd frame decodes to the wrong size")
    c = Cursor(raw, "GLOB")
    models = [model(c) for _ in gshapes + lshapes]
    return tensors(raw[c.pos :], gshapes, models[: len(gshapes)]), models[len(gshapes) :]


def parse_block(h: dict, payload: bytes, params: list) -> list:
    return tensors(payload, tensor_shapes(h)[1], params)


# ---------------------------------------------------------------- priors (FORMAT.md 14)

def prior_names(d: int) -> tuple[list, list]:
    """Names of the covered global and hidden local tensors, in digest order."""
    glob = [f"global.{k}.{t}" for k in range(d) for t in ("weight", "bias")] + ["merge.weight", "merge.bias"]
    return glob, [f"local.{k}.{t}" for k in range(d) for t in ("weight", "bias")]


def read_prior(data: bytes, h: dict) -> tuple[list, list]:
    """The prior's global tensors and hidden local tensors for header ``h``, digest checked."""
    (n,) = struct.unpack_from("<Q", data)
    table = json.loads(data[8 : 8 + n])
    meta, body = table.pop("__metadata__"), data[8 + n :]
    signature = (int(meta["naxes"]), int(meta["depth"]), int(meta["local_width"]), int(meta["global_width"]),
                 float(np.float32(float(meta["omega"]))))
    need(signature == (h["n"], h["depth"], h["wl"], h["wg"], float(np.float32(h["omega"]))), "prior does not fit")
    gnames, lnames = prior_names(h["depth"])
    gshapes, lshapes = tensor_shapes(h)
    shapes = dict(zip(gnames + lnames, gshapes + lshapes[:-2]))
    need(sorted(table) == sorted(shapes), "prior holds other tensors")
    tensors = {}
    for name, shape in shapes.items():
        begin, end = table[name]["data_offsets"]
        need(table[name]["dtype"] == "F32" and tuple(table[name]["shape"]) == shape, f"prior tensor {name} is wrong")
        need(0 <= begin and end - begin == 4 * math.prod(shape) and end <= len(body), f"prior tensor {name} is misplaced")
        tensors[name] = np.frombuffer(body, "<f4", math.prod(shape), begin).reshape(shape)
    durations = [float(meta[k]) for k in ("partition_seconds", "clip_seconds") if k in meta]
    need(len(durations) in (0, 2) and all(0 < v < math.inf for v in durations), "prior durations are wrong")
    tail = struct.pack("<2d", *durations) if durations else b""
    digest = hashlib.sha256(b"".join(tensors[k].tobytes() for k in gnames + lnames) + tail).digest()
    need(digest.hex() == meta["sha256"], "prior file is damaged (digest mismatch)")
    need(digest == h["prior_hash"], "this is not the prior the file was made with")
    if durations and h["rate"] > 0:  # duration-invariant first layers, in Hz whatever the durations
        x, rate, (t0, d0) = h["extents"][0], h["rate"], durations
        tensors["local.0.weight"] = tensors["local.0.weight"] * np.float32(x / h["grid"][0] / rate / t0)
        tensors["global.0.weight"] = tensors["global.0.weight"] * np.float32(x / rate / d0)
    return [tensors[k] for k in gnames], [tensors[k] for k in lnames]


def add_prior(G: list, L: list, prior: tuple | None) -> tuple[list, list]:
    """Covered tensors: float32(prior + residual); heads unchanged."""
    if prior is None:
        return G, L
    PG, PL = prior
    return [p + r for p, r in zip(PG, G)], [p + r for p, r in zip(PL, L)] + L[len(PL):]


# ---------------------------------------------------------------- rendering (FORMAT.md 8-10)

def network(h: dict, G: list, L: list, lc: np.ndarray, gc: np.ndarray) -> np.ndarray:
    """y (T, channels) at local/global coordinates (T, n); float64 throughout."""
    w, d = float(h["omega"]), h["depth"]
    G = [t.astype(np.float64) for t in G]
    L = [t.astype(np.float64) for t in L]
    M, mb = G[2 * d], G[2 * d + 1]
    l = np.sin(w * (lc @ L[0] + L[1]))
    g = np.sin(w * (gc @ G[0] + G[1]))
    for k in range(1, d):
        m = np.sin(w * (np.concatenate([l, g], -1) @ M + mb))
        l = np.sin(w * (m @ L[2 * k] + L[2 * k + 1]))
        g = np.sin(w * (g @ G[2 * k] + G[2 * k + 1]))
    m = np.sin(w * (np.concatenate([l, g], -1) @ M + mb))
    return m @ L[-2] + L[-1]


def render(h: dict, G: list, params: list, blocks: dict, prior: tuple | None) -> np.ndarray:
    crop = h["crop"]
    out = np.empty([e - s for s, e in crop] + [h["channels"]], np.float32)
    G, _ = add_prior(G, [], prior)
    for pos in needed_partitions(h):
        _, L = add_prior([], parse_block(h, blocks[pos], params), prior)
        lcs, gcs, dst = [], [], []
        for x, g, i, (c0, c1) in zip(h["extents"], h["grid"], pos, crop):
            s, e = bounds(x, g, i)
            lo, hi = max(s, c0), min(e, c1)  # the part of the partition inside the crop box
            t = np.arange(lo, hi, dtype=np.float64)  # original coordinates of its samples
            lcs.append(((2 * (t - s) + 1) / (e - s) - 1).astype(np.float32))
            gcs.append(((2 * t + 1) / x - 1).astype(np.float32))
            dst.append(slice(lo - c0, hi - c0))
        lc, gc = (np.stack(np.meshgrid(*v, indexing="ij"), -1).reshape(-1, h["n"]).astype(np.float64)
                  for v in (lcs, gcs))
        y = network(h, G, L, lc, gc)
        v = np.clip(y, -1, 1) if h["kind"] == 2 else np.clip(0.5 * y + 0.5, 0, 1)  # audio: y is the sample
        out[tuple(dst)] = v.reshape(out[tuple(dst)].shape)
    return out


def decode(data: bytes, stream: int = 0, prior_file: bytes | None = None) -> tuple[dict, np.ndarray]:
    """(header of a stream, its float32 samples over the crop box); every stream is verified.
    ``prior_file``: the bytes of the prior a stream with quantizer id 2 needs."""
    chunks = read_chunks(data)
    heads = {sid: parse_head(c[b"HEAD"]) for sid, c in chunks.items()}
    blocks = {sid: parse_index(heads[sid], c[b"PIDX"], c[b"LOCL"]) for sid, c in chunks.items()}
    need(stream in heads, f"no stream {stream}")
    h = heads[stream]
    prior = None
    if h["quant"] == 2:
        need(prior_file is not None, f"the file needs prior {h['prior_name']} (sha256 {h['prior_hash'].hex()[:16]})")
        prior = read_prior(prior_file, h)
    G, params = parse_global(h, chunks[stream][b"GLOB"])
    return h, render(h, G, params, blocks[stream], prior)


def delivered(samples: np.ndarray, bit_depth: int, kind: int = 1) -> np.ndarray:
    """Delivered form (FORMAT.md 10): float32 math, rint ties to even."""
    if bit_depth == 32:
        return samples.astype("<f4")
    if kind == 2:  # audio: 16-bit PCM
        return np.clip(np.rint(samples * np.float32(32768)), -32768, 32767).astype("<i2")
    top = np.float32(2**bit_depth - 1)
    return np.rint(np.clip(samples, 0, 1) * top).astype(np.uint8 if bit_depth == 8 else "<u2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Reference decoder for .inr version 1.")
    ap.add_argument("file")
    ap.add_argument("-o", "--output", help="out.npy (float32 samples) or out.png (8/16-bit images)")
    ap.add_argument("--stream", type=int, default=0, help="which stream to render (default 0)")
    ap.add_argument("--prior", help="the prior file (.safetensors) a stream with quantizer id 2 needs")
    args = ap.parse_args(argv)
    prior = None
    if args.prior:
        with open(args.prior, "rb") as f:
            prior = f.read()
    with open(args.file, "rb") as f:
        header, samples = decode(f.read(), args.stream, prior)
    print(f"{args.file}: crop {header['crop']} of {header['extents']}, {header['channels']} channels, "
          f"{header['bit_depth']}-bit, grid {header['grid']}")
    if args.output and args.output.endswith(".npy"):
        np.save(args.output, samples, allow_pickle=False)
    elif args.output:
        from PIL import Image

        need(header["kind"] == 1, "PNG output is for images; use .npy")
        pixels = delivered(samples, header["bit_depth"])
        need(pixels.shape[-1] == 1 or header["bit_depth"] == 8, "Pillow writes 16-bit PNG for gray only")
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

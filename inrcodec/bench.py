"""``inrcodec bench``: rate-distortion sweeps of inrcodec and the classic codecs over media files.

Every codec encodes every file at each point of its sweep (a quality, a bitrate or a CRF;
inrcodec's is a quality for images and a bitrate in kbps for audio and video, INR_SWEEPS).
Rates count the bytes of the whole encoded file, headers included: bits per pixel for images,
kbps for audio, both for video. Distortion is measured on the decode in its delivered form
(8-bit RGB for images and video, 16-bit PCM for audio): PSNR and MS-SSIM for images, PSNR for
video, SNR for audio, each per file and then averaged over the files at each point, as
CompressAI reports. Sources are compared in that form too: an image is taken as 8-bit RGB
(gray repeated, alpha dropped, 16 bits rounded to 8), audio and video as their decoders deliver.

Each (file, codec, point) result is cached as one JSON file under ``OUT/cache``, keyed by the
file's content hash, the codec, the point, the codec's version and the options, so a sweep that
stopped picks up where it was and a rerun after a code change redoes only what changed.
Outputs, all in OUT: ``KIND-CODEC.json`` per codec in CompressAI's result shape, ``results.csv``
(one row per file and point), ``results.md`` (tables and Bjøntegaard deltas), ``rd-KIND.png``
(needs matplotlib, the ``plot`` extra) and ``bench.json`` (everything; ``--json`` prints it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__, anchors, bdrate, files, media, metrics
from .codec import DEFAULT_QUALITY, MEDIA, SOURCE_SUFFIXES, pick_device, preset
from .codec import kind_of as signal_kind
from .container import KIND_NAMES
from .errors import InrError

FORMAT = 1  # of cached results; bump when what a result means changes
RATE = {"image": "bpp", "audio": "kbps", "video": "bpp"}
QUALITY = {"image": "psnr-rgb", "audio": "snr", "video": "psnr-rgb"}
FIXED_RATES = {"image": (0.25, 0.5, 0.75, 1.0), "audio": (32, 64, 96, 128), "video": (0.02, 0.05, 0.1, 0.2)}


# ---------------------------------------------------------------------------- sources


@dataclass
class Source:
    path: Path
    kind: str
    sha256: str
    reference: np.ndarray  # delivered form: uint8 (H, W, 3), int16 (T, C) or uint8 (T, H, W, 3)
    rate: int | Fraction | None = None  # sample rate (audio) or frame rate (video)
    native: bool = True  # inrcodec can encode the file itself (else a PNG of the reference)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def pixels(self) -> int:
        return math.prod(self.reference.shape[:-1])

    @property
    def seconds(self) -> float:
        return float(len(self.reference) / self.rate)


def kind_of(path: Path) -> str | None:
    """'image', 'audio' or 'video' by the file's suffix (the inputs of codec.MEDIA); None for another."""
    kind = signal_kind(path)
    return None if kind is None else KIND_NAMES[kind]


def find_media(paths) -> list[Path]:
    """The media files named, and those directly inside the folders named, sorted by name."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.is_file() and kind_of(f))
        elif p.is_file():
            if not kind_of(p):
                raise InrError(f"{p}: not a media file bench knows ({', '.join(sorted(SOURCE_SUFFIXES))})")
            found.append(p)
        else:
            raise InrError(f"no such file or folder: {p}")
    if not found:
        raise InrError("no image, audio or video files found in " + ", ".join(map(str, paths)))
    return found


def load_source(path: Path) -> Source:
    kind = kind_of(path)
    sha = hashlib.sha256(files.read_bytes(path)).hexdigest()
    if kind == "image":
        samples, bits = media.load_image(path)
        pixels = media.quantize_samples(samples, 8)
        if pixels.shape[2] in (1, 2):
            pixels = np.repeat(pixels[..., :1], 3, axis=2)
        return Source(path, kind, sha, np.ascontiguousarray(pixels[..., :3]), native=samples.shape[2] == 3 and bits == 8)
    if kind == "audio":
        samples, rate = anchors.decode_audio(path)
        return Source(path, kind, sha, anchors.pcm16(samples), rate)
    frames, fps = anchors.decode_video(path)
    return Source(path, kind, sha, frames, fps, native=False)


def measure(source: Source, coded: anchors.Coded) -> dict:
    """Rate and distortion of one encoded file against its source."""
    ref, dec = source.reference, coded.decoded
    if ref.shape != dec.shape:
        raise InrError(f"{source.name}: decoded shape {dec.shape} differs from the source's {ref.shape}")
    bits = 8 * len(coded.data)
    r = {"bytes": len(coded.data), "encoding_time": coded.encode_seconds, "decoding_time": coded.decode_seconds}
    if source.kind == "audio":
        return {**r, "kbps": bits / source.seconds / 1000, "snr": metrics.snr(ref, dec)}
    r.update(bpp=bits / source.pixels, **{"psnr-rgb": metrics.psnr(ref, dec, 255)})
    if source.kind == "image":
        r["ms-ssim-rgb"] = metrics.ms_ssim(ref, dec, 255)
    else:
        r["kbps"] = bits / source.seconds / 1000
    return r


# ---------------------------------------------------------------------------- codecs


@dataclass(frozen=True)
class Options:
    iterations: int | None = None  # inrcodec fitting steps at every point (None: the quality's own)
    device: str = "cpu"


@dataclass(frozen=True)
class Codec:
    name: str
    kind: str
    parameter: str  # what a point is: quality, kbps or crf
    points: tuple
    quick: tuple  # the two points of --quick
    encode: Callable[[Source, object, Options, Path], anchors.Coded]
    label: str  # one line for descriptions


def _image_anchor(name):
    return lambda s, point, _o, _w: anchors.encode_image(name, s.reference, point)


def _audio_anchor(name):
    return lambda s, point, _o, _w: anchors.encode_audio(name, s.reference, s.rate, point)


def _video_anchor(name):
    return lambda s, point, _o, _w: anchors.encode_video(name, s.reference, s.rate, point)


_Q = (5, 10, 20, 30, 45, 60, 75, 90, 95)
_KBPS = (32, 48, 64, 96, 128, 192)
_CRF = (18, 23, 28, 33, 38, 43)
ANCHORS = (
    Codec("jpeg", "image", "quality", _Q, (30, 75), _image_anchor("jpeg"), "Pillow JPEG (libjpeg), 4:2:0"),
    Codec("webp", "image", "quality", _Q, (30, 75), _image_anchor("webp"), "Pillow WebP (libwebp), method 4"),
    Codec("avif", "image", "quality", _Q, (30, 75), _image_anchor("avif"), "Pillow AVIF (libavif), speed 6, 4:2:0"),
    Codec("mp3", "audio", "kbps", _KBPS, (48, 128), _audio_anchor("mp3"), "MP3 (libmp3lame through PyAV), CBR"),
    Codec("opus", "audio", "kbps", (16,) + _KBPS, (48, 128), _audio_anchor("opus"), "Opus (libopus through PyAV) in Ogg, VBR"),
    Codec("aac", "audio", "kbps", _KBPS, (48, 128), _audio_anchor("aac"), "AAC (FFmpeg's encoder through PyAV) in M4A"),
    Codec("x264", "video", "crf", _CRF, (23, 33), _video_anchor("x264"), "H.264 (libx264 through PyAV), preset medium, yuv420p, MP4"),
    Codec("x265", "video", "crf", _CRF, (23, 33), _video_anchor("x265"), "HEVC (libx265 through PyAV), preset medium, yuv420p, MP4"),
    Codec("av1", "video", "crf", _CRF, (23, 33), _video_anchor("av1"), "AV1 (libsvtav1 through PyAV), its default preset, yuv420p, MP4"),
)


def _deliver_image(samples: np.ndarray) -> np.ndarray:
    return media.quantize_samples(samples, 8)


# The kinds inrcodec encodes, each with how its exact decode (.npy float samples) becomes the
# delivered form; a kind inrcodec learns to encode is one more entry here and in INR_SWEEPS.
INR_KINDS = {"image": _deliver_image, "audio": anchors.pcm16, "video": _deliver_image}


def _source_file(source: Source, work: Path) -> Path:
    """The file inrcodec encodes: the source itself, or its reference written losslessly.

    Video is always written again (FFV1 in MKV, video only), so that a clip's audio track does
    not count in inrcodec's rate when the anchors code the pictures alone.
    """
    if source.native:
        return source.path
    if source.kind == "image":
        path = work / "source.png"
        path.write_bytes(media.png_bytes(source.reference))
        return path
    from . import video

    path = work / "source.mkv"
    video.write(path, ".mkv", [source.reference], source.reference.shape[1:3], source.rate)
    return path


def _inr_encoder(parameter: str):
    """inrcodec's encode of a source at a point: a quality (images) or a bitrate in kbps (audio, video)."""

    def encode(source: Source, point, options: Options, work: Path) -> anchors.Coded:
        from . import codec

        src = _source_file(source, work)
        dst, npy = work / "encoded.inr", work / "decoded.npy"
        start = time.perf_counter()
        codec.encode(src, dst, **{parameter: point}, iterations=options.iterations, device=options.device, force=True)
        encoded = time.perf_counter()
        codec.decode(dst, npy, device=options.device, force=True)
        decoded = time.perf_counter()
        samples = np.load(npy, allow_pickle=False)
        return anchors.Coded(dst.read_bytes(), INR_KINDS[source.kind](samples), encoded - start, decoded - encoded)

    return encode


# inrcodec's sweep per kind: (parameter, points, the two of --quick). Images step through the
# presets by quality; audio and video by bitrate (their rate follows --kbps; audio has one
# preset, so qualities would only move the quantizer), spanning the anchors' rates: MP3 and
# Opus 16-192 kbps; x264 at CRF 18-43 on 1-2 s of 320x240 bikes.mp4, about 30-300 kbps.
INR_SWEEPS = {
    "image": ("quality", None, (25, 75)),  # None: the lowest quality of every preset
    "audio": ("kbps", (16, 24, 32, 48, 64, 96, 128), (24, 96)),
    "video": ("kbps", (50, 100, 200, 400), (50, 200)),
}


def inr_codecs() -> tuple[Codec, ...]:
    kinds = {name: k for k, name in KIND_NAMES.items()}
    codecs = []
    for kind in INR_KINDS:
        parameter, points, quick = INR_SWEEPS[kind]
        points = points or tuple(p.quality for p in MEDIA[kinds[kind]].presets)
        codecs.append(Codec("inrcodec", kind, parameter, points, quick, _inr_encoder(parameter),
                            f"inrcodec {__version__}, Local-Global INR"))
    return tuple(codecs)


def all_codecs() -> tuple[Codec, ...]:
    return inr_codecs() + ANCHORS


# ---------------------------------------------------------------------------- cache keys


def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


_HERE = Path(__file__).parent
_BENCH_SIDE = {"bench.py", "anchors.py", "bdrate.py", "cli.py", "demo.py", "metrics.py"}  # not in inrcodec's hash


def codec_version(codec: Codec, options: Options) -> dict:
    """What a cached result of ``codec`` depends on besides the file and the point."""
    measuring = _hash_files([_HERE / "metrics.py"])  # and FORMAT, for what bench.measure computes
    if codec.name != "inrcodec":
        return {"format": FORMAT, "measuring": measuring, "anchors": _hash_files([_HERE / "anchors.py"]),
                "libraries": anchors.versions()}
    package = [p for p in _HERE.rglob("*") if p.is_file() and p.name not in _BENCH_SIDE and "__pycache__" not in p.parts]
    import torch

    return {"format": FORMAT, "measuring": measuring, "inrcodec": __version__, "source": _hash_files(package),
            "torch": torch.__version__, "device": pick_device(options.device).type, "iterations": options.iterations}


def cache_key(source: Source, codec: Codec, point, version: dict) -> str:
    text = json.dumps([source.sha256, codec.kind, codec.name, codec.parameter, point, version], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------- progress


class Progress:
    """One line on stderr: tasks done, the current task, elapsed time and an ETA.

    The ETA weighs each task by its amount of signal (and, for inrcodec, its fitting steps),
    at the speed measured so far for that codec; cached tasks cost nothing.
    """

    def __init__(self, costs: list[tuple[str, float]], quiet: bool):
        self.costs, self.quiet, self.done = costs, quiet, 0
        self.start = time.perf_counter()
        self.speed: dict[str, list[float]] = {}  # codec -> [seconds, cost] measured
        self.tty = sys.stderr.isatty()

    def eta(self) -> str:
        left = 0.0
        anchors_seen = [v for n, v in self.speed.items() if n != "inrcodec"]
        fallback = sum(s for s, _ in anchors_seen) / max(sum(c for _, c in anchors_seen), 1)
        for name, cost in self.costs[self.done:]:
            if cost == 0:  # cached
                continue
            seconds, measured = self.speed.get(name, (0.0, 0.0))
            if measured == 0 and (name == "inrcodec" or not anchors_seen):
                return "ETA ?"
            left += cost * (seconds / measured if measured else fallback)
        return f"ETA {_clock(left)}"

    def show(self, what: str):
        if not self.quiet:
            line = f"bench [{self.done}/{len(self.costs)}] {what} | {_clock(time.perf_counter() - self.start)} elapsed, {self.eta()}"
            print(("\r\033[K" if self.tty else "") + line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def finished(self, seconds: float | None):
        name, cost = self.costs[self.done]
        if seconds is not None:
            s = self.speed.setdefault(name, [0.0, 0.0])
            s[0] += seconds
            s[1] += cost
        self.done += 1

    def close(self):
        if not self.quiet and self.tty:
            print(file=sys.stderr)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _cost(codec: Codec, source: Source, point, options: Options) -> float:
    size = source.reference.size
    if codec.name != "inrcodec":
        return size
    kind = next(k for k, name in KIND_NAMES.items() if name == source.kind)
    quality = point if codec.parameter == "quality" else DEFAULT_QUALITY  # --kbps encodes with the default preset
    return size * (options.iterations or preset(quality, kind).steps)


# ---------------------------------------------------------------------------- the sweep


@dataclass
class Plan:
    sources: list[Source]
    codecs: list[Codec]
    points: dict[tuple[str, str], tuple]  # (kind, codec name) -> points
    options: Options = field(default_factory=Options)


def plan(paths, codec_names=None, points=None, quick=False, options=Options()) -> Plan:
    """What a bench run will do: the sources, the codecs for their kinds, each codec's points.

    ``points`` maps 'CODEC' or 'KIND:CODEC' to a sweep; a bare name must be unambiguous among
    the codecs that run (inrcodec runs on every kind, by quality for images and kbps otherwise).
    """
    sources = [load_source(p) for p in find_media(paths)]
    kinds = {s.kind for s in sources}
    known = {c.name for c in all_codecs()}
    names = set(codec_names or known)
    if names - known:
        raise InrError(f"unknown codec {', '.join(sorted(names - known))}; bench knows {', '.join(sorted(known))}")
    codecs = [c for c in all_codecs() if c.kind in kinds and c.name in names]
    if not codecs:
        raise InrError("none of the codecs asked for handles the files found")
    given = {_point_target(spec, codecs): tuple(values) for spec, values in (points or {}).items()}
    chosen = {(c.kind, c.name): given.get((c.kind, c.name)) or (c.quick if quick else c.points) for c in codecs}
    return Plan(sources, codecs, chosen, options)


def _point_target(spec: str, codecs: list[Codec]) -> tuple[str, str] | None:
    """The (kind, codec) that a --points name, 'CODEC' or 'KIND:CODEC', sets; None for one not running."""
    kind, _, name = spec.rpartition(":")
    if kind and kind not in KIND_NAMES.values():
        raise InrError(f"--points names an unknown kind {kind}; bench knows {', '.join(KIND_NAMES.values())}")
    every = [c for c in all_codecs() if c.name == name]
    if not every:
        raise InrError(f"--points names an unknown codec {name}")
    if kind and not any(c.kind == kind for c in every):
        raise InrError(f"--points {spec}: {name} does not code {kind} ({', '.join(c.kind for c in every)} only)")
    running = [c for c in codecs if c.name == name and kind in ("", c.kind)]
    if len(running) > 1:
        raise InrError(f"--points {spec} is ambiguous: {name} runs on {' and '.join(c.kind for c in running)} here; "
                       f"write " + " or ".join(f"{c.kind}:{name}=..." for c in running))
    return (running[0].kind, name) if running else None


def run(p: Plan, out: Path, quiet: bool = False) -> dict:
    """Run (or resume) the sweep, write every output into ``out``; returns the summary."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InrError(f"output {out} is not a folder")
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    # anchors first (seconds), then inrcodec point by point, so early results cover every file
    tasks = [(c, point, s) for c in sorted(p.codecs, key=lambda c: c.name == "inrcodec")
             for point in p.points[(c.kind, c.name)] for s in p.sources if s.kind == c.kind]
    versions = {(c.kind, c.name): codec_version(c, p.options) for c in p.codecs}
    if any(c.name == "inrcodec" for c in p.codecs):
        from . import fit, render  # noqa: F401  (imported before any timing: torch takes seconds to load)
    entries = [cache / f"{cache_key(s, c, pt, versions[(c.kind, c.name)])}.json" for c, pt, s in tasks]
    progress = Progress([(c.name, 0.0 if e.exists() else _cost(c, s, pt, p.options))
                         for (c, pt, s), e in zip(tasks, entries)], quiet)
    records = []
    with tempfile.TemporaryDirectory(prefix="inrcodec-bench-") as tmp:
        for (c, point, source), entry in zip(tasks, entries):
            if entry.exists():
                record, seconds = json.loads(entry.read_text()), None
            else:
                progress.show(f"{c.name} {c.parameter} {point} {source.name}")
                started = time.perf_counter()
                coded = c.encode(source, point, p.options, Path(tmp))
                record = {"file": source.name, "sha256": source.sha256, "kind": c.kind, "codec": c.name,
                          "parameter": c.parameter, "point": point, **measure(source, coded),
                          "version": versions[(c.kind, c.name)]}
                files.write_bytes(entry, (json.dumps(record, indent=1) + "\n").encode(), force=True)
                seconds = time.perf_counter() - started
            records.append({**record, "file": source.name})
            progress.finished(seconds)
        progress.show("done")
    progress.close()
    summary = summarize(p, records)
    write_outputs(out, summary)
    return summary


# ---------------------------------------------------------------------------- results


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _curve(results: dict, rate: str, quality: str):
    return sorted((r, q) for r, q in zip(results[rate], results[quality]) if r and q is not None and math.isfinite(q))


def _ms_ssim_db(value: float) -> float:
    return -10 * math.log10(max(1 - value, 1e-12))


def _safe(fn, *args):
    try:
        return fn(*args)
    except (ValueError, np.linalg.LinAlgError):
        return None


def summarize(p: Plan, records: list[dict]) -> dict:
    kinds = {}
    for kind in sorted({s.kind for s in p.sources}):
        names = [s.name for s in p.sources if s.kind == kind]
        rate, quality = RATE[kind], QUALITY[kind]
        measures = [m for m in ("bpp", "kbps", "psnr-rgb", "ms-ssim-rgb", "snr", "encoding_time", "decoding_time")
                    if any(m in r for r in records if r["kind"] == kind)]
        codecs = {}
        for c in (c for c in p.codecs if c.kind == kind):
            rows = [r for r in records if r["kind"] == kind and r["codec"] == c.name]
            points = list(p.points[(c.kind, c.name)])
            results = {m: [_mean(r.get(m) for r in rows if r["point"] == pt) for pt in points] for m in measures}
            codecs[c.name] = {
                "name": c.name,
                "description": f"{c.label}; {c.parameter} {', '.join(map(str, points))}; mean over {len(names)} files",
                "parameter": c.parameter, "points": points, "results": results,
            }
        curves = {n: _curve(v["results"], rate, quality) for n, v in codecs.items()}
        anchor_names = [n for n in codecs if n != "inrcodec"]
        bd = {n: {a: _safe(bdrate.bd_rate, curves[a], curves[n]) for a in anchor_names if a != n} for n in codecs}
        bdq = {n: {a: _safe(bdrate.bd_quality, curves[a], curves[n]) for a in anchor_names if a != n} for n in codecs}
        at = {n: {str(x): _safe(bdrate.quality_at_rate, curves[n], x) for x in FIXED_RATES[kind]} for n in codecs}
        kinds[kind] = {"files": names, "rate": rate, "quality": quality, "codecs": codecs,
                       "bd_rate": bd, "bd_quality": bdq, "quality_at_rate": at}
        if kind == "image":  # BD-rate on MS-SSIM in dB, -10 log10(1 - MS-SSIM)
            ms = {n: [(r, _ms_ssim_db(q)) for r, q in _curve(v["results"], rate, "ms-ssim-rgb")] for n, v in codecs.items()}
            kinds[kind]["bd_rate_ms_ssim"] = {n: {a: _safe(bdrate.bd_rate, ms[a], ms[n]) for a in anchor_names if a != n}
                                              for n in codecs}
    return {
        "inrcodec": __version__, "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "options": {"iterations": p.options.iterations, "device": p.options.device},
        "kinds": kinds,
        "records": [{k: v for k, v in r.items() if k != "version"} for r in records],
    }


def _fmt(value, digits=2, suffix=""):
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def markdown(summary: dict) -> str:
    lines = []
    for kind, k in summary["kinds"].items():
        rate, quality = k["rate"], k["quality"]
        lines += [f"### {kind}: mean over {len(k['files'])} files ({', '.join(k['files'])})", ""]
        extra = [m for m in ("ms-ssim-rgb", "kbps") if m != rate and any(m in c["results"] for c in k["codecs"].values())]
        lines += ["| codec | point | " + " | ".join([rate, quality, *extra, "encode s", "decode s"]) + " |",
                  "|---|---|" + "---|" * (4 + len(extra))]
        for name, c in k["codecs"].items():
            r = c["results"]
            for i, pt in enumerate(c["points"]):
                cells = [_fmt(r[rate][i], 4 if rate == "bpp" else 1), _fmt(r[quality][i])]
                cells += [_fmt(r[m][i], 4 if m.startswith("ms-ssim") else 1) for m in extra]
                cells += [_fmt(r["encoding_time"][i], 3), _fmt(r["decoding_time"][i], 3)]
                lines.append(f"| {name} | {c['parameter']} {pt} | " + " | ".join(cells) + " |")
        anchor_names = [n for n in k["codecs"] if n != "inrcodec"]
        lines += ["", f"Bjøntegaard delta rate of each codec (row) against each anchor (column), over the "
                      f"{quality} range both cover (negative: fewer bits for the same quality); BD-{quality} in brackets:", "",
                  "| codec | " + " | ".join(anchor_names) + " |", "|---|" + "---|" * len(anchor_names)]
        for name in k["codecs"]:
            cells = ["—" if a == name else f"{_fmt(k['bd_rate'][name].get(a), 1, ' %')} ({_fmt(k['bd_quality'][name].get(a), 2)})"
                     for a in anchor_names]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if "bd_rate_ms_ssim" in k:
            lines += ["", "The same on MS-SSIM (in dB, -10 log10(1 - MS-SSIM)):", "",
                      "| codec | " + " | ".join(anchor_names) + " |", "|---|" + "---|" * len(anchor_names)]
            for name, row in k["bd_rate_ms_ssim"].items():
                lines.append(f"| {name} | " + " | ".join("—" if a == name else _fmt(row.get(a), 1, " %") for a in anchor_names) + " |")
        rates = list(next(iter(k["quality_at_rate"].values())))
        lines += ["", f"{quality} at fixed rates (interpolated in log-rate between measured points; n/a outside them):", "",
                  "| codec | " + " | ".join(f"{x} {rate}" for x in rates) + " |", "|---|" + "---|" * len(rates)]
        for name, at in k["quality_at_rate"].items():
            lines.append(f"| {name} | " + " | ".join(_fmt(at[x]) for x in rates) + " |")
        lines.append("")
    return "\n".join(lines)


def write_csv(summary: dict) -> str:
    columns = ["kind", "file", "codec", "parameter", "point", "bytes", "bpp", "kbps", "psnr-rgb", "ms-ssim-rgb", "snr",
               "encoding_time", "decoding_time", "sha256"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary["records"])
    return buffer.getvalue()


def plot(summary: dict, kind: str) -> bytes | None:
    """The RD plot of one kind as PNG bytes; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    k = summary["kinds"][kind]
    panels = [(k["quality"], f"{k['quality']} (dB)")]
    if kind == "image":
        panels.append(("ms-ssim-rgb", "MS-SSIM (dB, -10 log10(1 - MS-SSIM))"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (measure_name, label) in zip(axes[0], panels):
        for name, c in k["codecs"].items():
            r = c["results"]
            pts = sorted((x, y) for x, y in zip(r[k["rate"]], r.get(measure_name, [])) if x and y is not None)
            if measure_name.startswith("ms-ssim"):
                pts = [(x, _ms_ssim_db(y)) for x, y in pts]
            if pts:
                ax.plot(*zip(*pts), marker="o", linewidth=2.5 if name == "inrcodec" else 1.2, label=name)
        ax.set_xlabel(k["rate"])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{kind}: mean over {len(k['files'])} files")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write_outputs(out: Path, summary: dict) -> None:
    def put(name, text):
        files.write_bytes(out / name, text if isinstance(text, bytes) else text.encode(), force=True)

    for kind, k in summary["kinds"].items():
        for name, c in k["codecs"].items():
            put(f"{kind}-{name}.json", json.dumps(c, indent=2) + "\n")
        png = plot(summary, kind)
        if png is None:
            summary.setdefault("notes", []).append(f"rd-{kind}.png not written: install matplotlib (inrcodec[plot])")
        else:
            put(f"rd-{kind}.png", png)
    put("results.csv", write_csv(summary))
    put("results.md", markdown(summary))
    put("bench.json", json.dumps(summary, indent=1) + "\n")

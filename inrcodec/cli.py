"""The ``inrcodec`` command: progress on stderr, results on stdout, one-line errors."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from . import __version__, batch as batches, codec
from .errors import InrError


class _Group(click.Group):
    """Turns every failure into one line on stderr and a non-zero exit, never a traceback."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:  # bare `inrcodec`: the help, as click would
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.ClickException as e:  # a bad option or argument, refused by click itself
            click.echo(f"inrcodec: error: {e.format_message()}", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("inrcodec: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InrError as e:
            click.echo(f"inrcodec: error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("inrcodec: interrupted", err=True)
            sys.exit(130)
        except MemoryError:
            click.echo("inrcodec: error: out of memory", err=True)
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as e:  # a bug of ours: still one line, and a distinct exit code
            click.echo(f"inrcodec: internal error: {type(e).__name__}: {e}", err=True)
            sys.exit(3)


@contextlib.contextmanager
def fitting_progress(quiet: bool):
    """A progress bar on stderr showing step and PSNR, opened at the first step of fitting."""
    if quiet:
        yield None
        return
    with contextlib.ExitStack() as stack:
        bars, psnr = [], [0.0]

        def progress(step, steps, value):
            if not bars:
                bars.append(stack.enter_context(click.progressbar(
                    length=steps, label="fitting", file=sys.stderr, item_show_func=lambda _: f"PSNR {psnr[0]:.2f} dB")))
            psnr[0] = value
            bars[0].update(step - bars[0].pos, current_item=step)

        yield progress


def _report(result: dict, as_json: bool, quiet: bool, line: str):
    if as_json:
        click.echo(json.dumps(result))
    elif not quiet:
        click.echo(line)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inrcodec")
def main():
    """Encode images, audio and video into croppable neural-network files (.inr), and back."""


_device = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                       help="Where the network runs; auto picks CUDA when present.")
_force = click.option("--force", is_flag=True, help="Overwrite an existing output.")
_quiet = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on stdout.")


def _size(r: dict) -> str:
    """An encode/decode result's size and rate in words."""
    shape = r["shape"]
    if r["kind"] == "audio":
        return f"{shape[0]} samples x {r['channels']} ch at {r['rate']:g} Hz"
    frames = f"{shape[0]} frames of " if r["kind"] == "video" else ""
    return f"{frames}{shape[-1]}x{shape[-2]}" + (f" at {r['rate']:g} fps" if r["kind"] == "video" else "")


def _quality(r: dict) -> str:
    return f"SNR {r['snr']:.2f} dB" if "snr" in r else f"PSNR {r['psnr']:.2f} dB"


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", type=click.Path(dir_okay=False, path_type=Path),
              help="Output .inr file [default: SRC with suffix .inr].")
@click.option("--quality", type=click.IntRange(0, 100), default=codec.DEFAULT_QUALITY, show_default=True,
              help="0-100: higher is better and bigger. The default encodes a 768x512 photo in about "
                   "100 s on two CPU cores; higher qualities fit larger networks and take longer.")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True),
              help="Images: target rate in bits per pixel of the whole file (overrides --quality).")
@click.option("--kbps", type=click.FloatRange(min=0, min_open=True),
              help="Audio and video: size the file for this bitrate (kilobits per second) instead.")
@click.option("--iterations", type=click.IntRange(min=1), help="Fitting steps (overrides the quality's own).")
@click.option("--partitions", metavar="GRID",
              help="Partition grid: CxR (columns x rows) for images [default: about 96 px each; 64 px from "
                   "quality 80, 48 px from 90], N for audio, CxRxT (x frames) for video.")
@_device
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation and sampling.")
@click.option("--prior", metavar="NAME|PATH", help="Start from this prior [default: the installed one that fits].")
@click.option("--no-prior", is_flag=True, help="Start from random initialisation.")
@_quiet
@_force
@_json
def encode(src, dst, quality, bpp, kbps, iterations, partitions, device, seed, prior, no_prior, quiet, force, as_json):
    """Fit a Local-Global INR to SRC: an image (PNG, JPEG, TIFF, WebP), audio (WAV, FLAC, OGG, MP3, M4A, Opus)
    or video (MP4, MKV, WebM, MOV; its audio track kept as a second stream)."""
    if prior and no_prior:
        raise InrError("--prior and --no-prior exclude each other")
    dst = dst or src.with_suffix(".inr")
    with fitting_progress(quiet) as progress:
        r = codec.encode(src, dst, quality=quality, bpp=bpp, kbps=kbps, iterations=iterations, partitions=partitions,
                         device=device, seed=seed, force=force, progress=progress,
                         prior=None if no_prior else prior or "auto")
    rate = f"{r['kbps']:.1f} kbps" if "kbps" in r else f"{r['bpp']:.4f} bpp"
    quality_text = ", ".join(f"{s['kind']} {_quality(s)}" for s in r["streams"]) if len(r["streams"]) > 1 else _quality(r)
    _report(r, as_json, quiet, f"{src} -> {dst}: {_size(r)}, {r['bytes']} bytes, {rate}, "
            f"{quality_text}, {r['encode_seconds']:.1f} s on {r['device']}")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", type=click.Path(dir_okay=False, path_type=Path),
              help="Output by suffix: images .png or .npy; audio .wav, .flac or .npy; video .mp4 (H.264), .mkv "
                   "(lossless FFV1), .npy, or .wav/.flac for its audio track [default: SRC as .png, .wav or .mp4].")
@click.option("--box", metavar="x0,y0,x1,y1", help="Images and video: render only this region (pixels, end-exclusive).")
@click.option("--crf", type=click.IntRange(0, 51), help="MP4 output: H.264 constant rate factor [default: 18].")
@click.option("--prior", metavar="NAME|PATH", help="The prior the file was made with [default: the installed one].")
@_device
@_quiet
@_force
@_json
def decode(src, dst, box, crf, prior, device, quiet, force, as_json):
    """Render the .inr file SRC to an image, audio or video file."""
    if dst is None:
        kind = codec.info(src)["kind"]
        dst = src.with_suffix({"image": ".png", "audio": ".wav", "video": ".mp4"}[kind])
    r = codec.decode(src, dst, box=box, device=device, force=force, crf=crf, prior=prior)
    size = "x".join(map(str, r["shape"][::-1]))  # fastest axis first: WxH, samples, WxHxframes
    _report(r, as_json, quiet, f"{src} -> {dst}: {r['kind']} {size}, {r['decode_seconds']:.2f} s")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .inr file.")
@click.option("--box", metavar="x0,y0,x1,y1", help="Images and video: region to keep (pixels, end-exclusive).")
@click.option("--time", "time_range", metavar="S:E", help="Audio and video: time range to keep (seconds).")
@click.option("--frames", metavar="A:B", help="Video: frames to keep (end-exclusive).")
@click.option("--samples", metavar="A:B", help="Audio: samples to keep (end-exclusive).")
@_quiet
@_force
@_json
def crop(src, dst, box, time_range, frames, samples, quiet, force, as_json):
    """Crop SRC without re-encoding: keep the partitions that intersect the region.

    Ranges are relative to the signal as SRC holds it; either end may be left out (5: or :120).
    A video's audio track is cut to the time span of the kept frames."""
    r = codec.crop(src, dst, box, time=time_range, frames=frames, samples=samples, force=force)
    _report(r, as_json, quiet, f"{src} -> {dst}: {r['bytes_in']} -> {r['bytes']} bytes, {r['crop_seconds'] * 1000:.1f} ms")


def _stream_lines(s: dict) -> str:
    a = s["architecture"]
    if s["kind"] == "image":
        (y0, y1), (x0, x1) = s["crop_box"]
        h, w = s["original_shape"]
        rows, cols = s["partition_grid"]
        head = (f"image {s['shape'][1]}x{s['shape'][0]}, {s['channels']} channels, {s['bit_depth']} bits\n"
                f"  original {w}x{h}, crop box {x0},{y0},{x1},{y1}\n  partitions {cols}x{rows}")
    elif s["kind"] == "audio":
        (a0, a1), = s["crop_box"]
        head = (f"audio {s['shape'][0]} samples ({s['duration']:.3f} s), {s['channels']} channels at {s['rate']:g} Hz, "
                f"{s['bit_depth']} bits\n  original {s['original_shape'][0]} samples, crop {a0}:{a1}\n"
                f"  partitions {s['partition_grid'][0]}")
    else:
        (f0, f1), (y0, y1), (x0, x1) = s["crop_box"]
        t, h, w = s["original_shape"]
        gt, gr, gc = s["partition_grid"]
        head = (f"video {s['shape'][2]}x{s['shape'][1]}, {s['shape'][0]} frames ({s['duration']:.3f} s) at "
                f"{s['rate']:g} fps, {s['channels']} channels, {s['bit_depth']} bits\n"
                f"  original {w}x{h}, {t} frames; crop frames {f0}:{f1}, box {x0},{y0},{x1},{y1}\n"
                f"  partitions {gc}x{gr}x{gt}")
    return (f"{head}, {s['partitions_present']} of {s['partitions_total']} present\n"
            f"  network depth {a['depth']}, local width {a['local_width']}, global width {a['global_width']}, "
            f"omega {a['omega']:g}\n"
            f"  {s['bytes_global']} bytes global, {s['bytes_local']} local\n"
            f"  prior: {s['prior']['name'] + ' ' + s['prior']['sha256'][:16] if s['prior'] else 'none'}")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@_json
def info(src, as_json):
    """Describe the .inr file SRC, every stream."""
    r = codec.info(src)
    if as_json:
        click.echo(json.dumps(r))
        return
    rate = ", ".join(f"{r[k]:.4f} {k}" if k == "bpp" else f"{r[k]:.1f} {k}" for k in ("bpp", "kbps") if k in r)
    lines = [f"{src}: {r['bytes_total']} bytes, {rate}, {len(r['streams'])} stream{'s' * (len(r['streams']) > 1)}"]
    for n, s in enumerate(r["streams"]):
        lines.append(f"stream {n}: " + _stream_lines(s))
    click.echo("\n".join(lines))


@main.group()
def prior():
    """The STRAINER priors that encodes start from."""


@prior.command("list")
@_json
def prior_list(as_json):
    """List the installed priors."""
    from . import priors

    rows = [{"name": p.name, "kind": p.kind, "depth": p.arch.depth, "local_width": p.arch.local_width,
             "global_width": p.arch.global_width, "omega": p.arch.omega, "sha256": p.sha256.hex()}
            for p in priors.installed()]
    if as_json:
        click.echo(json.dumps(rows))
    for r in [] if as_json else rows:
        click.echo(f"{r['name']}  {r['kind']}  depth {r['depth']}, local width {r['local_width']}, "
                   f"global width {r['global_width']}, omega {r['omega']:g}  sha256 {r['sha256'][:16]}")


@contextlib.contextmanager
def batch_progress(quiet: bool):
    """A progress bar on stderr: files done of all, failures so far, ETA."""
    if quiet:
        yield None
        return
    with contextlib.ExitStack() as stack:
        bars, failed = [], [0]

        def progress(done, total, record):
            if not bars:
                bars.append(stack.enter_context(click.progressbar(
                    length=total, label="batch", file=sys.stderr, show_pos=True, show_eta=True,
                    item_show_func=lambda _: f"{failed[0]} failed" if failed[0] else None)))
            if record is not None:
                failed[0] += record["status"] == "failed"
                bars[0].update(done - bars[0].pos, current_item=done)

        yield progress


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@click.option("--decode", is_flag=True, help="Decode the .inr files of SRC instead of encoding its media.")
@click.option("--to", "decode_to", type=click.Choice(batches.DECODE_TO), help="With --decode: the output format [default: png].")
@click.option("--quality", type=click.IntRange(0, 100), help=f"As for encode [default: {codec.DEFAULT_QUALITY}].")
@click.option("--iterations", type=click.IntRange(min=1), help="As for encode.")
@click.option("--partitions", metavar="CxR", help="As for encode.")
@click.option("--seed", type=int, help="As for encode [default: 0].")
@_device
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine; torch threads are split between them.")
@click.option("--ray", "ray_address", metavar="auto|ADDRESS",
              help="Run on a Ray cluster instead, one task per file (needs inrcodec[ray]).")
@click.option("--force", is_flag=True, help="Convert again outputs that are up to date.")
@_quiet
@_json
def batch(src, dst, decode, decode_to, quality, iterations, partitions, seed, device, jobs, ray_address, force,
          quiet, as_json):
    """Convert every media file under SRC into DST, mirroring the tree (encode; or --decode .inr files).

    Outputs that exist and are newer than their source are skipped, so a killed batch resumes
    where it stopped. A failed file does not stop the others; the exit status is 1 when any
    failed. DST/manifest.jsonl records every file: sizes, rate, PSNR, times or the error.
    """
    encoding = {"quality": quality, "iterations": iterations, "partitions": partitions, "seed": seed}
    given = [f"--{k}" for k, v in encoding.items() if v is not None]
    if decode and given:
        raise InrError(f"{', '.join(given)} apply to encoding, not to --decode")
    if decode_to and not decode:
        raise InrError("--to applies to --decode")
    if ray_address is not None and jobs != 1:
        raise InrError("--jobs applies to this machine; with --ray the cluster's CPUs set the parallelism")
    options = {"device": device, **{k: v for k, v in encoding.items() if v is not None}}
    with batch_progress(quiet) as progress:
        r = batches.run(src, dst, decode_to=(decode_to or "png") if decode else None, options=options, jobs=jobs,
                        ray=ray_address, force=force, progress=progress)
    for failure in r["failures"]:
        click.echo(f"inrcodec: error: {failure['source']}: {failure['error']}", err=True)
    _report(r, as_json, quiet, f"{r['files']} files: {r['converted']} converted, {r['skipped']} up to date, "
            f"{r['failed']} failed, {r['seconds']:.1f} s; manifest {r['manifest']}")
    if r["failed"]:
        sys.exit(1)


def _points(values: tuple[str, ...]) -> dict[str, list]:
    """--points [KIND:]CODEC=P1,P2,... (repeatable) as {'[KIND:]CODEC': [numbers]}; bench.plan checks the names."""
    chosen = {}
    for value in values:
        name, _, text = (part.strip() for part in value.partition("="))
        try:
            numbers = [int(x) if float(x).is_integer() else float(x) for x in text.split(",")]
        except ValueError:
            numbers = []
        if not name or not numbers:
            raise InrError(f"--points takes [KIND:]CODEC=P1,P2,... with numbers, got {value!r}")
        chosen[name] = numbers
    return chosen


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"),
              show_default=True, help="Folder for the results and the cache of finished points.")
@click.option("--codecs", metavar="NAMES", help="Comma-separated codecs [default: every codec for the kinds found]: "
              "inrcodec, jpeg, webp, avif, mp3, opus, aac, x264, x265, av1.")
@click.option("--points", multiple=True, metavar="[KIND:]CODEC=P1,P2,...",
              help="A codec's sweep: qualities (jpeg, webp, avif; inrcodec on images), kbps (mp3, opus, aac; inrcodec on "
              "audio and video) or CRFs (x264, x265, av1). KIND (image, audio, video) picks inrcodec's sweep of one kind "
              "when files of several kinds run, e.g. audio:inrcodec=16,32,64.")
@click.option("--quick", is_flag=True, help="Two points per codec: a smoke run.")
@click.option("--iterations", type=click.IntRange(min=1), help="inrcodec fitting steps at every point (overrides each quality's own).")
@_device
@_quiet
@_json
def bench(paths, out, codecs, points, quick, iterations, device, quiet, as_json):
    """Rate-distortion benchmark of inrcodec and classic codecs over media files or folders.

    Writes per-codec JSON (CompressAI's result shape), results.csv, results.md with Bjøntegaard
    delta rates, and rd-KIND.png (with matplotlib) into the output folder. Finished points are
    cached there: rerunning the same command resumes where it stopped.
    """
    from . import bench as bench_module

    names = [n.strip() for n in codecs.split(",") if n.strip()] if codecs else None
    p = bench_module.plan(paths, names, _points(points), quick, bench_module.Options(iterations, device))
    summary = bench_module.run(p, out, quiet)
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(bench_module.markdown(summary))
        for note in summary.get("notes", []):
            click.echo(f"note: {note}", err=True)
        click.echo(f"results in {out}", err=True)

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
def fitting_progress(steps: int, quiet: bool):
    """A progress bar on stderr showing step and PSNR, opened at the first step of fitting."""
    if quiet:
        yield None
        return
    with contextlib.ExitStack() as stack:
        bars, psnr = [], [0.0]

        def progress(step, _steps, value):
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
    """Encode images into croppable neural-network files (.inr), and back."""


_device = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                       help="Where the network runs; auto picks CUDA when present.")
_force = click.option("--force", is_flag=True, help="Overwrite an existing output.")
_quiet = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on stdout.")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", type=click.Path(dir_okay=False, path_type=Path),
              help="Output .inr file [default: SRC with suffix .inr].")
@click.option("--quality", type=click.IntRange(0, 100), default=codec.DEFAULT_QUALITY, show_default=True,
              help="0-100: higher is better and bigger.")
@click.option("--iterations", type=click.IntRange(min=1), help="Fitting steps (overrides the quality's own).")
@click.option("--partitions", metavar="CxR", help="Partition grid, columns x rows [default: about 64 px each].")
@_device
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation and sampling.")
@_quiet
@_force
@_json
def encode(src, dst, quality, iterations, partitions, device, seed, quiet, force, as_json):
    """Fit a Local-Global INR to the image SRC (PNG, JPEG, TIFF, WebP; 8 or 16 bits; alpha kept)."""
    dst = dst or src.with_suffix(".inr")
    steps = iterations or codec.preset(quality).steps
    with fitting_progress(steps, quiet) as progress:
        r = codec.encode(src, dst, quality=quality, iterations=iterations, partitions=partitions, device=device,
                         seed=seed, force=force, progress=progress)
    _report(r, as_json, quiet, f"{src} -> {dst}: {r['bytes']} bytes, {r['bpp']:.4f} bpp, "
            f"PSNR {r['psnr']:.2f} dB, {r['encode_seconds']:.1f} s on {r['device']}")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", type=click.Path(dir_okay=False, path_type=Path),
              help="Output .png (8 or 16 bits, as the source) or .npy (float32 samples) [default: SRC as .png].")
@click.option("--box", metavar="x0,y0,x1,y1", help="Render only this region (pixels, end-exclusive).")
@_device
@_quiet
@_force
@_json
def decode(src, dst, box, device, quiet, force, as_json):
    """Render the .inr file SRC to an image."""
    dst = dst or src.with_suffix(".png")
    r = codec.decode(src, dst, box=box, device=device, force=force)
    h, w = r["shape"]
    _report(r, as_json, quiet, f"{src} -> {dst}: {w}x{h}, {r['decode_seconds']:.2f} s")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .inr file.")
@click.option("--box", required=True, metavar="x0,y0,x1,y1", help="Region to keep (pixels, end-exclusive).")
@_quiet
@_force
@_json
def crop(src, dst, box, quiet, force, as_json):
    """Crop SRC without re-encoding: keep the partitions that intersect the box."""
    r = codec.crop(src, dst, box, force=force)
    _report(r, as_json, quiet, f"{src} -> {dst}: {r['bytes_in']} -> {r['bytes']} bytes, {r['crop_seconds'] * 1000:.1f} ms")


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@_json
def info(src, as_json):
    """Describe the .inr file SRC."""
    r = codec.info(src)
    if as_json:
        click.echo(json.dumps(r))
        return
    (y0, y1), (x0, x1) = r["crop_box"]
    h, w = r["original_shape"]
    rows, cols = r["partition_grid"]
    a = r["architecture"]
    click.echo(
        f"{src}: {r['kind']} {r['shape'][1]}x{r['shape'][0]}, {r['channels']} channels, {r['bit_depth']} bits\n"
        f"  original {w}x{h}, crop box {x0},{y0},{x1},{y1}\n"
        f"  partitions {cols}x{rows}, {r['partitions_present']} of {r['partitions_total']} present\n"
        f"  network depth {a['depth']}, local width {a['local_width']}, global width {a['global_width']}, "
        f"omega {a['omega']:g}\n"
        f"  {r['bytes_total']} bytes ({r['bytes_global']} global, {r['bytes_local']} local), {r['bpp']:.4f} bpp\n"
        f"  prior: {r['prior']['name'] + ' ' + r['prior']['sha256'][:16] if r['prior'] else 'none'}"
    )


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

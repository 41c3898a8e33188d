"""The ``inrcodec`` command: progress on stderr, results on stdout, one-line errors."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from . import __version__, codec
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
              help="0-100: higher is better and bigger. The default encodes a 768x512 photo in about "
                   "two minutes on two CPU cores; higher qualities fit larger networks and take longer.")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True),
              help="Target rate in bits per pixel of the whole file (overrides --quality).")
@click.option("--iterations", type=click.IntRange(min=1), help="Fitting steps (overrides the quality's own).")
@click.option("--partitions", metavar="CxR", help="Partition grid, columns x rows [default: about 96 px each; 64 px from quality 80, 48 px from 90].")
@_device
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation and sampling.")
@_quiet
@_force
@_json
def encode(src, dst, quality, bpp, iterations, partitions, device, seed, quiet, force, as_json):
    """Fit a Local-Global INR to the image SRC (PNG, JPEG, TIFF, WebP; 8 or 16 bits; alpha kept)."""
    dst = dst or src.with_suffix(".inr")
    steps = iterations or (codec.preset(quality) if bpp is None else codec.preset_for_bpp(bpp)).steps
    with fitting_progress(steps, quiet) as progress:
        r = codec.encode(src, dst, quality=quality, bpp=bpp, iterations=iterations, partitions=partitions, device=device,
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

"""The main job on the bundled photo: encode, decode and crop, printing sizes, bpp, PSNR and times.

    python -m inrcodec.demo [OUTPUT_FOLDER]      (default: ./demo-out)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import anchors, bdrate, codec, media, metrics
from .cli import fitting_progress

SAMPLE = Path(__file__).parent / "data" / "chelsea.png"
FACE = (140, 20, 340, 220)  # x0, y0, x1, y1 of the cat's face


def main(out: Path = Path("demo-out")) -> int:
    out.mkdir(parents=True, exist_ok=True)
    full, face = out / "chelsea.inr", out / "chelsea-face.inr"
    print(f"encoding {SAMPLE.name} at quality {codec.DEFAULT_QUALITY} (progress on stderr)")
    with fitting_progress(quiet=False) as progress:
        enc = codec.encode(SAMPLE, full, force=True, progress=progress)
    dec = codec.decode(full, out / "chelsea.png", force=True)
    cut = codec.crop(full, face, FACE, force=True)
    dec_face = codec.decode(face, out / "chelsea-face.png", force=True)

    source = media.quantize_samples(media.load_image(SAMPLE)[0], 8)
    whole = codec.decode_array(full)
    same = np.array_equal(codec.decode_array(face), whole[FACE[1] : FACE[3], FACE[0] : FACE[2]])
    h, w = enc["shape"]
    jpegs = [anchors.encode_image("jpeg", source, q) for q in range(5, 100, 5)]
    jpeg = bdrate.quality_at_rate([(8 * len(j.data) / (h * w), metrics.psnr(source, j.decoded, 255)) for j in jpegs], enc["bpp"])
    rows = [
        ("source", f"{SAMPLE.name} {w}x{h}", SAMPLE.stat().st_size, ""),
        ("encode", f"{full} ({enc['bpp']:.3f} bpp)", enc["bytes"], f"{enc['encode_seconds']:.1f} s on {enc['device']}"),
        ("decode", f"{out / 'chelsea.png'} PSNR {enc['psnr']:.2f} dB", dec["bytes"], f"{dec['decode_seconds']:.2f} s"),
        ("crop", f"{face} box {','.join(map(str, FACE))}", cut["bytes"], f"{cut['crop_seconds'] * 1000:.1f} ms"),
        ("decode crop", f"{out / 'chelsea-face.png'}", dec_face["bytes"], f"{dec_face['decode_seconds']:.2f} s"),
    ]
    for step, what, size, time in rows:
        print(f"{step:<12} {what:<52} {size:>8} B  {time}")
    print(f"JPEG (Pillow) at {enc['bpp']:.3f} bpp: " + (f"PSNR {jpeg:.2f} dB" if jpeg else "outside its range"))
    print(f"cropped file decodes to exactly the same pixels as the full file: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-out")))

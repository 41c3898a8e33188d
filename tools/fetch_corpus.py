"""Assemble the offline photo corpus for benchmarks from scikit-image's wheel on PyPI.

    python tools/fetch_corpus.py [corpus]

Downloads the scikit-image wheel with pip (no install), reads the photos from its package data,
and writes PNGs into the folder: 768x512 centre crops of the photos that are large enough,
the others at their native size. PROVENANCE.md in the folder records source and licence.
Nothing here runs at codec run time.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

WHEEL = "scikit-image==0.26.0"
# name in skimage/data -> licence, as scikit-image's skimage/data/_fetchers.py records it
PHOTOS = {
    "hubble_deep_field.jpg": "NASA, public domain",
    "retina.jpg": "CC0 1.0, Mikael Häggström (Wikimedia Commons)",
    "coffee.png": "CC0, photograph by Rachel Michetti",
    "astronaut.png": "NASA, public domain",
    "rocket.jpg": "SpaceX, public domain",
    "chelsea.png": "CC0, photograph by Stefan van der Walt",
}
SIZE = (768, 512)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("scikit_image-*.whl"))
        lines = [f"# Corpus\n\nFrom the PyPI wheel `{wheel.name}` (package data under `skimage/data/`).\n",
                 "| file | source | size | licence |", "|---|---|---|---|"]
        with zipfile.ZipFile(wheel) as z:
            for name, licence in PHOTOS.items():
                im = Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))).convert("RGB")
                if im.width >= SIZE[0] and im.height >= SIZE[1]:
                    x0, y0 = (im.width - SIZE[0]) // 2, (im.height - SIZE[1]) // 2
                    im, how = im.crop((x0, y0, x0 + SIZE[0], y0 + SIZE[1])), f"centre crop {SIZE[0]}x{SIZE[1]}"
                else:
                    how = f"native {im.width}x{im.height}"
                target = out / (Path(name).stem + ".png")
                im.save(target)
                lines.append(f"| {target.name} | skimage/data/{name} | {how} | {licence} |")
    (out / "PROVENANCE.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(PHOTOS)} photos to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))

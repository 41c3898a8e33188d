"""Training audio made offline for the audio prior (tools/train_prior.py --kind audio).

    speech_clips()  espeak-ng (Debian) reading texts written for this project, several voices, 22.05 kHz mono
    music_clips()   short pieces synthesized here with numpy: additive and FM instruments, bass, drums,
                    44.1 kHz stereo, seeded

Nothing here is the benchmark material (benchmarks/bench_media.py makes that with other texts,
another synthesizer and other seeds). Each function returns [(name, float32 (N, C) in [-1, 1], sample rate)].
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

TEXTS = (
    ("en-us", 160, 50, "Rivers carry sand to the sea, and the sea gives it back to the shore in long grey lines."),
    ("en-gb", 140, 35, "Seven old clocks were ticking on the shelf when the baker came in with bread and honey."),
    ("de", 150, 60, "Am Morgen fuhr der kleine Zug langsam durch das Tal, und niemand sprach ein Wort."),
    ("fr", 170, 45, "Le vent du soir soufflait sur les toits pendant que les enfants rentraient de l'école."),
    ("es", 155, 70, "La luna salió detrás de las montañas y el perro se durmió junto a la puerta."),
    ("it", 145, 40, "Sul tavolo c'erano tre mele verdi, un libro aperto e una lettera mai spedita."),
)
RATE = 44100


def speech_clips() -> list[tuple[str, np.ndarray, int]]:
    import soundfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (voice, speed, pitch, text) in enumerate(TEXTS):
            wav = Path(tmp) / f"{n}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                           check=True)
            samples, rate = soundfile.read(wav, dtype="float32", always_2d=True)
            out.append((f"speech-{voice}", samples, rate))
    return out


def _envelope(t: np.ndarray, attack: float, decay: float) -> np.ndarray:
    return np.minimum(1, t / attack) * np.exp(-t / decay)


def _note(kind: str, f: float, t: np.ndarray, rng) -> np.ndarray:
    """One note of frequency ``f`` at times ``t`` (seconds since its onset, >= 0)."""
    if kind == "organ":  # additive: odd and even partials with falling weights
        return sum(np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.3)) / k**1.3 for k in range(1, 7)) * _envelope(t, 0.02, 1.5)
    if kind == "bell":  # FM: inharmonic partials that fade
        index = 3 * np.exp(-t / 0.4)
        return np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * 1.4 * f * t)) * _envelope(t, 0.002, 0.6)
    if kind == "pluck":  # bright attack, partials dying fastest at the top
        return sum(np.sin(2 * np.pi * f * k * t) * np.exp(-t * (3 + 4 * k)) / k for k in range(1, 10))
    if kind == "brass":  # FM with a rising index
        index = 2.5 * np.minimum(1, t / 0.08)
        return np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t)) * _envelope(t, 0.05, 0.8)
    raise ValueError(kind)


def _piece(seed: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros((len(t), 2))
    beat = 60 / rng.uniform(80, 150)
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) if rng.random() < 0.5 else np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15])
    lead, chord = rng.choice(["organ", "bell", "pluck", "brass"], 2, replace=False)

    def add(kind, f, onset, length, gain, pan):
        first, last = int(onset * RATE), min(len(t), int((onset + length) * RATE))
        if first >= len(t):
            return
        tt = t[first:last] - onset
        fade = np.minimum(1, (length - tt) / 0.01)  # no clicks at the note's end
        wave = _note(kind, f, tt, rng) * fade * gain
        out[first:last, 0] += wave * np.cos(pan * np.pi / 2)
        out[first:last, 1] += wave * np.sin(pan * np.pi / 2)

    step = 0.0
    while step < seconds:  # melody: notes of 1/2 to 2 beats
        length = beat * rng.choice([0.5, 1, 1, 2])
        add(lead, 2 * root * 2 ** (rng.choice(scale) / 12), step, length, 0.25, rng.uniform(0.3, 0.7))
        step += length
    for bar in np.arange(0, seconds, 4 * beat):  # chords and bass, one per bar
        degree = rng.choice([0, 3, 4, 5])
        for k in (0, 2, 4):
            add(chord, root * 2 ** (scale[(degree + k) % 7] / 12 + (degree + k >= 7)), bar, 4 * beat, 0.08, 0.2 + 0.3 * k / 4)
        add("organ", root / 2 * 2 ** (scale[degree] / 12), bar, 4 * beat, 0.3, 0.5)
    for hit in np.arange(0, seconds, beat):  # kick on the beat, noise snare on 2 and 4, hats in between
        tt = t[int(hit * RATE):] - hit
        n = len(tt)
        kick = np.sin(2 * np.pi * 50 * tt * (1 + 1.5 * np.exp(-25 * tt))) * np.exp(-10 * tt) * 0.35
        out[-n:] += kick[:, None]
        if round(hit / beat) % 2:
            out[-n:] += (rng.standard_normal(n) * np.exp(-25 * tt) * 0.12)[:, None]
        th = tt - beat / 2
        hat = np.where(th >= 0, rng.standard_normal(n) * np.exp(-80 * np.abs(th)) * 0.04, 0)
        out[-n:, 0] += hat
        out[-n:, 1] += 0.6 * hat
    return (out / np.abs(out).max() * 0.8).astype(np.float32)


def music_clips(count: int = 4, seconds: float = 6.0) -> list[tuple[str, np.ndarray, int]]:
    return [(f"music-{seed}", _piece(seed, seconds), RATE) for seed in range(count)]

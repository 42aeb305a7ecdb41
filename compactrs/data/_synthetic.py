"""The embedded offline dataset: seeded Sentinel-2-like patches generated in memory.

Each class has a smooth reflectance curve and a spatial texture. Every patch mixes its class material with a
randomly drawn background material according to that texture, then gets an illumination scale, a spectral
jitter and sensor noise. The spectral curves of forest/cropland/wetland and of urban/bare soil are close, and
the mixing blurs the mean spectrum, so a classifier has to use texture as well as spectrum.
"""
from __future__ import annotations

import numpy as np

from ._assemble import dataset_from_samples
from ._options import int_option

KIND = "synthetic"
DESCRIPTION = "embedded offline default: seeded Sentinel-2-like patches (10 bands, 6 classes), no files"
EXAMPLE = "synthetic,n=200"
NEEDS_PATH = False
SPLITS = ("random",)
DEFAULT_TEST = 0.25
OPTIONS = {
    "n": int_option("samples per class (default 100)", 100, minimum=2, example="n=200"),
    "size": int_option("patch side in pixels (default 32)", 32, minimum=4, example="size=32"),
}

BAND_NAMES = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
CLASS_NAMES = ["water", "forest", "cropland", "urban", "bare_soil", "wetland"]
# surface reflectance at the band centres (490 .. 2190 nm); smooth, roughly like library spectra
SIGNATURES = np.array(
    [
        [0.070, 0.060, 0.040, 0.030, 0.022, 0.020, 0.018, 0.016, 0.010, 0.006],  # water
        [0.030, 0.055, 0.035, 0.090, 0.210, 0.270, 0.300, 0.310, 0.160, 0.075],  # forest
        [0.045, 0.080, 0.060, 0.120, 0.230, 0.280, 0.310, 0.320, 0.220, 0.120],  # cropland
        [0.095, 0.105, 0.115, 0.125, 0.135, 0.145, 0.155, 0.160, 0.190, 0.170],  # urban
        [0.085, 0.110, 0.140, 0.165, 0.185, 0.200, 0.215, 0.225, 0.260, 0.220],  # bare soil
        [0.040, 0.060, 0.045, 0.080, 0.160, 0.200, 0.225, 0.235, 0.120, 0.055],  # wetland
    ]
)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, grid: int) -> np.ndarray:
    """``(n, size, size)`` values in [0, 1]: a ``grid x grid`` random field, bilinearly upsampled."""
    positions = np.linspace(0, grid - 1, size)
    low = np.clip(np.floor(positions).astype(int), 0, grid - 2)
    frac = positions - low
    interp = np.zeros((size, grid))
    interp[np.arange(size), low] = 1 - frac
    interp[np.arange(size), low + 1] = frac
    field = np.einsum("ij,njk,lk->nil", interp, rng.random((n, grid, grid)), interp)
    lo, hi = field.min(axis=(1, 2), keepdims=True), field.max(axis=(1, 2), keepdims=True)
    return (field - lo) / np.maximum(hi - lo, 1e-9)


def _texture(cls: int, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Fraction of the class material per pixel, ``(n, size, size)`` in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    if cls == 0:  # water: smooth, a gentle shore gradient
        angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / size
        return np.clip(0.8 + 0.3 * ramp, 0, 1)
    if cls == 1:  # forest: blobby crowns
        return np.clip(0.35 + 1.0 * _smooth_noise(rng, n, size, max(2, size // 6)), 0, 1)
    if cls == 2:  # cropland: stripes of rows
        angle = rng.uniform(0, np.pi, (n, 1, 1))
        freq = rng.uniform(1 / 9, 1 / 4, (n, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        return 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
    if cls == 3:  # urban: a street grid between blocks
        spacing = rng.integers(6, 11, (n, 1, 1))
        off_y, off_x = rng.integers(0, 10, (2, n, 1, 1))
        street = (((yy + off_y) % spacing) < 2) | (((xx + off_x) % spacing) < 2)
        return np.where(street, 0.15, 0.95)
    if cls == 4:  # bare soil: pixel speckle
        return 0.45 + 0.55 * rng.random((n, size, size))
    # wetland: mottled vegetation and open water
    return _smooth_noise(rng, n, size, max(2, size // 3))


def generate(n_per_class: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw reflectance patches ``(N, size, size, 10)`` float32 and labels ``(N,)``, class after class."""
    rng = np.random.default_rng([seed, 0x5E17])
    num_classes, bands = SIGNATURES.shape
    patches = np.empty((num_classes * n_per_class, size, size, bands), dtype=np.float32)
    for cls in range(num_classes):
        texture = _texture(cls, rng, n_per_class, size)[..., None]
        others = [c for c in range(num_classes) if c != cls]
        background = SIGNATURES[rng.choice(others, n_per_class)] if cls != 5 else SIGNATURES[[0] * n_per_class]
        purity = rng.uniform(0.65, 1.0, (n_per_class, 1, 1, 1))  # how much of the patch is the class at all
        mix = purity * texture
        jitter = 1 + 0.06 * rng.standard_normal((n_per_class, 1, 1, bands))
        illumination = rng.uniform(0.6, 1.4, (n_per_class, 1, 1, 1))
        signal = (mix * SIGNATURES[cls] + (1 - mix) * background[:, None, None, :]) * jitter * illumination
        noise = 0.01 * rng.standard_normal(signal.shape, dtype=np.float32)
        patches[cls * n_per_class : (cls + 1) * n_per_class] = signal + noise
    labels = np.repeat(np.arange(num_classes), n_per_class)
    return patches, labels


def load(path, options: dict, seed: int, spec: str):
    """Generate, split (random stratified) and normalise the synthetic dataset."""
    patches, labels = generate(options["n"], options["size"], seed)
    return dataset_from_samples(
        spec=spec,
        kind=KIND,
        samples=patches,
        labels=labels,
        class_names=CLASS_NAMES,
        band_names=BAND_NAMES,
        bands=list(range(len(BAND_NAMES))),
        test_fraction=options["test"],
        seed=seed,
        source="synthetic",
        meta={"generator": "compactrs synthetic v1", "n_per_class": options["n"], "size": options["size"]},
    )

"""Built-in image datasets that never touch the network: digits, glyphs, shapes."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import DataError
from .core import DataSpec, ImageData, apply_spec_filters, resize_images, split_indices, to_uint8

DIGIT_NAMES = tuple(str(i) for i in range(10))
GLYPHS_PER_SPLIT = {"train": 4000, "test": 1000}
SHAPES_PER_SPLIT = {"train": 6000, "test": 1500}
SHAPE_KINDS = ("square", "ellipse", "heart")
SHAPE_FACTORS = ("shape", "scale", "rotation", "pos_x", "pos_y")


@lru_cache(maxsize=4)
def _digits_all(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # 1797×1×8×8, ink = high
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    return to_uint8(x), torch.from_numpy(bunch.target.astype(np.int64))


def load_digits(spec: DataSpec) -> ImageData:
    """scikit-learn's 1,797 real handwritten digits (8×8), upsampled; fixed 80/20 train/test split."""
    images, labels = _digits_all(spec.size)
    idx = split_indices(len(images), spec.split)
    data = ImageData(images[idx], labels[idx], DIGIT_NAMES, meta={"source": "sklearn.datasets.load_digits"})
    return apply_spec_filters(data, spec)


def _render_glyph(digit: int, rng: np.random.Generator, canvas: int = 64) -> np.ndarray:
    # Framed like the handwritten digits (the digit about 80–90 % of the image's height, strokes as bold), so the
    # two are partner domains that differ in style, not in scale: a CycleGAN cannot learn a 2× shrink by local
    # convolutions and maps digits to the wrong glyphs instead.
    font = ImageFont.load_default(size=int(rng.uniform(68, 80)))
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    stroke = int(rng.integers(1, 4))
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
    pos = ((canvas - (right - left)) / 2 - left, (canvas - (bottom - top)) / 2 - top)
    draw.text(pos, str(digit), fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    angle = rng.uniform(-12, 12)
    scale = rng.uniform(0.9, 1.05)
    shift = rng.uniform(-3, 3, size=2)
    # Inverse affine map (output → input) for rotation+scale about the centre, then translation.
    c, s = math.cos(math.radians(angle)) / scale, math.sin(math.radians(angle)) / scale
    cx = cy = canvas / 2
    a, b, d, e = c, s, -s, c
    coeffs = (a, b, cx - a * (cx + shift[0]) - b * (cy + shift[1]),
              d, e, cy - d * (cx + shift[0]) - e * (cy + shift[1]))
    img = img.transform(img.size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


@lru_cache(maxsize=8)
def _glyphs_split(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = GLYPHS_PER_SPLIT[split]
    rng = np.random.default_rng({"train": 11, "test": 12}[split])
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    imgs = np.stack([_render_glyph(int(d), rng) for d in labels])[:, None]
    x = resize_images(torch.from_numpy(imgs), size)
    return to_uint8(x), torch.from_numpy(labels.astype(np.int64))


def load_glyphs(spec: DataSpec) -> ImageData:
    """Printed digits rendered from Pillow's bundled font with random affine jitter and stroke width."""
    if spec.split not in GLYPHS_PER_SPLIT:
        raise DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    images, labels = _glyphs_split(spec.split, spec.size)
    return apply_spec_filters(ImageData(images, labels, DIGIT_NAMES, meta={"source": "Pillow default font"}),
                              spec)


def _shape_polygon(kind: int, scale: float, angle: float, cx: float, cy: float) -> list[tuple[float, float]]:
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    if kind == 0:  # square
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.8
    elif kind == 1:  # ellipse (aspect 2:1 so rotation is visible)
        pts = np.stack([np.cos(t), 0.5 * np.sin(t)], 1)
    else:  # heart
        hx = 16 * np.sin(t) ** 3
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([hx, hy], 1) / 17.0
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = pts @ rot.T * scale + np.array([cx, cy])
    return [tuple(p) for p in pts]


@lru_cache(maxsize=8)
def _shapes_split(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = SHAPES_PER_SPLIT[split]
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    canvas = 128  # supersampled, then downscaled with antialiasing
    kinds = rng.integers(0, 3, n)
    scales = rng.choice(np.linspace(0.5, 1.0, 6), n)
    angles = rng.uniform(0, 2 * np.pi, n)
    pos = rng.uniform(0.3, 0.7, (n, 2))
    imgs = np.zeros((n, 1, canvas, canvas), dtype=np.float32)
    for i in range(n):
        img = Image.new("L", (canvas, canvas), 0)
        r = canvas * 0.2 * scales[i]
        ImageDraw.Draw(img).polygon(_shape_polygon(int(kinds[i]), r, angles[i], *(pos[i] * canvas)), fill=255)
        imgs[i, 0] = np.asarray(img, dtype=np.float32) / 255.0
    x = resize_images(torch.from_numpy(imgs), size)
    factors = torch.from_numpy(np.stack([kinds, scales, angles, pos[:, 0], pos[:, 1]], 1).astype(np.float32))
    return to_uint8(x), torch.from_numpy(kinds.astype(np.int64)), factors


def load_shapes(spec: DataSpec) -> ImageData:
    """dSprites-style shapes: kind × scale × rotation × position, with the factors kept as labels."""
    if spec.split not in SHAPES_PER_SPLIT:
        raise DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    images, labels, factors = _shapes_split(spec.split, spec.size)
    data = ImageData(images, labels, SHAPE_KINDS, factors=factors, meta={"factor_names": SHAPE_FACTORS})
    return apply_spec_filters(data, spec)

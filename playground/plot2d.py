"""Pictures of 2-D models: real and generated points over a scalar field (e.g. the discriminator's output).

Drawn with numpy and Pillow rather than a plotting library: a frame takes a few milliseconds, so the lab
can redraw several times a second on a laptop CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .contracts import Field

# Field colours, GAN Lab style: purple where the field says "fake", green where it says "real".
_LOW, _MID, _HIGH = np.array([196, 160, 222.0]), np.array([246, 246, 246.0]), np.array([150, 214, 160.0])
REAL_COLOUR, FAKE_COLOUR, MODE_COLOUR = (0, 110, 45), (150, 20, 160), (90, 90, 90)


@dataclass(frozen=True)
class Extent:
    """The square region of the plane a plot shows."""

    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def around(cls, *point_sets: torch.Tensor | None, margin: float = 0.25) -> Extent:
        """A square, centred box holding every point of ``point_sets`` (None skipped) with ``margin`` (a fraction
        of the half-width) to spare."""
        points = torch.cat([p.float().cpu() for p in point_sets if p is not None])
        lo, hi = points.amin(0), points.amax(0)
        centre = (lo + hi) / 2
        half = float((hi - lo).max()) / 2 * (1 + margin) or 1.0
        cx, cy = float(centre[0]), float(centre[1])
        return cls(cx - half, cx + half, cy - half, cy + half)

    def grid(self, resolution: int) -> torch.Tensor:
        """Pixel centres, row-major from the top (y1) down: (resolution²)×2."""
        xs = torch.linspace(self.x0, self.x1, 2 * resolution + 1)[1::2]
        ys = torch.linspace(self.y1, self.y0, 2 * resolution + 1)[1::2]
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([xx.flatten(), yy.flatten()], 1)

    def to_pixels(self, points: np.ndarray, size: int) -> np.ndarray:
        px = (points[:, 0] - self.x0) / (self.x1 - self.x0) * size
        py = (self.y1 - points[:, 1]) / (self.y1 - self.y0) * size
        return np.stack([px, py], 1)


@lru_cache(maxsize=8)
def load_font(size: int = 12) -> ImageFont.ImageFont:
    """Pillow's default font at ``size``, read once (pictures redrawn live label every frame)."""
    return ImageFont.load_default(size=size)


def field_colours(field: Field, resolution: int) -> tuple[np.ndarray, float, float]:
    """H×W×3 uint8 colours for ``field`` and the (lo, hi) range they span."""
    v = field.values.detach().float().cpu().reshape(resolution, resolution).numpy()
    v = np.nan_to_num(v, nan=0.0, posinf=1e6, neginf=-1e6)
    if field.lo is not None and field.hi is not None:
        lo, hi = field.lo, field.hi
    else:  # an unbounded critic: symmetric around its undecided value, which is drawn white
        c = float(np.median(v)) if field.centre is None else field.centre
        m = float(np.percentile(np.abs(v - c), 98)) or 1.0
        lo, hi = c - m, c + m
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)[..., None] if hi > lo else np.full(v.shape + (1,), 0.5)
    rgb = np.where(t < 0.5, _LOW + (_MID - _LOW) * (t * 2), _MID + (_HIGH - _MID) * (t * 2 - 1))
    return rgb.astype(np.uint8), lo, hi


def _dots(draw: ImageDraw.ImageDraw, pixels: np.ndarray, colour: tuple[int, int, int], r: float) -> None:
    for x, y in pixels:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def render(extent: Extent, *, field: Field | None = None, resolution: int = 96, real: torch.Tensor | None = None,
           fake: torch.Tensor | None = None, modes: torch.Tensor | None = None, hq_radius: float = 0.0,
           size: int = 360, title: str = "") -> Image.Image:
    """One frame: the field as a background, 3σ circles around the modes, real (green) and fake (purple) points."""
    if field is not None:
        rgb, lo, hi = field_colours(field, resolution)
        img = Image.fromarray(rgb, "RGB").resize((size, size), Image.Resampling.BILINEAR)
    else:
        img, lo, hi = Image.new("RGB", (size, size), (250, 250, 250)), 0.0, 0.0
    draw = ImageDraw.Draw(img)
    scale = size / (extent.x1 - extent.x0)
    if modes is not None and hq_radius > 0:
        r = hq_radius * scale
        for x, y in extent.to_pixels(modes.float().cpu().numpy(), size):
            draw.ellipse((x - r, y - r, x + r, y + r), outline=MODE_COLOUR)
    if real is not None:
        _dots(draw, extent.to_pixels(real.float().cpu().numpy(), size), REAL_COLOUR, 1.6)
    outside = 0
    if fake is not None:
        pts = fake.float().cpu().numpy()
        pts = pts[np.isfinite(pts).all(1)]
        px = extent.to_pixels(pts, size)
        outside = len(fake) - int(((px >= 0) & (px < size)).all(1).sum())
        _dots(draw, px, FAKE_COLOUR, 1.6)
    font = load_font(12)
    lines = [title] if title else []
    if field is not None:
        lines.append(f"{field.title}: {_fmt(lo)} (purple) … {_fmt(hi)} (green)")
    if outside:  # a run that flew off would otherwise look empty
        lines.append(f"{outside} of {len(fake)} generated points are outside this view")
    for i, line in enumerate(lines):
        draw.text((6, 4 + 15 * i), line, fill=(30, 30, 30), font=font, stroke_width=2, stroke_fill=(255, 255, 255))
    return img


def _fmt(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL RGB image → 3×H×W float in [-1, 1] (how families hand pictures to the engine and UI)."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1

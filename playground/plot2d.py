"""Pictures of 2-D models: real and generated points over a scalar field (e.g. the discriminator's output).

Drawn with numpy and Pillow rather than a plotting library: a frame takes a few milliseconds, so the lab
can redraw several times a second on a laptop CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
        given = [p.float().cpu().reshape(-1, 2) for p in point_sets if p is not None and p.numel()]
        if not given:
            return cls(-1.0, 1.0, -1.0, 1.0)
        points = torch.cat(given)
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


Colour = tuple[int, int, int]
OVERLAY_COLOUR: Colour = (30, 60, 200)


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().cpu()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: Colour) -> None:
    if text:
        draw.text(xy, text, fill=colour, font=load_font(11), stroke_width=2, stroke_fill=(255, 255, 255))


# Each shape knows the points that must stay in view (``span``) and how to draw itself (``draw``).
@dataclass(frozen=True)
class Ellipse:
    """A Gaussian's contours: the ``sigmas``-σ ellipses of ``cov`` (2×2) around ``centre`` (2); e.g. one per
    mixture component, ``label`` (its weight) written beside it."""

    centre: torch.Tensor
    cov: torch.Tensor
    sigmas: tuple[float, ...] = (1.0, 2.0)
    colour: Colour = OVERLAY_COLOUR
    label: str = ""

    def span(self) -> torch.Tensor:
        r = max(self.sigmas) * torch.linalg.eigvalsh(_cpu(self.cov)).clamp_min(0).max().sqrt()
        return torch.stack([_cpu(self.centre) - r, _cpu(self.centre) + r])

    def draw(self, draw: ImageDraw.ImageDraw, extent: Extent, size: int) -> None:
        vals, vecs = torch.linalg.eigh(_cpu(self.cov))
        t = torch.linspace(0, 2 * math.pi, 73)
        circle = torch.stack([t.cos(), t.sin()], 1) * vals.clamp_min(0).sqrt()
        for k in self.sigmas:
            px = extent.to_pixels((_cpu(self.centre) + k * circle @ vecs.T).numpy(), size)
            draw.line([tuple(p) for p in px], fill=self.colour, width=2 if k == self.sigmas[0] else 1)
        x, y = extent.to_pixels(_cpu(self.centre)[None].numpy(), size)[0]
        _label(draw, (x + 4, y + 2), self.label, self.colour)


@dataclass(frozen=True)
class Polyline:
    """A polyline through ``points`` (K×2): a sampler's trajectory, a chain of states."""

    points: torch.Tensor
    colour: Colour = OVERLAY_COLOUR
    width: int = 2
    dots: bool = False  # also mark each point

    def span(self) -> torch.Tensor:
        return _cpu(self.points)

    def draw(self, draw: ImageDraw.ImageDraw, extent: Extent, size: int) -> None:
        px = [tuple(p) for p in extent.to_pixels(_cpu(self.points).numpy(), size)]
        if len(px) > 1:
            draw.line(px, fill=self.colour, width=self.width)
        if self.dots:
            _dots(draw, np.asarray(px), self.colour, 2)


@dataclass(frozen=True)
class Arrow:
    """An arrow from ``start`` to ``end`` (2 each): a gradient, a velocity, an update."""

    start: torch.Tensor
    end: torch.Tensor
    colour: Colour = OVERLAY_COLOUR
    label: str = ""

    def span(self) -> torch.Tensor:
        return torch.stack([_cpu(self.start), _cpu(self.end)])

    def draw(self, draw: ImageDraw.ImageDraw, extent: Extent, size: int) -> None:
        (x0, y0), (x1, y1) = extent.to_pixels(self.span().numpy(), size)
        draw.line([(x0, y0), (x1, y1)], fill=self.colour, width=2)
        angle, head = math.atan2(y1 - y0, x1 - x0), 8.0
        for side in (2.6, -2.6):
            draw.line([(x1, y1), (x1 + head * math.cos(angle + side), y1 + head * math.sin(angle + side))],
                      fill=self.colour, width=2)
        _label(draw, (x1 + 4, y1), self.label, self.colour)


@dataclass(frozen=True)
class Marker:
    """A labelled cross at ``point`` (2): a centroid, a chain's start."""

    point: torch.Tensor
    label: str = ""
    colour: Colour = OVERLAY_COLOUR

    def span(self) -> torch.Tensor:
        return _cpu(self.point)[None]

    def draw(self, draw: ImageDraw.ImageDraw, extent: Extent, size: int) -> None:
        x, y = extent.to_pixels(self.span().numpy(), size)[0]
        draw.line([(x - 5, y - 5), (x + 5, y + 5)], fill=self.colour, width=2)
        draw.line([(x - 5, y + 5), (x + 5, y - 5)], fill=self.colour, width=2)
        _label(draw, (x + 6, y - 6), self.label, self.colour)


@dataclass(frozen=True)
class Points:
    """Points (N×2) each in its own colour (N×3, 0–255): data coloured by cluster or by responsibility."""

    points: torch.Tensor
    colours: torch.Tensor
    radius: float = 1.8

    def span(self) -> torch.Tensor:
        return _cpu(self.points)

    def draw(self, draw: ImageDraw.ImageDraw, extent: Extent, size: int) -> None:
        px = extent.to_pixels(_cpu(self.points).numpy(), size)
        rgb = _cpu(self.colours).clamp(0, 255).round().to(torch.uint8).numpy()
        r = self.radius
        for (x, y), c in zip(px, rgb, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in c))


Overlay = Ellipse | Polyline | Arrow | Marker | Points


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
           size: int = 360, title: str = "", overlays: Sequence[Overlay] = ()) -> Image.Image:
    """One frame: the field as a background, 3σ circles around the modes, real (green) and fake (purple) points,
    then the family's own ``overlays`` (ellipses, paths, arrows, markers) on top."""
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
    for shape in overlays:
        shape.draw(draw, extent, size)
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


def plot(*, real: torch.Tensor | None = None, fake: torch.Tensor | None = None, overlays: Sequence[Overlay] = (),
         field: Callable[[torch.Tensor], Field] | None = None, title: str = "", size: int = 360,
         extent: Extent | None = None) -> torch.Tensor:
    """A 2-D picture as a task returns it (3×H×W in [-1, 1]) in one call: the view is fitted around the points
    and overlays unless ``extent`` is given; ``field(grid)`` (K×2 → Field) is evaluated on the view's pixel grid."""
    extent = extent or Extent.around(real, fake, *(shape.span() for shape in overlays))
    resolution = 96
    fld = field(extent.grid(resolution)) if field is not None else None
    return to_tensor(render(extent, field=fld, resolution=resolution, real=real, fake=fake, size=size, title=title,
                            overlays=overlays))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL RGB image → 3×H×W float in [-1, 1] (how families hand pictures to the engine and UI)."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1

"""Pictures of 2-D models: real and generated points over a scalar field (e.g. the discriminator's output).

Drawn with numpy and Pillow rather than a plotting library: a frame takes a few milliseconds, so the lab
can redraw several times a second on a laptop CPU.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

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
TEXT_COLOUR: Colour = (30, 30, 30)
BACKGROUND: Colour = (250, 250, 250)  # where there is no field


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().cpu()


@dataclass(frozen=True, eq=False)
class Mark:
    """One thing drawn, in the pixels of a size × size picture: what a PNG and the browser's SVG both draw, so the
    two show the same picture.

    ``dots``: a filled disc of radius ``size`` at each row of ``xy`` (``colours``: one K×3 colour per dot);
    ``ring``: a circle's outline, radius ``size``, at each row; ``line``: a polyline of width ``size``;
    ``text``: ``text`` at ``xy[0]`` (its top left), ``size`` px high, on a white halo."""

    kind: str
    xy: np.ndarray
    colour: Colour = OVERLAY_COLOUR
    size: float = 1.0
    text: str = ""
    colours: np.ndarray | None = None
    role: str = ""  # "title" for the picture's own lines (the page's tests and benchmark find them by it)


def _label(xy: tuple[float, float], text: str, colour: Colour) -> list[Mark]:
    return [Mark("text", np.array([xy]), colour, 11, text)] if text else []


# Each shape knows the points that must stay in view (``span``) and what it draws (``marks``).
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

    def marks(self, extent: Extent, size: int) -> list[Mark]:
        vals, vecs = torch.linalg.eigh(_cpu(self.cov))
        t = torch.linspace(0, 2 * math.pi, 73)
        circle = torch.stack([t.cos(), t.sin()], 1) * vals.clamp_min(0).sqrt()
        out = [Mark("line", extent.to_pixels((_cpu(self.centre) + k * circle @ vecs.T).numpy(), size), self.colour,
                    2 if k == self.sigmas[0] else 1) for k in self.sigmas]
        x, y = extent.to_pixels(_cpu(self.centre)[None].numpy(), size)[0]
        return out + _label((x + 4, y + 2), self.label, self.colour)


@dataclass(frozen=True)
class Polyline:
    """A polyline through ``points`` (K×2): a sampler's trajectory, a chain of states."""

    points: torch.Tensor
    colour: Colour = OVERLAY_COLOUR
    width: int = 2
    dots: bool = False  # also mark each point

    def span(self) -> torch.Tensor:
        return _cpu(self.points)

    def marks(self, extent: Extent, size: int) -> list[Mark]:
        px = extent.to_pixels(_cpu(self.points).numpy(), size)
        out = [Mark("line", px, self.colour, self.width)] if len(px) > 1 else []
        return out + ([Mark("dots", px, self.colour, 2)] if self.dots else [])


@dataclass(frozen=True)
class Arrow:
    """An arrow from ``start`` to ``end`` (2 each): a gradient, a velocity, an update."""

    start: torch.Tensor
    end: torch.Tensor
    colour: Colour = OVERLAY_COLOUR
    label: str = ""

    def span(self) -> torch.Tensor:
        return torch.stack([_cpu(self.start), _cpu(self.end)])

    def marks(self, extent: Extent, size: int) -> list[Mark]:
        (x0, y0), (x1, y1) = extent.to_pixels(self.span().numpy(), size)
        angle, head = math.atan2(y1 - y0, x1 - x0), 8.0
        heads = [Mark("line", np.array([(x1, y1), (x1 + head * math.cos(angle + side),
                                                   y1 + head * math.sin(angle + side))]), self.colour, 2)
                 for side in (2.6, -2.6)]
        return [Mark("line", np.array([(x0, y0), (x1, y1)]), self.colour, 2), *heads,
                *_label((x1 + 4, y1), self.label, self.colour)]


@dataclass(frozen=True)
class Marker:
    """A labelled cross at ``point`` (2): a centroid, a chain's start."""

    point: torch.Tensor
    label: str = ""
    colour: Colour = OVERLAY_COLOUR

    def span(self) -> torch.Tensor:
        return _cpu(self.point)[None]

    def marks(self, extent: Extent, size: int) -> list[Mark]:
        x, y = extent.to_pixels(self.span().numpy(), size)[0]
        return [Mark("line", np.array([(x - 5, y - 5), (x + 5, y + 5)]), self.colour, 2),
                Mark("line", np.array([(x - 5, y + 5), (x + 5, y - 5)]), self.colour, 2),
                *_label((x + 6, y - 6), self.label, self.colour)]


@dataclass(frozen=True)
class Points:
    """Points (N×2) each in its own colour (N×3, 0–255): data coloured by cluster or by responsibility."""

    points: torch.Tensor
    colours: torch.Tensor
    radius: float = 1.8

    def span(self) -> torch.Tensor:
        return _cpu(self.points)

    def marks(self, extent: Extent, size: int) -> list[Mark]:
        rgb = _cpu(self.colours).clamp(0, 255).round().to(torch.uint8).numpy()
        return [Mark("dots", extent.to_pixels(_cpu(self.points).numpy(), size), size=self.radius, colours=rgb)]


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


@dataclass(frozen=True, eq=False)
class Scene:
    """A frame as data: the field's colours (H×W×3, stretched over the picture; None = a plain background) and
    the marks on top, in the pixels of a ``size`` × ``size`` picture. ``to_image`` draws it with Pillow (the API's
    PNGs), ``to_svg`` writes it for the browser (the live lab: no picture encoded per frame)."""

    size: int
    background: np.ndarray | None
    marks: tuple[Mark, ...]

    def to_image(self) -> Image.Image:
        if self.background is not None:
            img = Image.fromarray(self.background, "RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        else:
            img = Image.new("RGB", (self.size, self.size), BACKGROUND)
        draw = ImageDraw.Draw(img)
        for mark in self.marks:
            _draw_mark(draw, mark)
        return img

    def to_svg(self, element_id: str = "") -> str:
        s = self.size
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {s} {s}" width="100%" '
                 f'style="display:block;max-width:{s * 1.25:.0f}px;aspect-ratio:1"'
                 + (f' id="{escape(element_id)}"' if element_id else "") + ">"]
        if self.background is not None:
            png = io.BytesIO()
            Image.fromarray(self.background, "RGB").save(png, "png", compress_level=1)
            parts.append(f'<image width="{s}" height="{s}" preserveAspectRatio="none" href="data:image/png;base64,'
                         f'{base64.b64encode(png.getvalue()).decode()}"/>')
        else:
            parts.append(f'<rect width="{s}" height="{s}" fill="{_hex(BACKGROUND)}"/>')
        parts += [_svg_mark(m) for m in self.marks]
        return "".join(parts) + "</svg>"



def _hex(c: Colour | np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in c)


def _draw_mark(draw: ImageDraw.ImageDraw, m: Mark) -> None:
    r = m.size
    if m.kind == "dots":
        colours = m.colours if m.colours is not None else [m.colour] * len(m.xy)
        for (x, y), c in zip(m.xy, colours, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in c))
    elif m.kind == "ring":
        for x, y in m.xy:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=m.colour)
    elif m.kind == "line":
        draw.line([tuple(p) for p in m.xy], fill=m.colour, width=int(r))
    else:
        draw.text(tuple(m.xy[0]), m.text, fill=m.colour, font=load_font(int(r)), stroke_width=2,
                  stroke_fill=(255, 255, 255))


def _svg_mark(m: Mark) -> str:
    r = m.size
    if m.kind == "dots" and m.colours is not None:  # one path per colour, to within 8/255: a few dozen, not 10,000
        groups: dict[str, list[str]] = {}
        for (x, y), c in zip(m.xy, m.colours, strict=True):
            groups.setdefault(_hex(np.minimum(np.round(c.astype(float) / 16) * 16, 255)), []).append(
                f"M{x:.1f} {y:.1f}h0")
        return "".join(f'<path stroke="{c}" stroke-width="{2 * r:g}" stroke-linecap="round" d="{"".join(d)}"/>'
                       for c, d in groups.items())
    if m.kind == "dots":  # one path of round-capped zero-length strokes: a thousand dots in ~14 kB, drawn fast
        d = "".join(f"M{x:.1f} {y:.1f}h0" for x, y in m.xy)
        return f'<path stroke="{_hex(m.colour)}" stroke-width="{2 * r:g}" stroke-linecap="round" d="{d}"/>'
    if m.kind == "ring":
        return f'<g fill="none" stroke="{_hex(m.colour)}">' + "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}"/>' for x, y in m.xy) + "</g>"
    if m.kind == "line":
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in m.xy)
        return f'<polyline fill="none" stroke="{_hex(m.colour)}" stroke-width="{r:g}" points="{pts}"/>'
    x, y = m.xy[0]
    role = f' class="{m.role}"' if m.role else ""
    return (f'<text{role} x="{x:.1f}" y="{y:.1f}" dominant-baseline="hanging" font-family="sans-serif" '
            f'font-size="{r:g}" fill="{_hex(m.colour)}" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(m.text)}</text>")


def scene(extent: Extent, *, field: Field | None = None, resolution: int = 96, real: torch.Tensor | None = None,
          fake: torch.Tensor | None = None, modes: torch.Tensor | None = None, hq_radius: float = 0.0,
          size: int = 360, title: str = "", overlays: Sequence[Overlay] = ()) -> Scene:
    """One frame: the field as a background, 3σ circles around the modes, real (green) and fake (purple) points,
    then the family's own ``overlays`` (ellipses, paths, arrows, markers) on top, and the title lines."""
    background, lo, hi = field_colours(field, resolution) if field is not None else (None, 0.0, 0.0)
    marks: list[Mark] = []
    if modes is not None and hq_radius > 0:
        r = hq_radius * size / (extent.x1 - extent.x0)
        marks.append(Mark("ring", extent.to_pixels(modes.float().cpu().numpy(), size), MODE_COLOUR, r))
    if real is not None:
        marks.append(Mark("dots", extent.to_pixels(real.float().cpu().numpy(), size), REAL_COLOUR, 1.6))
    outside = 0
    if fake is not None:
        pts = fake.float().cpu().numpy()
        px = extent.to_pixels(pts[np.isfinite(pts).all(1)], size)
        outside = len(fake) - int(((px >= 0) & (px < size)).all(1).sum())
        marks.append(Mark("dots", px, FAKE_COLOUR, 1.6))
    for shape in overlays:
        marks += shape.marks(extent, size)
    lines = [title] if title else []
    if field is not None:
        lines.append(f"{field.title}: {_fmt(lo)} (purple) … {_fmt(hi)} (green)")
    if outside:  # a run that flew off would otherwise look empty
        lines.append(f"{outside} of {len(fake)} generated points are outside this view")
    marks += [Mark("text", np.array([(6.0, 4.0 + 15 * i)]), TEXT_COLOUR, 12, line, role="title")
              for i, line in enumerate(lines)]
    return Scene(size, background, tuple(marks))


def render(extent: Extent, **parts: Any) -> Image.Image:
    """One frame as a picture: ``scene(extent, **parts)`` drawn with Pillow."""
    return scene(extent, **parts).to_image()


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

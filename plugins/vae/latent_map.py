"""Pictures of a VAE's latent space: posterior means coloured by class over the prior's contours, the decoder's
manifold (a grid of z decoded into a mosaic, Kingma & Welling's figure), and KL per dimension as bars.

Drawn with numpy and Pillow (a frame in a few milliseconds, so the Train tab can redraw it live). A latent of
more than two dimensions is shown through its two principal directions: they are orthonormal, so the prior
N(0, I) projects to N(0, I₂) there and its contours stay circles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

import playground as pg

# Ten well-separated colours (matplotlib's tab10), one per class.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
PANEL = 360


def principal_axes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(centre, 2×L orthonormal directions, share of variance they explain) of codes (N×L). A 2-D latent keeps its
    own axes (and its origin, where the prior is centred)."""
    codes = codes.float()
    latent = codes.shape[1]
    if latent <= 2:
        axes = torch.eye(2, latent)
        return torch.zeros(latent), axes, 1.0
    centre = codes.mean(0)
    _, s, vh = torch.linalg.svd(codes - centre, full_matrices=False)
    var = s**2
    return centre, vh[:2], float(var[:2].sum() / var.sum().clamp(min=1e-12))


def project(codes: torch.Tensor, centre: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """N×L codes → N×2 coordinates along ``axes``; a 1-D latent gets y = 0."""
    return (codes.float().cpu() - centre) @ axes.T


def lift(xy: torch.Tensor, centre: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """N×2 plane coordinates → N×L codes (the other directions at the centre)."""
    return centre + xy @ axes


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int = 12) -> None:
    draw.text(xy, text, fill=(30, 30, 30), font=pg.load_font(size), stroke_width=2, stroke_fill=(255, 255, 255))


def map_extent(points: torch.Tensor) -> pg.Extent:
    """A square view holding the points and the prior's 3σ circle."""
    box = torch.tensor([[-3.0, -3.0], [3.0, 3.0]])
    pts = points[torch.isfinite(points).all(1)]
    return pg.Extent.around(box, pts.clamp(-50, 50), margin=0.08)


def mosaic_extent(points: torch.Tensor) -> pg.Extent:
    """The square the manifold mosaic decodes: where most codes are (2nd to 98th percentile of each axis), so the
    mosaic shows the decoder where it was trained rather than its extrapolation around outliers."""
    pts = points[torch.isfinite(points).all(1)].float()
    if len(pts) < 2:
        return pg.Extent(-2.0, 2.0, -2.0, 2.0)
    lo, hi = torch.quantile(pts, 0.02, dim=0), torch.quantile(pts, 0.98, dim=0)
    return pg.Extent.around(torch.stack([lo, hi]), margin=0.0)


def scatter(points: torch.Tensor, labels: torch.Tensor | None, class_names: Sequence[str], extent: pg.Extent, *,
            marks: torch.Tensor | None = None, box: pg.Extent | None = None, title: str = "") -> Image.Image:
    """Posterior means (N×2) coloured by class, the prior's 1/2/3-sd circles, ``marks`` (M×2) as stars and ``box``
    (the mosaic's region) as a rectangle."""
    img = Image.new("RGB", (PANEL, PANEL), (252, 252, 252))
    draw = ImageDraw.Draw(img)
    if box is not None:
        (bx0, by0), (bx1, by1) = extent.to_pixels(np.array([[box.x0, box.y1], [box.x1, box.y0]]), PANEL)
        draw.rectangle((bx0, by0, bx1, by1), outline=(120, 120, 120))
    (cx, cy), = extent.to_pixels(np.zeros((1, 2)), PANEL)
    scale = PANEL / (extent.x1 - extent.x0)
    for r in (1, 2, 3):
        draw.ellipse((cx - r * scale, cy - r * scale, cx + r * scale, cy + r * scale), outline=(170, 170, 170))
    px = extent.to_pixels(points.float().cpu().numpy(), PANEL)
    lab = labels.cpu().numpy() if labels is not None else np.zeros(len(px), dtype=np.int64)
    for (x, y), k in zip(px, lab, strict=True):
        colour = PALETTE[int(k) % len(PALETTE)] if labels is not None else (60, 60, 60)
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
    if marks is not None:
        for x, y in extent.to_pixels(marks.float().cpu().numpy(), PANEL):
            draw.regular_polygon((float(x), float(y), 9.0), 5, fill=(0, 0, 0), outline=(255, 255, 255))
    lines = [title] if title else []
    lines.append("circles: the prior's 1, 2 and 3 standard deviations")
    for i, line in enumerate(lines):
        _text(draw, (6, 4 + 15 * i), line)
    if labels is not None and class_names:
        for i, name in enumerate(class_names[:len(PALETTE)]):
            y = PANEL - 16 * (min(len(class_names), len(PALETTE)) - i) - 4
            draw.rectangle((PANEL - 70, y + 3, PANEL - 62, y + 11), fill=PALETTE[i])
            _text(draw, (PANEL - 58, y), str(name)[:8])
    return img


def mosaic(decode: Callable[[torch.Tensor], torch.Tensor], centre: torch.Tensor, axes: torch.Tensor,
           extent: pg.Extent, grid: int) -> torch.Tensor:
    """The decoder's manifold: ``grid``×``grid`` codes spread evenly over ``extent`` (rows from the top), decoded
    (``decode``: K×L codes → K×C×H×W in [-1, 1]) and tiled into one C×H'×W' image."""

    xy = extent.grid(grid)
    images = decode(lift(xy, centre, axes)).float().cpu()
    return pg.make_grid(images, nrow=grid, pad=0)


def kl_bars(kl: torch.Tensor, active: torch.Tensor, width: int, height: int = 110) -> Image.Image:
    """KL per latent dimension (nats) as bars, sorted as given; inactive dimensions drawn grey."""
    img = Image.new("RGB", (width, height), (252, 252, 252))
    draw = ImageDraw.Draw(img)
    values = kl.float().cpu().numpy()
    top = max(float(values.max()), 1e-6) if len(values) else 1.0
    n = len(values)
    bar = (width - 20) / max(n, 1)
    for i, v in enumerate(values):
        h = (height - 34) * float(v) / top
        x0 = 10 + i * bar
        colour = (31, 119, 180) if bool(active[i]) else (190, 190, 190)
        draw.rectangle((x0 + 1, height - 14 - h, x0 + max(bar - 1, 2), height - 14), fill=colour)
    _text(draw, (6, 2), f"KL per latent dimension (nats; max {top:.2f}); grey = inactive (posterior ≈ prior)")
    return img


def side_by_side(left: Image.Image, right: torch.Tensor, below: Image.Image | None = None) -> torch.Tensor:
    """The scatter panel beside the mosaic (resized to the panel), with ``below`` under both: 3×H×W in [-1, 1]."""

    tile = pg.tensor_to_pil(right).convert("RGB").resize((PANEL, PANEL), Image.Resampling.NEAREST)
    height = PANEL + (below.height if below is not None else 0)
    canvas = Image.new("RGB", (2 * PANEL + 8, height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(tile, (PANEL + 8, 0))
    _text(ImageDraw.Draw(canvas), (PANEL + 14, 4), "codes in the grey box, decoded")
    if below is not None:
        canvas.paste(below.resize((2 * PANEL + 8, below.height)), (0, PANEL))
    return pg.plot_to_tensor(canvas)

"""Pictures of a discrete code: the code map (each cell's index on its own colour), the codebook's usage
histogram, and the rate–distortion plot. numpy + Pillow, a few milliseconds each, so the Train tab redraws live.
Every function returns a 3×H×W tensor in [-1, 1] (what TaskResult pictures are)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw

import playground as pg

INK = (30, 30, 30)
SERIES = {"VQ-VAE": (214, 39, 40), "VQ-VAE + prior": (148, 103, 189), "JPEG": (31, 119, 180),
          "JPEG (scan only)": (23, 190, 207), "WebP": (44, 160, 44)}
MORE = ((255, 127, 14), (140, 86, 75), (227, 119, 194), (188, 189, 34), (127, 127, 127))  # further learned codes


@lru_cache(maxsize=16)
def code_colours(codes: int) -> np.ndarray:
    """K distinguishable colours (K×3 uint8): hues spaced by the golden angle, two lightness levels."""
    out = np.zeros((codes, 3), dtype=np.uint8)
    for k in range(codes):
        h = (k * 0.618033988749895) % 1.0
        r, g, b = colorsys.hls_to_rgb(h, 0.55 if k % 2 else 0.72, 0.65)
        out[k] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def code_map(codes: torch.Tensor, k: int, cell: int = 22, numbers: bool = True,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """A code grid (H×W indices) drawn in colour, each cell labelled with its index; cells where ``mask`` is False
    (not yet sampled) are grey."""
    grid = codes.detach().cpu().long().numpy()
    shown = np.ones_like(grid, dtype=bool) if mask is None else mask.detach().cpu().numpy().astype(bool)
    h, w = grid.shape
    colours = code_colours(k)[grid.clip(0, k - 1)]
    colours[~shown] = (225, 225, 225)
    img = Image.fromarray(np.kron(colours, np.ones((cell, cell, 1), dtype=np.uint8)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for r in range(h + 1):
        draw.line([(0, r * cell), (w * cell, r * cell)], fill=(255, 255, 255))
    for c in range(w + 1):
        draw.line([(c * cell, 0), (c * cell, h * cell)], fill=(255, 255, 255))
    if numbers:
        font = pg.load_font(max(8, cell // 2 - 1))
        for r in range(h):
            for c in range(w):
                if shown[r, c]:
                    draw.text(((c + 0.5) * cell, (r + 0.5) * cell), str(grid[r, c]), fill=INK, font=font,
                              anchor="mm")
    return pg.plot_to_tensor(img)


def upscale(x: torch.Tensor, size: int) -> torch.Tensor:
    """An image (C×H×W in [-1, 1]) enlarged with square pixels to about ``size`` and made RGB, to sit beside a
    code map."""
    f = max(1, size // x.shape[-1])
    x = x.repeat_interleave(f, -1).repeat_interleave(f, -2)
    return x.expand(3, -1, -1).clone() if x.shape[0] == 1 else x


def usage_histogram(usage: torch.Tensor, threshold: float, width: int = 520, height: int = 150,
                    title: str = "") -> torch.Tensor:
    """Codes sorted by EMA assignments per step (log scale), the dead-code threshold as a line, dead codes red."""
    u = usage.detach().float().cpu().sort(descending=True).values.numpy()
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, top, bottom = 40, 20, height - 18
    plot_w = width - left - 8
    lo, hi = -3.0, max(1.0, float(np.log10(max(u.max(), 1e-3))) + 0.2)

    def y_of(v: float) -> float:
        t = (np.log10(max(v, 10**lo)) - lo) / (hi - lo)
        return bottom - t * (bottom - top)

    bar = plot_w / len(u)
    for i, v in enumerate(u):
        colour = (214, 39, 40) if v < threshold else (31, 119, 180)
        x0 = left + i * bar
        draw.rectangle([x0, y_of(v), x0 + max(bar - (bar > 3), 1) - 1, bottom], fill=colour)
    ty = y_of(threshold)
    draw.line([(left, ty), (width - 8, ty)], fill=INK, width=1)
    draw.text((width - 10, ty - 2), f"dead below {threshold:g}", fill=INK, font=pg.load_font(10), anchor="rb",
              stroke_width=2, stroke_fill=(255, 255, 255))
    for e in range(int(np.ceil(lo)), int(np.floor(hi)) + 1):
        draw.text((left - 4, y_of(10**e)), f"1e{e}" if e < 0 else f"{10**e:g}", fill=INK, font=pg.load_font(10),
                  anchor="rm")
    draw.line([(left, top), (left, bottom), (width - 8, bottom)], fill=INK)
    draw.text((left, height - 2), "codes, most used first", fill=INK, font=pg.load_font(10), anchor="ld")
    draw.text((left, 2), title or "assignments per step (EMA)", fill=INK, font=pg.load_font(12))
    return pg.plot_to_tensor(img)


def stack(parts: Sequence[torch.Tensor], gap: int = 6, vertical: bool = True) -> torch.Tensor:
    """Pictures (3×H×W, or 1×H×W made RGB) stacked with white gaps, aligned at the top left."""
    parts = [p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in parts]
    if vertical:
        w = max(p.shape[2] for p in parts)
        h = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
    else:
        h = max(p.shape[1] for p in parts)
        w = sum(p.shape[2] for p in parts) + gap * (len(parts) - 1)
    out = torch.ones(3, h, w)
    at = 0
    for p in parts:
        if vertical:
            out[:, at:at + p.shape[1], : p.shape[2]] = p
            at += p.shape[1] + gap
        else:
            out[:, : p.shape[1], at:at + p.shape[2]] = p
            at += p.shape[2] + gap
    return out


def rate_distortion(curves: dict[str, list[tuple[float, float]]], points: dict[str, list[tuple[float, float, str]]],
                    width: int = 780, height: int = 380, title: str = "") -> torch.Tensor:
    """PSNR (dB) against bytes per image (log scale): codec curves as lines with dots, learned codes as big
    labelled markers."""
    xs = [b for c in curves.values() for b, _ in c] + [b for p in points.values() for b, _, _ in p]
    ys = [q for c in curves.values() for _, q in c] + [q for p in points.values() for _, q, _ in p]
    x_lo, x_hi = np.log10(max(min(xs), 1.0)) - 0.05, np.log10(max(xs)) + 0.05
    y_lo, y_hi = np.floor(min(ys) - 1), np.ceil(max(ys) + 1)
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 52, width - 230, 40, height - 36

    def px(b: float, q: float) -> tuple[float, float]:
        tx = (np.log10(max(b, 1.0)) - x_lo) / (x_hi - x_lo)
        ty = (q - y_lo) / (y_hi - y_lo)
        return left + tx * (right - left), bottom - ty * (bottom - top)

    for e in range(int(np.floor(x_lo)), int(np.ceil(x_hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10**e
            if x_lo <= np.log10(v) <= x_hi:
                x, _ = px(v, y_lo)
                draw.line([(x, top), (x, bottom)], fill=(235, 235, 235))
                draw.text((x, bottom + 4), f"{v:g}", fill=INK, font=pg.load_font(10), anchor="mt")
    step = 2 if y_hi - y_lo <= 20 else 5
    for q in np.arange(y_lo, y_hi + 0.1, step):
        _, y = px(10**x_lo, q)
        draw.line([(left, y), (right, y)], fill=(235, 235, 235))
        draw.text((left - 4, y), f"{q:g}", fill=INK, font=pg.load_font(10), anchor="rm")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=INK)
    draw.text(((left + right) / 2, height - 4), "bytes per image (log scale)", fill=INK, font=pg.load_font(11),
              anchor="md")
    draw.text((left, top - 14), "PSNR (dB)", fill=INK, font=pg.load_font(11), anchor="rb")
    draw.text((left, 4), title, fill=INK, font=pg.load_font(12))
    legend_y = top
    for name, pts in curves.items():
        colour = SERIES.get(name, INK)
        line = [px(b, q) for b, q in sorted(pts)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for x, y in line:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.line([(right + 10, legend_y + 6), (right + 28, legend_y + 6)], fill=colour, width=2)
        draw.text((right + 32, legend_y), name, fill=INK, font=pg.load_font(11))
        legend_y += 16
    for i, (name, pts) in enumerate(points.items()):
        colour = SERIES.get(name, MORE[i % len(MORE)])
        for b, q, label in pts:
            x, y = px(b, q)
            draw.rectangle([x - 5, y - 5, x + 5, y + 5], fill=colour, outline=INK)
            if label:
                draw.text((x + 8, y - 12), label, fill=INK, font=pg.load_font(10))
        draw.rectangle([right + 14, legend_y + 1, right + 24, legend_y + 11], fill=colour, outline=INK)
        draw.text((right + 32, legend_y), name, fill=INK, font=pg.load_font(11))
        legend_y += 16
    return pg.plot_to_tensor(img)

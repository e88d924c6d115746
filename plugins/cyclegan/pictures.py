"""Labelled picture strips for CycleGAN's preview and tasks: rows of images, each row named on its left (numpy +
Pillow, a few milliseconds, so the Train tab redraws live). Returns 3×H×W tensors in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

import playground as pg

GAP, LABEL_W, PAD = 2, 150, 6


def _rgb_uint8(x: torch.Tensor) -> np.ndarray:
    """N×C×H×W in [-1, 1] → N×H×W×3 uint8 (grey repeated)."""
    x = x.detach().float().cpu().clamp(-1, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def labelled_rows(rows: list[tuple[str, torch.Tensor]], scale: int = 2, title: str = "") -> torch.Tensor:
    """One row per (label, N×C×H×W images), images ``scale``× enlarged (nearest), label on the left."""
    n = max(len(x) for _, x in rows)
    h, w = rows[0][1].shape[-2] * scale, rows[0][1].shape[-1] * scale
    top = 22 if title else PAD
    canvas = Image.new("RGB", (LABEL_W + n * (w + GAP) + PAD, top + len(rows) * (h + GAP) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = pg.load_font(13)
    if title:
        draw.text((PAD, 4), title.replace("→", "->"), fill=(30, 30, 30), font=font)
    for r, (label, x) in enumerate(rows):
        y0 = top + r * (h + GAP)
        draw.text((PAD, y0 + h // 2 - 8), label.replace("→", "->"), fill=(30, 30, 30), font=font)  # the font has no →
        for i, im in enumerate(_rgb_uint8(x)):
            tile = Image.fromarray(im).resize((w, h), Image.Resampling.NEAREST)
            canvas.paste(tile, (LABEL_W + i * (w + GAP), y0))
    return pg.plot_to_tensor(canvas)


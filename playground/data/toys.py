"""2-D toy distributions for GAN mode-coverage experiments (VEEGAN/PacGAN conventions)."""

from __future__ import annotations

import math

import torch

from ..errors import DataError
from .core import DataSpec, PointData

POINTS_PER_SPLIT = {"train": 20_000, "test": 5_000}


def _gen(spec: DataSpec) -> torch.Generator:
    if spec.split not in POINTS_PER_SPLIT:
        raise DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    return torch.Generator().manual_seed({"train": 31, "test": 32}[spec.split])


def _n(spec: DataSpec) -> int:
    return spec.limit or POINTS_PER_SPLIT[spec.split]


def _mixture(modes: torch.Tensor, sigma: float, spec: DataSpec) -> PointData:
    g = _gen(spec)
    pick = torch.randint(len(modes), (_n(spec),), generator=g)
    pts = modes[pick] + sigma * torch.randn(_n(spec), 2, generator=g)
    return PointData(pts, modes, sigma)


def load_ring(spec: DataSpec) -> PointData:
    """8 Gaussians on the unit circle at angles 2πk/8 (σ 0.05: a gentle but telling demo)."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    return _mixture(torch.stack([angles.cos(), angles.sin()], 1), 0.05, spec)


def load_grid(spec: DataSpec) -> PointData:
    """25 Gaussians on a 5×5 grid with spacing 2 (σ 0.05)."""
    ticks = torch.arange(-4.0, 5.0, 2.0)
    modes = torch.cartesian_prod(ticks, ticks)
    return _mixture(modes, 0.05, spec)


def load_moons(spec: DataSpec) -> PointData:
    g = _gen(spec)
    n = _n(spec)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, t.cos(), 1 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    pts = torch.stack([x - 0.5, y - 0.25], 1) + 0.05 * torch.randn(n, 2, generator=g)
    return PointData(pts, None, 0.05)


def load_spiral(spec: DataSpec) -> PointData:
    g = _gen(spec)
    n = _n(spec)
    t = torch.sqrt(torch.rand(n, generator=g)) * 3 * math.pi
    pts = torch.stack([t * t.cos(), t * t.sin()], 1) / (3 * math.pi) * 1.5
    return PointData(pts + 0.03 * torch.randn(n, 2, generator=g), None, 0.03)

"""Target densities for the samplers, each also a 2-D dataset of exact samples (the green reference points).

A target is an energy E(x) with p(x) ∝ exp(−E(x)). Built in:

* ``banana``: x₁ ~ N(0, 1), x₂ | x₁ ~ N(x₁²/2 − 1, 0.3²), so E = x₁²/2 + (x₂ − x₁²/2 + 1)² / (2·0.3²): a curved ridge
  a random walk creeps along.
* ``donut``: E = (‖x‖ − 1.5)² / (2·0.15²): a ring, its probability spread along a circle.
* ``mixture``: three Gaussians of different shapes and weights, far apart for their widths: a random walk
  rarely crosses between them, Hamiltonian trajectories sometimes do.
* ``energy:EXPR``: any E(x, y) typed as text (``expression.py``: a whitelist, never ``eval``); its exact
  samples are drawn from the density tabulated on a fine grid.
* a dataset that declares its exact density (``gmm:ring8``, a fitted Gaussian mixture, stored with the run's data
  description): that density.
* any other 2-D dataset (ring8, moons …): a Gaussian kernel density estimate of its points (bandwidth a
  setting), so every point set the playground knows can be sampled from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import playground as pg

from .expression import parse_energy

POINTS = {"train": 20_000, "test": 5_000}
ENERGY_PREFIX = "energy:"
ENERGY_EXAMPLE = "energy:(x**2 + y**2 - 2)**2 / 0.5 + 0.5 * (x - 1)**2"
GRID_SPAN = 4.0  # an expression's exact samples come from the square [−4, 4]² …
GRID = 400  # … tabulated at 400 × 400 points
SHARPEST = 25  # cells that must share 99 % of the probability (else the density is a spike on this grid)

Energy = Callable[[torch.Tensor], torch.Tensor]


def _banana(xy: torch.Tensor) -> torch.Tensor:
    x, y = xy[..., 0], xy[..., 1]
    return x ** 2 / 2 + (y - x ** 2 / 2 + 1) ** 2 / (2 * 0.3 ** 2)


def _donut(xy: torch.Tensor) -> torch.Tensor:
    return (xy.norm(dim=-1) - 1.5) ** 2 / (2 * 0.15 ** 2)


# The same Gaussian-mixture density the data contract declares for fitted mixtures (pg.MixtureDensity).
MIXTURE = pg.MixtureDensity(
    weights=torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
    means=torch.tensor([[-2.0, -1.0], [2.0, -1.5], [0.0, 2.2]], dtype=torch.float64),
    covariances=torch.tensor([[[0.30, 0.20], [0.20, 0.30]], [[0.15, 0.0], [0.0, 0.40]],
                              [[0.50, -0.10], [-0.10, 0.08]]], dtype=torch.float64))


def _mixture(xy: torch.Tensor) -> torch.Tensor:
    return -MIXTURE.log_prob(xy)


EXACT: dict[str, Energy] = {"banana": _banana, "donut": _donut, "mixture": _mixture}


def _generator(spec: pg.DataSpec) -> tuple[torch.Generator, int]:
    if spec.split not in POINTS:
        raise pg.DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    return torch.Generator().manual_seed({"train": 41, "test": 42}[spec.split]), spec.limit or POINTS[spec.split]


def load_banana(spec: pg.DataSpec) -> pg.PointData:
    g, n = _generator(spec)
    x = torch.randn(n, generator=g)
    y = x ** 2 / 2 - 1 + 0.3 * torch.randn(n, generator=g)
    return pg.PointData(torch.stack([x, y], 1))


def load_donut(spec: pg.DataSpec) -> pg.PointData:
    """Radius from r·exp(−(r − 1.5)²/(2·0.15²)) by rejection (propose N(1.5, 0.15), keep with probability r/r_max)."""
    g, n = _generator(spec)
    radii = torch.empty(0)
    while len(radii) < n:
        r = 1.5 + 0.15 * torch.randn(4 * n, generator=g)
        keep = torch.rand(4 * n, generator=g) < r.clamp_min(0) / (1.5 + 6 * 0.15)
        radii = torch.cat([radii, r[keep]])
    angle = torch.rand(n, generator=g) * 2 * math.pi
    r = radii[:n]
    return pg.PointData(torch.stack([r * angle.cos(), r * angle.sin()], 1))


def load_mixture(spec: pg.DataSpec) -> pg.PointData:
    g, n = _generator(spec)
    pick = torch.multinomial(MIXTURE.weights.float(), n, replacement=True, generator=g)
    chol = torch.linalg.cholesky(MIXTURE.covariances).float()
    pts = MIXTURE.means.float()[pick] + (chol[pick] @ torch.randn(n, 2, 1, generator=g)).squeeze(-1)
    return pg.PointData(pts, MIXTURE.means.float(), 0.5)  # σ sets the "near a mode" radius (3σ) of the 2-D metrics


def expression_of(name: str) -> str:
    return name[len(ENERGY_PREFIX):]


def load_energy(spec: pg.DataSpec) -> pg.PointData:
    """Exact samples of exp(−E) for ``energy:EXPR``: a grid cell drawn by its probability, then a uniform spot in it."""
    energy = parse_energy(expression_of(spec.name))
    g, n = _generator(spec)
    ticks = torch.linspace(-GRID_SPAN, GRID_SPAN, GRID + 1, dtype=torch.float64)
    centres = (ticks[1:] + ticks[:-1]) / 2
    grid = torch.cartesian_prod(centres, centres)
    log_p = -energy(grid)
    log_p = torch.where(torch.isnan(log_p), torch.tensor(-math.inf, dtype=log_p.dtype), log_p)
    if not torch.isfinite(log_p).any() or torch.isposinf(log_p).any():
        raise pg.DataError(f"Energy {expression_of(spec.name)!r} is not finite anywhere in [−{GRID_SPAN:g}, "
                        f"{GRID_SPAN:g}]² or is −∞ somewhere (p would be infinite); it needs a finite minimum.")
    p = torch.softmax(log_p, 0)
    if int((p.sort(descending=True).values.cumsum(0) < 0.99).sum()) < SHARPEST:
        raise pg.DataError(f"Energy {expression_of(spec.name)!r} puts 99% of its probability in fewer than "
                        f"{SHARPEST} cells {2 * GRID_SPAN / GRID:g} wide: too sharp to sample or draw. Divide it by "
                        "a larger number.")
    edge = p.reshape(GRID, GRID)
    rim = float(edge[0].sum() + edge[-1].sum() + edge[:, 0].sum() + edge[:, -1].sum())
    if rim > 0.01:
        raise pg.DataError(f"Energy {expression_of(spec.name)!r} leaves {rim:.0%} of its probability on the edge of "
                        f"[−{GRID_SPAN:g}, {GRID_SPAN:g}]²: it does not grow fast enough away from the centre to "
                        "be a density here (add e.g. 0.1*(x**2 + y**2)).")
    cells = torch.multinomial(p.float(), n, replacement=True, generator=g)
    jitter = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * (2 * GRID_SPAN / GRID)
    return pg.PointData((grid[cells] + jitter).float())


@dataclass(frozen=True)
class Target:
    """A density known up to a constant; ``energy`` works on N×2 float64 points."""

    name: str
    energy: Energy
    exact: bool  # an analytic energy (or a typed one) rather than a kernel density estimate

    def log_prob(self, xy: torch.Tensor) -> torch.Tensor:
        return -self.energy(xy)

    def energy_and_grad(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E and ∇E at each point (autograd; the energies are small elementwise formulas)."""
        with torch.enable_grad():
            x = xy.detach().requires_grad_(True)
            e = self.energy(x)
            (grad,) = torch.autograd.grad(e.sum(), x)
        return e.detach(), grad


def kde_energy(points: torch.Tensor, bandwidth: float) -> Energy:
    """E = −log mean_i N(x; p_i, h²I) (up to a constant): a Gaussian kernel density estimate of ``points``."""

    def energy(xy: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(xy.reshape(-1, 2), points.to(xy)).pow(2)
        return -torch.logsumexp(-d2 / (2 * bandwidth ** 2), dim=1).reshape(xy.shape[:-1])

    return energy


def target_for(dataset: str, kde_points: torch.Tensor, bandwidth: float,
               density: dict[str, Any] | None = None) -> Target:
    """The density a run samples from: the dataset's own energy where it has one (built in, typed, or declared
    with the data as ``density``), else a KDE of its points."""
    if dataset in EXACT:
        return Target(dataset, EXACT[dataset], True)
    if dataset.startswith(ENERGY_PREFIX):
        return Target(dataset, parse_energy(expression_of(dataset)), True)
    if density is not None:
        mixture = pg.MixtureDensity.from_dict(density)
        return Target(dataset, lambda xy: -mixture.log_prob(xy), True)
    return Target(dataset, kde_energy(kde_points.double(), bandwidth), False)

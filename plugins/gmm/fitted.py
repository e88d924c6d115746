"""``gmm:REF``: a 2-D dataset drawn from a fitted Gaussian mixture (the shipped ``ring8`` and ``moons`` fits, or
``run/NAME`` of your own), carrying the mixture as its exact density, so the MCMC samplers can target "the fitted
GMM" itself and every 2-D family can train on what EM learned."""

from __future__ import annotations

import torch

import playground as pg

from .mixture import Mixture

PREFIX = "gmm:"
EXAMPLE = "gmm:ring8"
POINTS = {"train": 20_000, "test": 5_000}
SEEDS = {"train": 51, "test": 52}


def load_fitted(spec: pg.DataSpec) -> pg.PointData:
    """Exact samples of the mixture in GMM weights REF (seeded per split) and the mixture as their density."""
    ref = spec.name[len(PREFIX):]
    if spec.split not in POINTS:
        raise pg.DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    try:
        tensors = pg.fitted_tensors("gmm", ref)
        weights, means, covs = (tensors[f"mixture.{k}"] for k in ("weights", "means", "covariances"))
    except pg.WeightsError as exc:
        raise pg.DataError(f"{spec.name}: {exc}") from None
    except KeyError:
        raise pg.DataError(f"{spec.name}: these GMM weights hold no mixture (weights, means, covariances).") from None
    mix = Mixture(len(weights))
    mix.load_state_dict({"weights": weights, "means": means, "covariances": covs})
    g = torch.Generator().manual_seed(SEEDS[spec.split])
    points = mix.sample(spec.limit or POINTS[spec.split], g)
    return pg.PointData(points, density=pg.MixtureDensity(weights.double(), means.double(), covs.double()))

"""Disentanglement against known factors of variation: the Mutual Information Gap (Chen et al. 2018).

    MIG = (1/K) Σ_k  ( I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k) ) / H(v_k),   j(k) = argmax_j I(z_j; v_k)

For each factor v_k, how much more one latent dimension knows about it than the next best, as a share of what
there is to know. 1 = every factor captured by exactly one dimension, alone; 0 = no dimension stands out.
Estimated as in disentanglement_lib: each dimension's posterior means and each continuous factor discretised
into ``bins`` equal-width bins; discrete factors (few distinct values) keep their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

BINS = 20
MAX_DISCRETE_VALUES = 20  # a factor with at most this many distinct values is used as it is


def discretise(values: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Equal-width bin index of each value (a constant column → all 0)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(len(values), dtype=np.int64)
    return np.minimum(((values - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)


def _factor_codes(factor: np.ndarray, bins: int) -> np.ndarray:
    distinct = np.unique(factor)
    if len(distinct) <= MAX_DISCRETE_VALUES:
        return np.searchsorted(distinct, factor)
    return discretise(factor, bins)


@dataclass
class MIGResult:
    mig: float  # the mean normalised gap over factors
    gaps: dict[str, float]  # per factor
    best_dim: dict[str, int]  # the dimension that knows most about each factor
    mutual_info: np.ndarray  # L×K, nats
    entropy: np.ndarray  # K, nats


def mutual_information_gap(codes: torch.Tensor, factors: torch.Tensor, names: tuple[str, ...],
                           bins: int = BINS) -> MIGResult:
    """MIG of posterior means ``codes`` (N×L) against known ``factors`` (N×K, named ``names``)."""
    z = codes.detach().float().cpu().numpy()
    v = factors.detach().float().cpu().numpy()
    if z.shape[0] != v.shape[0]:
        raise ValueError(f"{z.shape[0]} codes but {v.shape[0]} factor rows.")
    zd = [discretise(z[:, j], bins) for j in range(z.shape[1])]
    vd = [_factor_codes(v[:, k], bins) for k in range(v.shape[1])]
    mi = np.array([[mutual_info_score(vk, zj) for vk in vd] for zj in zd])  # L×K
    ent = np.array([mutual_info_score(vk, vk) for vk in vd])  # H(v) = I(v; v)
    gaps, best = {}, {}
    for k, name in enumerate(names):
        order = np.argsort(mi[:, k])[::-1]
        second = mi[order[1], k] if len(order) > 1 else 0.0
        gaps[name] = float((mi[order[0], k] - second) / ent[k]) if ent[k] > 0 else 0.0
        best[name] = int(order[0])
    return MIGResult(float(np.mean(list(gaps.values()))), gaps, best, mi, ent)

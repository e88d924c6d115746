r"""How well chains sample their target.

* **Effective sample size** of one chain's coordinate (Geyer 1992, initial monotone sequence): with ρ_t the lag-t
  autocorrelation, ESS = T / (−1 + 2 Σ_{k} Γ_k), Γ_k = ρ_{2k} + ρ_{2k+1} summed while positive and kept
  non-increasing. Summed over chains, the worse of the two coordinates: independent draws worth the T·C kept.
* **KL on a grid**: KL(p ‖ q) = Σ_cells p log(p/q) over a G×G grid of the view, p the target's probability of each
  cell (exp(−E) at its centre, normalised), q the chains' share of the cell with half a count added to each cell
  (so an empty cell costs a finite amount). 0 for chains spread as the target; large while they sit in one spot.
"""

from __future__ import annotations

import torch

from .targets import Target

GRID = 32


def autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """ρ_t for t = 0 … T−1 of each column of x (T×K), by FFT."""
    t = x.shape[0]
    centred = x - x.mean(0)
    spec = torch.fft.rfft(centred, n=2 * t, dim=0)
    acov = torch.fft.irfft(spec * spec.conj(), n=2 * t, dim=0)[:t]
    return acov / acov[:1].clamp_min(1e-300)


def effective_sample_size(chains: torch.Tensor) -> float:
    """ESS of T×C×2 positions (T steps of C chains): Σ over chains of min over coordinates."""
    t, c, d = chains.shape
    if t < 4:
        return float(t * c) if t else 0.0
    rho = autocorrelation(chains.reshape(t, c * d).double())
    pairs = rho[: (t // 2) * 2].reshape(t // 2, 2, c * d).sum(1)  # Γ_k
    positive = torch.cumprod((pairs > 0).double(), 0)  # stop at the first non-positive pair
    monotone = torch.cummin(torch.where(positive > 0, pairs, torch.zeros_like(pairs)), 0).values
    tau = (-1 + 2 * monotone.sum(0)).clamp_min(1.0)  # integrated autocorrelation time, ≥ 1 (no super-efficiency)
    ess = (t / tau).clamp(max=float(t)).reshape(c, d)
    constant = (chains.reshape(t, c * d).std(0) == 0).reshape(c, d)  # a stuck chain is worth one draw
    return float(torch.where(constant, torch.ones_like(ess), ess).amin(1).sum())


def grid_probabilities(target: Target, lo: torch.Tensor, hi: torch.Tensor, cells: int = GRID) -> torch.Tensor:
    """The target's probability of each of cells×cells cells over the box lo…hi (float64)."""
    xs = [torch.linspace(float(lo[i]), float(hi[i]), 2 * cells + 1, dtype=torch.float64)[1::2] for i in range(2)]
    centres = torch.cartesian_prod(xs[0], xs[1])
    log_p = torch.nan_to_num(target.log_prob(centres), nan=-torch.inf)
    return torch.softmax(log_p, 0)


def grid_kl(target_p: torch.Tensor, points: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
            cells: int = GRID) -> float:
    """KL(target ‖ chains) on the grid; points outside the box are left out of q (they count as missing mass)."""
    pts = points.reshape(-1, 2).double()
    idx = ((pts - lo) / (hi - lo) * cells).floor().long()
    inside = ((idx >= 0) & (idx < cells)).all(1)
    flat = idx[inside, 0] * cells + idx[inside, 1]
    counts = torch.bincount(flat, minlength=cells * cells).double()
    q = (counts + 0.5) / (len(pts) + 0.5 * cells * cells)
    p = target_p
    return float((p * (p.clamp_min(1e-300).log() - q.log())).sum())

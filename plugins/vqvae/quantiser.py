r"""Vector quantisation with an EMA codebook and dead-code restarts (van den Oord et al. 2017, appendix A.1;
Dhariwal et al. 2020 for restarts).

An encoder output :math:`z_e` (one D-vector per grid cell) is replaced by its nearest codebook entry

.. math::  k^* = \arg\min_k \lVert z_e - e_k \rVert^2, \qquad z_q = e_{k^*}.

**Straight-through gradient.** argmin has no gradient, so the decoder's gradient at :math:`z_q` is copied to
:math:`z_e`: the forward pass uses :math:`z_e + \mathrm{sg}(z_q - z_e) = z_q`, the backward pass sees the
identity. **Commitment loss** :math:`\beta \lVert z_e - \mathrm{sg}(z_q) \rVert^2` (β = 0.25) keeps the encoder
near the codes it chose.

**EMA codebook** (instead of a codebook loss). With :math:`n_k` the number of vectors assigned to code k in a
step and :math:`s_k` their sum, and decay γ = 0.99:

.. math::  N_k \leftarrow \gamma N_k + (1-\gamma)\, n_k, \qquad m_k \leftarrow \gamma m_k + (1-\gamma)\, s_k,
           \qquad e_k = m_k / \tilde N_k,

where :math:`\tilde N_k = (N_k + \epsilon) / (N + K\epsilon) \cdot N` is N_k Laplace-smoothed (N = Σ N_k) so an
unused code never divides by zero. Codes start with N_k = 1 and m_k = e_k, so an unused code stays where it is.

**Dead codes.** :math:`N_k` is an EMA of assignments per step; a code whose :math:`N_k` falls under a threshold
(default 1) is *dead*: the encoder no longer reaches it, and with EMA updates nothing will ever move it back.
That is codebook collapse. A **restart** re-seeds every dead code with an encoder output drawn at random from
this step's batch (and sets N_k to the threshold and m_k accordingly), so it lies where the data is.

**Health.** pg.perplexity :math:`\exp(-\sum_k p_k \log p_k)` of the assignment frequencies p (K when every code is
equally used, 1 when one code takes everything); codes in use (N_k ≥ threshold) and dead codes.

Why not ``vector-quantize-pytorch``: its restarts draw from torch's process-wide RNG (two runs in one app process
would change each other's draws, so a resume is exact only if nothing else draws), and it updates the EMA inside
every forward call, so a step split into micro-batches (``grad_accum``) would update the codebook once per
micro-batch. Here the step's statistics are summed over micro-batches and processes and applied once, with the
run's own checkpointed generator, so accumulation and several processes give the codebook one batch would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["BETA", "DECAY", "Quantised", "VectorQuantiser", "bits_per_image", "nearest_codes"]

BETA = 0.25  # commitment weight (van den Oord et al.)
DECAY = 0.99
EPS = 1e-5


@dataclass
class Quantised:
    """The quantiser's output for a batch of grids."""

    z_q: torch.Tensor  # N×D×H×W: quantised vectors with the straight-through gradient to z_e
    codes: torch.Tensor  # N×H×W code indices (long)
    commitment: torch.Tensor  # scalar: mean ‖z_e − sg(z_q)‖² (not yet weighted by β)


def nearest_codes(z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row (K×D) for each row of z (M×D), by squared Euclidean distance (fp32)."""
    z, embed = z.float(), embed.float()
    dist = z.pow(2).sum(1, keepdim=True) - 2 * z @ embed.t() + embed.pow(2).sum(1)[None]
    return dist.argmin(1)


class VectorQuantiser(nn.Module):
    """A codebook of ``codes`` D-vectors, learned by EMA (buffers, not parameters: no optimiser touches them)."""

    def __init__(self, codes: int, dim: int, decay: float = DECAY) -> None:
        super().__init__()
        self.codes, self.dim, self.decay = codes, dim, decay
        embed = torch.randn(codes, dim)
        self.register_buffer("embed", embed)  # e_k
        self.register_buffer("cluster_size", torch.ones(codes))  # N_k: EMA of assignments per step
        self.register_buffer("embed_sum", embed.clone())  # m_k: EMA of the sum of assigned vectors

    def forward(self, z_e: torch.Tensor) -> Quantised:
        """Quantise a grid N×D×H×W (no codebook update: see ``ema_update``)."""
        n, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        codes = nearest_codes(flat.detach(), self.embed)
        z_q = self.embed[codes].view(n, h, w, d).permute(0, 3, 1, 2).to(z_e.dtype)
        commitment = (z_e.float() - z_q.detach().float()).pow(2).mean()
        return Quantised(z_e + (z_q - z_e).detach(), codes.view(n, h, w), commitment)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors of a code grid N×H×W → N×D×H×W."""
        return self.embed[codes].permute(0, 3, 1, 2)

    def statistics(self, z_e: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_k, s_k) of one batch: assignments per code and the sum of the vectors assigned to it (fp32)."""
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.dim).float()
        idx = codes.reshape(-1)
        counts = torch.bincount(idx, minlength=self.codes).float()
        sums = torch.zeros(self.codes, self.dim, device=flat.device).index_add_(0, idx, flat)
        return counts, sums

    @torch.no_grad()
    def ema_update(self, counts: torch.Tensor, sums: torch.Tensor) -> None:
        """One EMA step of N_k, m_k and e_k from a step's statistics (summed over micro-batches and processes)."""
        g = self.decay
        self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
        self.embed_sum.mul_(g).add_(sums, alpha=1 - g)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + EPS) / (total + self.codes * EPS) * total
        self.embed.copy_(self.embed_sum / smoothed[:, None])

    def dead(self, threshold: float) -> torch.Tensor:
        """Mask of codes whose EMA assignments per step are under ``threshold``."""
        return self.cluster_size < threshold

    @torch.no_grad()
    def restart(self, dead: torch.Tensor, candidates: torch.Tensor, threshold: float) -> None:
        """Re-seed the ``dead`` codes with ``candidates`` (one D-vector per dead code, in order)."""
        self.embed[dead] = candidates.float()
        self.cluster_size[dead] = threshold
        self.embed_sum[dead] = candidates.float() * threshold


def bits_per_image(codes: int, cells: int) -> float:
    """A fixed-length code: log2 K bits per cell."""
    return cells * math.log2(codes)

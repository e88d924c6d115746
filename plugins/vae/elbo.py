"""The VAE's objective: the evidence lower bound (ELBO), its β-VAE and free-bits variants, and the importance-
weighted bound used to evaluate it.

Encoder q(z|x) = N(μ(x), diag σ²(x)); prior p(z) = N(0, I); decoder p(x|z) from the table below.

    KL(q(z|x) ‖ p(z)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)           (closed form, per dimension j)
    z = μ + σ ⊙ ε,  ε ~ N(0, I)                                       (reparameterisation: ∂z/∂μ = 1, ∂z/∂σ = ε)
    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))  ≤  log p(x)
    β-VAE loss = −E_q[log p(x|z)] + β · KL                             (β > 1: a more factorised code, blurrier images)
    free bits λ (Kingma et al. 2016): KL term = Σ_j max(λ, E_batch KL_j) (no pressure below λ nats per dimension)
    IWAE (Burda et al. 2016): L_K = E[log (1/K) Σ_k p(x, z_k) / q(z_k|x)],  ELBO = L_1 ≤ L_K ≤ L_{K+1} ≤ log p(x)

The logged and evaluated ELBO is always the true one (β = 1, no free bits, no warm-up): the training loss may
differ from it, the reported bound may not.

Bits per dimension = −log p(x) / (D ln 2). For a likelihood that is a density on [0, 1] (continuous Bernoulli,
Gaussian), 8 bits are added: the probability of a 1/256-wide grey-level bin is about density × 1/256, which
makes the figure comparable with discrete models (up to dequantisation). The Bernoulli likelihood on grey
values is not normalised (grey levels are treated as probabilities of ink); its bits/dim are a loss, not a
code length, and its table row says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.functional import binary_cross_entropy_with_logits

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)
ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active when Cov_x(E_q[z_u]) exceeds this
MIN_LOG_SIGMA = math.log(1e-3)  # a learned decoder σ below 1/1000 of the pixel range only chases noise


@dataclass(frozen=True)
class Likelihood:
    """One decoder likelihood p(x|z) over pixels t ∈ [0, 1]; the decoder outputs one value per pixel."""

    name: str
    title: str
    log_prob: Callable[[Tensor, Tensor, Tensor | None], Tensor]  # (decoder output, t, log σ) → per-image log p
    mean: Callable[[Tensor], Tensor]  # decoder output → the image it predicts, in [0, 1]
    density: bool  # a normalised density on [0, 1]^D (bits/dim add 8 for 256 grey levels)
    use: str  # when to pick it


def _bernoulli(out: Tensor, t: Tensor, log_sigma: Tensor | None) -> Tensor:
    return -binary_cross_entropy_with_logits(out, t, reduction="none").flatten(1).sum(1)


def _continuous_bernoulli(out: Tensor, t: Tensor, log_sigma: Tensor | None) -> Tensor:
    dist = torch.distributions.ContinuousBernoulli(logits=out, validate_args=False)
    return dist.log_prob(t).flatten(1).sum(1)


def _gaussian(out: Tensor, t: Tensor, log_sigma: Tensor | None) -> Tensor:
    if log_sigma is None:
        raise ValueError("A Gaussian likelihood needs log σ.")
    ls = log_sigma.clamp(min=MIN_LOG_SIGMA)
    z = (t - torch.sigmoid(out)) * torch.exp(-ls)
    return (-0.5 * z * z - ls - 0.5 * LOG_2PI).flatten(1).sum(1)


def _cb_mean(out: Tensor) -> Tensor:
    return torch.distributions.ContinuousBernoulli(logits=out, validate_args=False).mean


LIKELIHOODS: dict[str, Likelihood] = {lk.name: lk for lk in (
    Likelihood("bernoulli", "Bernoulli (grey levels as ink probabilities)", _bernoulli, torch.sigmoid, False,
               "near-binary images such as digits and shapes: sharp, the classic choice; not a density on grey values"),
    Likelihood("continuous_bernoulli", "continuous Bernoulli (Loaiza-Ganem & Cunningham 2019)", _continuous_bernoulli,
               _cb_mean, True, "the Bernoulli made a proper density on [0, 1]: an honest likelihood for grey images"),
    Likelihood("gaussian", "Gaussian with σ learned (σ-VAE, Rybkin et al. 2021) or fixed", _gaussian, torch.sigmoid,
               True, "colour and photographic images; a learned σ balances reconstruction and KL by itself"),
)}


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per item and dimension (N×L)."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)


def active_units(mu: Tensor) -> Tensor:
    """Which latent dimensions are active over a set of posterior means (N×L): Cov_x(E_q[z_u]) > the threshold
    (Burda et al. 2016). One item says nothing about spread: every dimension counts as active then."""
    if len(mu) < 2:
        return torch.ones(mu.shape[1], dtype=torch.bool, device=mu.device)
    return mu.var(0) > ACTIVE_THRESHOLD


def reparameterise(mu: Tensor, logvar: Tensor, generator: torch.Generator | None) -> Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I) from ``generator``: differentiable in μ and σ."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def kl_term(kl_dims: Tensor, free_bits: float) -> Tensor:
    """The KL that the loss minimises: the batch mean of Σ_j KL_j, with each dimension's batch mean floored at
    ``free_bits`` nats (0 = the plain KL)."""
    per_dim = kl_dims.mean(0)
    return (per_dim.clamp(min=free_bits) if free_bits > 0 else per_dim).sum()


def warmup_factor(step: int, warmup_steps: int) -> float:
    """β's multiplier at ``step`` (0-based): a linear ramp from 0 to 1 over ``warmup_steps`` (0 = none)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag σ²) summed over the last dimension."""
    return (-0.5 * ((z - mu) ** 2 * torch.exp(-logvar) + logvar + LOG_2PI)).sum(-1)


def bits_per_dim(nll_nats: Tensor, dims: int, density: bool) -> Tensor:
    """−log p(x) in nats per image → bits per dimension (+8 for a density on [0, 1] of 8-bit data)."""
    return nll_nats / (dims * math.log(2)) + (8.0 if density else 0.0)


def iwae_bound(log_px_z: Tensor, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """The K-sample importance-weighted bound per item from K×N values: log p(x|z_k), z_k ~ q(z|x) (K×N×L) and the
    posterior's μ, log σ² (N×L). With K = 1 it is the single-sample ELBO estimate."""
    log_w = log_px_z + log_normal(z, torch.zeros_like(mu), torch.zeros_like(logvar)) - log_normal(z, mu, logvar)
    return torch.logsumexp(log_w, 0) - math.log(z.shape[0])

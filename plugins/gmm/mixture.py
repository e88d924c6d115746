"""A Gaussian mixture in 2-D and the two halves of EM (Dempster, Laird & Rubin 1977; Bishop, PRML §9.2).

    p(x) = Σ_k π_k N(x | μ_k, Σ_k),    log N(x | μ, Σ) = −½ [d log 2π + log|Σ| + (x − μ)ᵀ Σ⁻¹ (x − μ)]

E-step (responsibilities under the current parameters):
    r_nk = π_k N(x_n | μ_k, Σ_k) / Σ_j π_j N(x_n | μ_j, Σ_j)
M-step (closed form, maximising the expected complete-data log-likelihood):
    N_k = Σ_n r_nk,   π_k = N_k / N,   μ_k = Σ_n r_nk x_n / N_k,
    Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + ε I        full
          diag(Σ_k above) (ε included)                           diag
          mean of that diagonal · I                              spherical
The log-likelihood (1/N) Σ_n log p(x_n) never decreases from one EM iteration to the next (ε, the covariance
regularisation, perturbs this only at the level of ε). Without ε a component can collapse onto one point: its
covariance becomes singular and its density unbounded, which ``check_covariances`` reports.

The conventions (ε added to the diagonal, spherical = mean of the diagonal variances, N_k + 10·eps) are
scikit-learn's ``GaussianMixture``'s, so the two agree iteration by iteration from the same start (a test).
Computed in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

D = 2
COVARIANCE_TYPES = ("full", "diag", "spherical")
TINY = 10 * torch.finfo(torch.float64).eps  # added to each N_k, as scikit-learn does
MIN_VARIANCE = 1e-12  # below this along some direction, a component has collapsed onto a point or a line


class Mixture(nn.Module):
    """K components' weights, means and covariances as float64 buffers: saved and resumed, never optimised."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.full((k,), 1.0 / k, dtype=torch.float64))
        self.register_buffer("means", torch.zeros(k, D, dtype=torch.float64))
        self.register_buffer("covariances", torch.eye(D, dtype=torch.float64).repeat(k, 1, 1))

    @property
    def k(self) -> int:
        return len(self.weights)

    def component_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """N×K: log π_k + log N(x_n | μ_k, Σ_k)."""
        chol = check_covariances(self.covariances)
        diff = x.double()[:, None, :] - self.means  # N×K×D
        sol = torch.linalg.solve_triangular(chol, diff.transpose(0, 1).transpose(1, 2), upper=False)  # K×D×N
        maha = (sol ** 2).sum(1).T  # N×K
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # K
        return -0.5 * (D * math.log(2 * math.pi) + log_det + maha) + self.weights.clamp_min(1e-300).log()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """N: log p(x_n)."""
        return torch.logsumexp(self.component_log_probs(x), 1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = torch.multinomial(self.weights.float(), n, replacement=True, generator=generator)
        z = torch.randn(n, D, 1, generator=generator, device=self.means.device, dtype=torch.float64)
        chol = check_covariances(self.covariances)
        return (self.means[k] + (chol[k] @ z).squeeze(-1)).float()


def check_covariances(cov: torch.Tensor) -> torch.Tensor:
    """The Cholesky factors of K covariances; a clear error when one is not positive definite (a collapse)."""
    chol, info = torch.linalg.cholesky_ex(cov)
    # Not positive definite, or a variance so small (std < 1e-6) that the density is a spike: collapsed.
    thin = torch.diagonal(chol, dim1=-2, dim2=-1).min(-1).values ** 2 < MIN_VARIANCE
    bad = torch.nonzero((info > 0) | thin).flatten().tolist()
    if bad:
        raise pg.TrainingError(f"Component {bad[0] + 1} collapsed: its covariance is singular (it sits on a single "
                               "point, where its density is unbounded). Raise the covariance regularisation, or use "
                               "fewer components.")
    return chol


@dataclass(frozen=True)
class EStep:
    responsibilities: torch.Tensor  # N×K
    log_likelihood: float  # mean over points of log p(x_n)


def e_step(mix: Mixture, x: torch.Tensor) -> EStep:
    lp = mix.component_log_probs(x)
    norm = torch.logsumexp(lp, 1, keepdim=True)
    return EStep((lp - norm).exp(), float(norm.mean()))


def m_step(mix: Mixture, x: torch.Tensor, resp: torch.Tensor, covariance: str, reg: float) -> None:
    """Set ``mix``'s parameters to the closed-form maximiser for responsibilities ``resp`` (N×K)."""
    x = x.double()
    nk = resp.sum(0) + TINY
    means = resp.T @ x / nk[:, None]
    diff = x[:, None, :] - means  # N×K×D
    eye = torch.eye(D, dtype=torch.float64, device=x.device)
    if covariance == "full":
        cov = torch.einsum("nk,nki,nkj->kij", resp, diff, diff) / nk[:, None, None] + reg * eye
    else:
        var = torch.einsum("nk,nki->ki", resp, diff ** 2) / nk[:, None] + reg
        if covariance == "spherical":
            var = var.mean(1, keepdim=True).expand(-1, D)
        cov = torch.diag_embed(var)
    mix.weights.copy_(nk / nk.sum())
    mix.means.copy_(means)
    mix.covariances.copy_(cov)


def seed_means(x: torch.Tensor, k: int, how: str, generator: torch.Generator) -> torch.Tensor:
    """K starting means: k-means++ (each next one drawn ∝ squared distance to the nearest chosen) or random points."""
    x = x.double()
    if how == "random":
        return x[torch.randperm(len(x), generator=generator, device=x.device)[:k]].clone()
    chosen = [x[torch.randint(len(x), (1,), generator=generator, device=x.device)]]
    for _ in range(k - 1):
        d2 = torch.cdist(x, torch.cat(chosen)).min(1).values ** 2
        chosen.append(x[torch.multinomial(d2.float() + 1e-12, 1, generator=generator)])
    return torch.cat(chosen)


def initialise(mix: Mixture, x: torch.Tensor, how: str, covariance: str, reg: float,
               generator: torch.Generator) -> None:
    """Seed the means, give each point to its nearest one, and take one M-step on those hard assignments."""
    if mix.k > len(x):
        raise pg.ConfigError(f"{mix.k} components for {len(x)} points: use at most {len(x)} components.")
    means = seed_means(x, mix.k, how, generator)
    nearest = torch.cdist(x.double(), means).argmin(1)
    m_step(mix, x, nn.functional.one_hot(nearest, mix.k).double(), covariance, reg)


def free_parameters(k: int, covariance: str) -> int:
    """Weights (K − 1), means (K·d) and covariances (full K·d(d+1)/2, diag K·d, spherical K)."""
    cov = {"full": D * (D + 1) // 2, "diag": D, "spherical": 1}[covariance]
    return (k - 1) + k * D + k * cov


def information_criteria(mean_log_likelihood: float, n: int, k: int, covariance: str) -> dict[str, float]:
    """BIC = −2 log L + p log N and AIC = −2 log L + 2p (lower is better), log L the total log-likelihood."""
    p, total = free_parameters(k, covariance), mean_log_likelihood * n
    return {"BIC": -2 * total + p * math.log(n), "AIC": -2 * total + 2 * p, "parameters": p}

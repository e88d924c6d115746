r"""A Bernoulli–Bernoulli restricted Boltzmann machine: the maths, with no training loop in it.

Visible units v ∈ {0,1}^V, hidden h ∈ {0,1}^H, energy and free energy

    E(v, h) = −bᵀv − cᵀh − vᵀWh,        F(v) = −log Σ_h e^{−E(v,h)} = −bᵀv − Σ_j softplus(c_j + (vᵀW)_j),

p(v) = e^{−F(v)}/Z. The layers are conditionally independent given each other:
p(h_j = 1 | v) = σ(c_j + (vᵀW)_j), p(v_i = 1 | h) = σ(b_i + (Wh)_i), so **Gibbs sampling** alternates the two.

The log-likelihood gradient is a difference of two expectations, ∂log p(v)/∂W = v σ(c + vᵀW)ᵀ − E_model[v hᵀ].
**Contrastive divergence** (CD-k, Hinton 2002) estimates the second term with k Gibbs steps started at the data;
**persistent CD** (PCD, Tieleman 2008) keeps the chains between updates, so they can wander from the data.

**Annealed importance sampling** (Neal 2001; Salakhutdinov & Murray 2008) estimates log Z: from a base model with
W = 0 and visible biases b_A (log Z_A = Σ softplus(b_A) + H log 2, exact), through
p_β(v) ∝ e^{(1−β) b_Aᵀv + β bᵀv} Π_j (1 + e^{β(c_j + (vᵀW)_j)}) for β = 0 … 1, one Gibbs transition per β,
accumulating log w = Σ_k [log p*_{β_k}(v_k) − log p*_{β_{k−1}}(v_k)]; then log Z ≈ log Z_A + log mean e^{log w}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class RBM(nn.Module):
    """W (V×H), visible biases b, hidden biases c: buffers, updated by hand (there is no optimiser)."""

    def __init__(self, visible: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("W", torch.zeros(visible, hidden))
        self.register_buffer("b", torch.zeros(visible))
        self.register_buffer("c", torch.zeros(hidden))

    def hidden_probs(self, v: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        return torch.sigmoid(beta * (v @ self.W + self.c))

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W.T + self.b)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return -(v @ self.b) - F.softplus(v @ self.W + self.c).sum(-1)

    def gibbs(self, v: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
        """``steps`` full v → h → v sweeps; binary visible states."""
        for _ in range(steps):
            h = torch.bernoulli(self.hidden_probs(v), generator=generator)
            v = torch.bernoulli(self.visible_probs(h), generator=generator)
        return v


@dataclass(frozen=True)
class CDUpdate:
    grad_W: torch.Tensor
    grad_b: torch.Tensor
    grad_c: torch.Tensor
    negatives: torch.Tensor  # the chains' visible states after k steps (the next persistent chains)


def cd_gradient(rbm: RBM, v0: torch.Tensor, start: torch.Tensor, k: int, generator: torch.Generator) -> CDUpdate:
    """The CD-k (start = v0) or PCD (start = the persistent chains) estimate of the log-likelihood's gradient,
    averaged over the batch; hidden probabilities rather than samples in both statistics (lower variance)."""
    ph0 = rbm.hidden_probs(v0)
    vk = rbm.gibbs(start, k, generator)
    phk = rbm.hidden_probs(vk)
    n0, nk = len(v0), len(vk)
    return CDUpdate(v0.T @ ph0 / n0 - vk.T @ phk / nk, v0.mean(0) - vk.mean(0), ph0.mean(0) - phk.mean(0), vk)


def apply_update(rbm: RBM, g: CDUpdate, lr: float, weight_decay: float) -> None:
    rbm.W.add_(lr * (g.grad_W - weight_decay * rbm.W))
    rbm.b.add_(lr * g.grad_b)
    rbm.c.add_(lr * g.grad_c)


def reconstruction_error(rbm: RBM, v: torch.Tensor) -> torch.Tensor:
    """Mean squared error of one mean-field up-down pass (a rough monitor, not the likelihood)."""
    return (rbm.visible_probs(rbm.hidden_probs(v)) - v).pow(2).mean()


def base_biases(data: torch.Tensor) -> torch.Tensor:
    """The base model's visible biases: the data's log-odds per pixel (smoothed), as Salakhutdinov & Murray."""
    p = (data.mean(0) * len(data) + 0.5) / (len(data) + 1)
    return torch.log(p) - torch.log1p(-p)


@dataclass(frozen=True)
class LogZ:
    estimate: float
    low: float  # log(mean w − 3 s.e.): the estimate's spread over the AIS runs
    high: float
    runs: int
    betas: int


def ais_log_partition(rbm: RBM, b_a: torch.Tensor, runs: int, betas: int, generator: torch.Generator) -> LogZ:
    """log Z by annealed importance sampling over ``betas`` temperatures with ``runs`` independent runs (float64)."""
    rbm64 = RBM(*rbm.W.shape).to(rbm.W.device, torch.float64)
    rbm64.load_state_dict({k: v.double() for k, v in rbm.state_dict().items()})
    b_a = b_a.double()
    v, hidden = rbm64.W.shape
    schedule = torch.cat([torch.linspace(0, 0.5, betas // 4, dtype=torch.float64)[:-1],
                          torch.linspace(0.5, 0.9, betas // 4, dtype=torch.float64)[:-1],
                          torch.linspace(0.9, 1.0, betas - 2 * (betas // 4) + 2, dtype=torch.float64)]).tolist()
    state = torch.bernoulli(torch.sigmoid(b_a).expand(runs, v), generator=generator)
    log_w = torch.zeros(runs, dtype=torch.float64, device=b_a.device)
    for prev, beta in zip(schedule, schedule[1:], strict=False):
        pre = state @ rbm64.W + rbm64.c  # shared by both log p* terms and the hidden layer's probabilities
        log_w += ((beta - prev) * (state @ (rbm64.b - b_a)) + F.softplus(beta * pre).sum(-1)
                  - F.softplus(prev * pre).sum(-1))
        h = torch.bernoulli(torch.sigmoid(beta * pre), generator=generator)
        state = torch.bernoulli(torch.sigmoid((1 - beta) * b_a + beta * (h @ rbm64.W.T + rbm64.b)),
                                generator=generator)
    log_z_a = float(F.softplus(b_a).sum()) + hidden * math.log(2)
    top = float(log_w.max())
    w = (log_w - top).exp()
    mean, se = float(w.mean()), float(w.std() / math.sqrt(runs)) if runs > 1 else 0.0
    low = math.log(mean - 3 * se) if mean - 3 * se > 0 else -math.inf
    return LogZ(log_z_a + top + math.log(mean), log_z_a + top + low, log_z_a + top + math.log(mean + 3 * se),
                runs, len(schedule))


def exact_log_partition(rbm: RBM) -> float:
    """log Z by summing over every hidden configuration (only for H ≤ 20): a check for AIS."""
    hidden = rbm.W.shape[1]
    if hidden > 20:
        raise ValueError("exact log Z needs at most 20 hidden units")
    hs = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * hidden).reshape(-1, hidden)
    W, b, c = rbm.W.double(), rbm.b.double(), rbm.c.double()
    # Σ_v e^{-E} over v factorises given h: Π_i (1 + e^{b_i + (W h)_i})
    log_terms = hs @ c + F.softplus(hs @ W.T + b).sum(-1)
    return float(torch.logsumexp(log_terms, 0))

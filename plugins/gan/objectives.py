"""GAN objectives: the original minimax game, non-saturating, the f-GAN divergences (Nowozin et al. 2016),
WGAN with weight clipping or gradient penalty, hinge and least squares.

Each objective maps raw critic outputs v to a discriminator loss and a generator loss (both minimised).
f-GAN: D maximises E_P[g_f(v)] − E_Q[f*(g_f(v))]; the generator minimises −E_Q[f*(g_f(v))] (the saddle
point) or, with ``nonsaturating=True``, −E_Q[g_f(v)] (the paper's practical variant). The compositions
f*(g_f(v)) are written in closed, numerically stable forms (softplus instead of log(1 + exp)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import relu, softplus

Tensor = torch.Tensor
LOG2 = math.log(2.0)


@dataclass(frozen=True)
class FDivergence:
    activation: Callable[[Tensor], Tensor]  # g_f(v)
    conjugate_of_activation: Callable[[Tensor], Tensor]  # f*(g_f(v)), stable


F_DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(lambda v: v, lambda v: torch.exp(v - 1)),
    "reverse_kl": FDivergence(lambda v: -torch.exp(-v), lambda v: v - 1),  # −1 − log(exp(−v))
    "pearson": FDivergence(lambda v: v, lambda v: v * v / 4 + v),
    "hellinger": FDivergence(lambda v: 1 - torch.exp(-v), lambda v: torch.expm1(v)),  # g/(1−g) = e^v − 1
    "js": FDivergence(lambda v: LOG2 - softplus(-v), lambda v: softplus(v) - LOG2),  # −log(2 − 2σ(v))
    "gan": FDivergence(lambda v: -softplus(-v), lambda v: softplus(v)),  # −log(1 − σ(v))
}


@dataclass(frozen=True)
class Objective:
    name: str
    title: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    optimizer: str = "adam"  # recommended defaults, overridable in the config
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1
    clip: float | None = None  # WGAN weight clipping
    gp_weight: float | None = None  # WGAN-GP λ


def _fgan(name: str, title: str, nonsaturating: bool = False) -> Objective:
    f = F_DIVERGENCES[name]

    def d_loss(v_real: Tensor, v_fake: Tensor) -> Tensor:
        return -(f.activation(v_real).mean() - f.conjugate_of_activation(v_fake).mean())

    def g_loss(v_fake: Tensor) -> Tensor:
        return -f.activation(v_fake).mean() if nonsaturating else -f.conjugate_of_activation(v_fake).mean()

    return Objective(f"fgan_{name}", title, d_loss, g_loss)


def _wasserstein_d(v_real: Tensor, v_fake: Tensor) -> Tensor:
    return -(v_real.mean() - v_fake.mean())


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("minimax", "Original minimax (JS)", lambda r, f: softplus(-r).mean() + softplus(f).mean(),
              lambda f: -softplus(f).mean()),
    Objective("nonsaturating", "Non-saturating", lambda r, f: softplus(-r).mean() + softplus(f).mean(),
              lambda f: softplus(-f).mean()),
    _fgan("kl", "f-GAN: KL"),
    _fgan("reverse_kl", "f-GAN: reverse KL"),
    _fgan("pearson", "f-GAN: Pearson χ²"),
    _fgan("hellinger", "f-GAN: squared Hellinger"),
    _fgan("js", "f-GAN: Jensen-Shannon"),
    Objective("wgan", "WGAN (weight clipping)", _wasserstein_d, lambda f: -f.mean(), optimizer="rmsprop", lr=5e-5,
              d_steps=5, clip=0.01),
    Objective("wgan_gp", "WGAN-GP", _wasserstein_d, lambda f: -f.mean(), lr=1e-4, betas=(0.0, 0.9), d_steps=5,
              gp_weight=10.0),
    Objective("hinge", "Hinge", lambda r, f: relu(1 - r).mean() + relu(1 + f).mean(), lambda f: -f.mean()),
    Objective("least_squares", "Least squares (LSGAN)", lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(),
              lambda f: 0.5 * ((f - 1) ** 2).mean()),
)}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"Unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}.") from None


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """E[(‖∇ D(x̂)‖₂ − 1)²] on random interpolates x̂ = εx + (1 − ε)x̃ (Gulrajani et al. 2017)."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator, device=real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@torch.no_grad()
def clip_weights(critic: nn.Module, c: float) -> None:
    for p in critic.parameters():
        p.clamp_(-c, c)

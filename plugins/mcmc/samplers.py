r"""Three Metropolis–Hastings samplers for a density p(x) ∝ exp(−E(x)) on the plane, one transition each.

Every sampler proposes x' from q(x' | x) and accepts it with probability

    α = min(1, p(x') q(x | x') / (p(x) q(x' | x))),

which makes p the chain's stationary distribution (detailed balance). They differ in the proposal:

* **random-walk Metropolis** (Metropolis et al. 1953): x' = x + s·ε, ε ~ N(0, I). q is symmetric, so
  α = min(1, exp(E(x) − E(x'))). Step s too small: tiny moves; too large: everything rejected.
* **MALA**, the Metropolis-adjusted Langevin algorithm (Roberts & Tweedie 1996): x' = x − (s²/2)∇E(x) + s·ε, a step of
  the Langevin diffusion; q is not symmetric, and the correction uses
  log q(x' | x) = −‖x' − x + (s²/2)∇E(x)‖² / (2s²).
* **Hamiltonian Monte Carlo** (Duane et al. 1987; Neal 2011): draw a momentum ρ ~ N(0, mI), follow Hamilton's
  equations for H(x, ρ) = E(x) + ‖ρ‖²/(2m) with L leapfrog steps of size s

      ρ ← ρ − (s/2)∇E(x);  x ← x + s·ρ/m;  ρ ← ρ − (s/2)∇E(x)      (L times; the half steps merge)

  and accept with α = min(1, exp(H(x, ρ) − H(x', ρ'))). The leapfrog map is reversible and volume-preserving, so this
  is the whole correction; it keeps H to within O(s²) over a trajectory, so acceptance stays high while the chain
  moves far. ``Transition.energy_error`` is H(x', ρ') − H(x, ρ).

All random numbers come from the caller's generator (resume and the Lab's side by side are exact), and every
quantity is float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .targets import Target


@dataclass(frozen=True)
class Transition:
    positions: torch.Tensor  # C×2, after the accept/reject
    accepted: torch.Tensor  # C booleans
    proposals: torch.Tensor  # C×2, what was proposed
    path: torch.Tensor | None = None  # HMC: (L+1)×C×2 leapfrog positions
    energy_error: torch.Tensor | None = None  # HMC: C values of ΔH


@dataclass(frozen=True)
class Settings:
    step_size: float
    leapfrog_steps: int = 10
    mass: float = 1.0


def _normal(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float64, device=like.device)


def _accept(log_alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """u < α for u ~ U(0, 1), compared in logs; NaN (a proposal where E is undefined) is a rejection."""
    u = torch.rand(log_alpha.shape, generator=generator, dtype=torch.float64, device=log_alpha.device)
    return torch.nan_to_num(log_alpha, nan=-math.inf) > u.log()


def _settle(x: torch.Tensor, proposal: torch.Tensor, log_alpha: torch.Tensor, generator: torch.Generator,
            **extra: torch.Tensor) -> Transition:
    accepted = _accept(log_alpha, generator)
    return Transition(torch.where(accepted[:, None], proposal, x), accepted, proposal, **extra)


def metropolis(target: Target, x: torch.Tensor, s: Settings, generator: torch.Generator) -> Transition:
    proposal = x + s.step_size * _normal(x.shape, x, generator)
    log_alpha = target.energy(x) - target.energy(proposal)
    return _settle(x, proposal, log_alpha, generator)


def mala_log_q(to: torch.Tensor, frm: torch.Tensor, grad_frm: torch.Tensor, step: float) -> torch.Tensor:
    """log q(to | frm) up to a constant shared by both directions."""
    return -(to - frm + step ** 2 / 2 * grad_frm).pow(2).sum(-1) / (2 * step ** 2)


def mala(target: Target, x: torch.Tensor, s: Settings, generator: torch.Generator) -> Transition:
    e, g = target.energy_and_grad(x)
    proposal = x - s.step_size ** 2 / 2 * g + s.step_size * _normal(x.shape, x, generator)
    e_new, g_new = target.energy_and_grad(proposal)
    log_alpha = (e - e_new) + mala_log_q(x, proposal, g_new, s.step_size) - mala_log_q(proposal, x, g, s.step_size)
    return _settle(x, proposal, log_alpha, generator)


def leapfrog(target: Target, x: torch.Tensor, rho: torch.Tensor, step: float, steps: int,
             mass: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``steps`` leapfrog steps from (x, ρ): the end point, its momentum and the path ((steps+1)×C×2)."""
    path = [x]
    _, g = target.energy_and_grad(x)
    rho = rho - step / 2 * g
    for i in range(steps):
        x = x + step * rho / mass
        path.append(x)
        _, g = target.energy_and_grad(x)
        rho = rho - (step if i < steps - 1 else step / 2) * g
    return x, rho, torch.stack(path)


def hamiltonian(target: Target, x: torch.Tensor, rho: torch.Tensor, mass: float) -> torch.Tensor:
    return target.energy(x) + rho.pow(2).sum(-1) / (2 * mass)


def hmc(target: Target, x: torch.Tensor, s: Settings, generator: torch.Generator) -> Transition:
    rho = math.sqrt(s.mass) * _normal(x.shape, x, generator)
    proposal, rho_new, path = leapfrog(target, x, rho, s.step_size, s.leapfrog_steps, s.mass)
    delta = hamiltonian(target, proposal, rho_new, s.mass) - hamiltonian(target, x, rho, s.mass)
    return _settle(x, proposal, -delta, generator, path=path, energy_error=delta)


@dataclass(frozen=True)
class Sampler:
    name: str
    title: str
    step: Callable[[Target, torch.Tensor, Settings, torch.Generator], Transition]
    gradients: bool  # needs ∇E
    note: str


SAMPLERS: dict[str, Sampler] = {s.name: s for s in (
    Sampler("metropolis", "Random-walk Metropolis", metropolis, False,
            "Blind proposals; diffuses, takes ~(distance/step)² steps to travel, rarely crosses between modes."),
    Sampler("mala", "Langevin (MALA)", mala, True,
            "Proposals drift downhill along −∇E; faster along ridges than a random walk of the same step."),
    Sampler("hmc", "Hamiltonian Monte Carlo", hmc, True,
            "L leapfrog steps per proposal: long moves at high acceptance; watch the energy error grow with s."),
)}

"""CycleGAN's objective (Zhu et al. 2017, §3 and §4), every term a mean over pixels and images.

With G: A→B, F: B→A and discriminators D_A (real A vs F(b)), D_B (real B vs G(a)):

    L_GAN(G, D_B)  least squares (LSGAN, Mao et al. 2017), as the paper trains:
                   D_B minimises ½·[(D_B(b) − 1)² + D_B(G(a))²];  G minimises (D_B(G(a)) − 1)²
                   or the original cross-entropy form (non-saturating G), the reference code's "vanilla".
    L_cyc(G, F)    = ‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁                      (forward and backward cycles)
    L_idt(G, F)    = ‖G(b) − b‖₁ + ‖F(a) − a‖₁                            (§5.2: keeps colours / ink)

    G and F minimise  L_GAN(G) + L_GAN(F) + λ_cyc·L_cyc + λ_idt·λ_cyc·L_idt,
    with λ_cyc = 10 and λ_idt = 0.5 (the identity weight is relative to λ_cyc, as in the reference code).

The discriminators' halves are scored on fakes drawn from the image pool (``pool.py``), not only the latest ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.functional import softplus

Tensor = torch.Tensor
LAMBDA_CYCLE = 10.0
LAMBDA_IDENTITY = 0.5


@dataclass(frozen=True)
class Adversarial:
    name: str
    title: str
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (D(real), D(fake)) → D's loss
    g_loss: Callable[[Tensor], Tensor]  # D(fake) → the generator's loss


ADVERSARIAL: dict[str, Adversarial] = {a.name: a for a in (
    Adversarial("least_squares", "Least squares (LSGAN, the paper's)",
                lambda r, f: 0.5 * (((r - 1) ** 2).mean() + (f**2).mean()),
                lambda f: ((f - 1) ** 2).mean()),
    Adversarial("nonsaturating", "Cross-entropy, non-saturating G (the reference code's 'vanilla')",
                lambda r, f: 0.5 * (softplus(-r).mean() + softplus(f).mean()),
                lambda f: softplus(-f).mean()),
)}


def cycle_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """‖F(G(a)) − a‖₁ as a mean over pixels: one direction's cycle term."""
    return (reconstructed.float() - original.float()).abs().mean()


def identity_loss(mapped: Tensor, original: Tensor) -> Tensor:
    """‖G(b) − b‖₁ as a mean over pixels: a generator fed its own output domain should leave it alone."""
    return (mapped.float() - original.float()).abs().mean()

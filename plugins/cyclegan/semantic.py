"""Semantic consistency for labelled domains (after CyCADA, Hoffman et al. 2018, §3): a translation should keep
its source image's class.

Before the first step each domain gets a small classifier, fitted on its own training labels and then frozen:
C_A on domain A, C_B on domain B. The generators then also minimise

    L_sem = CE(C_B(G(a)), y_a) + CE(C_A(F(b)), y_b)          (weighted by λ_semantic)

CyCADA scores translations with one source classifier's pseudo-labels; here both domains are labelled, so each
translation is scored by a classifier of the domain it lands in against the true label of the image it came
from. The cycle loss cannot see a class change that is a bijection (a 9 printed as a 6 comes back as a 9); this
term can. The classifiers are the family's own, not the evaluators that score label preservation, so the
evaluation does not grade the model with the network it was trained against.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import cross_entropy

import playground as pg

FIT_STEPS = 400
FIT_BATCH = 64
FIT_LR = 1e-3
MAX_SHIFT = 2  # pixels: the small translations handwriting varies by, so the classifier does not key on position


def classifier(channels: int, num_classes: int) -> nn.Sequential:
    """Three stride-2 convolutions and a linear layer over a 4×4 grid: no normalisation or dropout, so it
    behaves the same in train and eval mode (the engine switches every module to train mode)."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, num_classes))


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> float:
    """Fit ``net`` to images ``x`` (labels ``y``) by Adam on shifted mini-batches, freeze it, and return its
    accuracy on ``x``."""
    def loss() -> torch.Tensor:
        i = torch.randint(len(x), (min(FIT_BATCH, len(x)),), generator=generator, device=generator.device)
        shift = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,), generator=generator, device=generator.device).tolist()
        return cross_entropy(net(torch.roll(x[i], tuple(shift), dims=(2, 3))), y[i])

    pg.fit_frozen(net, loss, FIT_STEPS, FIT_LR)  # the engine's loop does backward and step
    with torch.no_grad():
        correct = sum(int((net(x[j:j + 512]).argmax(1) == y[j:j + 512]).sum()) for j in range(0, len(x), 512))
    return correct / len(x)


def semantic_loss(c_a: nn.Module, c_b: nn.Module, fake_b: torch.Tensor, y_a: torch.Tensor, fake_a: torch.Tensor,
                  y_b: torch.Tensor) -> torch.Tensor:
    """CE(C_B(G(a)), y_a) + CE(C_A(F(b)), y_b), each a mean over the batch."""
    return cross_entropy(c_b(fake_b).float(), y_a) + cross_entropy(c_a(fake_a).float(), y_b)

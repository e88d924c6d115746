"""An exponential moving average of G's weights, which sampling uses (Yazıcı et al. 2019; every modern GAN recipe).

After G's update number t the average moves toward G:  θ̄ ← d_t·θ̄ + (1 − d_t)·θ,  with the warmed-up decay
d_t = min(decay, 1 − t^(−3/4))  (d_1 = 0: the first update copies G). Without warm-up the average would
remember the random initialisation for thousands of steps, which a short run never forgets. Batch-norm statistics
are averaged alike, so the averaged G samples with statistics that match its weights.

timm's ``ModelEmaV3`` does the arithmetic (fused, in place). It lives in the model's ``ModuleDict`` under
``G_ema`` rather than in the training stash, because it is what a shipped checkpoint samples from: weights-only
files and the inference cache must carry it. No optimiser holds it; the engine never steps it.
"""

from __future__ import annotations

import torch
from timm.utils import ModelEmaV3
from torch import nn

EMA_MODULE = "G_ema"
WARMUP_POWER = 0.75  # timm's recommendation for runs of well under a million steps


def make_ema(g: nn.Module, decay: float) -> ModelEmaV3:
    ema = ModelEmaV3(g, decay=decay, use_warmup=True, warmup_power=WARMUP_POWER, foreach=True)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_decay(ema: ModelEmaV3, update: int) -> float:
    """The decay used at G's update number ``update`` (1-based)."""
    return ema.get_decay(update)


@torch.no_grad()
def update_ema(ema: ModelEmaV3, g: nn.Module, update: int) -> None:
    ema.update(g, step=update)

"""VQ-VAE in two stages (van den Oord et al. 2017; Esser et al. 2021's recipe): stage 1 compresses images into a
grid of codes from a learned codebook (``family.py``), stage 2 learns a causal transformer prior over code grids
(``prior.py``) through the parent-model mechanism. ``quantiser.py`` holds the codebook maths, ``compression.py`` the
JPEG/WebP comparison."""

import playground as pg

from .family import VQVAE, VQVAEConfig
from .prior import PriorConfig, VQPrior

__all__ = ["VQVAE", "PriorConfig", "VQPrior", "VQVAEConfig"]


@pg.hookimpl
def register_models(register):
    register(VQVAE())
    register(VQPrior())

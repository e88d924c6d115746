"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains with cycle consistency. ``family.py``
is the family; ``nets.py`` the ResNet generator and PatchGAN discriminator, ``losses.py`` the objective, ``pool.py``
the history of fakes, ``tasks.py`` and ``evaluation.py`` what a user runs."""

import playground as pg

from .family import CycleGAN, CycleGANConfig

__all__ = ["CycleGAN", "CycleGANConfig"]


@pg.hookimpl
def register_models(register):
    register(CycleGAN())

"""A restricted Boltzmann machine on binarised images: contrastive divergence (CD-k) and persistent CD as
hand-written updates, Gibbs sampling, filters, and the log-likelihood by annealed importance sampling.
``machine.py`` is the maths, ``family.py`` the family."""

import playground as pg

from .family import RBMConfig, RBMFamily

__all__ = ["RBMConfig", "RBMFamily"]


@pg.hookimpl
def register_models(register):
    register(RBMFamily())

"""Gaussian mixtures fitted by expectation–maximisation on 2-D points: a family with no optimiser, whose Lab steps
E and M by hand. ``mixture.py`` is the maths, ``family.py`` the family, ``fitted.py`` the ``gmm:REF`` dataset
(samples and density of a fitted mixture)."""

import playground as pg

from . import fitted
from .family import GMM, GMMConfig

__all__ = ["GMM", "GMMConfig"]


@pg.hookimpl
def register_models(register):
    register(GMM())


@pg.hookimpl
def register_datasets(register):
    register(pg.DatasetInfo(fitted.PREFIX, "A fitted Gaussian mixture (GMM weights)", fitted.load_fitted,
                            kind="points", channels=0, example=fitted.EXAMPLE,
                            description="gmm:REF: exact samples of the mixture in GMM weights REF (ring8, moons or "
                            "run/NAME), with the mixture as their density (the MCMC samplers target it exactly)."))

"""Gaussian mixtures fitted by expectation–maximisation on 2-D points: a family with no optimiser, whose Lab steps
E and M by hand. ``mixture.py`` is the maths, ``family.py`` the family."""

import playground as pg

from .family import GMM, GMMConfig

__all__ = ["GMM", "GMMConfig"]


@pg.hookimpl
def register_models(register):
    register(GMM())

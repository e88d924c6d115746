"""MCMC samplers on 2-D densities: random-walk Metropolis, Langevin (MALA) and Hamiltonian Monte Carlo, as a family
whose training steps are Markov-chain transitions (no optimiser), and the target densities as datasets of exact
samples (banana, donut, mixture, and ``energy:E(x, y)`` for a formula of your own)."""

import playground as pg

from . import targets
from .family import MCMC, MCMCConfig

__all__ = ["MCMC", "MCMCConfig"]


@pg.hookimpl
def register_models(register):
    register(MCMC())


@pg.hookimpl
def register_datasets(register):
    for name, load, title in (("banana", targets.load_banana, "Banana (curved ridge)"),
                              ("donut", targets.load_donut, "Donut (a ring)"),
                              ("mixture", targets.load_mixture, "Mixture of 3 Gaussians (shapes differ)")):
        register(pg.DatasetInfo(name, title, load, kind="points", channels=0,
                                description="Exact samples of a target density the MCMC samplers know the energy of."))
    register(pg.DatasetInfo(targets.ENERGY_PREFIX, "Your energy E(x, y) (a formula)", targets.load_energy,
                            kind="points", channels=0, example=targets.ENERGY_EXAMPLE,
                            description="energy:E(x, y): p ∝ exp(−E); numbers, x, y, + − × ÷ **, exp, log, sqrt, "
                            "abs, sin, cos …; exact samples from a 400×400 grid over [−4, 4]²."))

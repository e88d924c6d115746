"""Variational autoencoder: β-VAE and conditional VAE with an honest ELBO, two samplers (the N(0, I) prior and
a Gaussian mixture fitted to the training posteriors), latent traversals, interpolation, a live latent map and
disentanglement scores. ``family.py`` is the family; the other modules are its parts."""

import playground as pg

from .family import VAE, VAEConfig

__all__ = ["VAE", "VAEConfig"]


@pg.hookimpl
def register_models(register):
    register(VAE())

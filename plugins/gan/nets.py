"""DCGAN-style generator and discriminator for 32×32 images."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class Generator(nn.Module):
    """z (and, when ``num_classes`` > 0, a class y) → image. The class enters as a learned embedding concatenated
    with z before the first layer (the conditional GAN of Mirza & Osindero 2014): at 32 px with a projection
    discriminator this is enough to make every class come out on request, and it keeps G's shape unchanged."""

    def __init__(self, latent_dim: int, channels: int, width: int, num_classes: int = 0) -> None:
        super().__init__()
        w = width
        self.w = w
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        fan_in = 2 * latent_dim if num_classes else latent_dim
        self.fc = nn.Sequential(nn.Linear(fan_in, 4 * w * 16), nn.BatchNorm1d(4 * w * 16), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),  # 8×8
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),  # 16×16
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh(),  # 32×32
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("This generator is class-conditional: it needs labels y beside z.")
            z = torch.cat([z, strength * self.embed(y)], 1)
        return self.net(self.fc(z).view(z.shape[0], 4 * self.w, 4, 4))


class Discriminator(nn.Module):
    """No batch norm (the gradient penalty needs per-sample gradients); LeakyReLU 0.2; optional spectral norm.

    With ``num_classes`` > 0 it is a projection discriminator (Miyato & Koyama 2018):
    D(x, y) = ψ(h(x)) + ⟨e_y, Σ_pos h(x)⟩, where h is the last convolution's 4×4 feature map: the unconditional
    term reads the whole map, the class term the features summed over positions (as in the paper), so it asks
    "are this class's features present" rather than matching one spatial template per class — with a template
    (the flattened map) a conditional G on 1,400 images learns to draw one image per class. It judges whether
    image and class match without feeding y through the convolutions; SNGAN and BigGAN use it with hinge loss and
    spectral norm (the embedding is spectrally normalised too)."""

    def __init__(self, channels: int, width: int, use_spectral_norm: bool = False, num_classes: int = 0) -> None:
        super().__init__()
        w = width
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        self.net = nn.Sequential(  # one Sequential ending in ψ, so unconditional checkpoints keep their names
            sn(nn.Conv2d(channels, w, 4, 2, 1)), nn.LeakyReLU(0.2),  # 16×16
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),  # 8×8
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2),  # 4×4
            nn.Flatten(), sn(nn.Linear(4 * w * 16, 1)),
        )
        self.embed = sn(nn.Embedding(num_classes, 4 * w)) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
        if self.embed is None:
            return self.net(x)
        if y is None:
            raise ValueError("This discriminator is class-conditional: it needs labels y beside x.")
        h = self.net[:-2](x)  # N × 4w × 4 × 4
        v = self.net[-1](h.flatten(1))
        return v + strength * (self.embed(y) * h.sum((2, 3))).sum(1, keepdim=True)


class MLPGenerator(nn.Module):
    """z → 2-D point: ``depth`` hidden ReLU layers."""

    def __init__(self, latent_dim: int, hidden: int, depth: int, out_dim: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.net = nn.Sequential(*layers, nn.Linear(d, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """2-D point → raw critic output v: ``depth`` hidden LeakyReLU(0.2) layers, optional spectral norm."""

    def __init__(self, hidden: int, depth: int, use_spectral_norm: bool = False, in_dim: int = 2) -> None:
        super().__init__()
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [sn(nn.Linear(d, hidden)), nn.LeakyReLU(0.2)]
            d = hidden
        self.net = nn.Sequential(*layers, sn(nn.Linear(d, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

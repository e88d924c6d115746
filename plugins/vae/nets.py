"""Convolutional encoder (→ μ, log σ²) and decoder for 32×32 images, optionally conditioned on a class.

The same layout as the autoencoder's networks, so the two families compare like for like. A conditional
model (CVAE) gets the class as one-hot planes beside the image in the encoder and as a one-hot vector beside
z in the decoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import one_hot

from .elbo import MIN_LOG_SIGMA


def _one_hot(y: torch.Tensor | None, classes: int, like: torch.Tensor) -> torch.Tensor | None:
    if classes == 0:
        return None
    if y is None:
        raise ValueError("This model is conditional: it needs class labels.")
    return one_hot(y.long(), classes).to(like.dtype)


class Encoder(nn.Module):
    def __init__(self, channels: int, width: int, latent_dim: int, classes: int = 0) -> None:
        super().__init__()
        w, self.classes = width, classes
        self.net = nn.Sequential(
            nn.Conv2d(channels + classes, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),        # 16×16
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),    # 8×8
            nn.Conv2d(4 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),    # 4×4
            nn.Flatten(), nn.Linear(4 * w * 16, 2 * latent_dim),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        c = _one_hot(y, self.classes, x)
        if c is not None:
            x = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # exp() stays finite in bf16 and fp32


class Decoder(nn.Module):
    def __init__(self, channels: int, width: int, latent_dim: int, classes: int = 0,
                 learn_sigma: bool = False) -> None:
        super().__init__()
        w, self.classes, self.width = width, classes, width
        self.fc = nn.Linear(latent_dim + classes, 4 * w * 16)
        self.net = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(4 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),   # 8×8
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),   # 16×16
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),       # 32×32
            nn.Conv2d(w, channels, 3, padding=1),                                  # logits / pre-sigmoid means
        )
        # One σ for every pixel (σ-VAE): learned with the rest, started at 0.1 of the pixel range.
        self.log_sigma = nn.Parameter(torch.tensor(-2.3)) if learn_sigma else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        c = _one_hot(y, self.classes, z)
        if c is not None:
            z = torch.cat([z, c], 1)
        return self.net(self.fc(z).view(z.shape[0], 4 * self.width, 4, 4))

    def sigma(self) -> torch.Tensor | None:
        return None if self.log_sigma is None else self.log_sigma.clamp(min=MIN_LOG_SIGMA).exp()

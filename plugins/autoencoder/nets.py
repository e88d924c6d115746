"""Convolutional encoder/decoder for 32×32 images."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, channels: int, width: int, latent_dim: int) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),        # 16×16
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),    # 8×8
            nn.Conv2d(4 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),    # 4×4
            nn.Flatten(), nn.Linear(4 * w * 16, latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, channels: int, width: int, latent_dim: int) -> None:
        super().__init__()
        w = width
        self.fc = nn.Linear(latent_dim, 4 * w * 16)
        self.net = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(4 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),   # 8×8
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),   # 16×16
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),       # 32×32
            nn.Conv2d(w, channels, 3, padding=1), nn.Tanh(),
        )
        self.width = w

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(z.shape[0], 4 * self.width, 4, 4))

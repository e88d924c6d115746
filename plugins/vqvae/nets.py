"""The VQ-VAE's convolutional encoder (image → grid of D-vectors) and decoder (grid → image), after van den Oord
et al. 2017: strided convolutions, then residual blocks, at a fraction of the paper's width for 32×32 images.
``downsample`` halvings give the grid: 2 → 8×8 cells for a 32×32 image, 3 → 4×4."""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Encoder(nn.Module):
    def __init__(self, channels: int, width: int, code_dim: int, downsample: int = 2, blocks: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for i in range(downsample):
            out = width * min(2, 2**i)
            layers += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.ReLU()]
            c = out
        layers += [nn.Conv2d(c, c, 3, padding=1), *(ResBlock(c) for _ in range(blocks)), nn.ReLU(),
                   nn.Conv2d(c, code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, channels: int, width: int, code_dim: int, downsample: int = 2, blocks: int = 2) -> None:
        super().__init__()
        c = width * min(2, 2 ** (downsample - 1))
        layers: list[nn.Module] = [nn.Conv2d(code_dim, c, 3, padding=1), *(ResBlock(c) for _ in range(blocks))]
        for i in reversed(range(downsample)):
            out = channels if i == 0 else width * min(2, 2 ** (i - 1))
            layers += [nn.ReLU(), nn.ConvTranspose2d(c, out, 4, stride=2, padding=1)]
            c = out
        self.net = nn.Sequential(*layers)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images in (about) [-1, 1]; callers clamp for display and scores."""
        return self.net(z_q)

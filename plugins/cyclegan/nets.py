"""CycleGAN's networks (Zhu et al. 2017, the authors' ``networks.py`` layout), sized for small images.

- **ResNet generator**: 7×7 conv, two stride-2 downsamplings, ``blocks`` residual blocks at a quarter of the
  image side, two transposed-conv upsamplings, 7×7 conv, tanh. Instance norm (per image, so a batch of any size,
  micro-batches included, gives the same outputs), reflection padding against border artefacts. The paper uses 9
  blocks at 256 px and 6 at 128 px; at 32 px the bottleneck is 8×8, where 4 blocks already see the whole image.
- **PatchGAN discriminator**: ``layers`` stride-2 4×4 convs then two stride-1 ones; each output judges one
  receptive-field patch (70×70 for 3 layers; 34×34 for 2, which suits 32 px), LeakyReLU 0.2, no norm on the first.
- Weights initialised N(0, 0.02), as the reference does.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 32, blocks: int = 4) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7), _norm(w), nn.ReLU(True)]
        for i in range(2):  # size/2, size/4
            layers += [nn.Conv2d(w * 2**i, w * 2 ** (i + 1), 3, stride=2, padding=1), _norm(w * 2 ** (i + 1)),
                       nn.ReLU(True)]
        layers += [ResidualBlock(4 * w) for _ in range(blocks)]
        for i in (2, 1):
            layers += [nn.ConvTranspose2d(w * 2**i, w * 2 ** (i - 1), 3, stride=2, padding=1, output_padding=1),
                       _norm(w * 2 ** (i - 1)), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int, width: int = 32, layers: int = 2) -> None:
        super().__init__()
        w = width
        seq: list[nn.Module] = [nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers):
            prev, mult = mult, min(2**n, 8)
            seq += [nn.Conv2d(w * prev, w * mult, 4, 2, 1), _norm(w * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**layers, 8)
        seq += [nn.Conv2d(w * prev, w * mult, 4, 1, 1), _norm(w * mult), nn.LeakyReLU(0.2, True),
                nn.Conv2d(w * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def patch_grid(size: int, layers: int) -> int:
    """The side of the discriminator's output grid for ``size``-pixel images (0 = too small for this depth)."""
    for _ in range(layers):
        size = size // 2
    return max(0, size - 2)


def init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs on small datasets.

With ~1,400 training images a discriminator memorises the real set and its feedback to G turns to noise. DiffAugment
applies the same family of random transforms T to **both** real and generated images every time D sees them, in D's
update and in G's: D(T(x)) vs D(T(G(z))). Because T is differentiable, G's gradient flows through it, and because
both sides are transformed alike, G is not pushed to generate augmented images (augmenting only the reals would leak
the augmentation into the samples).

The three transforms of the paper, per image, with parameters drawn from the caller's generator (training noise is
the run's, so a resume replays the same augmentations):

============  =====================================================================================================
policy        what it does to an image x in [-1, 1]
============  =====================================================================================================
color         brightness x + (u − ½); saturation m + (x − m)·2u around the channel mean m; contrast
              m + (x − m)·(u + ½) around the image mean m (u ~ U(0, 1) per image and transform)
translation   shift by up to ⅛ of the side in each direction (integer pixels, uniform), zero-filled
cutout        zero a square of half the side at a uniformly drawn centre (clipped at the border)
============  =====================================================================================================

The paper's recommendation for limited data is ``color,translation,cutout``; for one-channel digits colour is only
brightness and contrast (saturation of a grey image is itself).
"""

from __future__ import annotations

import torch
from torch.nn.functional import pad

POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """"translation,cutout" → ("translation", "cutout"); "" or "none" → (); anything else: a clear error."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip() and p.strip() != "none")
    bad = [p for p in parts if p not in POLICIES]
    if bad:
        raise ValueError(f"Unknown augmentation {', '.join(map(repr, bad))}; choose from {', '.join(POLICIES)} "
                         "(comma-separated), or none.")
    return parts


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand((x.shape[0], 1, 1, 1), generator=generator, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)
    m = x.mean(dim=1, keepdim=True)
    x = m + (x - m) * (_uniform(x, generator) * 2)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return m + (x - m) * (_uniform(x, generator) + 0.5)


def translation(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx] with zeros outside: the content moves by (−dy, −dx)."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator, device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    # +1 for the one-pixel zero border; clamping onto it is what zero-fills the uncovered side
    iy = (gy + dy + 1).clamp(0, h + 1)
    ix = (gx + dx + 1).clamp(0, w + 1)
    padded = pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[torch.arange(n, device=x.device)[:, None, None], iy, ix].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator, device=x.device)
    gy = torch.arange(h, device=x.device)[None, :, None]
    gx = torch.arange(w, device=x.device)[None, None, :]
    inside = ((gy - cy + ch // 2) >= 0) & ((gy - cy + ch // 2) < ch) & ((gx - cx + cw // 2) >= 0) & \
             ((gx - cx + cw // 2) < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policy's transforms in order, each with fresh per-image parameters from ``generator``."""
    for name in policy:
        x = TRANSFORMS[name](x, generator)
    return x

"""Corruptions for denoising: Gaussian noise and masking noise, at a level in [0, 1]."""

from __future__ import annotations

import torch

NOISE_KINDS = ("gaussian", "masking")


def corrupt(x: torch.Tensor, kind: str, level: torch.Tensor | float, generator: torch.Generator) -> torch.Tensor:
    """``x`` in [-1, 1]. Gaussian: σ = level (in units of the [0, 1] pixel range). Masking: a fraction
    ``level`` of pixels set to background. ``level`` may be per-sample (shape N)."""
    level = torch.as_tensor(level, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    if kind == "gaussian":
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + 2 * level * eps).clamp(-1, 1)
    if kind == "masking":
        drop = torch.rand(x.shape[0], 1, *x.shape[2:], generator=generator, device=x.device) < level
        return torch.where(drop, torch.full_like(x, -1.0), x)
    if kind == "none":
        return x
    raise ValueError(f"unknown noise kind {kind!r}")


def corrupt_mixed(x: torch.Tensor, kinds: tuple[str, ...], max_level: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Per sample: a kind from ``kinds`` and a level uniform in [0, max_level] (a denoiser for every level)."""
    n = x.shape[0]
    level = torch.rand(n, generator=generator, device=x.device) * max_level
    if len(kinds) == 1:
        return corrupt(x, kinds[0], level, generator)
    which = torch.randint(len(kinds), (n,), generator=generator, device=x.device)
    out = x
    for i, kind in enumerate(kinds):
        noisy = corrupt(x, kind, level, generator)
        out = torch.where((which == i).view(-1, 1, 1, 1), noisy, out)
    return out

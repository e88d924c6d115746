"""Device choice and the optional ZeroGPU decorator. Nothing here touches CUDA at import time."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError

ON_ZEROGPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def pick_device(preference: str | None = None) -> torch.device:
    """CUDA > MPS > CPU unless ``preference`` (or $PLAYGROUND_DEVICE) names one."""
    pref = (preference or os.environ.get("PLAYGROUND_DEVICE") or "auto").lower()
    if pref == "auto" and ON_ZEROGPU:
        # On ZeroGPU the main process only emulates CUDA; real kernels must run inside @spaces.GPU
        # calls, which the app does not use yet, so stay on the CPU rather than crash.
        return torch.device("cpu")
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(pref)
    except RuntimeError:
        raise ConfigError(f"Unknown device {pref!r}; use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was asked for but is not available on this machine.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("MPS was asked for but is not available on this machine.")
    return dev


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def generator_on(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """``generator`` where it already draws on ``device``'s type; else a generator there, seeded from it (a
    caller's CPU generator for a model on CUDA), so every draw of one call comes from one reproducible stream."""
    if generator.device.type == device.type:
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=device).manual_seed(seed)

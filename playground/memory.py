"""The memory guard: before a run starts, estimate what one training step needs at the chosen batch size and
refuse a batch that cannot fit, naming the largest one that does.

Why: on the CPU an oversized batch is not an error but a process that grows until the kernel kills it, taking
the app down for every user of the machine (a batch of 65,536 autoencoder images reached 6 GB in 11 s). On CUDA
the out-of-memory error is caught (``engine``), but refusing first is kinder.

How: two probe steps on a throwaway copy of the model at small micro-batches (``PROBES``) count the bytes of every
tensor autograd keeps for the backward pass (``saved_tensors_hooks``), which is what grows with the batch. Their
difference gives bytes per item; the step needs ``SAFETY`` times that (temporaries, gradients of activations,
allocator slack) per micro-batch item, plus the whole batch's input images (drawn before the micro-batches run),
plus what does not grow (parameters, gradients and optimiser moments). It is compared with ``HEADROOM`` of the
memory the device has free now. The probes cost two tiny steps and leave every random number generator as it was.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .devices import is_oom
from .errors import TrainingError

PROBES = (4, 8)  # micro-batch sizes of the two probe steps
SAFETY = 1.5  # peak growth / saved-for-backward bytes measured 0.5-1.2 on the built-in families (bench --memory)
HEADROOM = 0.8  # share of the free memory a run may plan to use: the app and other users need the rest
SKIP_BELOW = 16  # micro-batches this small never need a probe


def _cgroup_free() -> int | None:
    """What the container may still allocate (cgroup v2), when it is limited below the machine."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def free_bytes(device: torch.device) -> int:
    """Memory a new allocation on ``device`` can use now."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    free = int(psutil.virtual_memory().available)
    limited = _cgroup_free()
    return min(free, limited) if limited is not None else free


@dataclass(frozen=True)
class StepMemory:
    """A step's memory as a function of the batch: ``fixed + per_item * micro_batch + input_per_item * batch``."""

    fixed: int
    per_item: float
    input_per_item: float

    def need(self, batch: int, grad_accum: int = 1) -> int:
        micro = max(1, batch // max(1, grad_accum))
        return int(self.fixed + SAFETY * self.per_item * micro + self.input_per_item * batch)

    def largest_batch(self, budget: int) -> int:
        """The largest batch (one micro-batch) whose step fits in ``budget`` bytes (0 if none)."""
        per = SAFETY * self.per_item + self.input_per_item
        if per <= 0:
            return 1 << 30
        return max(0, int((budget - self.fixed) // per))


def out_of_memory(cfg: Any, device: torch.device, checkpoint: str = "") -> TrainingError:
    """The message for a step that ran out of memory (here in a probe, or in the engine's loop)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return TrainingError(
        f"Out of memory at batch size {cfg.batch_size} on {device}. Try --batch-size "
        f"{max(1, cfg.batch_size // 2)}, or keep the batch and add --grad-accum "
        f"{2 * cfg.grad_accum} (same result, half the memory). The last checkpoint "
        f"({checkpoint or 'none yet'}) is kept.")


def _saved_bytes(fn: Any) -> int:
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def measure(registry: Any, family: Any, cfg: Any, streams: dict[str, Any], device: torch.device) -> StepMemory:
    """Probe two small steps on a throwaway model (the real run's model, data and RNGs are untouched)."""
    from .models import fresh_state
    from .run import Run, run_step
    from .streams import draw_step

    saved = []
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for b in PROBES:
            probe_cfg = dataclasses.replace(cfg, batch_size=b, grad_accum=1)
            state = fresh_state(registry, family, probe_cfg, streams, device, prepare=False)
            state.modules.train()
            run = Run(state)
            micro = draw_step(streams, probe_cfg, torch.Generator(device=device).manual_seed(0))
            try:
                with registry.guard(family.name, "train"):  # a plugin that raises fails here as in the run
                    saved.append(_saved_bytes(lambda run=run, micro=micro: run_step(run, family, micro)))
            except Exception as exc:
                if is_oom(exc):
                    raise out_of_memory(cfg, device) from None
                raise
    per_item = max(0.0, (saved[1] - saved[0]) / (PROBES[1] - PROBES[0]))
    params = sum(p.numel() * p.element_size() for p in state.modules.parameters())
    fixed = int(4 * params + max(0.0, saved[0] - per_item * PROBES[0]))  # weights, grads, two Adam moments
    input_per_item = 0.0
    for sd in streams.values():
        if not sd.stream.full and sd.info.kind == "image":
            input_per_item += sd.stream.per_step * sd.info.channels * sd.info.size ** 2 * 4
    return StepMemory(fixed, per_item, input_per_item)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check_batch(registry: Any, family: Any, cfg: Any, streams: dict[str, Any], device: torch.device,
                free: int | None = None) -> StepMemory | None:
    """Refuse (TrainingError) a batch whose step would not fit in the memory ``device`` has free; the message names
    the largest batch that fits and the gradient-accumulation alternative. None when the batch is too small to
    need a probe (or ``PLAYGROUND_MEMORY_GUARD=0``)."""
    micro = cfg.batch_size // max(1, cfg.grad_accum)
    if micro <= SKIP_BELOW or os.environ.get("PLAYGROUND_MEMORY_GUARD", "1") == "0":
        return None
    est = measure(registry, family, cfg, streams, device)
    free = free_bytes(device) if free is None else free
    budget = int(free * HEADROOM)
    need = est.need(cfg.batch_size, cfg.grad_accum)
    if need <= budget:
        return est
    fits = est.largest_batch(budget)
    if fits < 1:
        raise TrainingError(f"Not enough memory on {device} for even one item per step: a step needs about "
                            f"{_gb(est.need(1))}, and {_gb(free)} is free. Close other programs or use a smaller "
                            "model.")
    fits = fits if fits < 16 else fits // 8 * 8
    accum = next((k for k in range(2, 4097) if cfg.batch_size % k == 0
                  and est.need(cfg.batch_size, k) <= budget), None)
    alt = (f", or keep batch size {cfg.batch_size} and set gradient accumulation to {accum} (--grad-accum {accum}; "
           f"the same updates in {accum} smaller passes)") if accum and accum != cfg.grad_accum else ""
    raise TrainingError(
        f"Batch size {cfg.batch_size} needs about {_gb(need)} per training step on {device}, and this machine has "
        f"{_gb(free)} free (a run may plan on {math.floor(HEADROOM * 100)}% of it). The largest batch that fits is "
        f"about {fits}: use batch size {fits} (--batch-size {fits}){alt}. Nothing was started.")

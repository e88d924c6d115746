"""The run context: how a family's ``train_step`` optimises. The engine (and the lab) own it.

``run.backward(loss, "G")`` and ``run.step("G")`` are all a family writes; behind them, once for every family:

- **mixed precision**: the engine runs ``train_step`` under autocast (``precision``: auto = bf16 on CUDA,
  fp32 elsewhere); fp16 adds one gradient scaler for all optimisers, updated once per step;
- **gradient accumulation**: a step's batch arrives as ``grad_accum`` micro-batches; each loss is divided by
  their number and an optimiser really steps only on the last one (so 2 × B equals one batch of 2B);
- **several processes** (Accelerate / torchrun): each process gets its shard of the same global batch, and
  ``step`` averages that optimiser's gradients over processes before it steps (gradients, not forward passes,
  are synchronised, so a family may run a module several times per step: a critic on real, fake and
  interpolated points);
- **clipping** of each optimiser's gradient norm (``grad_clip``), after unscaling and averaging;
- **learning-rate schedules** as a pure function of the step and a horizon fixed at the run's start, so a resume
  (even one that adds steps) continues exactly: lr(t) = initial lr × factor(t / horizon).

``backward(loss, name)`` sends gradients only into that optimiser's parameters (``inputs=``), so one player's
loss never leaves gradients in another's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .contracts import ModelState
from .errors import ConfigError, PluginError

SCALER_KEY = "_grad_scaler"  # the fp16 scaler's scale and growth tracker, kept in the stash for exact resume


def lr_factor(schedule: str, step: int, horizon: int) -> float:
    """The learning-rate multiplier at optimisation step ``step`` (0-based) of a schedule spanning ``horizon``."""
    if schedule == "constant" or horizon <= 0:
        return 1.0
    t = min(step, horizon) / horizon
    if schedule == "linear_decay":  # CycleGAN's: constant for the first half, then linearly to 0
        return min(1.0, 2.0 * (1.0 - t))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise ConfigError(f"Unknown learning-rate schedule {schedule!r}; use constant, linear_decay or cosine.")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a ``precision`` setting on ``device`` (None = full fp32)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class Distributed:
    """This process's place among the processes of one training run (Accelerate's PartialState underneath)."""

    def __init__(self, state: Any = None) -> None:
        self._state = state
        self.rank = state.process_index if state is not None else 0
        self.world = state.num_processes if state is not None else 1

    @classmethod
    def from_env(cls, device: torch.device) -> Distributed:
        """Several processes when launched by ``accelerate launch`` or ``torchrun`` (WORLD_SIZE > 1), else one."""
        import os

        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        from accelerate import PartialState

        return cls(PartialState(cpu=device.type == "cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device | None:
        return None if self._state is None else torch.device(self._state.device)

    def mean_(self, tensors: list[torch.Tensor]) -> None:
        """Average ``tensors`` over processes in place (one flat all-reduce)."""
        if self.world == 1 or not tensors:
            return
        from accelerate.utils import reduce

        flat = torch.cat([t.reshape(-1) for t in tensors])
        flat = reduce(flat, reduction="mean")
        for t, part in zip(tensors, flat.split([t.numel() for t in tensors]), strict=True):
            t.copy_(part.view_as(t))

    def any_(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any (one small all-reduce): a Stop that reached one
        process (a signal, a page) ends the run at the same step everywhere."""
        if self.world == 1:
            return flag
        from accelerate.utils import reduce

        return bool(reduce(torch.tensor([float(flag)], device=self.device), reduction="sum").item() > 0)

    def barrier(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

    def close(self) -> None:
        """Take down the process group once the run is over; a gloo group left for interpreter exit can abort
        a process ("terminate called without an active exception") after its work is done and saved."""
        if self._state is not None:
            self.barrier()
            self._state.destroy_process_group()
            self._state = None


class Run:
    """What ``train_step(run, batch)`` optimises through. One per training run (engine or lab)."""

    def __init__(self, state: ModelState, *, dist: Distributed | None = None) -> None:
        cfg = state.config
        self.state = state
        self.dist = dist or Distributed()
        self.accum, self.clip, self.schedule = cfg.grad_accum, cfg.grad_clip, cfg.lr_schedule
        self.horizon = cfg.lr_horizon or cfg.steps
        self.dtype = autocast_dtype(cfg.precision, state.device)
        self.scaler = torch.amp.GradScaler(state.device.type) if self.dtype == torch.float16 else None
        if self.scaler is not None and SCALER_KEY in state.stash:
            scale, tracker = state.stash[SCALER_KEY].tolist()
            self.scaler.load_state_dict({**self.scaler.state_dict(), "scale": scale, "_growth_tracker": int(tracker)})
        self.micro = 0  # which micro-batch of the current step is running (0 .. accum-1)
        self._params = {name: [p for g in opt.param_groups for p in g["params"]]
                        for name, opt in state.optimizers.items()}
        for opt in state.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])  # restored from a checkpoint's optimiser state

    # -- what families use ---------------------------------------------------------------------------------
    @property
    def config(self) -> Any:
        return self.state.config

    @property
    def modules(self) -> torch.nn.ModuleDict:
        return self.state.modules

    @property
    def generator(self) -> torch.Generator:
        """The family's training randomness (noise, z): checkpointed, and different on each process."""
        return self.state.generator

    @property
    def device(self) -> torch.device:
        return self.state.device

    @property
    def stash(self) -> dict[str, torch.Tensor]:
        """Training-only tensors kept across steps and checkpoints (an image pool, EMA copies, counters)."""
        return self.state.stash

    @property
    def parents(self) -> dict[str, ModelState]:
        return self.state.parents

    @property
    def last_micro_batch(self) -> bool:
        return self.micro == self.accum - 1

    def _names(self, name: str | None) -> list[str]:
        if not self.state.optimizers:
            raise PluginError(f"{self.state.family} declares no optimiser, so it cannot call run.backward or "
                              f"run.step; update the model directly in train_step instead.")
        if name is None:
            if len(self.state.optimizers) > 1:
                return list(self.state.optimizers)
            return [next(iter(self.state.optimizers))]
        if name not in self.state.optimizers:
            raise PluginError(f"{self.state.family} has no optimiser {name!r}; it has "
                              f"{', '.join(self.state.optimizers)}.")
        return [name]

    def backward(self, loss: torch.Tensor, name: str | None = None, *, retain_graph: bool = False) -> None:
        """Accumulate the gradients of ``loss`` into optimiser ``name``'s parameters (all optimisers' if None)."""
        names = self._names(name)
        loss = loss.float() / self.accum
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        inputs = [p for n in names for p in self._params[n] if p.requires_grad]
        loss.backward(inputs=inputs, retain_graph=retain_graph)

    def step(self, name: str | None = None) -> bool:
        """Step optimiser ``name`` (the only one if None) on the last micro-batch: average gradients over
        processes, unscale, clip, step, zero. Returns whether it stepped (False on earlier micro-batches)."""
        if not self.last_micro_batch:
            return False
        for n in self._names(name):
            opt, params = self.state.optimizers[n], self._params[n]
            grads = [p.grad for p in params if p.grad is not None]
            self.dist.mean_(grads)
            factor = lr_factor(self.schedule, self.state.step, self.horizon)
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
            if self.scaler is not None:
                self.scaler.unscale_(opt)
            if self.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, self.clip)
            if self.scaler is not None:
                self.scaler.step(opt)
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
        return True

    def zero_grad(self, name: str | None = None) -> None:
        for n in self._names(name):
            self.state.optimizers[n].zero_grad(set_to_none=True)

    # -- what the engine uses -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def micro_batch(self, index: int) -> Iterator[None]:
        """Run one micro-batch of a step under the run's autocast."""
        self.micro = index
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.state.device.type, dtype=self.dtype):
            yield

    def end_step(self) -> None:
        """After every micro-batch of a step: update the fp16 scaler once and keep its state for resume."""
        if self.scaler is not None:
            self.scaler.update()
            sd = self.scaler.state_dict()
            self.state.stash[SCALER_KEY] = torch.tensor([sd["scale"], sd["_growth_tracker"]], dtype=torch.float64)
        for opt in self.state.optimizers.values():  # a family that forgot run.step must not leak gradients on
            opt.zero_grad(set_to_none=True)

    def lr(self, name: str | None = None) -> float:
        """The learning rate optimiser ``name`` uses at the current step."""
        opt = self.state.optimizers[self._names(name)[0]]
        return opt.param_groups[0]["initial_lr"] * lr_factor(self.schedule, self.state.step, self.horizon)


def run_step(run: Run, family: Any, micro: list[Any], part: str | None = None) -> dict[str, torch.Tensor]:
    """One optimisation step of ``family`` over the micro-batches of one step (``part``: one lab part only).
    Returns each loss averaged over the micro-batches (tensors, not synchronised)."""
    sums: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(micro):
        with run.micro_batch(i):
            losses = family.train_step(run, batch) if part is None else family.train_part(run, batch, part)
        for k, v in losses.items():
            v = v.detach().float()
            sums[k] = v if k not in sums else sums[k] + v
    run.end_step()
    return {k: v / len(micro) for k, v in sums.items()} if len(micro) > 1 else sums


def fit_frozen(module: torch.nn.Module, loss_of: Callable[[], torch.Tensor], steps: int, lr: float) -> None:
    """Fit a helper network a family needs before its training starts (e.g. a classifier it then keeps frozen):
    ``steps`` Adam updates at ``lr`` of ``loss_of()`` (which draws its own batch), then the module is frozen. The
    engine's code does the backward pass and the step, as it does for ``train_step``; the family gives the loss."""
    module.requires_grad_(True)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_of()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    module.requires_grad_(False)

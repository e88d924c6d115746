"""The training loop: one for the UI, the CLI, the tests and ``accelerate launch``.

Each step draws one global batch per declared stream (``streams``), hands this process its micro-batches, and
calls the family's ``train_step`` through the run context (``run``), which owns backward, optimiser steps,
autocast, clipping, accumulation, schedules and gradient averaging over processes. Losses are synchronised once
per ``log_every`` steps (averaged over processes), which is also where NaN/Inf is caught; checkpoints are
written only after a finite log step and only by the main process, so the last checkpoint on disk is good.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import read_metadata, save_checkpoint
from .contracts import Batch, ModelFamily, ModelState, TrainConfig
from .data.external import skipped_note
from .devices import is_oom, pick_device
from .errors import ConfigError, TrainingError
from .memory import check_batch, out_of_memory
from .models import fresh_state, load_model
from .params import build_params, params_to_dict
from .run import Distributed, Run, run_step
from .streams import StreamData, draw_step, load_streams, micro_size, preview_batch

RANK_SEED_STRIDE = 104_729  # process r seeds its noise with seed + r × this (rank 0: exactly the 1-process run)


@dataclass
class Progress:
    """A snapshot the UI polls and the CLI prints."""

    family: str
    total: int
    step: int = 0
    status: str = "starting"  # starting | running | stopping | stopped | paused | finished | failed
    message: str = ""
    notes: list[str] = field(default_factory=list)  # what the user should know but need not stop for (skipped files)
    losses: list[tuple[int, str, float]] = field(default_factory=list)
    preview: torch.Tensor | None = None
    preview_step: int = 0
    checkpoint: str | None = None
    checkpoint_step: int = 0
    started: float = field(default_factory=time.time)
    steps_per_s: float = 0.0

    @property
    def done(self) -> bool:
        return self.status in ("stopped", "finished", "failed")


def save_trained(registry: Any, family: ModelFamily, state: ModelState, streams: dict[str, StreamData],
                 folder: Path) -> Path:
    """Fit the family's statistics on its first stream, write the checkpoint and tell observer plugins."""
    with registry.guard(family.name, "train"), torch.no_grad():
        state.modules.eval()
        family.finalize(state, *next(iter(streams.values())).items())
        state.modules.train()
    path = save_checkpoint(state, folder)
    registry.emit("on_checkpoint_saved", family=family.name, path=str(path), step=state.step)
    return path


def resume_config(family: ModelFamily, meta: dict[str, Any], cfg: TrainConfig | dict[str, Any] | None) -> TrainConfig:
    """The checkpoint's config with the overrides a resume may make (``config.resumable``); others refused."""
    base = {**family.config.legacy, **meta["config"]}  # a field newer than the checkpoint: its legacy value
    overrides = params_to_dict(cfg) if isinstance(cfg, TrainConfig) else dict(cfg or {})
    allowed = family.config.resumable
    changed = {k for k in overrides if k not in allowed and k in base and overrides[k] != base[k]}
    if changed:
        raise ConfigError(f"Cannot change {', '.join(sorted(changed))} when resuming; only "
                          f"{', '.join(allowed)} may change.")
    base.update({k: v for k, v in overrides.items() if k in allowed or k not in base})
    return build_params(family.config, base)


class Trainer:
    """Train ``family`` with ``cfg`` into ``out_dir``; ``resume`` (a checkpoint folder) continues one exactly."""

    def __init__(self, registry: Any, family: str, cfg: TrainConfig | dict[str, Any] | None = None, *,
                 out_dir: str | Path, resume: str | Path | None = None, device: str | None = None,
                 channels_last: bool = True, on_progress: Callable[[Progress], None] | None = None) -> None:
        self.registry = registry
        self.family = registry.family(family)
        self.out_dir = Path(out_dir)
        self.device = pick_device(device)
        self.dist = Distributed.from_env(self.device)
        if self.dist.device is not None:  # one device per process under accelerate launch / torchrun
            self.device = self.dist.device
        self.channels_last = channels_last
        self.on_progress = on_progress
        self._stop = threading.Event()
        if resume is not None:
            self.cfg = resume_config(self.family, read_metadata(resume), cfg)
            self.resume_from: Path | None = Path(resume)
        else:
            self.cfg = cfg if isinstance(cfg, TrainConfig) else build_params(self.family.config, cfg or {})
            if not self.cfg.lr_horizon:  # fixed now: a later resume that adds steps keeps the same schedule
                self.cfg = dataclasses.replace(self.cfg, lr_horizon=self.cfg.steps)
            self.resume_from = None
        micro_size(self.cfg, self.dist.world)  # a batch that does not split is a config error, found now
        self.family.streams(self.cfg)
        self.progress = Progress(self.family.name, self.cfg.steps)
        self.state: ModelState | None = None
        self._streams: dict[str, StreamData] | None = None

    def preflight(self) -> None:
        """Load the data and check that a step at this batch size fits in memory (``memory.check_batch``): what
        can refuse a run happens here, before a background thread starts, so the caller gets the message."""
        if self._streams is not None:
            return
        streams = load_streams(self.registry, self.family, self.cfg, self.device)
        if self.dist.world == 1:
            check_batch(self.registry, self.family, self.cfg, streams, self.device)
        self._streams = streams

    @property
    def stopping(self) -> bool:
        """Stop was asked for (a burst driver checks it between bursts)."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the loop to stop after the current step; it writes a checkpoint first."""
        self._stop.set()
        if not self.progress.done:
            self.progress.status = "stopping"

    def _emit(self) -> None:
        if self.on_progress is not None and self.dist.main:
            self.on_progress(self.progress)

    def _init_state(self, streams: dict[str, StreamData]) -> ModelState:
        rank = self.dist.rank
        if self.resume_from is not None:
            state = load_model(self.registry, self.resume_from, device=self.device, family=self.family.name,
                               training=True)
            state.config = self.cfg
            if rank:  # the checkpoint holds process 0's noise; the others continue on their own streams
                seed = self.cfg.seed + RANK_SEED_STRIDE * rank + state.step
                state.generator.manual_seed(seed)
                torch.manual_seed(seed)
            return state
        torch.manual_seed(self.cfg.seed + RANK_SEED_STRIDE * rank)  # for families that use the global RNG
        state = fresh_state(self.registry, self.family, self.cfg, streams, self.device)
        state.generator.manual_seed(self.cfg.seed + RANK_SEED_STRIDE * rank)
        return state

    def save(self, state: ModelState, streams: dict[str, StreamData]) -> Path | None:
        path = None
        if self.dist.main:
            try:
                path = save_trained(self.registry, self.family, state, streams, self.out_dir)
            except OSError as exc:  # a full disk, a folder gone read-only: the files before this save are intact
                p = self.progress
                before = (f"the previous checkpoint (step {p.checkpoint_step}) is intact; free the space and resume it"
                          if p.checkpoint else "no checkpoint of this run was written yet")
                raise TrainingError(f"Could not write the checkpoint at step {state.step} into {self.out_dir}: "
                                    f"{exc.strerror or exc} ({type(exc).__name__}); {before}.") from None
            self.progress.checkpoint, self.progress.checkpoint_step = str(path), state.step
        self.dist.barrier()
        return path

    def run(self, *, seconds: float | None = None, steps: int | None = None) -> Progress:
        """Run to ``cfg.steps`` (or Stop); raises TrainingError/DataError/ConfigError with a user message.

        ``seconds``/``steps`` bound this call (a burst, as ZeroGPU allows): past either, the run writes its
        checkpoint and ends "paused"; resuming from that checkpoint continues it exactly."""
        p = self.progress
        try:
            self._run(seconds, steps)
            if self.state is not None and self.channels_last:
                # Hand back the layout a loaded checkpoint has, so both compute bit-identical outputs.
                self.state.modules.to(memory_format=torch.contiguous_format)
        except Exception as exc:
            p.status = "failed"
            p.message = str(exc)
            self._emit()
            raise
        finally:
            self._emit()
        return p

    def _run(self, seconds: float | None = None, steps: int | None = None) -> None:
        p, cfg, fam = self.progress, self.cfg, self.family
        self.preflight()
        streams = self._streams
        assert streams is not None
        for sd in streams.values():
            skipped = getattr(sd.data, "meta", {}).get("skipped") or []
            if skipped:
                p.notes.append(skipped_note(skipped, sd.spec.name))
        if cfg.lr_schedule != "constant" and cfg.steps > cfg.lr_horizon:
            p.notes.append(f"The {cfg.lr_schedule} learning-rate schedule spans the run's first {cfg.lr_horizon} steps "
                           f"(fixed when it started, so a resume continues it exactly): steps {cfg.lr_horizon + 1}–"
                           f"{cfg.steps} train at learning rate 0. Start a new run for a longer schedule.")
        state = self.state = self._init_state(streams)
        if self.dist.world > 1 and not state.optimizers:  # refused, not silently trained apart
            raise TrainingError(f"{fam.title} updates its own state without an optimiser, and such updates are not "
                                f"averaged across processes: train it in one process (without accelerate launch or "
                                f"torchrun; it was started in {self.dist.world}).")
        if self.channels_last:  # faster convolutions on CPU (oneDNN) and on tensor cores
            state.modules.to(memory_format=torch.channels_last)
        if state.step >= cfg.steps:
            p.step, p.status = state.step, "finished"
            p.message = f"Already at step {state.step} of {cfg.steps}; raise --steps to train further."
            return
        p.status, p.step = "running", state.step
        run = Run(state, dist=self.dist)
        preview = preview_batch(streams, self.device)
        state.modules.train()
        pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        t0, s0 = time.perf_counter(), state.step
        until = cfg.steps if steps is None else min(cfg.steps, state.step + steps)
        while state.step < cfg.steps:
            burst_over = state.step >= until or (seconds is not None and state.step > s0
                                                 and time.perf_counter() - t0 >= seconds)
            stopping = self.dist.any_(self._stop.is_set())
            if stopping or burst_over:
                self._flush(pending)
                p.steps_per_s = (state.step - s0) / max(time.perf_counter() - t0, 1e-9)
                self.save(state, streams)
                p.status, p.message = (("stopped", f"Stopped at step {state.step}; checkpoint saved.")
                                       if stopping else
                                       ("paused", f"Paused at step {state.step} (end of a burst); checkpoint saved."))
                return
            micro = draw_step(streams, cfg, state.data_generator, rank=self.dist.rank, world=self.dist.world,
                              channels_last=self.channels_last)
            try:
                with self.registry.guard(fam.name, "train"):
                    losses = run_step(run, fam, micro)
            except Exception as exc:
                if is_oom(exc):
                    raise out_of_memory(cfg, self.device, p.checkpoint) from None
                raise
            state.step += 1
            p.step = state.step  # a plain int: the page sees every step without a device sync
            pending.append((state.step, losses))
            last = state.step == cfg.steps
            if state.step % cfg.log_every == 0 or state.step % cfg.checkpoint_every == 0 or last:
                self._flush(pending)
                elapsed = time.perf_counter() - t0
                p.steps_per_s = (state.step - s0) / elapsed if elapsed > 0 else 0.0
                if self.dist.main and (state.step % cfg.sample_every == 0 or last or p.preview is None):
                    self._preview(state, preview)
                if state.step % cfg.checkpoint_every == 0 or last:
                    self.save(state, streams)
                self._emit()
        p.status, p.message = "finished", f"Finished {state.step} steps."

    def _flush(self, pending: list[tuple[int, dict[str, torch.Tensor]]]) -> None:
        """One host sync for all pending losses (averaged over processes); NaN/Inf ends the run."""
        if not pending:
            return
        names = list(pending[0][1])
        values = torch.stack([torch.stack([d[n].float() for n in names]) for _, d in pending])
        self.dist.mean_([values])
        values = values.cpu()
        steps = [s for s, _ in pending]
        pending.clear()
        bad = ~torch.isfinite(values)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            p = self.progress
            raise TrainingError(
                f"Loss {names[col]!r} became {values[row, col].item()} at step {steps[row]}. Training stopped; "
                f"the last good checkpoint is {p.checkpoint or 'none (no checkpoint was written yet)'}"
                f"{f' at step {p.checkpoint_step}' if p.checkpoint else ''}. Try a lower learning rate "
                f"(now {self.cfg.lr}).")
        for i, s in enumerate(steps):
            if s % self.cfg.log_every == 0 or i == len(steps) - 1:
                row = {n: float(values[i, j]) for j, n in enumerate(names)}
                for n, v in row.items():
                    self.progress.losses.append((s, n, v))
                if self.dist.main:
                    self.registry.emit("on_train_step", family=self.family.name, step=s, losses=row)

    def _preview(self, state: ModelState, batch: Batch) -> None:
        with self.registry.guard(self.family.name, "train"), torch.no_grad():
            state.modules.eval()
            out = self.family.preview(state, batch, torch.Generator(self.device).manual_seed(0))
            state.modules.train()
        if out is not None:
            self.progress.preview = out.detach().float().cpu()
            self.progress.preview_step = state.step

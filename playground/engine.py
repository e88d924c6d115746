"""The training engine: one loop for the UI, the CLI and the tests.

Data lives on the training device as uint8 and batches are drawn with a seeded generator (no
DataLoader workers, no per-step host sync); losses are synchronised once per ``log_every`` steps,
which is also where NaN/Inf is caught. Checkpoints are written only after a finite log step, so the
last checkpoint on disk is always a good one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_checkpoint, new_state, read_metadata, save_checkpoint
from .contracts import Batch, DataInfo, ModelState, TrainConfig
from .data import DataSpec, ImageData, PointData, load_dataset
from .devices import autocast, is_oom, pick_device
from .errors import ConfigError, DataError, TrainingError
from .params import build_params, params_to_dict


@dataclass
class Progress:
    """A snapshot the UI polls and the CLI prints."""

    family: str
    total: int
    step: int = 0
    status: str = "starting"  # starting | running | stopping | stopped | finished | failed
    message: str = ""
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


def sample_batch(data: ImageData | PointData, batch_size: int, generator: torch.Generator,
                 channels_last: bool = False) -> Batch:
    idx = torch.randint(len(data), (batch_size,), generator=generator, device=generator.device)
    if isinstance(data, PointData):
        return Batch(data.points[idx])
    y = data.labels[idx] if data.labels is not None else None
    x = data.float_images(idx)
    return Batch(x.contiguous(memory_format=torch.channels_last) if channels_last else x, y)


def all_items(data: ImageData | PointData) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Every training item as the family sees it (images in [-1, 1] or points) and the labels, if any."""
    if isinstance(data, PointData):
        return data.points, None
    return data.float_images(), data.labels


def data_info(data: ImageData | PointData, spec: DataSpec) -> DataInfo:
    if isinstance(data, PointData):
        return DataInfo(channels=data.points.shape[1], size=0, num_classes=0, kind="points")
    return DataInfo(channels=data.channels, size=spec.size, num_classes=data.num_classes)


def describe_data(data: ImageData | PointData, spec: DataSpec) -> dict[str, Any]:
    """The data spec as stored with the model; 2-D data adds its modes and spread (for mode-coverage metrics)."""
    out = spec.to_dict()
    if isinstance(data, PointData) and data.modes is not None:
        out.update(modes=[[round(float(a), 6) for a in m] for m in data.modes.cpu()], sigma=data.sigma)
    return out


def fresh_state(registry: Any, family: Any, cfg: TrainConfig, spec: DataSpec, data: ImageData | PointData,
                device: torch.device) -> ModelState:
    """A newly built model for ``data`` (what it knows of the data and the stored description included)."""
    return new_state(registry, family, cfg, data_info(data, spec), describe_data(data, spec), device)


def save_trained(registry: Any, family: Any, state: ModelState, data: ImageData | PointData, folder: Path) -> Path:
    """Fit the family's statistics on ``data``, write the checkpoint and tell observer plugins."""
    with registry.guard(family.name, "train"), torch.no_grad():
        state.modules.eval()
        family.finalize(state, *all_items(data))
        state.modules.train()
    path = save_checkpoint(state, folder)
    registry.emit("on_checkpoint_saved", family=family.name, path=str(path), step=state.step)
    return path


def load_training_data(registry: Any, family: Any, spec: DataSpec, device: torch.device) -> ImageData | PointData:
    """The family's training data on ``device``; a clear error when its kind (images or points) does not fit."""
    data = load_dataset(registry.datasets, spec)
    kind = "points" if isinstance(data, PointData) else "image"
    if kind != family.data_kind:
        what = {"image": "images", "points": "2-D points"}
        choices = ", ".join(n for n, d in registry.datasets.items() if d.kind == family.data_kind)
        raise DataError(f"{family.title} trains on {what[family.data_kind]}; {spec.name!r} holds {what[kind]}. "
                        f"Try one of: {choices}.")
    return data.to(device)


def data_spec_for(family: Any, cfg: TrainConfig) -> DataSpec:
    return DataSpec(**{"name": cfg.dataset, "split": "train", "size": 32, **family.data_filters(cfg)})


class Trainer:
    """Train ``family`` with ``cfg`` into ``out_dir``; ``resume`` continues a checkpoint exactly."""

    def __init__(self, registry: Any, family: str, cfg: TrainConfig | dict[str, Any] | None = None, *,
                 out_dir: str | Path, resume: str | Path | None = None, device: str | None = None,
                 bf16: bool = True, channels_last: bool = True,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.registry = registry
        self.family = registry.family(family)
        self.out_dir = Path(out_dir)
        self.device = pick_device(device)
        self.bf16 = bf16
        self.channels_last = channels_last
        self.on_progress = on_progress
        self._stop = threading.Event()
        if resume is not None:
            meta = read_metadata(resume)
            base = dict(meta["config"])
            overrides = params_to_dict(cfg) if isinstance(cfg, TrainConfig) else dict(cfg or {})
            # Resuming may extend the run or change logging, nothing that alters the model or data.
            frozen = {k for k in base if k not in ("steps", "log_every", "sample_every", "checkpoint_every")}
            changed = {k for k in overrides if k in frozen and overrides[k] != base[k]}
            if changed:
                raise ConfigError(f"Cannot change {', '.join(sorted(changed))} when resuming; only steps and "
                                  f"logging intervals may change.")
            base.update(overrides)
            self.cfg = build_params(self.family.config, base)
            self.resume_from: Path | None = Path(resume)
        else:
            self.cfg = cfg if isinstance(cfg, TrainConfig) else build_params(self.family.config, cfg or {})
            self.resume_from = None
        self.spec = data_spec_for(self.family, self.cfg)
        self.progress = Progress(self.family.name, self.cfg.steps)
        self.state: ModelState | None = None

    def stop(self) -> None:
        """Ask the loop to stop after the current step; it writes a checkpoint first."""
        self._stop.set()
        if not self.progress.done:
            self.progress.status = "stopping"

    def _emit(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _init_state(self, data: ImageData | PointData) -> ModelState:
        if self.resume_from is not None:
            state = load_checkpoint(self.registry, self.resume_from, device=self.device, family=self.family.name,
                                    training=True)
            state.config = self.cfg
            return state
        return fresh_state(self.registry, self.family, self.cfg, self.spec, data, self.device)

    def save(self, state: ModelState, data: ImageData | PointData) -> Path:
        path = save_trained(self.registry, self.family, state, data, self.out_dir)
        self.progress.checkpoint, self.progress.checkpoint_step = str(path), state.step
        return path

    def run(self) -> Progress:
        """Run to ``cfg.steps`` (or Stop); raises TrainingError/DataError/ConfigError with a user message."""
        p = self.progress
        try:
            self._run()
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

    def _run(self) -> None:
        p, cfg, fam = self.progress, self.cfg, self.family
        data = load_training_data(self.registry, self.family, self.spec, self.device)
        state = self.state = self._init_state(data)
        if self.channels_last:  # faster convolutions on CPU (oneDNN) and on tensor cores
            state.modules.to(memory_format=torch.channels_last)
        if state.step >= cfg.steps:
            p.step, p.status = state.step, "finished"
            p.message = f"Already at step {state.step} of {cfg.steps}; raise --steps to train further."
            return
        p.status, p.step = "running", state.step
        gen = state.generator
        n_preview = min(64 if isinstance(data, ImageData) else 1000, len(data))  # points: enough to see the shape
        preview_batch = sample_batch(data, n_preview, torch.Generator(self.device).manual_seed(12345))
        state.modules.train()
        pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        per_step = fam.batches_per_step(cfg)
        t0, s0 = time.perf_counter(), state.step
        while state.step < cfg.steps:
            if self._stop.is_set():
                self._flush(pending)
                self.save(state, data)
                p.status, p.message = "stopped", f"Stopped at step {state.step}; checkpoint saved."
                return
            batch = sample_batch(data, cfg.batch_size * per_step, gen, self.channels_last)
            try:
                with self.registry.guard(fam.name, "train"), autocast(self.device, self.bf16):
                    losses = fam.train_step(state, batch)
            except Exception as exc:
                if is_oom(exc):
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    raise TrainingError(
                        f"Out of memory at batch size {cfg.batch_size} on {self.device}. "
                        f"Try --batch-size {max(1, cfg.batch_size // 2)}. The last checkpoint "
                        f"({p.checkpoint or 'none yet'}) is kept.") from None
                raise
            state.step += 1
            p.step = state.step  # a plain int: the page sees every step without a device sync
            pending.append((state.step, {k: v.detach() for k, v in losses.items()}))
            last = state.step == cfg.steps
            if state.step % cfg.log_every == 0 or state.step % cfg.checkpoint_every == 0 or last:
                self._flush(pending)
                elapsed = time.perf_counter() - t0
                p.steps_per_s = (state.step - s0) / elapsed if elapsed > 0 else 0.0
                p.step = state.step
                if state.step % cfg.sample_every == 0 or last or p.preview is None:
                    self._preview(state, preview_batch)
                if state.step % cfg.checkpoint_every == 0 or last:
                    self.save(state, data)
                self._emit()
        p.status, p.message = "finished", f"Finished {state.step} steps."

    def _flush(self, pending: list[tuple[int, dict[str, torch.Tensor]]]) -> None:
        """One host sync for all pending losses; NaN/Inf ends the run."""
        if not pending:
            return
        names = list(pending[0][1])
        values = torch.stack([torch.stack([d[n].float() for n in names]) for _, d in pending]).cpu()
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
                self.registry.emit("on_train_step", family=self.family.name, step=s, losses=row)

    def _preview(self, state: ModelState, batch: Batch) -> None:
        with self.registry.guard(self.family.name, "train"), torch.no_grad():
            state.modules.eval()
            out = self.family.preview(state, batch, torch.Generator(self.device).manual_seed(0))
            state.modules.train()
        if out is not None:
            self.progress.preview = out.detach().float().cpu()
            self.progress.preview_step = state.step


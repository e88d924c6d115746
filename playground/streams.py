"""A family's declared data streams, loaded and drawn from: one mechanism for one image stream, labelled
images, two unpaired domains, 2-D points and full-batch steps.

Data lives on the training device; each step draws one global batch per stream with the run's data generator
(the same on every process), then hands each process its shard and each micro-batch its slice, so the items a
step sees do not depend on how many processes or micro-batches compute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .contracts import Batch, DataInfo, ModelFamily, Stream, TrainConfig
from .data import DataSpec, ImageData, PointData, load_dataset, offered_names
from .errors import ConfigError, DataError

KIND_WORDS = {"image": "images", "points": "2-D points"}


@dataclass
class StreamData:
    """One declared stream with its data spec and its data (on the training device)."""

    stream: Stream
    spec: DataSpec
    data: ImageData | PointData

    @property
    def info(self) -> DataInfo:
        if isinstance(self.data, PointData):
            return DataInfo(channels=self.data.points.shape[1], size=0, num_classes=0, kind="points")
        return DataInfo(channels=self.data.channels, size=self.spec.size, num_classes=self.data.num_classes)

    def describe(self) -> dict[str, Any]:
        """The data spec as stored with the model; 2-D data adds its modes and spread (for mode metrics) and its
        exact density where the dataset declares one."""
        out = self.spec.to_dict()
        if isinstance(self.data, PointData) and self.data.modes is not None:
            out.update(modes=[[round(float(a), 6) for a in m] for m in self.data.modes.cpu()], sigma=self.data.sigma)
        if isinstance(self.data, PointData) and self.data.density is not None:
            out.update(density=self.data.density.to_dict())
        return out

    def items(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every item as the family sees it (images in [-1, 1] or points) and the labels, if any."""
        if isinstance(self.data, PointData):
            return self.data.points, None
        return self.data.float_images(), self.data.labels

    def __len__(self) -> int:
        return len(self.data)


def spec_of(stream: Stream, cfg: TrainConfig) -> DataSpec:
    name = getattr(cfg, stream.field, None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"Stream {stream.name!r} reads its dataset from config field {stream.field!r}, which "
                          f"is missing or empty.")
    return DataSpec(name=name, split="train", size=stream.size, exclude_classes=tuple(stream.exclude_classes),
                    channels=stream.channels)


def check_kind(registry: Any, family: ModelFamily, stream: Stream, spec: DataSpec,
               data: ImageData | PointData) -> None:
    """A clear error when a dataset does not hold what the stream declares (kind, labels)."""
    kind = "points" if isinstance(data, PointData) else "image"
    if kind != stream.kind:
        choices = ", ".join(offered_names(registry.datasets, stream.kind))
        raise DataError(f"{family.title} trains on {KIND_WORDS[stream.kind]}; {spec.name!r} holds "
                        f"{KIND_WORDS[kind]}. Try one of: {choices}.")
    if stream.labels and (isinstance(data, PointData) or data.labels is None):
        raise DataError(f"{family.title} needs labelled data for {stream.field!r}; {spec.name!r} has no labels "
                        f"(a folder with one sub-folder per class has them).")


def load_streams(registry: Any, family: ModelFamily, cfg: TrainConfig, device: torch.device) -> dict[str, StreamData]:
    """Every stream the family declares for ``cfg``, loaded onto ``device``, in declaration order."""
    declared = family.streams(cfg)
    if not declared:
        raise ConfigError(f"{family.title} declares no data streams.")
    names = [s.name for s in declared]
    if len(set(names)) != len(names):
        raise ConfigError(f"{family.title} declares the stream names {names}; each must be unique.")
    out = {}
    for stream in declared:
        spec = spec_of(stream, cfg)
        data = load_dataset(registry.datasets, spec)
        check_kind(registry, family, stream, spec, data)
        out[stream.name] = StreamData(stream, spec, data.to(device))
    return out


def micro_size(cfg: TrainConfig, world: int) -> int:
    """Items of one micro-batch on one process; a clear error when the batch does not split evenly."""
    parts = cfg.grad_accum * world
    if cfg.batch_size % parts:
        raise ConfigError(f"Batch size {cfg.batch_size} does not split into {cfg.grad_accum} micro-batch(es) × {world} "
                          f"process(es); use a multiple of {parts}.")
    return cfg.batch_size // parts


def _take(sd: StreamData, idx: torch.Tensor | None, channels_last: bool) -> Batch:
    if isinstance(sd.data, PointData):
        return Batch(sd.data.points if idx is None else sd.data.points[idx])
    y = None if sd.data.labels is None else (sd.data.labels if idx is None else sd.data.labels[idx])
    x = sd.data.float_images(idx)
    return Batch(x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x, y)


def draw_step(streams: dict[str, StreamData], cfg: TrainConfig, generator: torch.Generator, *, rank: int = 0,
              world: int = 1, channels_last: bool = False, one_row: bool = False) -> list[Batch]:
    """One step's data as ``grad_accum`` micro-batches for this process (``rank`` of ``world``).

    Per stream, the global batch is ``per_step`` rows of ``batch_size`` indices (one row per family sub-update,
    e.g. critic steps); micro-batch m on process r takes the same slice of every row, so each row keeps its
    meaning. Full-batch streams give every micro-batch all items (not sharded). ``one_row``: one row per stream
    whatever ``per_step`` says (the lab's single-part updates).
    """
    mb = micro_size(cfg, world)
    rows = {}
    for name, sd in streams.items():
        if not sd.stream.full:
            n_rows = 1 if one_row else sd.stream.per_step
            rows[name] = torch.randint(len(sd), (n_rows, cfg.batch_size), generator=generator,
                                       device=generator.device)
    micro = []
    for m in range(cfg.grad_accum):
        parts: dict[str, Batch] = {}
        for name, sd in streams.items():
            if sd.stream.full:
                parts[name] = _take(sd, None, channels_last)
                continue
            lo = (m * world + rank) * mb
            parts[name] = _take(sd, rows[name][:, lo:lo + mb].reshape(-1), channels_last)
        micro.append(Batch.of(parts))
    return micro


def preview_batch(streams: dict[str, StreamData], device: torch.device) -> Batch:
    """A fixed batch (seeded apart from training) for previews: 64 images or 1000 points per stream."""
    gen = torch.Generator(device).manual_seed(12345)
    parts = {}
    for name, sd in streams.items():
        n = min(64 if isinstance(sd.data, ImageData) else 1000, len(sd))
        parts[name] = _take(sd, torch.randint(len(sd), (n,), generator=gen, device=device), False)
    return Batch.of(parts)

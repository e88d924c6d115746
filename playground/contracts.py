"""The model-family contract: what a plugin implements and what the engine and UI rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from .params import param


@dataclass
class TrainConfig:
    """Settings every family shares; a family subclasses it and adds its own fields."""

    dataset: str = param("digits", help="Training data (a registered dataset name, or folder:PATH).")
    steps: int = param(2000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = param(128, min=1, max=65_536, help="Images per step.")
    lr: float = param(1e-3, min=1e-8, max=1.0, help="Step size of the optimiser.", label="learning rate")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seeds weights, batches and noise.")
    log_every: int = param(25, min=1, max=1_000_000, help="Steps between logged losses.", advanced=True)
    sample_every: int = param(250, min=1, max=1_000_000, help="Steps between sample grids.", advanced=True)
    checkpoint_every: int = param(500, min=1, max=10_000_000, help="Steps between checkpoints.",
                                  advanced=True)


@dataclass(frozen=True)
class DataInfo:
    """What a family may know about its data when it builds networks (points: channels = dimensions, size 0)."""

    channels: int
    size: int
    num_classes: int
    kind: str = "image"  # "image" or "points"


@dataclass
class Batch:
    x: torch.Tensor  # images: N×C×H×W float in [-1, 1]; points: N×2 float (on the training device)
    y: torch.Tensor | None = None


@dataclass
class Field:
    """A scalar function over the plane for the 2-D plots (e.g. the discriminator's output).

    ``values`` holds one number per point asked for; ``lo``/``hi`` fix the colour scale. Without them the
    scale is set per frame, symmetric around ``centre`` (the "undecided" value, shown white), or around the
    median when ``centre`` is None too (a Wasserstein critic, defined only up to a constant)."""

    values: torch.Tensor
    title: str
    lo: float | None = None
    hi: float | None = None
    centre: float | None = 0.0


@dataclass
class Chart:
    """A chart as data; the UI draws it with a native plot."""

    rows: list[dict[str, Any]]
    x: str
    y: str
    color: str | None = None
    title: str = ""


@dataclass
class TaskResult:
    images: list[tuple[str, torch.Tensor]] = field(default_factory=list)  # (caption, C×H×W in [-1, 1])
    values: dict[str, Any] = field(default_factory=dict)
    chart: Chart | None = None
    animation: list[torch.Tensor] | None = None  # frames (C×H×W in [-1, 1]) shown as an animated GIF


@dataclass(frozen=True)
class Task:
    """An inference action a family offers; ``inputs`` is a dataclass of params/image_params.

    ``chart`` is None, "line" or "bar" and says which plot the UI shows next to the images.
    """

    name: str
    title: str
    inputs: type
    description: str = ""
    chart: str | None = None
    animation: bool = False  # the task returns TaskResult.animation frames


@dataclass
class ModelState:
    """Everything a trained (or training) model is: the checkpoint round-trips all of it."""

    family: str
    config: TrainConfig
    data: dict[str, Any]  # the data spec it was trained on (JSON-able)
    info: DataInfo
    modules: nn.ModuleDict
    optimizers: dict[str, torch.optim.Optimizer]
    stats: dict[str, torch.Tensor] = field(default_factory=dict)  # fitted tensors that are not weights
    step: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator | None = None  # training randomness (batches, noise)
    metrics: dict[str, Any] = field(default_factory=dict)


class ModelFamily:
    """Base class of a model family. Subclasses set the class attributes and implement the hooks.

    Required: ``build``, ``train_step`` and one method per declared task (named like the task).
    Optional: ``configure_optimizers``, ``finalize``, ``preview``, ``evaluate``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    config: ClassVar[type[TrainConfig]] = TrainConfig
    tasks: ClassVar[tuple[Task, ...]] = ()
    evaluate_inputs: ClassVar[type | None] = None
    # Config overrides that make a run tiny but still able to learn: the conformance tests use them.
    smoke_config: ClassVar[dict[str, Any]] = {}
    # "image" families train on ImageData, "points" families on 2-D PointData (their samples are N×2).
    data_kind: ClassVar[str] = "image"
    # Partial updates the interactive lab may run on their own (e.g. ("D", "G") for a GAN): see train_part.
    # An update of the last part counts as a step, as a full train_step does (a GAN counts G updates).
    lab_parts: ClassVar[tuple[str, ...]] = ()
    # The config field the lab's side-by-side comparison varies and run B's default value for it, e.g.
    # ("objective", "wgan_gp"); None = no comparison.
    lab_compare: ClassVar[tuple[str, Any] | None] = None
    lab_notes: ClassVar[str] = ""  # markdown the Lab shows under "What to look for"

    def build(self, cfg: TrainConfig, info: DataInfo) -> nn.ModuleDict:
        raise NotImplementedError

    def configure_optimizers(self, cfg: TrainConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(modules.parameters(), lr=cfg.lr)}

    def train_step(self, state: ModelState, batch: Batch) -> dict[str, torch.Tensor]:
        """One optimisation step; return named scalar losses (tensors, not synchronised)."""
        raise NotImplementedError

    def train_part(self, state: ModelState, batch: Batch, part: str) -> dict[str, torch.Tensor]:
        """One update of only ``part`` (one of ``lab_parts``), for the lab's step buttons (optional)."""
        raise NotImplementedError(f"{self.name} has no partial updates.")

    def updates_per_step(self, cfg: TrainConfig) -> dict[str, int]:
        """How many updates of each lab part one train_step makes (the lab's counters use it)."""
        return {p: 1 for p in self.lab_parts}

    def field(self, state: ModelState, xy: torch.Tensor) -> Field | None:
        """A scalar over 2-D points (K×2 → values of K) drawn under the samples in 2-D plots (optional)."""
        return None

    def batches_per_step(self, cfg: TrainConfig) -> int:
        """How many batches of ``cfg.batch_size`` one train_step consumes (they arrive concatenated in one
        Batch); e.g. a GAN's critic steps each want fresh real data."""
        return 1

    def data_filters(self, cfg: TrainConfig) -> dict[str, Any]:
        """Extra DataSpec fields for training data, e.g. ``{"exclude_classes": (9,)}`` (optional)."""
        return {}

    def finalize(self, state: ModelState, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fit ``state.stats`` from training data before a checkpoint is written (optional)."""

    def preview(self, state: ModelState, batch: Batch, generator: torch.Generator) -> torch.Tensor | None:
        """Images (N×C×H×W in [-1, 1]) shown while training (optional)."""
        return None

    def learning_score(self, state: ModelState, images: torch.Tensor) -> float | None:
        """How far the model is from the data, lower is better (optional). For families whose losses do not
        fall as they learn (adversarial games), the conformance tests compare this before and after training."""
        return None

    def sample(self, state: ModelState, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """N new samples (images N×C×H×W in [-1, 1], or points N×2) (optional; None = not a generator)."""
        return None

    @property
    def can_sample(self) -> bool:
        return type(self).sample is not ModelFamily.sample

    @property
    def samples_images(self) -> bool:
        """Generates images, so the evaluator-based sample-quality scores (FID, …) apply."""
        return self.can_sample and self.data_kind == "image"

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"{self.name} has no task {name!r}; it offers {', '.join(t.name for t in self.tasks)}")

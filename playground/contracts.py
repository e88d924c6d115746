"""The model-family contract (contract 2): what a plugin implements and what the engine and UI rely on.

A family declares its config, its **data streams** (what it trains on), optional **parent models**, and its
tasks; it builds networks and writes ``train_step(run, batch)``, optimising through the engine's run context
(``run.backward(loss, "G")``, ``run.step("G")``), so mixed precision, clipping, accumulation, schedules and
multi-process training are the engine's, once, for every family.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from .metrics.views import AS_GENERATED, ImageView
from .params import param

if TYPE_CHECKING:  # the run context lives in the engine's package; families only use it
    from .plot2d import Overlay
    from .run import Run

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LR_SCHEDULES = ("constant", "linear_decay", "cosine")


@dataclass
class TrainConfig:
    """Settings every family shares; a family subclasses it and adds its own fields."""

    dataset: str = param("digits", help="Training data (a registered dataset name, or folder:PATH).")
    steps: int = param(2000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = param(128, min=1, max=65_536, help="Items per optimisation step (over all processes and "
                            "accumulated micro-batches).")
    lr: float = param(1e-3, min=1e-8, max=1.0, help="Step size of the optimiser.", label="learning rate")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seeds weights, batches and noise.")
    log_every: int = param(25, min=1, max=1_000_000, help="Steps between logged losses.", advanced=True)
    sample_every: int = param(250, min=1, max=1_000_000, help="Steps between sample grids.", advanced=True)
    checkpoint_every: int = param(500, min=1, max=10_000_000, help="Steps between checkpoints.",
                                  advanced=True)
    # How the engine optimises (the run context): the same for every family.
    precision: str = param("auto", choices=PRECISIONS, help="Autocast: auto = bf16 on CUDA, fp32 elsewhere; "
                           "fp16 adds a gradient scaler.", advanced=True)
    grad_clip: float = param(0.0, min=0.0, max=1e6, help="Clip each optimiser's gradient norm to this; 0 = off.",
                             label="gradient clipping", advanced=True)
    grad_accum: int = param(1, min=1, max=1024, help="Split each step's batch into this many micro-batches "
                            "(same result, less memory).", label="gradient accumulation", advanced=True)
    lr_schedule: str = param("constant", choices=LR_SCHEDULES, help="Learning-rate schedule: constant, "
                             "linear_decay (constant, then linearly to 0 over the second half), cosine.",
                             label="LR schedule", advanced=True)
    lr_horizon: int = param(0, min=0, max=10_000_000, help="Steps the schedule spans; 0 = this run's steps, "
                            "fixed at the start so a resume that adds steps does not shift it.",
                            label="LR schedule length", advanced=True)

    # What a resume may change: everything else would alter the model, its data or its optimisation.
    resumable: ClassVar[tuple[str, ...]] = ("steps", "log_every", "sample_every", "checkpoint_every")
    # How the engine optimises, not what is trained: the Train form lists these last (so the API's positional
    # slots of the other fields stay put), and the hand-stepped lab leaves them at their defaults.
    engine_fields: ClassVar[tuple[str, ...]] = ("precision", "grad_clip", "grad_accum", "lr_schedule", "lr_horizon")
    # Shared fields this family ignores (e.g. NO_OPTIMISER for EM or a sampler): kept at their defaults and left
    # out of the Train form, the Lab's settings and the CLI's flags, so no one tunes a knob that does nothing.
    unused: ClassVar[tuple[str, ...]] = ()
    # Values of fields added after checkpoints were written: a checkpoint whose config lacks one was trained as if
    # set to this (e.g. a moving average that did not exist yet), which need not be the new default.
    legacy: ClassVar[dict[str, Any]] = {}


# What a family without an optimiser and with a full-batch stream never reads.
NO_OPTIMISER: tuple[str, ...] = ("batch_size", "lr", "grad_clip", "grad_accum", "lr_schedule", "lr_horizon")


@dataclass(frozen=True)
class Stream:
    """One stream of training data a family declares (see ``ModelFamily.streams``).

    ``field`` is the config field that names the stream's dataset (one dataset picker per stream in the UI).
    Each step the family gets ``per_step`` batches of ``batch_size`` items concatenated (e.g. a critic's fresh
    data per D update), or every item when ``full`` (full-batch methods such as EM).
    """

    name: str = "x"
    field: str = "dataset"
    kind: str = "image"  # "image" (N×C×H×W in [-1, 1]) or "points" (N×2)
    labels: bool = False  # the data must be labelled; batches carry ``y``
    size: int = 32  # image side the stream delivers (8..512)
    channels: int | None = None  # 1 or 3 to convert; None = the dataset's own
    per_step: int = 1
    full: bool = False
    exclude_classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("image", "points"):
            raise ValueError(f"Stream {self.name!r}: kind must be 'image' or 'points', not {self.kind!r}.")
        if self.per_step < 1:
            raise ValueError(f"Stream {self.name!r}: per_step must be at least 1.")


@dataclass(frozen=True)
class Parent:
    """A trained model of another family that this one is trained on top of (e.g. a prior over a VQ-VAE's
    codes). ``field`` is the config field holding the parent's weights reference. The engine loads it frozen and
    in eval mode, never optimises or copies it, and records family, reference and sha256 in the checkpoint."""

    name: str
    family: str
    field: str


@dataclass(frozen=True)
class DataInfo:
    """What one stream holds: channels (points: dimensions), image size (points: 0), classes, kind."""

    channels: int
    size: int
    num_classes: int
    kind: str = "image"


@dataclass(frozen=True)
class BuildInfo(DataInfo):
    """What ``build`` knows: the first stream's shape (as a DataInfo), every stream's, and the loaded parents."""

    streams: Mapping[str, DataInfo] = field(default_factory=dict)
    parents: Mapping[str, ModelState] = field(default_factory=dict, compare=False)


@dataclass
class Batch:
    """One step's data: ``x``/``y`` of the first stream; ``batch["A"]`` for any declared stream."""

    x: torch.Tensor  # images: N×C×H×W float in [-1, 1]; points: N×2 float (on the training device)
    y: torch.Tensor | None = None
    streams: dict[str, Batch] = field(default_factory=dict)

    @classmethod
    def of(cls, parts: dict[str, Batch]) -> Batch:
        """One step's batch from its streams' batches (the first stream is also ``x``/``y``)."""
        first = next(iter(parts.values()))
        return cls(first.x, first.y, parts)

    def __getitem__(self, name: str) -> Batch:
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(f"No stream {name!r} in this batch; streams: {', '.join(self.streams)}.") from None


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
    # keys of ``values`` that are wall-clock measurements (seconds, samples per second): shown like the others, and
    # the only values allowed to differ between two identical calls
    measured: tuple[str, ...] = ()

    def deterministic_values(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k not in self.measured}


@dataclass(frozen=True)
class Task:
    """An inference action a family offers; ``inputs`` is a dataclass of params/image_params.

    An image input reaches the task as a C×H×W tensor in [-1, 1] at the model's size and channels (upload,
    sketch, RGBA, inversion and cropping are the framework's). ``chart`` is None, "line" or "bar". A ``data`` task
    is called as ``method(state, inputs, load)`` with the loader ``evaluate`` gets (``load(DataSpec)``).
    """

    name: str
    title: str
    inputs: type
    description: str = ""
    chart: str | None = None
    animation: bool = False  # the task returns TaskResult.animation frames
    data: bool = False  # the method takes (state, inputs, load), ``load`` as evaluate's (e.g. test images to show)


@dataclass
class ModelState:
    """Everything a trained (or training) model is: the checkpoint round-trips all of it."""

    family: str
    config: TrainConfig
    data: dict[str, Any]  # the first stream's data spec (JSON-able), as stored
    info: BuildInfo
    modules: nn.ModuleDict
    optimizers: dict[str, torch.optim.Optimizer]
    stats: dict[str, torch.Tensor] = field(default_factory=dict)  # fitted tensors that are not weights
    stash: dict[str, torch.Tensor] = field(default_factory=dict)  # training-only tensors, kept for resume
    step: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    generator: torch.Generator | None = None  # the family's training randomness (noise); per process
    data_generator: torch.Generator | None = None  # the engine's batch draws; the same on every process
    metrics: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)  # every stream's data spec, by name
    parents: dict[str, ModelState] = field(default_factory=dict)  # frozen parent models, by declared name
    parent_records: dict[str, dict[str, str]] = field(default_factory=dict)  # family, ref, sha256 per parent


@dataclass(frozen=True)
class Lab:
    """How the interactive 2-D Lab drives a family. Every 2-D family gets the Lab; one that declares nothing gets
    these defaults, and an image family has no Lab (declaring one is a registration error)."""

    # Partial updates the Lab's step buttons run on their own (``train_part``), e.g. ("D", "G"); () = whole steps
    # only. An update of the last part counts as a step, as a full train_step does (a GAN counts G updates).
    parts: tuple[str, ...] = ()
    # The config field the side-by-side comparison varies and run B's default value, e.g. ("objective", "wgan_gp").
    compare: tuple[str, Any] | None = None
    notes: str = ""  # markdown shown under "What to look for"
    # Full steps between two frames while it runs: a GAN's steps are small (5 at ~10 frames/s), an EM iteration
    # moves a mixture a long way (1, so each one is seen).
    steps_per_frame: int = 5


@dataclass(frozen=True)
class Scores:
    """How a family's results are scored and shown beside the common protocol (the Evaluate tab, sample quality,
    the Overview and the leaderboard)."""

    # How samples and the real reference are shown to the evaluator for FID & co. (e.g. pg.BINARISED for a family
    # that generates binary images).
    view: ImageView = AS_GENERATED
    # The family's own headline numbers: names of metric rows in its weights' model cards (written by ``playground
    # card`` from evaluate()), shown beside the common scores in the Overview and the leaderboard.
    headline: tuple[str, ...] = ()
    chart: str = "line"  # how the Evaluate tab draws evaluate()'s TaskResult.chart: "line" or "bar"


@dataclass(frozen=True)
class Checks:
    """What the conformance checks (the test suite, ``playground check-plugin``) train the family with and expect."""

    # Config overrides that make a run tiny but still able to learn (the shared smoke run).
    smoke_config: Mapping[str, Any] = field(default_factory=dict)
    # The logged loss "learns" expects to fall by half its untrained size (sign-safe); families whose losses need
    # not fall implement learning_score instead.
    learning_loss: str = "loss"
    # False when train_step draws per-item noise (a denoiser's corruption), so two micro-batches cannot equal one
    # batch item for item and the gradient-accumulation check is skipped.
    accumulation_exact: bool = True


# Contract 2's one-consumer class attributes and the declaration each moved into (contract 3).
MOVED = {"lab_parts": "lab = pg.Lab(parts=...)", "lab_compare": "lab = pg.Lab(compare=...)",
         "lab_notes": "lab = pg.Lab(notes=...)", "lab_steps_per_frame": "lab = pg.Lab(steps_per_frame=...)",
         "quality_view": "scores = pg.Scores(view=...)", "headline_metrics": "scores = pg.Scores(headline=...)",
         "evaluate_chart": "scores = pg.Scores(chart=...)", "smoke_config": "checks = pg.Checks(smoke_config=...)",
         "learning_loss": "checks = pg.Checks(learning_loss=...)",
         "accumulation_exact": "checks = pg.Checks(accumulation_exact=...)"}


class ModelFamily:
    """Base class of a model family. Subclasses set the class attributes and implement the hooks.

    Required: ``build``, ``train_step`` and one method per declared task (named like the task).
    Optional: ``streams``, ``parents``, ``configure_optimizers``, ``prepare``, ``finalize``, ``preview``, ``evaluate``,
    ``sample``, the lab hooks.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    config: ClassVar[type[TrainConfig]] = TrainConfig
    tasks: ClassVar[tuple[Task, ...]] = ()
    evaluate_inputs: ClassVar[type | None] = None
    # Trained on top of these models of other families (see Parent).
    parents: ClassVar[tuple[Parent, ...]] = ()
    # What train_step's logged values are: "loss" (the lab's live table heads them "loss d", "loss g"), or "" for
    # named statistics that are not losses (a log-likelihood, an acceptance rate), shown under their own names.
    logged_kind: ClassVar[str] = "loss"
    # What each consumer needs, declared apart (None / the defaults: nothing to say).
    lab: ClassVar[Lab | None] = None  # 2-D families only
    scores: ClassVar[Scores] = Scores()
    checks: ClassVar[Checks] = Checks()

    # -- what it trains on ------------------------------------------------------------------------------
    def streams(self, cfg: TrainConfig) -> tuple[Stream, ...]:
        """The data streams one train_step gets, resolved for ``cfg`` (default: one image stream)."""
        return (Stream(),)

    @functools.cached_property
    def declared_streams(self) -> tuple[Stream, ...]:
        """The streams at the default config (what the UI builds pickers for); computed once per family."""
        from .params import build_params

        return self.streams(build_params(self.config, {}))

    @property
    def has_lab(self) -> bool:
        """2-D families get the interactive Lab (stepped whole, or part by part where ``lab.parts`` says)."""
        return self.kind == "points"

    @property
    def lab_settings(self) -> Lab:
        """The Lab as declared, or its defaults."""
        return self.lab or Lab()

    @property
    def kind(self) -> str:
        """"image" or "points": the kind of the first stream (what samples and task pictures are)."""
        return self.declared_streams[0].kind

    # -- building and training -----------------------------------------------------------------------------
    def build(self, cfg: TrainConfig, info: BuildInfo) -> nn.ModuleDict:
        raise NotImplementedError

    def configure_optimizers(self, cfg: TrainConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (default: Adam over every trainable parameter as "main"; none if there are none)."""
        params = [p for p in modules.parameters() if p.requires_grad]
        return {"main": torch.optim.Adam(params, lr=cfg.lr)} if params else {}

    def train_step(self, run: Run, batch: Batch) -> dict[str, torch.Tensor]:
        """One step: compute losses, ``run.backward(loss[, name])``, ``run.step([name])``; return named scalar
        losses (tensors, not synchronised). A family without optimisers updates its state itself."""
        raise NotImplementedError

    def train_part(self, run: Run, batch: Batch, part: str) -> dict[str, torch.Tensor]:
        """One update of only ``part`` (one of ``lab.parts``), for the lab's step buttons (optional)."""
        raise NotImplementedError(f"{self.name} has no partial updates.")

    def updates_per_step(self, cfg: TrainConfig) -> dict[str, int]:
        """How many updates of each lab part one train_step makes (the lab's counters use it)."""
        return {p: 1 for p in self.lab_settings.parts}

    def field(self, state: ModelState, xy: torch.Tensor) -> Field | None:
        """A scalar over 2-D points (K×2 → values of K) drawn under the samples in 2-D plots (optional)."""
        return None

    def overlays(self, state: ModelState) -> list[Overlay]:
        """Shapes drawn over 2-D plots in the Lab (``pg.Ellipse``, ``pg.Polyline``, ``pg.Arrow``, ``pg.Marker``): a
        mixture's components, a sampler's path (optional)."""
        return []

    def prepare(self, state: ModelState, data: Batch, generator: torch.Generator) -> None:
        """Fit what training needs from the training data before the first step, for a new run only (a resume
        loads it from the checkpoint): a frozen helper network, a clustering's seeds. ``data["A"].x``/``.y`` hold
        every item of each stream; ``generator`` is seeded by ``config.seed``, the same on every process. What it
        fits belongs in ``state.modules`` (not in an optimiser) or ``state.stash`` (optional)."""

    def finalize(self, state: ModelState, items: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Fit ``state.stats`` from the first stream's training data before a checkpoint is written (optional)."""

    def preview(self, state: ModelState, batch: Batch, generator: torch.Generator) -> torch.Tensor | None:
        """Images (N×C×H×W in [-1, 1]) shown while training (optional)."""
        return None

    def learning_score(self, state: ModelState, images: torch.Tensor) -> float | None:
        """How far the model is from the data, lower is better (optional). For families whose losses do not
        fall as they learn (adversarial games), the conformance tests compare this before and after training."""
        return None

    # -- generating ------------------------------------------------------------------------------------------
    def sample(self, state: ModelState, n: int, generator: torch.Generator,
               labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """N new samples (images N×C×H×W in [-1, 1], or points N×2) (optional; None = not a generator).
        ``labels`` (N class indices) asks a conditional model for those classes; see ``sample_classes``."""
        return None

    def sample_classes(self, state: ModelState) -> tuple[str, ...]:
        """The classes ``sample(..., labels=...)`` can generate on request; () = unconditional."""
        return ()

    @property
    def can_sample(self) -> bool:
        return type(self).sample is not ModelFamily.sample

    @property
    def samples_images(self) -> bool:
        """Generates images, so the evaluator-based sample-quality scores (FID, …) apply."""
        return self.can_sample and self.kind == "image"

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"{self.name} has no task {name!r}; it offers {', '.join(t.name for t in self.tasks)}")


def declaration_problems(fam: ModelFamily) -> list[str]:
    """What is wrong with a family's declarations, found when it registers (the registry records them as the
    plugin's failure, so nothing half-declared reaches the UI): each declared task has its method, an evaluation
    its inputs and its function, lab parts their partial update, the lab's comparison a config field with a choice
    for run B, the smoke config only config fields; contract 2's one-consumer attributes name their new place."""
    from .params import param_specs

    problems = []
    cls = type(fam)
    if not (isinstance(fam.config, type) and issubclass(fam.config, TrainConfig) and dataclasses.is_dataclass(
            fam.config)):
        return [f"config must be a dataclass subclass of pg.TrainConfig, not {fam.config!r}"]
    fields = {s.name: s for s in param_specs(fam.config)}
    for task in fam.tasks:
        if not isinstance(task, Task):
            problems.append(f"tasks holds {task!r}, not a pg.Task")
        elif not callable(getattr(fam, task.name, None)):
            problems.append(f"task {task.name!r} is declared but the family has no method {task.name}(state, inputs"
                            f"{', load' if task.data else ''})")
        elif not dataclasses.is_dataclass(task.inputs):
            problems.append(f"task {task.name!r}: inputs must be a dataclass (pg.param fields), not {task.inputs!r}")
    evaluates = callable(getattr(fam, "evaluate", None))
    if (fam.evaluate_inputs is not None) != evaluates:
        problems.append("evaluate_inputs is declared but the family has no evaluate(state, inputs, load)" if evaluates
                        is False else "evaluate() is defined but evaluate_inputs (its inputs dataclass) is not")
    moved = [f"{old} is now {new}" for old, new in MOVED.items() if hasattr(cls, old)]
    problems += moved
    for attr, kind in (("lab", Lab), ("scores", Scores), ("checks", Checks)):
        value = getattr(fam, attr)
        if not isinstance(value, kind) and not (attr == "lab" and value is None):
            problems.append(f"{attr} must be a pg.{kind.__name__}(...), not {value!r}")
    if problems:
        return problems
    if fam.lab is not None and not fam.has_lab:
        problems.append("lab is declared, but the Lab is for 2-D families and this one trains on images")
    lab = fam.lab_settings
    if lab.parts and cls.train_part is ModelFamily.train_part:
        problems.append(f"lab parts {lab.parts} need train_part(run, batch, part) for the Lab's step buttons")
    if lab.compare is not None:
        try:
            field_name, value_b = lab.compare
        except (TypeError, ValueError):
            field_name, value_b = None, None
        spec = fields.get(field_name) if isinstance(field_name, str) else None
        choices = (False, True) if spec is not None and spec.type is bool else spec.choices if spec else None
        if spec is None:
            problems.append(f"lab compare {lab.compare!r} must be (config field, run B's value); "
                            f"{field_name!r} is not a field of {fam.config.__name__}")
        elif not choices:
            problems.append(f"lab compare names {field_name!r}, which has no choices: the Lab compares runs that "
                            f"differ in a field with pg.param(..., choices=...) or a bool")
        elif value_b not in choices:
            problems.append(f"lab compare: run B's {field_name} {value_b!r} is not one of its choices {choices}")
    if fam.scores.chart not in ("line", "bar"):
        problems.append(f"scores chart {fam.scores.chart!r} must be 'line' or 'bar'")
    unknown = sorted(set(fam.checks.smoke_config) - set(fields))
    if unknown:
        problems.append(f"checks smoke_config sets {', '.join(unknown)}, which {fam.config.__name__} does not have")
    return problems

"""The 2-D lab: models stepped interactively (both players, D only or G only) and drawn after each burst.

Engine-side and free of Gradio: the UI keeps one ``LabSession`` per browser session and calls ``step`` and
``frames`` from a timer; the API, the benchmarks and the tests drive the same object. A lab always runs on
the CPU: its MLPs are launch-bound (a GPU would not be faster) and it then never competes with the GPU queue.
"""

from __future__ import annotations

import copy
import itertools
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from .checkpoint import TRAIN_FILE
from .contracts import ModelFamily, ModelState
from .data import PointData
from .engine import save_trained
from .errors import ConfigError, PluginError, TrainingError
from .metrics.scores import point_metrics
from .models import fresh_state, load_model
from .params import build_params
from .plot2d import Extent, Scene, scene
from .run import Run, run_step
from .streams import StreamData, draw_step, load_streams
from .weights import resolve, runs_dir, safe_name

PLOT_POINTS = 500  # generated points drawn per frame (fixed z, so each point moves smoothly between frames)
METRIC_POINTS = 1000  # generated points scored per frame
REAL_POINTS = 1000  # real points drawn and scored against
FIELD_RESOLUTION = 96  # D is evaluated on this many × this many points per frame
MAX_STEPS_PER_CALL = 1000
MAX_HISTORY = 2000  # loss rows kept per run (older ones are thinned)


def lab_families(registry: Any) -> list[str]:
    return [n for n, f in registry.families.items() if f.has_lab]


@dataclass
class LabRun:
    """One model on 2-D data, stepped by hand or by a timer."""

    registry: Any
    family: ModelFamily
    state: ModelState
    streams: dict[str, StreamData]
    label: str = "A"
    source: str = "fresh"
    history: list[tuple[int, str, float]] = field(default_factory=list)
    coverage: list[tuple[int, str, float]] = field(default_factory=list)
    updates: dict[str, int] = field(default_factory=dict)  # per lab part
    last_losses: dict[str, float] = field(default_factory=dict)  # the latest value of each loss
    error: str = ""
    seconds_training: float = 0.0

    @classmethod
    def create(cls, registry: Any, family: str, values: dict[str, Any] | None = None, *, weights: str | None = None,
               label: str = "A") -> LabRun:
        """A fresh model from config ``values``, or one loaded from ``weights`` (its own config then applies)."""
        fam = registry.family(family)
        if not fam.has_lab:
            raise PluginError(f"{fam.title} has no 2-D lab (it trains on images, not 2-D points).")
        cpu = torch.device("cpu")
        if weights:  # the process-wide RNG stays as it is: other users' runs draw from it
            folder = resolve(family, weights)
            # A run's checkpoint continues exactly; shipped weights (no training state) go on with fresh optimisers.
            state = load_model(registry, folder, device=cpu, family=family,
                               training=(folder / TRAIN_FILE).exists(), global_rng=False)
            streams = load_streams(registry, fam, state.config, cpu)
        else:
            cfg = build_params(fam.config, values or {})
            streams = load_streams(registry, fam, cfg, cpu)
            state = fresh_state(registry, fam, cfg, streams, cpu)
        state.modules.train()
        run = cls(registry, fam, state, streams, label, f"weights {weights}" if weights else "fresh")
        run.log_start()
        return run

    def log_start(self) -> None:
        """Log the losses of the model as it starts (step ``state.step``), measured by one full step that is then
        rolled back exactly (weights, optimisers, generators, stash). Every loss the run will log is then on the
        charts from the first frame: a plot fixes its colours from the first series it sees, so a loss first
        logged later (Step G after Step D) would otherwise never be drawn."""
        snapshot = self._snapshot()
        try:
            with self.registry.guard(self.family.name, "train"):
                micro = draw_step(self.streams, self.state.config, self.state.data_generator)
                losses = run_step(self.run, self.family, micro, None)
        finally:
            self._restore(snapshot)
        values = {k: float(v) for k, v in losses.items()}
        self.last_losses.update(values)
        self.history += [(self.state.step, f"{self.label}: {k}", v) for k, v in values.items()]

    # -- derived once per run -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.data: PointData = next(iter(self.streams.values())).data
        self.run = Run(self.state)
        pick = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(0))[:REAL_POINTS]
        self.real = self.data.points[pick].float()
        self.modes = self.data.modes
        self.extent = Extent.around(self.real, self.modes)
        self.grid = self.extent.grid(FIELD_RESOLUTION)
        self.updates = self.updates or {p: 0 for p in self.family.lab_settings.parts}

    @property
    def steps(self) -> int:
        """Full-step equivalents (a GAN: G updates); the x axis of the curves."""
        return self.state.step

    @property
    def objective(self) -> str:
        """What tells this run apart in a comparison: the value of the family's ``lab.compare`` field."""
        cmp = self.family.lab_settings.compare
        return str(getattr(self.state.config, cmp[0])) if cmp else self.family.name

    # -- stepping ---------------------------------------------------------------------------------------
    def step(self, part: str = "both", n: int = 1) -> None:
        """``n`` updates of ``part`` ("both" = the family's full train step, or one of its ``lab.parts``).
        A non-finite loss rolls the run back to where this call started and raises TrainingError."""
        parts = self.family.lab_settings.parts
        if part != "both" and part not in parts:
            raise ConfigError(f"Unknown part {part!r}; use 'both'"
                              + (f" or one of {', '.join(parts)}." if parts else
                                 f" ({self.family.title} steps whole)."))
        if not 1 <= n <= MAX_STEPS_PER_CALL:
            raise ConfigError(f"Steps per call must be between 1 and {MAX_STEPS_PER_CALL}; got {n}.")
        if self.error:
            raise TrainingError(self.error)
        state, fam = self.state, self.family
        snapshot = self._snapshot()
        sums: dict[str, torch.Tensor] = {}
        t0 = time.perf_counter()
        try:
            with self.registry.guard(fam.name, "train"):
                for _ in range(n):
                    micro = draw_step(self.streams, state.config, state.data_generator, one_row=part != "both")
                    losses = run_step(self.run, fam, micro, None if part == "both" else part)
                    for name, v in losses.items():
                        sums[name] = sums.get(name, 0) + v
        except Exception:
            self._restore(snapshot)  # a plugin that raised mid-burst leaves no half-updated model behind
            raise
        self.seconds_training += time.perf_counter() - t0
        means = {k: float(v) / n for k, v in sums.items()}
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if bad:
            self._restore(snapshot)
            self.error = (f"Run {self.label} ({self.objective}): loss {bad[0]!r} became {means[bad[0]]} after step "
                          f"{state.step}. Rolled back to before this burst; reset with a lower learning rate.")
            raise TrainingError(self.error)
        made = fam.updates_per_step(state.config) if part == "both" else {part: 1}
        for p, k in made.items():
            self.updates[p] = self.updates.get(p, 0) + n * k
        if part == "both" or part == fam.lab_settings.parts[-1]:
            state.step += n
        self.last_losses.update(means)
        for k, v in means.items():
            self.history.append((state.step, f"{self.label}: {k}", v))
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::2]

    def _snapshot(self) -> tuple:
        s = self.state
        return (copy.deepcopy(s.modules.state_dict()), {k: copy.deepcopy(o.state_dict()) for k, o in
                                                        s.optimizers.items()}, s.generator.get_state(),
                s.data_generator.get_state(), {k: v.clone() for k, v in s.stash.items()}, s.step)

    def _restore(self, snap: tuple) -> None:
        s = self.state
        s.modules.load_state_dict(snap[0])
        for k, o in s.optimizers.items():
            o.load_state_dict(snap[1][k])
            o.zero_grad(set_to_none=True)
        s.generator.set_state(snap[2])
        s.data_generator.set_state(snap[3])
        s.stash = snap[4]
        s.step = snap[5]

    # -- looking ----------------------------------------------------------------------------------------
    def samples(self) -> torch.Tensor:
        """The family's samples from the same seed every time: frames differ only because the model changed."""
        with self.registry.guard(self.family.name, "infer"):
            return self.family.sample(self.state, METRIC_POINTS,
                                      torch.Generator().manual_seed(self.state.config.seed + 1))

    def metrics(self, fake: torch.Tensor | None = None) -> dict[str, float]:
        fake = self.samples() if fake is None else fake
        return point_metrics(fake, self.real, self.modes, self.data.sigma)

    @torch.no_grad()
    def scene(self, size: int = 360) -> Scene:
        """The picture as data (real, generated, the field, the family's overlays, the update counts): drawn as a
        PNG for the API, as SVG by the page."""
        fake = self.samples()[:PLOT_POINTS]
        with self.registry.guard(self.family.name, "infer"):
            fld = self.family.field(self.state, self.grid)
            shapes = self.family.overlays(self.state)
        counts = " · ".join(f"{p} {k}" for p, k in self.updates.items()) or f"step {self.steps}"
        return scene(self.extent, field=fld, resolution=FIELD_RESOLUTION, real=self.real[:PLOT_POINTS], fake=fake,
                     modes=self.modes, hq_radius=3 * self.data.sigma, size=size,
                     title=f"{self.label}: {self.objective} · {counts}", overlays=shapes)

    @torch.no_grad()
    def numbers(self) -> dict[str, Any]:
        """The row of live numbers (scores of 1,000 samples against the real points, the latest losses); also
        records modes covered at this step for the chart."""
        m = self.metrics()
        if self.modes is not None and (not self.coverage or self.coverage[-1][0] != self.steps):
            self.coverage.append((self.steps, f"{self.label}: {self.objective}", float(m["modes_covered"])))
        row: dict[str, Any] = {"run": self.label, "objective": self.objective, "step": self.steps,
                               **{f"{p} updates": k for p, k in self.updates.items()}}
        if self.modes is not None:
            row.update({"modes covered": f"{m['modes_covered']}/{m['modes_total']}",
                        "% high quality": round(m["high_quality_pct"], 1),
                        "KL to uniform": round(m["kl_to_uniform"], 3) if math.isfinite(m["kl_to_uniform"])
                        else "∞ (no mode hit)"})
        row.update({k: round(m[k], 3) for k in ("precision", "recall", "coverage")})
        kind = self.family.logged_kind
        # "loss d", "loss g"; a value already named as such ("loss", "loss (nats)") keeps its own name
        row.update({f"{kind} {k}" if kind and not k.startswith(kind) else k: round(v, 4)
                    for k, v in self.last_losses.items()})
        row["status"] = self.error or "ok"
        return row

    def frame(self, size: int = 360) -> tuple[Image.Image, dict[str, Any]]:
        """The picture (real, generated and D's field) and the row of live numbers."""
        return self.scene(size).to_image(), self.numbers()

    def save(self, name: str | None = None) -> str:
        """Write the run as ``run/NAME`` (finalised like an engine checkpoint); returns the reference."""
        name = safe_name(name or f"lab-{self.objective}-{time.strftime('%Y%m%d-%H%M%S')}-{self.label}")
        save_trained(self.registry, self.family, self.state, self.streams, runs_dir(self.family.name) / name)
        return f"run/{name}"


class LabSession:
    """One or two runs on the same data and seed, stepped together (the side-by-side comparison)."""

    def __init__(self, runs: list[LabRun]) -> None:
        if not runs:
            raise ConfigError("A lab session needs at least one run.")
        self.runs = runs
        # The page's timer and its step buttons may reach one session at once; its models take one at a time.
        self.lock = threading.Lock()
        self.running = False  # the UI's Run/Pause state
        self.steps_per_frame = runs[0].family.lab_settings.steps_per_frame  # the UI's speed while running
        self.stopped_by = ""  # why a live run stopped itself (a plugin that raised)
        self.token = secrets.token_urlsafe(16)  # names this session to its page's frame requests (unguessable)

    @classmethod
    def create(cls, registry: Any, family: str, values: dict[str, Any], variants: list[Any] | None = None,
               weights: list[str | None] | None = None) -> LabSession:
        """One run per entry of ``variants`` (values of the family's ``lab.compare`` field; None keeps
        ``values``) or of ``weights``; all with the same data, seed and other settings."""
        fam = registry.family(family)
        pairs = list(itertools.zip_longest(variants or [], weights or [])) or [(None, None)]
        if len(pairs) > 2:
            raise ConfigError("The lab compares at most two runs.")
        runs = []
        for i, (variant, w) in enumerate(pairs):
            run_values = dict(values)
            if variant is not None and fam.lab_settings.compare is not None:
                run_values[fam.lab_settings.compare[0]] = variant
            runs.append(LabRun.create(registry, family, run_values, weights=w, label="AB"[i]))
        return cls(runs)

    def step(self, part: str = "both", n: int = 1) -> list[str]:
        """Step every healthy run; returns the error messages of runs that failed (the others went on)."""
        errors = []
        with self.lock:
            for run in self.runs:
                if run.error:
                    continue
                try:
                    run.step(part, n)
                except TrainingError as exc:
                    errors.append(str(exc))
        return errors

    @property
    def failed(self) -> bool:
        return all(run.error for run in self.runs)

    def frames(self, size: int = 360) -> tuple[list[Image.Image], list[dict[str, Any]]]:
        with self.lock:
            out = [run.frame(size) for run in self.runs]
        return [img for img, _ in out], [row for _, row in out]

    def scenes(self, size: int = 360) -> list[Scene]:
        with self.lock:
            return [run.scene(size) for run in self.runs]

    def numbers(self) -> list[dict[str, Any]]:
        with self.lock:
            return [run.numbers() for run in self.runs]

    @property
    def history(self) -> list[tuple[int, str, float]]:
        return [row for run in self.runs for row in run.history]

    @property
    def coverage(self) -> list[tuple[int, str, float]]:
        return [row for run in self.runs for row in run.coverage]

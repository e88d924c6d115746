"""Running a family's tasks and evaluation: one path for the UI, the CLI and the API."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from .checkpoint import MODEL_FILE
from .contracts import ModelState, Task, TaskResult
from .data import DataSpec, ImageData, PointData, load_dataset
from .devices import pick_device
from .errors import DataError, InputError, PluginError
from .models import load_model
from .params import ImageInput, build_params, param, param_specs
from .weights import resolve


class ModelCache:
    """Loaded models for inference, keyed by file identity, least recently used evicted."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple, ModelState] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, registry: Any, family: str, ref: str, device: torch.device) -> ModelState:
        folder = resolve(family, ref)
        f = folder / MODEL_FILE
        st = f.stat()
        key = (family, str(f.resolve()), st.st_mtime_ns, st.st_size, str(device))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        state = load_model(registry, folder, device=device, family=family)
        with self._lock:
            self._items[key] = state
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return state

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = ModelCache()
_device_lock = threading.Lock()  # one model call at a time per process: predictable memory, no contention


def model_cache() -> ModelCache:
    return _cache


def _check_result(family: str, task: str, result: Any) -> TaskResult:
    if not isinstance(result, TaskResult):
        raise PluginError(f"{family}.{task} returned {type(result).__name__}, not a TaskResult.")
    for caption, img in list(result.images) + [("animation frame", f) for f in result.animation or []]:
        if not torch.is_tensor(img) or img.ndim != 3 or img.shape[0] not in (1, 3):
            raise PluginError(f"{family}.{task} image {caption!r} is not a C×H×W tensor with 1 or 3 channels.")
        if not torch.isfinite(img).all():
            raise PluginError(f"{family}.{task} image {caption!r} contains NaN or Inf.")
    return result


def checked_samples(family: str, samples: Any, n: int, what: str = "") -> torch.Tensor:
    """A family's ``sample()`` output, refused unless it is ``n`` finite samples; as float on the CPU."""
    if not torch.is_tensor(samples) or samples.shape[0] != n or not torch.isfinite(samples).all():
        raise PluginError(f"{family}.sample did not return {n} finite samples{what}.")
    return samples.detach().float().cpu()


def parse_task_inputs(task: Task, values: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The task's inputs validated (image inputs still as given), and each image input's ``<name>_invert``."""
    values = dict(values)
    images = [s.name for s in param_specs(task.inputs) if s.type is ImageInput]
    inverts = {name: values.pop(f"{name}_invert", None) for name in images}
    return build_params(task.inputs, values), inverts


def convert_images(inputs: Any, inverts: dict[str, Any], state: ModelState) -> Any:
    """Each image input (an upload, a sketch or a file, as ``images.UserImage`` or a plain value) → a C×H×W tensor
    in [-1, 1] at the model's size and channels on its device. A family never sees a UI value."""
    from .images import EmptySketchError, UserImage, to_model_input

    image_kind = state.info.kind == "image"
    optional = {s.name for s in param_specs(type(inputs)) if s.optional}
    for name, invert in inverts.items():
        raw = getattr(inputs, name)
        if raw is None:
            if name in optional:
                continue
            raise InputError(f"No image given for {name!r}: upload one or draw one.")
        img = raw if isinstance(raw, UserImage) else UserImage(raw)
        if invert is not None:
            img = UserImage(img.value, img.sketch, str(invert))
        try:
            x = to_model_input(img, channels=state.info.channels if image_kind else 1,
                               size=state.info.size if image_kind else 32)
        except EmptySketchError:
            if name not in optional:
                raise
            setattr(inputs, name, None)  # an untouched sketchpad under an optional image: none given
            continue
        setattr(inputs, name, x.to(state.device))
    return inputs


def task_inputs(task: Task, values: dict[str, Any], state: ModelState) -> Any:
    """The task's inputs exactly as the family receives them (validated, images converted for ``state``)."""
    return convert_images(*parse_task_inputs(task, values), state)


def run_task(registry: Any, family: str, weights: str, task: str, values: dict[str, Any],
             device: str | None = None) -> TaskResult:
    """Validate ``values`` against the task's declared inputs, load the weights and run the task."""
    fam = registry.family(family)
    spec = fam.task(task)
    inputs, inverts = parse_task_inputs(spec, values)  # bad values are refused before any model is loaded
    with _device_lock:
        state = _cache.get(registry, family, weights, pick_device(device))
        convert_images(inputs, inverts, state)
        with registry.guard(family, "infer"):
            result = call_task(registry, fam, state, spec, inputs)
    return _check_result(family, task, result)


def call_task(registry: Any, fam: Any, state: ModelState, task: Task, inputs: Any) -> Any:
    """The family's method for ``task`` on converted ``inputs``; a ``data`` task also gets the data loader."""
    method = getattr(fam, task.name)
    return method(state, inputs, Loader(registry, fam, state.device)) if task.data else method(state, inputs)


class Loader:
    """What a family's ``evaluate(state, inputs, load)`` gets as ``load``: ``load(spec)`` loads data (of the kind the
    family works on); ``load.model(family, weights)`` a trained model to compare with (from the model cache, on the
    same device: read it, never change it)."""

    def __init__(self, registry: Any, family: Any, device: torch.device) -> None:
        self.registry, self.family, self.device = registry, family, device

    def __call__(self, spec: DataSpec) -> ImageData | PointData:
        data = load_dataset(self.registry.datasets, spec)
        if isinstance(data, PointData) != (self.family.kind == "points"):
            raise DataError(f"{spec.name!r} does not hold the kind of data {self.family.title} works on.")
        return data

    def model(self, family: str, weights: str) -> ModelState:
        return _cache.get(self.registry, family, weights, self.device)


def run_evaluate(registry: Any, family: str, weights: str, values: dict[str, Any],
                 device: str | None = None) -> TaskResult:
    fam = registry.family(family)
    if fam.evaluate_inputs is None or not hasattr(fam, "evaluate"):
        raise PluginError(f"{fam.title} declares no evaluation.")
    inputs = build_params(fam.evaluate_inputs, values)
    dev = pick_device(device)
    with _device_lock:
        state = _cache.get(registry, family, weights, dev)
        with registry.guard(family, "evaluate"):
            result = fam.evaluate(state, inputs, Loader(registry, fam, dev))
    return _check_result(family, "evaluate", result)


def sample_classes(registry: Any, family: str, weights: str, classes: list[int], n_per_class: int, seed: int = 0,
                   device: str | None = None) -> torch.Tensor:
    """``n_per_class`` samples of each class in ``classes`` from a conditional model: (len(classes)·n)×C×H×W, grouped
    by class in that order. A clear error for an unconditional model or a class it does not know."""
    fam = registry.family(family)
    with _device_lock:
        state = _cache.get(registry, family, weights, pick_device(device))
        known = fam.sample_classes(state)
        if not known:
            raise PluginError(f"{fam.title} ({weights}) is unconditional: it cannot generate a chosen class.")
        bad = [c for c in classes if not 0 <= c < len(known)]
        if bad:
            raise DataError(f"Class(es) {bad} are not among this model's {len(known)} classes "
                            f"({', '.join(known)}).")
        labels = torch.tensor(classes, device=state.device).repeat_interleave(n_per_class)
        gen = torch.Generator(device=state.device).manual_seed(seed)
        with registry.guard(family, "evaluate"):
            images = fam.sample(state, len(labels), gen, labels=labels)
    return checked_samples(family, images, len(labels), " for the classes asked for")


@dataclass
class SampleInputs:
    """``playground sample``'s settings: what any family's ``sample()`` takes (one declaration, validated once)."""

    n: int = param(64, min=1, max=1024, help="Samples to draw.")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the samples.")
    label: int = param(-1, min=-1, max=100_000, help="Class to generate (conditional models); -1 = any.")


def run_sample(registry: Any, family: str, weights: str, values: dict[str, Any],
               device: str | None = None) -> TaskResult:
    """Draw from the family's ``sample()``: a grid of images, or a plot of 2-D points (any family that samples,
    whether or not it declares a ``generate`` task)."""
    from .images import make_grid
    from .plot2d import Extent, render, to_tensor

    fam = registry.family(family)
    inp = build_params(SampleInputs, values)
    if not fam.can_sample:
        raise PluginError(f"{fam.title} does not generate new samples on its own (it implements no sample()); its "
                          f"tasks: {', '.join(t.name for t in fam.tasks)} (playground run {fam.name} TASK).")
    with _device_lock:
        state = _cache.get(registry, family, weights, pick_device(device))
        labels = None
        if inp.label >= 0:
            known = fam.sample_classes(state)
            if not known:
                raise InputError(f"{fam.title} ({weights}) is unconditional: --label cannot choose a class.")
            if inp.label >= len(known):
                raise InputError(f"'label' must be one of this model's classes 0..{len(known) - 1} "
                                 f"({', '.join(known)}), not {inp.label}.")
            labels = torch.full((inp.n,), inp.label, device=state.device, dtype=torch.long)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        with registry.guard(family, "infer"):
            out = fam.sample(state, inp.n, gen, labels=labels) if labels is not None else fam.sample(state, inp.n, gen)
    out = checked_samples(family, out, inp.n)
    if fam.kind == "points":
        picture = to_tensor(render(Extent.around(out), fake=out, title=f"{inp.n} samples"))
    else:
        picture = make_grid(out.clamp(-1, 1))
    return _check_result(family, "sample", TaskResult(images=[("samples", picture)],
                                                      values={"n": inp.n, "seed": inp.seed, "weights": weights}))


@dataclass
class QualityInputs:
    """The sample-quality scores' own settings (one declaration for the page, the API and their validation)."""

    n: int = param(1000, min=10, max=50_000, label="samples per checkpoint (n)",
                   help="Samples drawn from each checkpoint (and real images in the baseline).")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the samples.")


def run_quality(registry: Any, family: str, weights: list[str], n: int, seed: int = 0,
                device: str | None = None, inception: bool = False) -> list[tuple[str, Any, torch.Tensor]]:
    """Sample ``n`` images from each checkpoint and score them against its training dataset's evaluator.
    Returns (weights, QualityReport, the first few samples) per checkpoint."""
    from .metrics.report import quality_report

    fam = registry.family(family)
    if not fam.samples_images:
        what = "generates 2-D points, not images" if fam.can_sample else "does not generate new images"
        raise PluginError(f"{fam.title} {what}, so the image sample-quality scores (FID, …) do not apply"
                          + ("; its own evaluation (modes covered, precision/recall) does." if fam.evaluate_inputs
                             else "."))
    checked = build_params(QualityInputs, {"n": n, "seed": seed})
    n, seed = checked.n, checked.seed
    out = []
    for ref in weights:
        with _device_lock:
            state = _cache.get(registry, family, ref, pick_device(device))
            gen = torch.Generator(device=state.device).manual_seed(seed)
            with registry.guard(family, "evaluate"):
                images = fam.sample(state, n, gen)
        images = checked_samples(family, images, n)
        report = quality_report(registry, images, state.data["name"], seed=seed, inception=inception,
                                view=fam.scores.view)
        out.append((ref, report, images[:8]))
    return out

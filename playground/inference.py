"""Running a family's tasks and evaluation: one path for the UI, the CLI and the API."""

from __future__ import annotations

import threading
from typing import Any

import torch

from .contracts import TaskResult
from .data import DataSpec, ImageData, PointData, load_dataset
from .devices import pick_device
from .errors import DataError, PluginError
from .params import build_params
from .weights import ModelCache

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


def run_task(registry: Any, family: str, weights: str, task: str, values: dict[str, Any],
             device: str | None = None) -> TaskResult:
    """Validate ``values`` against the task's declared inputs, load the weights and run the task."""
    fam = registry.family(family)
    spec = fam.task(task)
    inputs = build_params(spec.inputs, values)
    with _device_lock:
        state = _cache.get(registry, family, weights, pick_device(device))
        with registry.guard(family, "infer"):
            result = getattr(fam, task)(state, inputs)
    return _check_result(family, task, result)


def run_evaluate(registry: Any, family: str, weights: str, values: dict[str, Any],
                 device: str | None = None) -> TaskResult:
    fam = registry.family(family)
    if fam.evaluate_inputs is None or not hasattr(fam, "evaluate"):
        raise PluginError(f"{fam.title} declares no evaluation.")
    inputs = build_params(fam.evaluate_inputs, values)

    def load(spec: DataSpec) -> ImageData | PointData:
        data = load_dataset(registry.datasets, spec)
        if isinstance(data, PointData) != (fam.data_kind == "points"):
            raise DataError(f"{spec.name!r} does not hold the kind of data {fam.title} works on.")
        return data

    with _device_lock:
        state = _cache.get(registry, family, weights, pick_device(device))
        with registry.guard(family, "evaluate"):
            result = fam.evaluate(state, inputs, load)
    return _check_result(family, "evaluate", result)


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
    if not 10 <= n <= 50_000:
        raise DataError(f"n must be between 10 and 50000; got {n}.")
    out = []
    for ref in weights:
        with _device_lock:
            state = _cache.get(registry, family, ref, pick_device(device))
            gen = torch.Generator(device=state.device).manual_seed(seed)
            with registry.guard(family, "evaluate"):
                images = fam.sample(state, n, gen)
        if images is None or images.shape[0] != n or not torch.isfinite(images).all():
            raise PluginError(f"{family}.sample did not return {n} finite images.")
        report = quality_report(registry, images.float().cpu(), state.data["name"], seed=seed, inception=inception)
        out.append((ref, report, images[:8].cpu()))
    return out

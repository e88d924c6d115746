"""Latency of a family's inference: a 64-image grid, ``sample()`` alone, every declared task, one evaluation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def median_ms(fn: Callable[[int], Any], repeats: int) -> float:
    """The median wall time of ``fn(i)`` for i in 0..repeats-1, in milliseconds."""
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bench_inference(registry: Any, family: str, weights: str, device: str, repeats: int) -> dict[str, float]:
    """Median latency of a 64-image grid: the ``generate`` task (as the UI runs it) and ``sample()`` alone."""
    from playground.inference import model_cache, run_task

    fam = registry.family(family)
    out: dict[str, float] = {}
    if any(t.name == "generate" for t in fam.tasks):
        run_task(registry, family, weights, "generate", {"n": 64, "seed": 0}, device)  # load + warm up
        out["inprocess_grid64_ms_median"] = median_ms(
            lambda i: run_task(registry, family, weights, "generate", {"n": 64, "seed": i}, device), repeats)
    if fam.can_sample:
        state = model_cache().get(registry, family, weights, torch.device(device))
        out["sample64_ms_median"] = median_ms(
            lambda i: fam.sample(state, 64, torch.Generator(state.device).manual_seed(i)), repeats)
    return out


def bench_tasks(registry: Any, family: str, weights: str, device: str, repeats: int,
                evaluate_values: dict[str, Any], task_values: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, float]:
    """Median latency of every declared task at its default inputs (a real test digit for image inputs), and the
    time of one evaluation with ``evaluate_values`` (e.g. the VAE's IWAE bound over the test split)."""
    from playground.data import DataSpec, load_dataset
    from playground.images import UserImage, tensor_to_pil
    from playground.inference import run_evaluate, run_task
    from playground.params import ImageInput, param_specs

    fam = registry.family(family)
    digit = tensor_to_pil(load_dataset(registry.datasets, DataSpec("digits", split="test")).float_images()[0], 4)
    out: dict[str, float] = {}
    for task in fam.tasks:
        values = {s.name: UserImage(digit) for s in param_specs(task.inputs) if s.type is ImageInput}
        values.update((task_values or {}).get(task.name, {}))
        run_task(registry, family, weights, task.name, values, device)  # load + warm up
        label = ", ".join(f"{k}={v}" for k, v in (task_values or {}).get(task.name, {}).items())
        out[f"task_{task.name}_ms_median" + (f" ({label})" if label else "")] = median_ms(
            lambda _, task=task, values=values: run_task(registry, family, weights, task.name, values, device),
            max(3, repeats // 4))
    if fam.evaluate_inputs is not None:
        t = time.perf_counter()
        run_evaluate(registry, family, weights, evaluate_values, device)
        out["evaluate_s (" + ", ".join(f"{k}={v}" for k, v in evaluate_values.items()) + ")"] = \
            time.perf_counter() - t
    return out

"""``playground bench --family F``: what a plugin author measures on their own family, in one run.

1. Training throughput: the engine vs a plain reference loop (a DataLoader over a TensorDataset, a per-step
   ``.item()``), same family code, model, data, batch size and number of steps; the ratio.
2. Inference latency: a 64-image grid through the ``generate`` task and ``sample()`` alone. With ``--tasks``: every
   task's latency and one evaluation's time (``--eval KEY=VALUE`` sets its inputs, ``--task TASK.KEY=VALUE`` a
   task's).
3. ``--precision``: fp32 vs bf16 autocast steps/s and CUDA peak memory. ``--memory BATCH``: the memory guard's
   estimate for one step next to a real step's peak (ratio > 1 = safe).

The project's own measurements (app start and concurrency, metrics at 10,000 images, several processes, the 2-D
lab in chromium, the Overview, recipe sweeps) live in the repository's ``benchmarks/`` folder: ``./dev bench``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch

from .latency import bench_inference, bench_tasks, median_ms
from .memory_probe import bench_memory
from .training import PlainRun, bench_precision, bench_training

__all__ = ["PlainRun", "bench_inference", "bench_memory", "bench_precision", "bench_tasks", "bench_training",
           "family_figures", "family_parser", "main", "median_ms", "print_figures"]


def family_parser(prog: str = "playground bench", description: str | None = __doc__) -> argparse.ArgumentParser:
    """The flags of the family figures (``./dev bench`` adds its own to the same parser)."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="autoencoder")
    p.add_argument("--weights", help="weights for the latency figures: NAME, run/NAME or import/NAME (default: the "
                   "family's first listed weights)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-training", action="store_true", help="skip the engine vs plain loop figures")
    p.add_argument("--tasks", action="store_true", help="also the latency of every task of --family on --weights and "
                   "the time of one evaluation (set its inputs with --eval KEY=VALUE)")
    p.add_argument("--eval", action="append", default=[], metavar="KEY=VALUE",
                   help="an evaluation input for --tasks (repeat), e.g. --eval quality_n=0 --eval iwae_k=64")
    p.add_argument("--task", action="append", default=[], metavar="TASK.KEY=VALUE",
                   help="a task input for --tasks (repeat), e.g. --task batch_translate.count=64")
    p.add_argument("--precision", action="store_true", help="also train at fp32 and bf16 autocast on --device: "
                   "steps/s and (CUDA) peak memory of each")
    p.add_argument("--precision-batch", type=int, default=256, help="batch size of the --precision runs")
    p.add_argument("--memory", type=int, default=0, metavar="BATCH",
                   help="also the memory guard's estimate for one step at BATCH vs a real step's peak (fresh process)")
    p.add_argument("--json", help="write the figures here too")
    return p


def family_figures(registry: Any, a: argparse.Namespace) -> dict[str, Any]:
    """The figures ``family_parser``'s flags ask for, on ``a.family``."""
    out: dict[str, Any] = {}
    if not a.no_training:
        out.update(bench_training(registry, a.family, a.steps, a.batch_size, a.device))
    from playground.weights import list_weights

    weights = a.weights or next((e.ref for e in list_weights(a.family)), None)
    if weights is None:
        out["latency"] = (f"skipped: no weights for {a.family} yet (train some: playground train {a.family} --name x, "
                          "then --weights run/x)")
    elif registry.family(a.family).kind != "points":  # a 2-D family's pictures: ./dev bench's lab figures
        out.update(bench_inference(registry, a.family, weights, a.device, a.repeats))
    if a.tasks and weights is not None:
        task_values: dict[str, dict[str, Any]] = {}
        for kv in a.task:
            key, value = kv.split("=", 1)
            task, name = key.split(".", 1)
            task_values.setdefault(task, {})[name] = value
        out.update(bench_tasks(registry, a.family, weights, a.device, a.repeats,
                               dict(kv.split("=", 1) for kv in a.eval), task_values))
    if a.precision:
        out.update(bench_precision(registry, a.family, a.steps, a.precision_batch, a.device))
    if a.memory:
        out.update(bench_memory(registry, a.family, a.memory, a.device))
    return out


def print_figures(results: dict[str, Any], json_path: str | None = None) -> None:
    for k, v in results.items():
        print(f"{k:<32} {v:.3f}" if isinstance(v, float) else f"{k:<32} {v}")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2))


def main(argv: list[str] | None = None, registry: Any = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    a = family_parser().parse_args(argv)
    if registry is None:
        from playground.registry import get_registry

        registry = get_registry()
    results: dict[str, Any] = {"family": a.family, "device": a.device, "torch": torch.__version__,
                               "threads": torch.get_num_threads()}
    results.update(family_figures(registry, a))
    print_figures(results, a.json)
    return 0

"""Hugging Face ZeroGPU: the app's GPU work as functions ``@spaces.GPU`` can run.

On a ZeroGPU Space the GPU exists only inside a call of a function decorated with ``spaces.GPU``, and that call runs
in a forked child process: its arguments and result are pickled, and whatever it changes (a model cache, weights in
memory, globals) is lost when it returns. So every function here

* takes plain arguments (names, dicts of values, a registry *key*, paths) and returns a picklable result
  (a TaskResult, or a training run's Progress: losses, and the preview as a CPU tensor);
* keeps nothing between calls that it needs later: training runs in **bursts**, each loading the last checkpoint,
  training for at most ``seconds``, writing the checkpoint and returning; the caller chains bursts (the Train tab
  does while the user has not pressed Stop), and the run is exactly the one an uninterrupted run would be.

Off ZeroGPU the decorator returns the function unchanged (it checks ``SPACES_ZERO_GPU``) and the app uses the
same functions in-process, so one code path serves both. Nothing here touches CUDA in the main process.
``tests/test_zerogpu.py`` runs them through a harness that pickles and forks as ZeroGPU does.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .contracts import TaskResult
from .devices import ON_ZEROGPU

if TYPE_CHECKING:
    from .engine import Progress

INFER_SECONDS = 60  # ZeroGPU's default window; a task or an evaluation fits in it
BURST_SECONDS = 45  # training inside one call; the window adds room to load and save
BURST_WINDOW = 90  # what a burst asks ZeroGPU for

_registries: dict[int, Any] = {}  # the app's registry by key: a forked child inherits this table
_keys = itertools.count(1)
_lock = threading.Lock()


def gpu(duration: int) -> Callable[[Callable], Callable]:
    """``spaces.GPU(duration=…)`` when the ``spaces`` package is there (a no-op off ZeroGPU), else nothing."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def register(registry: Any) -> int:
    """A picklable key for ``registry`` (the app's, fixed at build), which the GPU functions look up."""
    with _lock:
        for key, reg in _registries.items():
            if reg is registry:
                return key
        key = next(_keys)
        _registries[key] = registry
        return key


def _device() -> str | None:
    """Inside a ZeroGPU call the GPU is real; elsewhere the app's usual choice (``pick_device``)."""
    return "cuda" if ON_ZEROGPU else None


def task(key: int, family: str, weights: str, name: str, values: dict[str, Any]) -> TaskResult:
    """``inference.run_task`` for the registry ``key``; the result comes back on the CPU."""
    from .inference import run_task

    return run_task(_registries[key], family, weights, name, values, device=_device())


def evaluate(key: int, family: str, weights: str, values: dict[str, Any]) -> TaskResult:
    from .inference import run_evaluate

    return run_evaluate(_registries[key], family, weights, values, device=_device())


def quality(key: int, family: str, weights: list[str], n: int, seed: int) -> list[tuple[str, Any, torch.Tensor]]:
    """``inference.run_quality``: sample each checkpoint and score it against its dataset's evaluator."""
    from .inference import run_quality

    return run_quality(_registries[key], family, weights, n, seed, device=_device())


def train_burst(key: int, family: str, values: dict[str, Any], out_dir: str, resume: bool, seconds: float,
                steps: int | None = None) -> Progress:
    """Train ``family`` into ``out_dir`` for at most ``seconds`` (and ``steps``), continuing its checkpoint when
    ``resume``; the checkpoint is written before returning, so the next burst (perhaps another process) goes on
    exactly. Returns the run's Progress ("paused" while there is more to do; plain data and a CPU preview, so it
    pickles). A TrainingError (NaN, out of memory) is raised, as a direct run would."""
    from .engine import Trainer

    out = Path(out_dir)
    trainer = Trainer(_registries[key], family, values, out_dir=out, resume=out if resume else None,
                      device=_device())
    return trainer.run(seconds=seconds, steps=steps)


# What the app calls: decorated once, at import (ZeroGPU finds its functions when the app starts).
task_on_gpu = gpu(INFER_SECONDS)(task)
evaluate_on_gpu = gpu(INFER_SECONDS)(evaluate)
quality_on_gpu = gpu(INFER_SECONDS)(quality)
train_burst_on_gpu = gpu(BURST_WINDOW)(train_burst)

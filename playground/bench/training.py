"""The engine's training step against a plain reference loop, same family code, model, data and batch size:
the overhead (or gain) of the run context, and fp32 vs bf16 autocast."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class PlainRun:
    """What a tutorial's loop does around a step: ``loss.backward()``, ``opt.step()``, ``opt.zero_grad()``,
    nothing else (no autocast, clipping, accumulation, schedules or processes): the reference the engine's run
    context is measured against."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.config, self.modules, self.generator, self.device = state.config, state.modules, state.generator, \
            state.device
        self.stash, self.parents = state.stash, state.parents
        self.last_micro_batch = True  # one batch per step, one process
        from playground.run import Distributed

        self.dist = Distributed()

    def backward(self, loss: torch.Tensor, name: str | None = None, *, retain_graph: bool = False) -> None:
        # Only the named optimiser's parameters, as a tutorial gets by toggling requires_grad on the other player.
        params = None if name is None else [p for g in self.state.optimizers[name].param_groups for p in g["params"]]
        loss.backward(inputs=params, retain_graph=retain_graph)

    def step(self, name: str | None = None) -> bool:
        opts = self.state.optimizers
        opt = opts[name] if name else next(iter(opts.values()))
        opt.step()
        opt.zero_grad(set_to_none=True)
        return True


def bench_training(registry: Any, family: str, steps: int, batch_size: int, device: str) -> dict[str, float]:
    """Steps/s of the engine (channels-last and contiguous) and of ``PlainRun`` in a tutorial's loop; their ratio."""
    from playground.contracts import Batch
    from playground.data import load_dataset
    from playground.engine import Trainer
    from playground.models import load_parents, new_state
    from playground.params import build_params
    from playground.streams import StreamData, spec_of

    fam = registry.family(family)
    cfg_values = {"steps": steps, "batch_size": batch_size, "log_every": 50, "sample_every": 10**6,
                  "checkpoint_every": 10**6}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, channels_last in (("engine", True), ("engine_contiguous", False)):
            t = Trainer(registry, family, cfg_values, out_dir=Path(tmp) / label, device=device,
                        channels_last=channels_last)
            t.run()
            out[f"{label}_steps_per_s"] = t.progress.steps_per_s

    # The plain reference loop a tutorial would write (one DataLoader per stream, loss.backward(), opt.step(), a
    # per-step .item()), around the very same model code.
    cfg = build_params(fam.config, cfg_values)
    dev = torch.device(device)
    loaders, infos, specs = {}, {}, {}
    for stream in fam.streams(cfg):
        spec = spec_of(stream, cfg)
        sd = StreamData(stream, spec, load_dataset(registry.datasets, spec))
        x, y = sd.items()
        tensors = (x,) if y is None else (x, y)
        loaders[stream.name] = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), shuffle=True,
                                                           drop_last=True, batch_size=batch_size * stream.per_step)
        infos[stream.name], specs[stream.name] = sd.info, sd.describe()
    parents, records = load_parents(registry, fam, cfg, dev)
    state = new_state(registry, fam, cfg, infos, specs, dev, parents=parents, parent_records=records)
    state.modules.train()
    run = PlainRun(state)
    iters = {name: iter(dl) for name, dl in loaders.items()}

    def next_batch(name: str) -> Batch:
        try:
            parts = next(iters[name])
        except StopIteration:  # a new epoch of this stream
            iters[name] = iter(loaders[name])
            parts = next(iters[name])
        return Batch(parts[0].to(dev), parts[1].to(dev) if len(parts) > 1 else None)

    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        step_losses = fam.train_step(run, Batch.of({name: next_batch(name) for name in loaders}))
        losses.append({k: v.item() for k, v in step_losses.items()})  # the per-step sync a tutorial does
    out["reference_steps_per_s"] = steps / (time.perf_counter() - t0)
    out["ratio_engine_vs_reference"] = out["engine_steps_per_s"] / out["reference_steps_per_s"]
    return out


def bench_precision(registry: Any, family: str, steps: int, batch_size: int, device: str) -> dict[str, float]:
    """The engine at fp32 and bf16 autocast on ``device``: steps/s and, on CUDA, peak memory of each."""
    from playground.engine import Trainer

    out: dict[str, float] = {}
    cfg = {"steps": steps, "batch_size": batch_size, "log_every": 50, "sample_every": 10**6, "checkpoint_every": 10**6}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "bf16"):
            cuda = device.startswith("cuda")
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            t = Trainer(registry, family, {**cfg, "precision": precision}, out_dir=Path(tmp) / precision,
                        device=device)
            t.run()
            out[f"{precision}_steps_per_s"] = t.progress.steps_per_s
            if cuda:
                out[f"{precision}_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    out["ratio_bf16_vs_fp32_steps"] = out["bf16_steps_per_s"] / out["fp32_steps_per_s"]
    return out

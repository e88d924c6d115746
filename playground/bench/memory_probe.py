"""The memory guard checked against reality: its estimate for one training step next to what the step takes.

Run in a fresh process (``python -m playground.bench.memory_probe FAMILY BATCH DEVICE FOLDER``) so the peak resident
memory on the CPU is this step's alone; ``bench_memory`` starts it and reads the one JSON line it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def probe(family: str, batch_size: int, device: str, folder: str) -> dict[str, float]:
    """The guard's estimate (``need``), the measured growth of one real step (``used``), the guard's own time."""
    import resource

    import torch

    from playground.engine import Trainer
    from playground.memory import measure
    from playground.registry import get_registry

    reg = get_registry()
    tr = Trainer(reg, family, {"batch_size": batch_size, "steps": 1, "sample_every": 10**6,
                               "checkpoint_every": 10**6}, out_dir=folder, device=device)
    tr.preflight()
    t = time.perf_counter()
    est = measure(reg, tr.family, tr.cfg, tr._streams, tr.device)
    guard_s = time.perf_counter() - t
    cuda = tr.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    tr.run()
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"need": est.need(batch_size), "used": peak - base, "guard_s": guard_s}


def bench_memory(registry: Any, family: str, batch_size: int, device: str) -> dict[str, float]:
    """The memory guard's estimate for one step at ``batch_size`` next to what a real step takes (a fresh
    process's peak resident growth on CPU, ``max_memory_allocated`` on CUDA): the ratio must stay above 1."""
    from playground.registry import ENV_PLUGINS_DIR

    # The probe's own Trainer must not run the guard (its probe steps would count); plugin folders carry over.
    dirs = os.pathsep.join(str(d) for d in registry.plugin_dirs)
    env = {**os.environ, "PLAYGROUND_MEMORY_GUARD": "0", ENV_PLUGINS_DIR: dirs}
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-m", __name__, family, str(batch_size), device, tmp], env=env,
                             capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    return {"memory_batch": batch_size, "memory_estimate_mib": r["need"] / 2**20,
            "memory_measured_mib": r["used"] / 2**20, "memory_estimate_over_measured": r["need"] / max(r["used"], 1),
            "memory_guard_s": r["guard_s"]}


if __name__ == "__main__":
    fam, batch, dev, out = sys.argv[1:5]
    print(json.dumps(probe(fam, int(batch), dev, out)))

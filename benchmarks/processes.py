"""Data-parallel training on the CPU: the same run in 1 and 2 processes (torchrun, gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_processes(family: str, steps: int, batch_size: int) -> dict[str, float]:
    """The same run (same global batch) in 1 and in 2 CPU processes (torchrun, gloo): steps/s of each."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port",
                   str(29400 + n), "-m", "playground.cli", "train", family, "--steps", str(steps), "--batch-size",
                   str(batch_size), "--log-every", str(steps), "--checkpoint-every", str(10 * steps),
                   "--sample-every", str(10 * steps), "--out", str(Path(tmp) / f"p{n}"), "--device", "cpu"]
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // n)), "PYTHONUNBUFFERED": "1"}
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
            if res.returncode != 0:
                raise RuntimeError(f"{n}-process run failed:\n{res.stderr[-2000:]}")
            rates = [float(line.split("(")[-1].split()[0]) for line in res.stdout.splitlines() if "steps/s" in line]
            out[f"processes_{n}_steps_per_s"] = rates[-1]
    out["ratio_2_vs_1_processes"] = out["processes_2_steps_per_s"] / out["processes_1_steps_per_s"]
    return out

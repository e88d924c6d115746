"""The sample-quality metrics at scale: FID + KID + PRDC on n generated vs n real images, time per stage, memory."""

from __future__ import annotations

import time
from typing import Any

import torch


def bench_quality(registry: Any, n: int) -> dict[str, float]:
    """FID + KID + PRDC on ``n`` generated vs ``n`` real images on the CPU: time per stage and memory."""
    import resource

    from playground.data import DataSpec, load_dataset
    from playground.inference import model_cache
    from playground.metrics.evaluator import load_evaluator
    from playground.metrics.scores import fid, kid, prdc

    ev = load_evaluator("digits")
    real = load_dataset(registry.datasets, DataSpec("digits")).float_images()
    real = torch.cat([torch.roll(real, shifts=(i % 3 - 1, i // 3 % 3 - 1), dims=(2, 3)) for i in range(9)])
    real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))][:n]
    state = model_cache().get(registry, "autoencoder", "digits", torch.device("cpu"))
    fake = registry.family("autoencoder").sample(state, n, torch.Generator().manual_seed(0))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, float] = {"quality_n": float(n)}
    t = time.perf_counter()
    rf, _ = ev.embed(real)
    ff, fl = ev.embed(fake)
    out["quality_embed_s"] = time.perf_counter() - t
    out["quality_embed_ms_per_image"] = 1000 * out["quality_embed_s"] / (2 * n)
    for name, fn in (("fid", lambda: fid(rf, ff)), ("kid", lambda: kid(rf, ff)), ("prdc", lambda: prdc(rf, ff))):
        t = time.perf_counter()
        fn()
        out[f"quality_{name}_s"] = time.perf_counter() - t
    out["quality_total_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    out["quality_peak_rss_growth_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    return out

"""Sample-quality results → table, comparability note, class histogram and nearest-neighbour pairs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..images import tensor_to_pil
from ..metrics.report import comparison_rows, real_images


def quality_outputs(registry: Any, results: list[tuple[str, Any, Any]]) -> tuple:
    rows, note = comparison_rows([(ref, rep) for ref, rep, _ in results])
    table = pd.DataFrame(rows)
    hist = pd.DataFrame([{"class": name, "fraction": round(f, 4), "weights": ref}
                         for ref, rep, _ in results for name, f in zip(rep.class_names, rep.class_freq, strict=True)])
    ref, rep, samples = results[0]
    dataset = rep.protocol.dataset
    split = rep.protocol.reference_split.split()[0]
    pairs = []
    if rep.neighbours:
        reals = real_images(registry, dataset, split, [j for _, j, _ in rep.neighbours])
        for (i, _, dist), real in zip(rep.neighbours, reals, strict=True):
            pairs.append((tensor_to_pil(samples[i], scale=3), f"sample {i}"))
            pairs.append((tensor_to_pil(real, scale=3), f"nearest real (d={dist:.2f})"))
    return table, note, hist, pairs

"""Training recipes compared: each trained from the same seed to several step counts and scored on one protocol."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def parse_recipe(text: str) -> tuple[str, dict[str, str]]:
    """"ema:ema=0.999,augment=translation,cutout" → ("ema", {"ema": "0.999", "augment": "translation,cutout"}):
    a piece without "=" continues the previous value (values may hold commas)."""
    name, _, body = text.partition(":")
    values: dict[str, str] = {}
    key = None
    for piece in filter(None, body.split(",")):
        if "=" in piece:
            key, value = piece.split("=", 1)
            values[key] = value
        elif key is None:
            raise SystemExit(f"--recipe {text!r}: {piece!r} is not KEY=VALUE")
        else:
            values[key] += "," + piece
    if not name or "=" in name:
        raise SystemExit(f"--recipe {text!r}: write NAME:KEY=VALUE,KEY=VALUE (e.g. plain:ema=0,augment=none)")
    return name, values


def bench_recipes(registry: Any, family: str, recipes: list[tuple[str, dict[str, str]]], at: list[int], n: int,
                  device: str, base: dict[str, str] | None = None,
                  keep: str | None = None) -> tuple[dict[str, float], str]:
    """Each recipe trained to every step count in ``at`` (one run, resumed exactly between counts) and scored;
    returns the figures and a Markdown table (rows: recipe × steps). ``keep``: a folder to keep the runs in
    (``keep/NAME``, resumable), else they are deleted."""
    from playground.engine import Trainer
    from playground.metrics.report import quality_report

    fam = registry.family(family)
    at = sorted(at)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = keep or scratch
        for name, values in recipes:
            folder, resume, train_s = Path(tmp) / name, None, 0.0
            for steps in at:
                counts = {"steps": steps, "checkpoint_every": steps, "log_every": steps, "sample_every": steps}
                cfg = counts if resume else {**(base or {}), **values, **counts}  # a resume may change counts only
                t = Trainer(registry, family, cfg, out_dir=folder, resume=resume, device=device)
                t0 = time.perf_counter()
                t.run()
                train_s += time.perf_counter() - t0
                resume = folder
                images = fam.sample(t.state, n, torch.Generator(t.state.device).manual_seed(0)).cpu()
                rep = quality_report(registry, images, t.state.data["name"], seed=0, neighbours=0,
                                     view=fam.quality_view)
                sc = rep.scores
                rows.append(f"| {name} | {steps} | {sc['FID']:.2f} | {sc['KID']:.3f} | {sc['precision']:.3f} | "
                            f"{sc['recall']:.3f} | {sc['smallest class %']:.1f} | {steps / train_s:.2f} |")
                figures[f"recipe {name} FID@{steps}"] = sc["FID"]
            figures[f"recipe {name} steps/s"] = at[-1] / train_s
        base_fid = rep.baseline["FID"]
    table = "\n".join([f"Recipes of {family} (n = {n} samples per point, seed 0; real-vs-real FID {base_fid:.2f}):",
                       "", "| recipe | steps | FID | KID | precision | recall | smallest class % | steps/s |",
                       "|---|---|---|---|---|---|---|---|", *rows])
    return figures, table

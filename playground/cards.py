"""Model cards for checkpoints: what data, which command reproduces it, steps, metrics, a sample grid.
Front matter follows the Hugging Face Hub's model-card conventions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint import TRAIN_FILE, read_metadata
from .images import tensor_to_pil
from .inference import run_evaluate, run_task
from .metrics.report import values_markdown
from .weights import resolve

SAMPLES_FILE = "samples.png"
QUALITY_N = 1000


def render_card(meta: dict[str, Any], family_title: str, command: str, metrics: dict[str, Any],
                description: str = "", train_state: bool = True, quality: bool = True) -> str:
    cfg = meta["config"]
    data = meta["data"]
    points = meta["info"].get("kind") == "points"
    shape = "2-D points" if points else "images " + "×".join(str(meta["info"][k]) for k in ("channels", "size", "size"))
    source = (f"`playground eval {meta['family']}`" if points or not quality else
              f"`playground eval {meta['family']} --quality`; test split for reconstruction metrics")
    rows = values_markdown(metrics)
    streams = meta.get("streams") or {}
    data_line = (f"`{json.dumps(data)}`" if len(streams) <= 1 else
                 "; ".join(f"{name}: `{json.dumps(spec)}`" for name, spec in streams.items()))
    files = ("`training_state.safetensors` (optimiser and RNG, to resume), " if train_state else "")
    cfg_rows = "\n".join(f"| `{k}` | {v} |" for k, v in cfg.items())
    names = [str(spec.get("name", "?")) for spec in streams.values()] or [str(data.get("name", "?"))]
    return f"""---
library_name: generative-model-playground
tags: [playground, {meta['family']}]
datasets: [{", ".join(dict.fromkeys(names))}]
---
# {family_title} · {" ↔ ".join(names)}

{description}

- Family: `{meta['family']}` · step {meta['step']} · {shape}
- Data: {data_line} (built in, no download)
- Reproduce (CPU, from the repository root):

```
{command}
```

## Metrics (from {source})

{rows}

## Samples

![samples]({SAMPLES_FILE})

## Config

| field | value |
|---|---|
{cfg_rows}

Files: `model.safetensors` (weights and fitted statistics; the config is in its metadata),
{files}`config.json`.
"""


def write_card(registry: Any, family: str, ref: str, command: str, eval_values: dict[str, Any] | None = None,
               note: str = "") -> Path:
    folder = resolve(family, ref)
    meta = read_metadata(folder)
    fam = registry.family(family)
    evaluation = run_evaluate(registry, family, ref, eval_values or {}) if fam.evaluate_inputs else None
    metrics = dict(evaluation.values) if evaluation else {}
    if fam.samples_images:
        from .errors import WeightsError
        from .inference import run_quality

        try:
            ((_, rep, _),) = run_quality(registry, family, [ref], QUALITY_N, seed=0)
        except WeightsError:  # no evaluator for this dataset: the card says so instead of inventing numbers
            metrics["sample quality"] = f"n/a: no evaluator network for {meta['data'].get('name')!r}"
        else:
            for k in ("FID", "KID", "IS", "precision", "recall", "density", "coverage"):
                metrics[f"{k} (n={QUALITY_N}; real baseline)"] = f"{rep.scores[k]:.4f} ({rep.baseline[k]:.4f})"
            metrics["smallest class % (class histogram)"] = f"{rep.scores['smallest class %']:.1f}"
            metrics["quality protocol"] = f"{rep.protocol.backbone}; reference {rep.protocol.reference_split}; " \
                                          f"baseline {rep.protocol.baseline}"
    if any(t.name == "generate" for t in fam.tasks):
        points = fam.kind == "points"  # a 2-D plot: the task's own number of points, no upscaling
        res = run_task(registry, family, ref, "generate", {"seed": 0} if points else {"n": 64, "seed": 0})
        tensor_to_pil(res.images[0][1], scale=1 if points else 2).save(folder / SAMPLES_FILE)
    elif (folder / "preview.png").exists():
        (folder / SAMPLES_FILE).write_bytes((folder / "preview.png").read_bytes())
    card = render_card(meta, fam.title, command, metrics, f"{note}\n\n{fam.description}" if note else fam.description,
                       train_state=(folder / TRAIN_FILE).exists(), quality=fam.samples_images)
    for old in folder.glob("evaluation-*.png"):
        old.unlink()
    if evaluation and evaluation.images:  # the evaluation's pictures (e.g. a rate–distortion plot) beside the card
        card += "\n## Evaluation pictures\n\n"
        for i, (caption, img) in enumerate(evaluation.images, 1):
            tensor_to_pil(img, scale=2 if img.shape[-1] < 128 else 1).save(folder / f"evaluation-{i}.png")
            card += f"![{caption}](evaluation-{i}.png)\n\n*{caption}*\n\n"
    (folder / "README.md").write_text(card)
    return folder / "README.md"




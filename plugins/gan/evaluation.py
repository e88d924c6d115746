"""The GAN's own evaluation: per-class FID (are some digits worse than others?) and, for a conditional model,
whether each class comes out as asked (the evaluator classifies samples generated for class k)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

import playground as pg


@dataclass
class EvaluateIn:
    n_per_class: int = pg.param(100, min=10, max=5000, help="Samples per class (a conditional model is asked for "
                                "each class; an unconditional one draws classes × this and its samples are grouped "
                                "by the evaluator's verdict).", label="samples per class")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the samples.")


class GANEvaluation:
    """Mixed into the GAN family: ``evaluate`` (the Evaluate tab, ``playground eval gan``, the API)."""

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001

        dataset = state.data["name"]
        classes = state.info.num_classes
        if classes < 2:
            raise pg.DataError(f"{dataset!r} has no classes, so per-class scores do not apply; Evaluate → Sample "
                               "quality scores the samples as a whole.")
        gen = torch.Generator(state.device).manual_seed(inp.seed)
        asked = None
        if state.config.conditional:
            asked = torch.arange(classes, device=state.device).repeat_interleave(inp.n_per_class)
            images = self.sample(state, len(asked), gen, labels=asked)
        else:
            images = self.sample(state, classes * inp.n_per_class, gen)
        try:
            rows = pg.per_class_report(load, images.cpu(), dataset, asked, view=self.scores.view)
        except pg.WeightsError as e:
            raise pg.DataError(f"Per-class scores need the {dataset!r} evaluator: {e}") from None
        values: dict = {"samples": len(images), "grouped by": "the class asked for" if asked is not None
                        else "the evaluator's predicted class (unconditional model)"}
        if asked is not None:
            hits = sum(r.accuracy * r.n for r in rows)
            values["class accuracy of conditioned samples"] = f"{hits / len(images):.1%}"
            values["class accuracy per class"] = {r.name: f"{r.accuracy:.0%}" for r in rows}
            worst = min(rows, key=lambda r: r.accuracy)
            values["worst class"] = f"{worst.name} ({worst.accuracy:.0%})"
        else:
            values["share per class"] = {r.name: f"{r.n / len(images):.1%}" for r in rows}
        values["FID per class (real baseline)"] = {
            r.name: "n/a (fewer than 2 samples)" if math.isnan(r.fid) else f"{r.fid:.2f} ({r.baseline_fid:.2f})"
            for r in rows}
        values["recall within each class"] = {r.name: "n/a" if math.isnan(r.recall) else round(r.recall, 3)
                                               for r in rows}
        chart_rows = [{"class": r.name, "FID": round(r.fid, 3), "series": "samples"} for r in rows
                      if not math.isnan(r.fid)]
        chart_rows += [{"class": r.name, "FID": round(r.baseline_fid, 3), "series": "real test images"} for r in rows]
        return pg.TaskResult(values=values, chart=pg.Chart(chart_rows, "class", "FID", color="series",
                                                           title="FID per class (evaluator features)"))

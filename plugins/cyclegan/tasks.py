"""CycleGAN's tasks: translate one image (upload or sketch), translate a batch of test images, and cycle drift (there
and back k times). A mixin of ``CycleGAN`` (``family.py``); it knows nothing of the UI."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import playground as pg

from . import pictures
from .evaluation import class_text, classify, test_split

DIRECTION_HELP = "AtoB: domain A → B (built in: handwritten → printed); BtoA: B → A."
MAX_ROUNDS = 20


@dataclass
class TranslateIn:
    image: pg.ImageInput = pg.image_param("An image of the source domain: upload one or draw a digit.")
    direction: str = pg.param("AtoB", choices=("AtoB", "BtoA"), help=DIRECTION_HELP)


@dataclass
class BatchTranslateIn:
    direction: str = pg.param("AtoB", choices=("AtoB", "BtoA"), help=DIRECTION_HELP)
    count: int = pg.param(16, min=1, max=64, help="Test images to translate.")
    first: int = pg.param(0, min=0, max=1_000_000, help="Start at this test image (page through the split).")


@dataclass
class CycleDriftIn:
    image: pg.ImageInput = pg.image_param("The image that goes round the cycle.")
    direction: str = pg.param("AtoB", choices=("AtoB", "BtoA"), help=DIRECTION_HELP + " One round: there and back.")
    rounds: int = pg.param(8, min=1, max=MAX_ROUNDS, help="Round trips.")


def fit_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images (N×C×H×W in [-1, 1]) converted to ``channels`` (grey ↔ colour), for domains whose channels differ."""
    if x.shape[1] == channels:
        return x
    u8 = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    out = pg.convert_channels(pg.ImageData(u8.cpu()), channels).images
    return out.float().div(127.5).sub(1).to(x.device)


class Tasks:
    """Task methods; ``self`` is the CycleGAN family."""

    def _source(self, state: pg.ModelState, image: torch.Tensor, direction: str) -> torch.Tensor:
        from .family import domains

        src, _ = domains(direction)
        return fit_channels(image[None].to(state.device), state.info.streams[src].channels)

    @torch.no_grad()
    def translate(self, state: pg.ModelState, inp: TranslateIn) -> pg.TaskResult:
        from .family import domain_name, domains, generators, translate

        there, back = generators(inp.direction)
        src, dst = domains(inp.direction)
        x = self._source(state, inp.image, inp.direction)
        y = translate(state, x, there)
        r = translate(state, y, back)
        ns, nd = domain_name(state, src), domain_name(state, dst)
        values: dict = {"direction": f"{ns} → {nd}", "cycle L1": round(float((r - x).abs().mean()), 4)}
        classes, names = {}, {}
        for key, img, stream in (("input", x, src), ("translated", y, dst), ("cycle reconstruction", r, src)):
            found = classify(state, stream, img)
            if found is not None:
                classes[key], names[key] = class_text(*found)[0], found[2][int(found[0][0])]
        if classes:
            values["evaluator's class"] = classes
            if "input" in names and "translated" in names:
                values["class kept"] = names["input"] == names["translated"]
        # Model-size images: the gallery and the CLI enlarge small pictures themselves.
        images = [(f"input ({ns})", x[0].cpu()), (f"translated ({nd})", y[0].cpu()),
                  (f"cycle reconstruction ({ns})", r[0].cpu())]
        return pg.TaskResult(images=images, values=values)

    @torch.no_grad()
    def batch_translate(self, state: pg.ModelState, inp: BatchTranslateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from .family import domain_name, domains, generators, translate

        there, back = generators(inp.direction)
        src, dst = domains(inp.direction)
        data = test_split(state, load, src)
        if inp.first >= len(data):
            raise pg.InputError(f"The test split of {domain_name(state, src)} has {len(data)} images; start at most "
                                f"at {len(data) - 1}.")
        x = data.float_images()[inp.first: inp.first + inp.count].to(state.device)
        y = translate(state, x, there)
        r = translate(state, y, back)
        ns, nd = domain_name(state, src), domain_name(state, dst)
        rows = []
        for i in range(0, len(x), 8):
            span = f"{inp.first + i}–{inp.first + min(i + 8, len(x)) - 1}"
            rows += [(f"{ns} {span}", x[i:i + 8]), (f"→ {nd}", y[i:i + 8]), (f"→ back to {ns}", r[i:i + 8])]
        values: dict = {"direction": f"{ns} → {nd}", "images": len(x),
                        "cycle L1 (mean)": round(float((r - x).abs().mean()), 4)}
        found = classify(state, dst, y)
        if found is not None and data.labels is not None:
            truth = data.labels[inp.first: inp.first + inp.count].to(found[0].device)
            values["label preserved"] = f"{int((found[0] == truth).sum())} of {len(x)}"
        return pg.TaskResult(images=[(f"{ns} → {nd} → {ns}", pictures.labelled_rows(rows))], values=values)

    @torch.no_grad()
    def cycle_drift(self, state: pg.ModelState, inp: CycleDriftIn) -> pg.TaskResult:
        from .family import domain_name, domains, generators, translate

        there, back = generators(inp.direction)
        src, dst = domains(inp.direction)
        x0 = self._source(state, inp.image, inp.direction)
        xs, ys = [x0], []
        for _ in range(inp.rounds):
            ys.append(translate(state, xs[-1], there))
            xs.append(translate(state, ys[-1], back))
        ns, nd = domain_name(state, src), domain_name(state, dst)
        chart_rows, drift = [], []
        src_classes, dst_classes = classify(state, src, torch.cat(xs)), classify(state, dst, torch.cat(ys))
        for k in range(1, inp.rounds + 1):
            l1 = float((xs[k] - x0).abs().mean())
            chart_rows += [{"round": k, "L1": l1, "series": f"back in {ns}: vs the input"},
                           {"round": k, "L1": float((ys[k - 1] - ys[0]).abs().mean()),
                            "series": f"in {nd}: vs the first translation"}]
            row = {"round": k, "L1 to the input": round(l1, 4)}
            if src_classes is not None:
                row[f"class back in {ns}"] = class_text(*src_classes)[k]
            if dst_classes is not None:
                row[f"class in {nd}"] = class_text(*dst_classes)[k - 1]
            drift.append(row)
        strip = pictures.labelled_rows([(f"{ns}: input, rounds 1…", torch.cat(xs)),
                                        (f"{nd}: round 1…", torch.cat([torch.full_like(ys[0], -1), *ys]))])
        # Frame k: the image after k round trips beside its translation (the input beside black at k = 0).
        frames = [pg.make_grid(torch.cat([xs[k], ys[k - 1] if k else torch.full_like(ys[0], -1)]).cpu(), nrow=2)
                  for k in range(inp.rounds + 1)]
        values = {"direction": f"{ns} → {nd} → {ns}, {inp.rounds} rounds", "rounds": drift}
        return pg.TaskResult(images=[("round trips, left to right", strip)], values=values,
                             chart=pg.Chart(chart_rows, x="round", y="L1", color="series", title="drift"),
                             animation=frames)

"""CycleGAN's evaluation, per direction on the source domain's test images: FID/KID of the translations against the
real target domain (the target's evaluator, with the real-vs-real baseline at the same n), **label preservation**
(the share of translations the target's evaluator gives the source image's label), cycle L1/PSNR and identity L1;
and the same for other weights beside it (by default the paper's recipe and its λ_cycle = 0 ablation): the table that
shows what the cycle loss and the semantic term buy. A mixin of ``CycleGAN`` (``family.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import playground as pg

from . import pictures

# The shipped digits ↔ glyphs recipes the default weights are compared with: the paper's (cycle, no semantic term)
# and its λ cycle = 0 twin.
COMPARED = "digits-glyphs-paper,digits-glyphs-no-cycle"
EVALUATOR_SIZE = 32  # the shipped evaluators were trained on 32×32 images


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=5000, help="Test images per direction (at most what the smaller test split "
                      "holds, so both directions and their baselines use the same n).")
    compare: str = pg.param(COMPARED, help="Other CycleGAN weights scored the same way, comma-separated (default: "
                            "the paper's recipe and its λ cycle = 0 ablation); empty = none.", label="compare with")


def _evaluator(state: pg.ModelState, stream: str):  # noqa: ANN202
    """The shipped evaluator of a domain's dataset, or None (a folder, or a dataset without one)."""

    name = str(state.streams.get(stream, {}).get("name", ""))
    if not name or name.startswith(pg.FOLDER_PREFIX):
        return None
    try:
        ev = pg.load_evaluator(name)
    except pg.WeightsError:
        return None
    return ev if ev.in_chans == state.info.streams[stream].channels else None


def classify(state: pg.ModelState, stream: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                tuple[str, ...]] | None:
    """(class, confidence, class names) of images in a domain by its evaluator; None when it has none."""
    ev = _evaluator(state, stream)
    if ev is None:
        return None
    x = images.float()
    if x.shape[-1] != EVALUATOR_SIZE:
        x = torch.nn.functional.interpolate(x, size=(EVALUATOR_SIZE, EVALUATOR_SIZE), mode="bilinear",
                                            antialias=True, align_corners=False)
    _, logits = ev.embed(x.cpu())
    conf, cls = logits.softmax(1).max(1)
    return cls, conf, ev.class_names


def class_text(cls: torch.Tensor, conf: torch.Tensor, names: tuple[str, ...]) -> list[str]:
    return [f"{names[int(c)]} ({float(p):.0%})" for c, p in zip(cls, conf, strict=True)]


def test_split(state: pg.ModelState, load, stream: str) -> pg.ImageData:  # noqa: ANN001
    """The test split of the data a domain was trained on (a trainA folder's: testA beside it)."""
    return load(pg.DataSpec.from_dict({**state.streams[stream], "split": "test", "exclude_classes": []}))


def _test(state: pg.ModelState, load, stream: str, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:  # noqa: ANN001
    data = test_split(state, load, stream)
    y = None if data.labels is None else data.labels[:n]
    return data.float_images()[:n].to(state.device), y


def direction_scores(state: pg.ModelState, load, direction: str, x: torch.Tensor, y: torch.Tensor | None,  # noqa: ANN001
                     target: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """One model's scores for one direction on source images ``x`` (labels ``y``) and real target images; returns
    them and the translations."""

    from .family import domains, generators, translate

    there, back = generators(direction)
    src, dst = domains(direction)
    fake = translate(state, x, there)
    rec = translate(state, fake, back)
    out: dict = {"cycle L1": float((rec - x).abs().mean()),
                 "cycle PSNR (dB)": float(pg.psnr(rec.cpu(), x.cpu()).mean())}
    if state.info.streams[src].channels == state.info.streams[dst].channels:
        out["identity L1"] = float((translate(state, target, there) - target).abs().mean())
    found = classify(state, dst, fake)
    source_names = state.info.streams[src].num_classes
    if found is not None and y is not None and len(found[2]) == source_names:
        kept = (found[0] == y.cpu()).float()
        out["label preservation (%)"] = 100 * float(kept.mean())
        per_class = [(int(k), 100 * float(kept[y.cpu() == k].mean())) for k in y.unique().tolist()]
        worst = min(per_class, key=lambda t: t[1])
        out["weakest class"] = f"{found[2][worst[0]]}: {worst[1]:.1f}%"
    if _evaluator(state, dst) is not None:
        rep = pg.quality_report(load, fake.cpu(), str(state.streams[dst]["name"]), neighbours=0)
        out["FID"], out["KID"] = rep.scores["FID"], rep.scores["KID"]
        out["real-vs-real FID"] = rep.baseline["FID"]
        out["FID / baseline"] = rep.scores["FID"] / max(rep.baseline["FID"], 1e-9)
    return out, fake


# The scores of the evaluated model that its card lists on their own, one per direction ("A → B", "B → A"); the
# family declares the names (its Overview columns) from this table.
HEADLINE = {"label preservation (%)": "label preservation {} (%)", "FID / baseline": "translated FID / baseline {}"}
DIRECTION_NAMES = {"AtoB": "A → B", "BtoA": "B → A"}
HEADLINE_METRICS = tuple(name.format(d) for name in HEADLINE.values() for d in DIRECTION_NAMES.values())


def recipe(cfg: object) -> str:
    """The loss weights that tell shipped recipes apart, for table rows."""
    a = cfg.cycle_a_weight
    cycle = f"λ cycle {cfg.lambda_cycle:g}" + (f" (A × {a:g})" if a != 1 else "")
    return f"{cycle}, λ semantic {cfg.lambda_semantic:g}"


def _rounded(d: dict) -> dict:
    return {k: round(v, 4 if abs(v) < 10 else 2) if isinstance(v, float) else v for k, v in d.items()}


class Evaluation:
    """``evaluate``; ``self`` is the CycleGAN family."""

    def _compared(self, state: pg.ModelState, refs: str, load, values: dict) -> dict[str, pg.ModelState]:  # noqa: ANN001
        out = {}
        for ref in (r.strip() for r in refs.split(",") if r.strip()):
            other = load.model(self.name, ref)  # a name that is not weights is refused, not skipped
            same = all(other.streams.get(s, {}).get("name") == state.streams.get(s, {}).get("name") for s in "AB")
            if not same or other.info.size != state.info.size:
                values[f"compare with {ref}"] = "skipped: trained on other domains or another image size"
                continue
            out[ref] = other
        return out

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from .family import domain_name, domains

        values: dict = {}
        models = {"this model": state, **self._compared(state, inp.compare, load, values)}
        tests = {s: _test(state, load, s, inp.n) for s in "AB"}
        n = min(inp.n, *(len(x) for x, _ in tests.values()))
        tests = {s: (x[:n], None if y is None else y[:n]) for s, (x, y) in tests.items()}
        values["n test images per direction"] = n
        table, chart_rows, images = [], [], []
        for direction in ("AtoB", "BtoA"):
            src, dst = domains(direction)
            arrow = f"{domain_name(state, src)} → {domain_name(state, dst)}"
            x, y = tests[src]
            strip = [(f"{domain_name(state, src)}", x[:8])]
            for name, st in models.items():
                scores, fake = direction_scores(st, load, direction, x, y, tests[dst][0])
                label = f"{name} ({recipe(st.config)})"
                table.append({"weights": label, "direction": arrow, **_rounded(scores)})
                if name == "this model":  # the headline numbers, named by direction (the Overview's columns)
                    ab = DIRECTION_NAMES[direction]
                    values.update({HEADLINE[k].format(ab): v for k, v in _rounded(scores).items() if k in HEADLINE})
                if "label preservation (%)" in scores:
                    chart_rows.append({"direction": arrow, "label preservation (%)": scores["label preservation (%)"],
                                       "weights": label})
                strip.append((f"→ {name}"[:22], fake[:8]))  # the recipe is in the table (the font has no λ)
            images.append((f"{arrow}: test images and translations", pictures.labelled_rows(strip)))
        values["scores"] = table
        chart = (pg.Chart(chart_rows, x="direction", y="label preservation (%)", color="weights",
                          title="label preservation") if chart_rows else None)
        if chart is None:
            chart = pg.Chart([{"direction": r["direction"], "cycle L1": r["cycle L1"], "weights": r["weights"]}
                              for r in table], x="direction", y="cycle L1", color="weights", title="cycle L1")
        return pg.TaskResult(images=images, values=values, chart=chart)

"""A sample-quality report with its protocol: the evaluator, n generated, n real, the reference split,
the seed, and the real-vs-real baseline at the same n, beside every score."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..data import DataSpec, ImageData, load_dataset
from ..errors import DataError
from .evaluator import Evaluator, load_evaluator
from .scores import class_histogram, fid, inception_score, kid, kl_to_uniform, prdc
from .views import AS_GENERATED, ImageView

_real_cache: dict[tuple[str, str, int, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
_real_lock = threading.Lock()


@dataclass
class Protocol:
    backbone: str
    dataset: str
    reference_split: str
    n_generated: int
    n_real: int
    baseline: str
    seed: int
    view: str = AS_GENERATED.name  # how samples and real images were shown to the evaluator (e.g. binarised)

    def key(self) -> tuple:
        """Two results are comparable only when these agree."""
        return (self.backbone, self.dataset, self.reference_split, self.n_generated, self.n_real, self.view)


@dataclass
class QualityReport:
    protocol: Protocol
    scores: dict[str, float]
    baseline: dict[str, float]
    class_freq: list[float]
    class_names: tuple[str, ...]
    neighbours: list[tuple[int, int, float]] = field(default_factory=list)  # (sample idx, real idx, distance)

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": asdict(self.protocol), "scores": self.scores, "baseline": self.baseline,
                "class_histogram": dict(zip(self.class_names, self.class_freq, strict=True))}


def _real(registry: Any, ev: Evaluator, dataset: str, split: str,
          view: ImageView = AS_GENERATED) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Evaluator features, logits and images of a whole split (through ``view``), computed once per process.
    ``registry`` is the registry or a ``load(DataSpec)`` function (what a family's ``evaluate`` gets)."""
    key = (dataset, split, id(ev), view.name)
    with _real_lock:
        if key in _real_cache:
            return _real_cache[key]
    spec = DataSpec(dataset, split=split)
    data = registry(spec) if callable(registry) else load_dataset(registry.datasets, spec)
    if not isinstance(data, ImageData):
        raise DataError(f"{dataset!r} is not an image dataset.")
    x = view.apply(data.float_images())
    feats, logits = ev.embed(x)
    with _real_lock:
        _real_cache[key] = (feats, logits, x)
    return feats, logits, x


def _scores(real: torch.Tensor, fake: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, float]:
    k_mean, k_std = kid(real, fake)
    is_mean, is_std = inception_score(fake_logits)
    return {"FID": fid(real, fake), "KID": k_mean, "KID std": k_std, "IS": is_mean, "IS std": is_std,
            **prdc(real, fake)}


def quality_report(registry: Any, images: torch.Tensor, dataset: str, *, seed: int = 0,
                   reference_split: str = "train", neighbours: int = 8, inception: bool = False,
                   view: ImageView = AS_GENERATED) -> QualityReport:
    """Score generated ``images`` (N×C×H×W in [-1, 1]) against ``dataset`` with its evaluator. ``registry``: the
    registry, or the ``load`` function a family's ``evaluate`` gets. ``view`` (a family's ``scores.view``, e.g.
    binarised) is applied to the samples and to every real image alike, and named in the protocol."""
    ev = load_evaluator(dataset)
    if images.ndim != 4 or images.shape[1] != ev.in_chans:
        raise DataError(f"Images of shape {tuple(images.shape)} do not fit the {dataset} evaluator "
                        f"({ev.in_chans} channels).")
    real_f, _, real_x = _real(registry, ev, dataset, reference_split, view)
    held = "test" if reference_split == "train" else "train"
    base_f, base_logits, base_x = _real(registry, ev, dataset, held, view)
    if images.shape[-2:] != real_x.shape[-2:]:  # a model at another size (an RBM at 16 px): the evaluator's size
        images = torch.nn.functional.interpolate(images.float(), size=tuple(real_x.shape[-2:]), mode="bilinear",
                                                 antialias=True, align_corners=False).clamp(-1, 1)
    images = view.apply(images)
    fake_f, fake_logits = ev.embed(images)
    n = len(images)
    g = torch.Generator().manual_seed(seed)
    n_base = min(n, len(base_f))
    pick = torch.randperm(len(base_f), generator=g)[:n_base]
    scores = _scores(real_f, fake_f, fake_logits)
    baseline = _scores(real_f, base_f[pick], base_logits[pick])
    if inception:  # opt-in: needs downloaded weights; raises a WeightsError saying so when absent
        from .inception import inception_fid

        scores["Inception FID"] = inception_fid(real_x, images)
        baseline["Inception FID"] = inception_fid(real_x, base_x[pick])
    freq = class_histogram(fake_logits, ev.num_classes)
    scores["class KL to uniform"] = kl_to_uniform(freq)
    scores["smallest class %"] = float(freq.min() * 100)
    proto = Protocol(backbone=ev.backbone, dataset=dataset, reference_split=f"{reference_split} ({len(real_f)} images)",
                     n_generated=n, n_real=len(real_f),
                     baseline=f"{n_base} real {held}-split images vs the reference" +
                              (f" (fewer than n={n}: that split has {len(base_f)})" if n_base < n else ""),
                     seed=seed, view=view.name)
    nn_rows = []
    if neighbours:
        d = torch.cdist(fake_f[:neighbours].float(), real_f.float())
        dist, idx = d.min(1)
        nn_rows = [(i, int(idx[i]), float(dist[i])) for i in range(len(idx))]
    return QualityReport(proto, scores, baseline, [float(f) for f in freq], ev.class_names, nn_rows)


@dataclass
class ClassRow:
    """One class of a per-class report: how many samples, how many came out as the class asked for (conditional),
    FID of those samples against the reference split's images of the class, the real-vs-real FID at the same class
    (the held-out split's images of the class against the reference's), and recall within the class (the share of
    the class's real images that some sample comes near: low when a model draws one image per class)."""

    name: str
    n: int
    accuracy: float | None
    fid: float
    baseline_fid: float
    recall: float


def _real_labels(registry: Any, dataset: str, split: str) -> torch.Tensor:
    spec = DataSpec(dataset, split=split)
    data = registry(spec) if callable(registry) else load_dataset(registry.datasets, spec)
    if not isinstance(data, ImageData) or data.labels is None:
        raise DataError(f"{dataset!r} has no class labels, so per-class scores do not apply.")
    return data.labels.cpu()


def per_class_report(registry: Any, images: torch.Tensor, dataset: str, asked: torch.Tensor | None = None, *,
                     view: ImageView = AS_GENERATED) -> list[ClassRow]:
    """Per-class FID of ``images`` (and, with ``asked``, the classes a conditional model was asked for, the share
    the evaluator assigns to that class). Samples are grouped by ``asked`` when given, else by the evaluator's
    prediction (an unconditional model: "the 7s it draws, against real 7s"). A class with fewer than two samples
    gets FID NaN (undefined)."""
    ev = load_evaluator(dataset)
    real_f, _, _ = _real(registry, ev, dataset, "train", view)
    base_f, _, _ = _real(registry, ev, dataset, "test", view)
    real_y, base_y = _real_labels(registry, dataset, "train"), _real_labels(registry, dataset, "test")
    fake_f, logits = ev.embed(view.apply(images))
    predicted = logits.argmax(1)
    group = asked.cpu() if asked is not None else predicted
    rows = []
    for k, name in enumerate(ev.class_names):
        mine = group == k
        n = int(mine.sum())
        acc = float((predicted[mine] == k).float().mean()) if asked is not None and n else None
        real_k = real_f[real_y == k]
        score = fid(real_k, fake_f[mine]) if n >= 2 else float("nan")
        within = prdc(real_k, fake_f[mine])["recall"] if n > 5 else float("nan")  # k = 5 neighbours
        rows.append(ClassRow(name, n, acc, score, fid(real_k, base_f[base_y == k]), within))
    return rows


def real_images(registry: Any, dataset: str, split: str, index: list[int]) -> torch.Tensor:
    ev = load_evaluator(dataset)
    return _real(registry, ev, dataset, split)[2][index]


SCORE_COLUMNS = ("FID", "KID", "IS", "precision", "recall", "density", "coverage")


def comparison_rows(results: list[tuple[str, QualityReport]]) -> tuple[list[dict[str, Any]], str]:
    """One row per checkpoint with each score beside its baseline, a protocol letter per distinct
    protocol, and a note that spells the protocols out (and warns when they differ)."""
    protocols: dict[tuple, tuple[str, Protocol]] = {}
    rows = []
    for ref, rep in results:
        tag, _ = protocols.setdefault(rep.protocol.key(), ("ABCDEFGH"[len(protocols) % 8], rep.protocol))
        row: dict[str, Any] = {"weights": ref, "protocol": tag}
        for c in SCORE_COLUMNS:
            row[c] = round(rep.scores[c], 4)
            row[f"{c} (real baseline)"] = round(rep.baseline[c], 4)
        if "Inception FID" in rep.scores:
            row["Inception FID"] = round(rep.scores["Inception FID"], 3)
            row["Inception FID (real baseline)"] = round(rep.baseline["Inception FID"], 3)
        row["smallest class %"] = round(rep.scores["smallest class %"], 2)
        rows.append(row)
    lines = [f"**Protocol {tag}**: backbone {p.backbone}; dataset `{p.dataset}`; reference {p.reference_split}; "
             f"n generated {p.n_generated}; baseline {p.baseline}; seed {p.seed}; images {p.view}."
             for tag, p in protocols.values()]
    if len(protocols) > 1:
        lines.insert(0, "⚠️ These rows use different protocols (backbone, data or n): compare only rows with the "
                        "same protocol letter.")
    return rows, "\n\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    return "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
                      *["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]])


def values_markdown(values: dict[str, Any]) -> str:
    """An evaluation's values as Markdown: scalars in one metric | value table, each list of rows (e.g. one per model
    and direction) as a table of its own under its key."""
    tables = {k: v for k, v in values.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)}
    out = "\n".join(["| metric | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in values.items()
                                                           if k not in tables]])
    for key, rows in tables.items():
        out += f"\n\n### {key}\n\n{markdown_table(rows)}"
    return out

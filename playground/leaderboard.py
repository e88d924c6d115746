"""Every shipped model on one protocol: the Overview tab's table and ``playground leaderboard``.

Image models: ``n`` samples (seed fixed) scored by the evaluator of the dataset the weights were trained on, against
its training split, with the real-vs-real baseline (held-out images) beside them: FID, KID, precision, recall,
density, coverage, smallest class share. 2-D models: ``n`` samples against ``n`` held-out points with the 2-D metrics
(precision, recall, density, coverage and, where the data has modes, modes covered and % high quality). A family's
own headline numbers (PSNR, held-out log-likelihood, label preservation, ESS/s …) come from its weights' model card,
by the names the family declares in ``scores = pg.Scores(headline=...)``; nothing here knows a family.

Scores are cached in a JSON file keyed by each weights file's sha256: the shipped cache (``weights/leaderboard.json``,
written by ``playground leaderboard --write``) makes the tab open at once; a row whose weights changed is recomputed
and kept in the user's cache (``PLAYGROUND_HOME/leaderboard.json``), never in the repository.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import read_metadata
from .errors import PlaygroundError
from .paths import home_dir, shipped_dir
from .weights import list_weights

PROTOCOL_N = 1000
PROTOCOL_SEED = 0
VERSION = 1  # bump when the protocol changes: every cached row is recomputed
IMAGE_COLUMNS = ("FID", "KID", "precision", "recall", "density", "coverage", "smallest class %")
POINT_COLUMNS = ("precision", "recall", "density", "coverage", "modes covered", "% high quality")


@dataclass
class Row:
    family: str
    title: str
    weights: str
    kind: str  # "image" (evaluator protocol), "points" (2-D protocol) or "other" (card numbers only)
    dataset: str
    sha256: str
    trained: str  # "6000 steps on digits"
    scores: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)  # real vs real at the same n
    headline: dict[str, str] = field(default_factory=dict)  # the family's own numbers, from the card
    protocol: str = ""
    samples: str = ""  # the card's sample grid (path relative to the weights folder's parent), "" if none
    error: str = ""  # why it could not be scored (kept as data: the table says so)
    version: int = VERSION


def _sha256(folder: Path) -> str:
    from .models import weights_sha256

    return weights_sha256(folder)


def card_metrics(card: str) -> dict[str, str]:
    """The ``| metric | value |`` rows of a model card's Metrics section."""
    out: dict[str, str] = {}
    section = re.search(r"^## Metrics.*?$(.*?)(?=^## |\Z)", card, flags=re.M | re.S)
    for line in (section.group(1) if section else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("metric", "") and not set(cells[0]) <= set("-: "):
            out[cells[0]] = cells[1]
    return out


def _headline(fam: Any, card: str) -> dict[str, str]:
    metrics = card_metrics(card)
    return {name: metrics[name] for name in fam.scores.headline if name in metrics}


def _score_images(registry: Any, fam: Any, state: Any, row: Row) -> None:
    from .metrics.report import quality_report

    images = fam.sample(state, PROTOCOL_N, torch.Generator(state.device).manual_seed(PROTOCOL_SEED))
    rep = quality_report(registry, images.cpu(), row.dataset, seed=PROTOCOL_SEED, neighbours=0,
                         view=fam.scores.view)
    row.scores = {k: float(rep.scores[k]) for k in IMAGE_COLUMNS}
    row.baseline = {k: float(rep.baseline[k]) for k in IMAGE_COLUMNS if k in rep.baseline}
    p = rep.protocol
    row.protocol = (f"{p.n_generated} samples (seed {p.seed}) vs the {p.reference_split} of {p.dataset}, "
                    f"evaluator {p.backbone}" + (f", samples and real images {p.view}" if p.view != "as generated"
                                                 else ""))


def _score_points(registry: Any, fam: Any, state: Any, row: Row) -> None:
    from .data import DataSpec, PointData, load_dataset
    from .metrics.scores import point_metrics

    data = load_dataset(registry.datasets, DataSpec(row.dataset, split="test"))
    if not isinstance(data, PointData):
        raise PlaygroundError(f"{row.dataset!r} is not a 2-D dataset.")
    fake = fam.sample(state, PROTOCOL_N, torch.Generator(state.device).manual_seed(PROTOCOL_SEED)).cpu()
    real = data.points[torch.randperm(len(data), generator=torch.Generator().manual_seed(PROTOCOL_SEED))[:PROTOCOL_N]]
    m = point_metrics(fake, real, data.modes, data.sigma)
    row.scores = {k: float(m[k]) for k in ("precision", "recall", "density", "coverage")}
    if data.modes is not None:
        row.scores["modes covered"] = float(m["modes_covered"])
        row.scores["% high quality"] = float(m["high_quality_pct"])
    row.protocol = f"{PROTOCOL_N} samples (seed {PROTOCOL_SEED}) vs {len(real)} held-out points of {row.dataset}"


def score(registry: Any, family: str, ref: str) -> Row:
    """Score one checkpoint on the protocol (a failure becomes the row's ``error``, not an exception)."""
    from .inference import model_cache

    fam = registry.family(family)
    entry = next(e for e in list_weights(family) if e.ref == ref)
    meta = read_metadata(entry.path)
    kind = ("points" if fam.kind == "points" else "image") if fam.can_sample else "other"
    samples = entry.path / "samples.png"
    data = " + ".join(s.get("name", "?") for s in (meta.get("streams") or {"x": meta["data"]}).values())
    row = Row(family, fam.title, ref, kind, entry.dataset, _sha256(entry.path), f"{meta['step']} steps on {data}",
              headline=_headline(fam, entry.card),
              samples=f"{family}/{entry.path.name}/samples.png" if samples.exists() else "")
    if kind == "other":
        row.protocol = "does not sample on its own: its own numbers only (from its card)"
        return row
    try:
        state = model_cache().get(registry, family, ref, torch.device("cpu"))
        with registry.guard(family, "evaluate"):
            (_score_points if kind == "points" else _score_images)(registry, fam, state, row)
    except Exception as exc:  # a plugin's sampler or a missing evaluator: the row says why, the table lives on
        row.error = f"{type(exc).__name__}: {exc}"
    return row


def shipped_refs(registry: Any) -> list[tuple[str, str]]:
    """(family, weights) of every shipped checkpoint of a registered family, in registry order."""
    return [(name, e.ref) for name in registry.families for e in list_weights(name) if e.source == "shipped"]


def shipped_cache_path() -> Path:
    return shipped_dir() / "leaderboard.json"


def user_cache_path() -> Path:
    return home_dir() / "leaderboard.json"


def _read(path: Path) -> dict[str, Row]:
    try:
        raw = json.loads(path.read_text())
        return {f"{r['family']}/{r['weights']}": Row(**r) for r in raw.get("rows", [])}
    except (OSError, ValueError, TypeError, KeyError):
        return {}  # absent or from another version of this tool: recomputed


def _write(path: Path, rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"protocol": {"n": PROTOCOL_N, "seed": PROTOCOL_SEED, "version": VERSION},
                               "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
    tmp.replace(path)


def _fresh(row: Row | None, sha: str) -> bool:
    return row is not None and row.sha256 == sha and row.version == VERSION


_lock = threading.Lock()


def cached_rows(registry: Any) -> tuple[list[Row], list[tuple[str, str]]]:
    """The rows the caches hold for today's shipped weights, and the (family, weights) that are missing or stale
    (their weights file changed since they were scored). Reads hashes only: fast."""
    with _lock:
        cache = {**_read(shipped_cache_path()), **_read(user_cache_path())}
    rows, stale = [], []
    for family, ref in shipped_refs(registry):
        entry = next(e for e in list_weights(family) if e.ref == ref)
        row = cache.get(f"{family}/{ref}")
        if _fresh(row, _sha256(entry.path)):
            # The card is the source of the family's own numbers: a card rewritten for the same weights shows.
            row.headline = _headline(registry.family(family), entry.card)
            rows.append(row)
        else:
            stale.append((family, ref))
    return rows, stale


def update(registry: Any, *, into: Path | None = None, force: bool = False) -> list[Row]:
    """Score what is missing or stale (everything with ``force``) and write the cache ``into`` (default: the
    user's). Returns every row, in registry order."""
    rows, stale = cached_rows(registry)
    if force:
        rows, stale = [], shipped_refs(registry)
    rows = rows + [score(registry, f, r) for f, r in stale]
    order = {key: i for i, key in enumerate(shipped_refs(registry))}
    rows.sort(key=lambda r: order.get((r.family, r.weights), math.inf))
    with _lock:
        _write(into or user_cache_path(), rows)
    return rows


DIGITS = {"FID": 2, "KID": 3, "smallest class %": 1, "modes covered": 0, "% high quality": 1}  # others: 3


def _fmt(column: str, v: float | None) -> str:
    if v is None or math.isnan(v):
        return ""
    return f"{v:.{DIGITS.get(column, 3)}f}"


def groups(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """Rows that share one protocol, with a heading naming it: image models per evaluated dataset (and view, e.g.
    binarised), sorted by FID (best first); 2-D models sorted by recall; then the models scored by their cards."""
    out: dict[tuple[int, str], list[Row]] = {}
    for r in rows:
        if r.kind == "image":
            key = (0, f"Image models: {r.protocol or r.dataset}")
        elif r.kind == "points":
            key = (1, f"2-D models: {PROTOCOL_N} samples (seed {PROTOCOL_SEED}) vs held-out points of their dataset")
        else:
            key = (2, "Models that do not sample on their own: their cards' numbers")
        out.setdefault(key, []).append(r)
    for key, members in out.items():
        if key[0] == 0:
            members.sort(key=lambda r: r.scores.get("FID", math.inf))
        elif key[0] == 1:
            members.sort(key=lambda r: -r.scores.get("recall", -math.inf))
    return [(title, members) for (_, title), members in sorted(out.items())]


def table(rows: list[Row]) -> list[dict[str, Any]]:
    """Table rows (one dict per model) for rows of one kind."""
    out = []
    for r in rows:
        cols = IMAGE_COLUMNS if r.kind == "image" else POINT_COLUMNS if r.kind == "points" else ()
        item: dict[str, Any] = {"model": f"{r.title} · {r.weights}"}
        for c in cols:
            value = _fmt(c, r.scores.get(c))
            if c == "FID" and value and "FID" in r.baseline:
                value += f" (real {r.baseline['FID']:.2f})"
            item[c] = value
        item["own numbers"] = "; ".join(f"{k}: {v}" for k, v in r.headline.items()) or r.error or "—"
        item["trained"] = r.trained
        out.append(item)
    return out


def markdown(rows: list[Row]) -> str:
    """The leaderboard as Markdown: one table per protocol, the protocol as its heading."""
    parts = []
    for title, members in groups(rows):
        items = table(members)
        cols = list(items[0])
        parts += [f"**{title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        parts += ["| " + " | ".join(str(i[c]).replace("|", "/") for c in cols) + " |" for i in items]
        parts.append("")
    return "\n".join(parts)


README_START, README_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"


def embed_in(readme: Path, md: str) -> bool:
    """Replace the README's block between the leaderboard markers; returns whether it changed."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise PlaygroundError(f"{readme} has no {README_START} … {README_END} block to fill.")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{md}\n{README_END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text

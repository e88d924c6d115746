"""The Overview tab (the app's first): what every shipped model generates and how it scores on one protocol.

Everything here comes from the registry, the weights' cards and the leaderboard cache (``playground.leaderboard``):
a plugin with shipped weights and a card appears without code in this file. The tab opens from the cache at once;
models whose weights changed since they were scored are scored in a background thread, and Refresh shows them.
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from .. import leaderboard as lb
from ..paths import shipped_dir

INTRO = """**What the playground's shipped models do, side by side.** Each grid is a sample drawn from the weights
that ship with the app (seed 0). The tables score every model on one protocol per kind of data: image models
by 1,000 samples against the training images through the dataset's own evaluator network (FID with the
real-vs-real value beside it, KID, precision, recall, density, coverage, the rarest class's share); 2-D models
by 1,000 samples against held-out points. *Own numbers* are each family's headline figures from its model card.
Open a family's tab to generate, train or evaluate it; `playground leaderboard` prints these tables."""
# Column widths per table (the numbers are short; the model, its own numbers and what it trained on are not).
WIDTHS = {"image": ["15%", "8%", "9%", "6%", "7%", "6%", "6%", "7%", "6%", "18%", "12%"],
          "points": ["18%", "7%", "7%", "7%", "7%", "6%", "7%", "28%", "13%"],
          "other": ["25%", "58%", "17%"]}
_scoring = threading.Lock()  # one background scoring at a time, whatever the number of visitors


def _gallery(rows: list[lb.Row]) -> list[tuple[Image.Image, str]]:
    items = []
    for r in rows:
        path = shipped_dir() / r.samples if r.samples else None
        if path is None or not path.exists():
            continue
        with Image.open(path) as im:
            img = im.convert("RGB")
        fid = r.scores.get("FID")
        score = f" · FID {fid:.2f}" if fid is not None else (f" · recall {r.scores['recall']:.2f}"
                                                            if "recall" in r.scores else "")
        items.append((img, f"{r.title} · {r.weights}{score}"))
    return items


def _scatter(rows: list[lb.Row]) -> pd.DataFrame:
    data = [{"precision": r.scores["precision"], "recall": r.scores["recall"], "model": f"{r.title} · {r.weights}",
             "family": r.title} for r in rows if r.kind == "image" and "precision" in r.scores]
    return pd.DataFrame(data, columns=["precision", "recall", "model", "family"])


def _status(stale: list[tuple[str, str]]) -> str:
    if not stale:
        return ""
    names = ", ".join(f"{f}/{w}" for f, w in stale[:6]) + (" …" if len(stale) > 6 else "")
    # Plain words: an hourglass emoji drew as an empty box where the system has no emoji font.
    return (f"*Scoring:* {len(stale)} model(s) changed since they were scored ({names}), in the background. "
            "Press Refresh in a minute.")


def _score_in_background(registry: Any) -> None:
    def work() -> None:
        if _scoring.acquire(blocking=False):
            try:
                lb.update(registry)
            finally:
                _scoring.release()

    threading.Thread(target=work, name="overview-scoring", daemon=True).start()


def build_overview_tab(registry: Any) -> None:
    rows, stale = lb.cached_rows(registry)
    if stale:
        _score_in_background(registry)
    gr.Markdown(INTRO)
    status = gr.Markdown(_status(stale), elem_id="overview-status")
    gallery = gr.Gallery(_gallery(rows), label="Samples from the shipped weights", columns=6, height="auto",
                         object_fit="contain", elem_id="overview-gallery", allow_preview=True, interactive=False)
    tables = []
    for kind, title in (("image", "Image models (sorted by FID within each dataset)"),
                        ("points", "2-D models (sorted by recall)"),
                        ("other", "Models that do not sample on their own")):
        frame = _frames(rows, kind)
        tables.append(gr.Dataframe(frame, label=title, interactive=False, wrap=True, visible=not frame.empty,
                                   elem_id=f"overview-{kind}", column_widths=WIDTHS[kind], max_height=520))
    plot = gr.ScatterPlot(_scatter(rows), x="precision", y="recall", color="family", tooltip=["model"],
                          label="Image models: precision (fidelity) vs recall (diversity)", height=360,
                          x_lim=[0, 1], y_lim=[0, 1])

    def refresh() -> tuple:
        fresh, still = lb.cached_rows(registry)
        return (_status(still), _gallery(fresh), *(_frames(fresh, k) for k in ("image", "points", "other")),
                _scatter(fresh))

    gr.Button("Refresh", size="sm").click(refresh, None, [status, gallery, *tables, plot],
                                          api_name="overview_refresh")


def _frames(rows: list[lb.Row], kind: str) -> pd.DataFrame:
    """One table per kind; image models of several protocols (datasets, views) in one table with a protocol
    column, sorted within each protocol by FID."""
    items = []
    for title, members in lb.groups([r for r in rows if r.kind == kind]):
        for item in lb.table(members):
            if kind == "image":
                item = {"model": item.pop("model"), "scored on": _short(title), **item}
            items.append(item)
    return pd.DataFrame(items)


def _short(protocol_title: str) -> str:
    """"Image models: 1000 samples (seed 0) vs the train (…) of digits, evaluator …, … binarised" → "digits
    (binarised)"."""
    text = protocol_title.split(" of ", 1)[-1]
    dataset = text.split(",", 1)[0]
    return dataset + (" (binarised)" if "binarised" in text else "")

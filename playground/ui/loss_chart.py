"""Loss curves on one chart without one loss flattening the others.

Families log scalars of any size and sign (a free-energy gap of −35 beside a 0.03 reconstruction error): on one
shared axis the small ones become flat lines at zero. Each series is drawn on its own axis instead, scaled to
[0, 1] over its own range, and that range is written in the series' name; the raw numbers stay in the status,
the API and the checkpoint's logs.
"""

from __future__ import annotations

import math

import pandas as pd

Y = "scaled (0 = series min, 1 = max)"
LABEL = "Losses, each on its own scale (its min … max in the legend)"


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def loss_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    """(step, series, value) rows → step, series (named with its range), value scaled to its own [0, 1]."""
    frame = pd.DataFrame([r for r in rows if math.isfinite(r[2])], columns=["step", "series", "value"])
    frame = frame.astype({"step": "int64", "series": "str", "value": "float64"})
    if frame.empty:
        return frame.assign(**{Y: frame["value"]})
    lo = frame.groupby("series")["value"].transform("min")
    hi = frame.groupby("series")["value"].transform("max")
    span = (hi - lo).where(hi > lo, 1.0)
    frame[Y] = ((frame["value"] - lo) / span).where(hi > lo, 0.5)
    names = {s: f"{s} [{_fmt(a)} … {_fmt(b)}]" for s, a, b in
             frame.groupby("series")["value"].agg(["min", "max"]).itertuples()}
    frame["series"] = frame["series"].map(names)
    return frame

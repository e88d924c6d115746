"""Loss curves on one chart without one loss flattening the others.

Families log scalars of any size and sign (a free-energy gap of −35 beside a 0.03 reconstruction error): on one
shared axis the small ones become flat lines at zero. Each series is drawn on its own axis instead, scaled to
[0, 1] over its own range; the raw value is in the tooltip, and the latest values are in the status. Series names
stay the loss names: the plot fixes its colour domain from the first frame it gets, so a name that changed from
frame to frame (a range written into it) would stop being drawn.
"""

from __future__ import annotations

import math

import gradio as gr
import pandas as pd

Y = "scaled"  # a plain field name: Vega-Lite reads dots, brackets and some punctuation in field names as paths
LABEL = "{what}, each scaled to its own range (0 = its min so far, 1 = its max); hover for the values"
TOOLTIP = ["series", "step", "value"]


def loss_plot(height: int, logged_kind: str = "loss") -> gr.LinePlot:
    """The loss chart of the Train tab and the Lab (fed with ``loss_frame``); ``logged_kind`` as the family
    declares it ("" for statistics that are not losses)."""
    what = "Losses" if logged_kind == "loss" else "Logged values"
    return gr.LinePlot(x="step", y=Y, color="series", label=LABEL.format(what=what), tooltip=TOOLTIP, height=height)


def loss_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    """(step, series, value) rows → step, series, value, and the value scaled to its series' own [0, 1]."""
    frame = pd.DataFrame([r for r in rows if math.isfinite(r[2])], columns=["step", "series", "value"])
    frame = frame.astype({"step": "int64", "series": "str", "value": "float64"})
    if frame.empty:
        return frame.assign(**{Y: frame["value"]})
    lo = frame.groupby("series")["value"].transform("min")
    hi = frame.groupby("series")["value"].transform("max")
    span = (hi - lo).where(hi > lo, 1.0)
    frame[Y] = ((frame["value"] - lo) / span).where(hi > lo, 0.5)
    return frame

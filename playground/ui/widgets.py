"""Declared parameters → Gradio components, and task results → component values."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..contracts import Chart, TaskResult
from ..images import EmptySketchError, UserImage, tensor_to_pil
from ..params import ImageInput, ParamSpec, invert_spec

DISPLAY_SIDE = 160  # small images are upscaled (nearest) to about this many pixels for display


def sentence_case(label: str) -> str:
    """A label's first letter upper-cased, the rest kept ("KL warm-up steps", "σ (Gaussian)", "LR schedule")."""
    return label[:1].upper() + label[1:] if label[:1].isascii() else label


def param_component(spec: ParamSpec, *, value: Any = None, choices: list[str] | None = None,
                    datasets: list[str] | None = None) -> gr.components.Component:
    """One input component for a declared parameter (images are handled by :func:`image_components`);
    ``datasets``: the registered datasets a dataset-valued parameter offers (others may be typed)."""
    label, info = sentence_case(spec.label), spec.help or None
    value = spec.default if value is None else value
    if spec.dataset and datasets is not None and choices is None:
        return gr.Dropdown(choices=datasets, value=value, label=label, info=info, allow_custom_value=True)
    if choices is not None or spec.choices is not None:
        return gr.Dropdown(choices=list(choices if choices is not None else spec.choices), value=value, label=label,
                           info=info)
    if spec.type is bool:
        return gr.Checkbox(value=value, label=label, info=info)
    if _slider(spec):
        step = 1 if spec.type is int else (spec.max - spec.min) / 100
        return as_sent(gr.Slider(spec.min, spec.max, value=value, step=step, label=label, info=info,
                                 precision=0 if spec.type is int else None))
    if spec.type in (int, float):
        return as_sent(gr.Number(value=value, label=label, info=info, precision=0 if spec.type is int else None,
                                 minimum=spec.min, maximum=spec.max))
    return gr.Textbox(value=value, label=label, info=info)


def as_sent(number: Any) -> Any:
    """A number or slider whose value reaches the handler exactly as the page or API client sent it.

    Gradio's own parsing rounds 2.5 to 2 for an integer box (silent acceptance), fails on NaN or text with a
    raw Python error, and checks bounds without naming the field. The declared validator (``params``) does all
    of that and names the field, so it must see the value untouched; the bounds stay on the component for the
    page's spinner."""
    number.preprocess = lambda payload: payload
    return number


def readable(image: Any) -> Any:
    """An image upload or sketchpad whose unreadable files (not an image, empty, truncated) are refused with a
    message that names the field and the file, instead of Gradio's raw decoder error."""
    parse = image.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return parse(payload)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "not an image we can read"
            files = [getattr(payload, k, None) for k in ("composite", "background")] + [payload]
            name = next((f.orig_name or Path(f.path or "").name for f in files
                         if getattr(f, "path", None) or getattr(f, "orig_name", None)), "the file")
            raise gr.Error(f"{image.label}: cannot read {name!r} as an image ({type(exc).__name__}). Upload a PNG, "
                           "JPEG, WebP, BMP or TIFF image.", print_exception=False) from None

    image.preprocess = preprocess
    return image


def _slider(spec: ParamSpec) -> bool:
    """A slider for short linear ranges; a number box for wide or logarithmic ones (learning rates)."""
    if spec.type not in (int, float) or spec.min is None or spec.max is None:
        return False
    if spec.type is int:
        return spec.max - spec.min <= 1000
    return spec.max - spec.min <= 10 and (spec.min <= 0 or spec.max / spec.min < 100)


def image_components(spec: ParamSpec) -> tuple[gr.Image, gr.Sketchpad]:
    """An upload and a sketchpad for one image input; the upload wins when both are given."""
    with gr.Tabs():
        with gr.Tab("Upload"):
            # Files, not decoded images: the framework converts every mode (16-bit included) itself.
            up = readable(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                   label=sentence_case(spec.label), height=260))
        with gr.Tab("Draw"):
            hint = "optional; light background, dark ink" if spec.optional else "light background, dark ink"
            sk = readable(gr.Sketchpad(type="filepath", image_mode=None, label=f"Draw ({hint})",
                                       canvas_size=(280, 280), height=320))
    return up, sk


def sketch_image(value: Any) -> Any:
    """A sketchpad's value (Gradio's EditorValue) → the drawing, or None when nothing was drawn."""
    if isinstance(value, dict):
        if value.get("composite") is None:
            raise EmptySketchError("The sketch is empty: draw something first.")
        return value["composite"]
    return value


def build_inputs(specs: list[ParamSpec], datasets: list[str] | None = None
                 ) -> tuple[list[gr.components.Component], Any]:
    """Components for all specs, and a function mapping the handler's positional values back to a dict.

    An image input is three components: upload, sketchpad and the framework's invert choice; it leaves the UI
    as a ``UserImage`` (the upload wins when both are given), so no Gradio value reaches a family."""
    comps: list[gr.components.Component] = []
    layout: list[tuple[str, int]] = []  # (name, number of components)
    optional = {s.name for s in specs if s.optional}
    names: list[str] = []  # each component's API parameter name
    images = [s for s in specs if s.type is ImageInput]
    others = [s for s in specs if s.type is not ImageInput]
    for s in images:
        comps.extend(image_components(s))
        comps.append(param_component(invert_spec(s)))
        layout.append((s.name, 3))
        names += [s.name, f"{s.name}_sketch", invert_spec(s).name]
    for s in others:
        comps.append(param_component(s, datasets=datasets))
        layout.append((s.name, 1))
        names.append(s.name)

    def collect(values: tuple[Any, ...]) -> dict[str, Any]:
        out, i = {}, 0
        for name, k in layout:
            if k == 3:
                upload, sketch, invert = values[i], values[i + 1], values[i + 2]
                try:
                    drawing = sketch_image(sketch) if upload is None else None
                except EmptySketchError:
                    if name not in optional:
                        raise
                    drawing = None
                out[name] = (UserImage(upload, False, invert or "auto") if upload is not None else
                             None if drawing is None else UserImage(drawing, True, invert or "auto"))
            else:
                out[name] = values[i]
            i += k
        return out

    collect.names = names  # type: ignore[attr-defined]
    return comps, collect


def gallery_value(result: TaskResult) -> list[tuple[Any, str]]:
    out = []
    for caption, img in result.images:
        scale = max(1, DISPLAY_SIDE // max(img.shape[-1], 1))
        out.append((tensor_to_pil(img, scale=scale), caption))
    return out


def chart_frame(chart: Chart | None) -> pd.DataFrame:
    if chart is None:
        return pd.DataFrame()
    return pd.DataFrame(chart.rows)


# Gradio copies a returned file into its own cache (which the app's ``delete_cache`` empties) while it builds the
# response, so our GIF only has to outlive that copy; older ones are removed whenever a new one is written.
ANIMATION_KEEP_SECONDS = 120


def animations_dir() -> Path:
    """Beside Gradio's cache (``GRADIO_TEMP_DIR``), so one setting places every temporary file of the app."""
    import tempfile

    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio") / "playground-animations"


def prune(folder: Path, older_than: float) -> int:
    """Delete files in ``folder`` last modified more than ``older_than`` seconds ago; how many went."""
    cutoff, gone = time.time() - older_than, 0
    for f in folder.glob("*.gif"):
        with contextlib.suppress(OSError):  # another request may have removed it first
            if f.stat().st_mtime < cutoff:
                f.unlink()
                gone += 1
    return gone


def animation_file(frames: list | None) -> str | None:
    """Frames → a GIF that Gradio serves; None when the task returned none. The folder stays bounded."""
    if not frames:
        return None
    import uuid

    from ..images import save_gif

    folder = animations_dir()
    folder.mkdir(parents=True, exist_ok=True)
    prune(folder, ANIMATION_KEEP_SECONDS)
    return str(save_gif(frames, folder / f"{uuid.uuid4().hex}.gif"))


def chart_component(kind: str, label: str = "") -> gr.components.Component:
    cls = gr.BarPlot if kind == "bar" else gr.LinePlot
    return cls(label=label or None, height=260)


def chart_update(chart: Chart | None, kind: str) -> Any:
    if chart is None:
        return gr.update(value=None)
    kwargs: dict[str, Any] = {"value": chart_frame(chart), "x": chart.x, "y": chart.y, "label": chart.title}
    if chart.color:
        kwargs["color"] = chart.color
    if kind == "bar" and chart.rows and isinstance(chart.rows[0][chart.x], str):
        kwargs["sort"] = list(dict.fromkeys(r[chart.x] for r in chart.rows))  # the family's order, not A–Z
    return gr.update(**kwargs)

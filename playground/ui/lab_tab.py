"""The Lab sub-tab of a 2-D family: live plots of one or two runs, run/pause, and D-only / G-only / full steps.

The session (``playground.lab.LabSession``) lives in ``gr.State``, so every browser tab has its own runs.
**Frames** do not go through Gradio's event queue: each event there costs the page ~100 ms of bookkeeping on
this app's ~1,500 components (measured: Gradio's loading-status update searches the layout tree for every
component it tracks), which capped the lab at ~4 frames a second. Instead the picture is one ``gr.HTML`` whose
script asks the server function ``lab_frame`` for the next frame, draws it and asks again: one request in flight,
so a slow machine or browser shows fewer frames and never a backlog. A frame is SVG (points, mode circles and
labels as vector marks, the field as a 96-pixel PNG the browser stretches), so no picture is drawn or encoded per
frame. The script finds its session by an unguessable token written into the picture; the server keeps only a
weak reference, so the session still lives and dies with the page's ``gr.State``. The live numbers and charts,
which cost more than the picture, follow through a slower ``gr.Timer`` (NUMBERS_SECONDS). The API's step and
reset endpoints return the pictures as PNGs too (hidden in the page), so a client without a browser still gets
pictures.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from ..contracts import ModelFamily
from ..data import FolderAccess, offered_names, points_from_drawing, store_points
from ..data.core import split_indices
from ..data.points_csv import read_points
from ..errors import ConfigError, PlaygroundError
from ..lab import LabSession
from ..params import ParamSpec, param, param_specs, settable_specs, validate_value
from ..plot2d import Scene
from . import loss_chart
from .common import api_parameters, checked_ref, user_errors, weight_refs
from .widgets import param_component

FRAME_SECONDS = 1 / 20  # at most about this many frames a second (the page's script waits out the rest)
IDLE_SECONDS = 0.25  # how often a visible, paused lab asks whether it runs again
NUMBERS_SECONDS = 2.0  # the live table, charts and status follow this often while running
# token → session, for the page's frame requests; weak, so a session lives and dies with its page's gr.State
LIVE: weakref.WeakValueDictionary[str, LabSession] = weakref.WeakValueDictionary()

# The picture's script (gr.HTML's js_on_load: ``element`` is the component, ``server`` its server functions).
LIVE_JS = f"""
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
(async () => {{
  while (element.isConnected) {{
    const holder = element.querySelector("[data-lab-token]");
    if (!holder || element.offsetParent === null) {{ await sleep(300); continue; }}  // no runs yet, or tab hidden
    const started = performance.now();
    let reply = null;
    try {{ reply = await server.lab_frame(holder.dataset.labToken); }} catch (e) {{ await sleep(1000); continue; }}
    if (reply && reply.html && holder.isConnected) holder.innerHTML = reply.html;
    const wait = reply && reply.running ? {1000 * FRAME_SECONDS:.0f} - (performance.now() - started)
                                        : {1000 * IDLE_SECONDS:.0f};
    await sleep(Math.max(0, wait));
  }}
}})();
"""
LAB = {"concurrency_id": "lab", "concurrency_limit": 8}  # CPU-only and per session: not the GPU queue
FRESH, NONE = "(fresh)", "(none)"


@dataclass
class LabControls:
    """The lab's own control, declared like every other parameter so one validator checks it."""

    steps_per_frame: int = param(5, min=1, max=200, label="steps per frame",
                                 help="Full steps between two pictures while running.")


SPEED = param_specs(LabControls)[0]


def speed_spec(family: ModelFamily) -> ParamSpec:
    """The steps-per-frame control at this family's default, its help naming the family's parts (a GAN's D and G,
    EM's E and M)."""
    parts = " and ".join(family.lab_settings.parts)
    return dataclasses.replace(SPEED, default=family.lab_settings.steps_per_frame,
                               help=SPEED.help.replace("Full steps", f"Full steps (each runs {parts})")
                               if parts else SPEED.help)

HOW_TO_READ = """**How to read it.** Green dots are real data, purple dots are the model's samples (the same
500 noise vectors every frame, so you see each one move). The background is the model's field, named on the
picture: for a GAN the discriminator's (critic's) output, green where it says *real*, purple where it says
*fake*, and the generator's points are pushed along its slope; for a density model its log-density. Blue shapes
are the model's own overlays (e.g. a mixture's components). Grey circles mark 3σ around each mode: a sample
inside one is *high quality*, and a mode is *covered* when at least one such sample falls in it. **Run B** uses
the same data, seed and settings with one setting changed, so any difference you see comes from it alone."""


class LabPanel:
    def __init__(self, registry: Any, family: ModelFamily, folders: FolderAccess | None = None) -> None:
        self.registry, self.family, self.name = registry, family, family.name
        self.folders = folders or FolderAccess()  # the server's rule for csv:PATH (none by default)
        specs = settable_specs(family.config)
        field, self.contrast = family.lab_settings.compare or (None, None)
        self.compare_spec = next((s for s in specs if s.name == field), None)
        # The lab steps by hand: the data has its own picker, and run length, logging and checkpoints do not apply.
        not_settings = {*family.config.resumable, *family.config.engine_fields,
                        *(st.field for st in family.declared_streams), field}
        self.settings = [s for s in specs if s.name not in not_settings]

    def build(self, opened_by: list[gr.Tab] | None = None) -> None:
        """The lab's layout and events; opening any of ``opened_by`` (its tab, its family's tab) starts the
        default side-by-side run the first time, so a visitor sees it move without pressing anything."""
        fam = self.family
        point_sets = offered_names(self.registry.datasets, "points")
        refs = [FRESH, *weight_refs(self.name)]
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                dataset = gr.Dropdown(point_sets, value=fam.config.dataset if fam.config.dataset in point_sets
                                      else point_sets[0], label="Data", allow_custom_value=True)
                with gr.Accordion("Your points: upload a CSV or draw them", open=False):
                    # No file_types filter: the reader names what is wrong with any file (Gradio's refusal would
                    # not say which field it was).
                    points_file = gr.File(label="Points file (CSV of x,y rows)", type="filepath",
                                          elem_id=f"{self.name}-lab-points-file")
                    # In this narrow column the sketchpad's toolbar covers its label: the text above says it instead.
                    gr.Markdown("**…or draw points**: each inked pixel becomes one (the canvas spans [−2, 2]²).")
                    points_drawing = gr.Sketchpad(type="filepath", image_mode="RGBA", canvas_size=(280, 280),
                                                  height=320, label="Draw points", show_label=False,
                                                  elem_id=f"{self.name}-lab-points-draw")
                    use_points = gr.Button("Use my points", size="sm", elem_id=f"{self.name}-lab-points-use")
                compare = []
                if self.compare_spec is not None:
                    s = self.compare_spec
                    compare = [gr.Dropdown(list(s.choices), value=s.default, label=f"Run A: {s.label}",
                                           info=s.help),
                               gr.Dropdown([NONE, *s.choices], value=self.contrast, label=f"Run B: {s.label}",
                                           info="Same data, seed and settings; (none) for a single run.")]
                with gr.Accordion("Start from weights", open=False):
                    start_a = gr.Dropdown(refs, value=FRESH, label="Run A", allow_custom_value=True)
                    start_b = gr.Dropdown(refs, value=FRESH, label="Run B", allow_custom_value=True,
                                          info="Loaded runs keep their own settings.")
                speed = param_component(speed_spec(fam))
                with gr.Accordion("Settings (both runs)", open=False):
                    settings = [param_component(s) for s in self.settings]
                reset = gr.Button("New runs", variant="primary", elem_id=f"{self.name}-lab-reset")
                with gr.Row():
                    run = gr.Button("Run ▶", elem_id=f"{self.name}-lab-run")
                    pause = gr.Button("Pause", elem_id=f"{self.name}-lab-pause")
                with gr.Row():
                    part_buttons = {p: gr.Button(f"Step {p}", size="sm", elem_id=f"{self.name}-lab-step-{p.lower()}")
                                    for p in fam.lab_settings.parts}
                    step_both = gr.Button("Step both" if fam.lab_settings.parts else "Step", size="sm",
                                          elem_id=f"{self.name}-lab-step-both")
                save = gr.Button("Save runs as weights", size="sm", elem_id=f"{self.name}-lab-save")
            with gr.Column(scale=3):
                live = gr.HTML(_waiting(), js_on_load=LIVE_JS, server_functions=[lab_frame], min_height=300,
                               elem_id=f"{self.name}-lab-live")
                # The same pictures as PNGs for API clients; the page shows the SVG above.
                plot_a = gr.Image(label="Run A", type="pil", format="png", visible=False)
                plot_b = gr.Image(label="Run B", type="pil", format="png", visible=False)
                status = gr.Markdown("Starting the default runs… (**Pause** stops them; **New runs** starts over "
                                     "with your settings.)",
                                     elem_id=f"{self.name}-lab-status")
                table = gr.Dataframe(label="Live numbers", interactive=False, wrap=True,
                                     elem_id=f"{self.name}-lab-table")
                with gr.Row():
                    losses = loss_chart.loss_plot(height=240, logged_kind=fam.logged_kind)
                    modes = gr.LinePlot(x="step", y="modes covered", color="run", label="Modes covered",
                                        height=240)
                gr.Markdown(HOW_TO_READ)
                if fam.lab_settings.notes:
                    with gr.Accordion("What to look for", open=False):
                        gr.Markdown(fam.lab_settings.notes)
        timer = gr.Timer(NUMBERS_SECONDS, active=False)  # the live numbers while running (frames come by script)
        views = [plot_a, plot_b, status, table, losses, modes, live]  # what a click returns
        numbers = [status, table, losses, modes]

        @user_errors
        def reset_fn(old: LabSession | None, ds: str, *vals: Any) -> tuple:
            n_cmp = len(compare)
            cmp_vals, (wa, wb), rest = vals[:n_cmp], vals[n_cmp:n_cmp + 2], vals[n_cmp + 2:]
            # 2-D points: registered sets (a parametrised one with its argument), csv:PATH where the server allows
            ds = self.folders.check("Data", ds, offered_names(self.registry.datasets, "points"))
            values = {"dataset": ds, **{s.name: v for s, v in zip(self.settings, rest, strict=True)}}
            variants = [cmp_vals[0], None if cmp_vals[1] == NONE else cmp_vals[1]] if cmp_vals else [None, None]
            starts = [None if w in (None, "", FRESH) else checked_ref(self.name, str(w)) for w in (wa, wb)]
            if variants[1] is None and starts[1] is None:  # no run B
                variants, starts = variants[:1], starts[:1]
            new = LabSession.create(self.registry, self.name, values, variants, starts)
            LIVE[new.token] = new
            # New runs keep the lab playing or paused, as GAN Lab's reset does. It also makes a quick New runs →
            # Run end running whichever the server handles first (the two clicks are separate events, and a Run
            # handled first lands on the old runs: a test saw the new ones sit paused under load).
            if old is not None:
                new.steps_per_frame = old.steps_per_frame
                new.running, old.running = old.running, False
            return (new, gr.Timer(active=new.running), *self._views(new, []))

        @user_errors
        def points_fn(upload: str | None, drawing: Any) -> tuple:
            """Keep the user's points in the store and pick them as the Data (``points:HASH``)."""
            if upload:
                points, what = read_points(upload), Path(upload).name
            else:
                composite = drawing.get("composite") if isinstance(drawing, dict) else drawing
                if composite is None:
                    raise ConfigError("Nothing to use yet: upload a points file (CSV of x,y rows) or draw points "
                                      "first.")
                with Image.open(composite) as im:
                    points, what = points_from_drawing(np.asarray(im.convert("RGBA"))), "Your drawing"
            name = store_points(points, what)
            n = len(split_indices(len(points), "train"))  # what a run on ``name`` trains on
            return (name,  # the picker takes typed names, so the API gets the plain name back
                    f"Data is now **{name}** ({n} training points). Press **New runs** to train on it; the name "
                    "works in every 2-D family, the API and the CLI on this machine.")

        use_points.click(points_fn, [points_file, points_drawing], [dataset, status],
                         api_name=f"{self.name}_lab_points", **LAB)

        def step_fn(part: str) -> Any:
            @user_errors
            def fn(sess: LabSession | None, steps_per_frame: float = 1) -> tuple:
                # The parameter is named like the field, so the API's name and the refusal's agree.
                n = validate_value(SPEED, steps_per_frame)
                sess = _need(sess)
                errors = sess.step(part, n)
                return self._views(sess, errors)

            fn.__name__ = f"{self.name}_lab_step_{part.lower()}"
            return fn

        def tick_fn(sess: LabSession | None) -> tuple:
            # Once more after Pause (or a failure), so the numbers end where the picture did; then the timer stops.
            if sess is None:
                return (gr.Timer(active=False), *[gr.skip()] * len(numbers))
            return (gr.skip() if sess.running else gr.Timer(active=False), *self._numbers(sess, []))

        @user_errors
        def run_fn(sess: LabSession | None, steps_per_frame: float) -> Any:
            sess = _need(sess)
            sess.steps_per_frame = validate_value(SPEED, steps_per_frame)
            sess.running = True
            return gr.Timer(active=True)

        @user_errors
        def speed_fn(sess: LabSession | None, steps_per_frame: float) -> None:
            if sess is not None:
                sess.steps_per_frame = validate_value(SPEED, steps_per_frame)

        def pause_fn(sess: LabSession | None) -> Any:
            if sess is not None:
                sess.running = False
            return gr.Timer(active=False)

        @user_errors
        def save_fn(sess: LabSession | None) -> str:
            sess = _need(sess)
            with sess.lock:
                refs_ = [run.save() for run in sess.runs]
            return "Saved " + ", ".join(f"`{r}`" for r in refs_) + " (Weights tab; Train can resume them)."

        inputs = [dataset, *compare, start_a, start_b, *settings]
        cmp_names = [f"{self.compare_spec.name}_a", f"{self.compare_spec.name}_b"] if compare else []
        api_parameters(reset_fn, ["session", "dataset", *cmp_names, "weights_a", "weights_b",
                                  *(s.name for s in self.settings)])
        reset.click(reset_fn, [session, *inputs], [session, timer, *views], api_name=f"{self.name}_lab_reset", **LAB)

        @user_errors
        def autostart_fn(sess: LabSession | None, *vals: Any) -> tuple:
            if sess is not None:  # this visitor has runs already: opening the tab again changes nothing
                return (gr.skip(),) * (2 + len(views))
            *settings_, n = vals
            new, _, *shown = reset_fn(None, *settings_)
            new.steps_per_frame = validate_value(SPEED, n)
            new.running = True  # Pause stops it, as after Run
            return (new, gr.Timer(active=True), *shown)

        for tab in opened_by or []:
            tab.select(autostart_fn, [session, *inputs, speed], [session, timer, *views], api_visibility="private",
                       show_progress="hidden", **LAB)
        for part, button in part_buttons.items():  # one update of that part alone
            button.click(step_fn(part), [session], views, api_name=f"{self.name}_lab_step_{part.lower()}", **LAB)
        step_both.click(step_fn("both"), [session, speed], views, api_name=f"{self.name}_lab_step", **LAB)
        run.click(run_fn, [session, speed], [timer], api_visibility="private")
        speed.change(speed_fn, [session, speed], None, api_visibility="private", show_progress="hidden")
        pause.click(pause_fn, [session], [timer], api_visibility="private")
        timer.tick(tick_fn, [session], [timer, *numbers], show_progress="hidden", api_visibility="private", **LAB)
        save.click(save_fn, [session], [status], api_name=f"{self.name}_lab_save", **LAB)

    def _views(self, sess: LabSession, errors: list[str]) -> tuple:
        """Everything a click shows: the PNGs (for the API), the numbers, the page's live picture."""
        scenes = sess.scenes()
        return (scenes[0].to_image(), scenes[1].to_image() if len(scenes) > 1 else None,
                *self._numbers(sess, errors), live_html(sess, scenes))

    def _numbers(self, sess: LabSession, errors: list[str]) -> tuple:
        """The status line, the live table and the two charts."""
        rows = sess.numbers()
        rate = sum(r.seconds_training for r in sess.runs)
        steps = sum(r.steps for r in sess.runs)
        lines = [" · ".join(f"**{r.label}** {r.objective} ({r.source})" for r in sess.runs)]
        if steps and rate > 0:
            lines.append(f"{steps / rate:.0f} steps/s while training")
        lines += [f"⚠️ {e}" for e in [*errors, sess.stopped_by] if e]
        lines += [f"⚠️ {r.error}" for r in sess.runs if r.error and r.error not in errors]
        curves = loss_chart.loss_frame(sess.history)
        cover = _frame(sess.coverage, ["step", "run", "modes covered"])
        # None clears a plot: an empty frame would fix its colour scale to no series at all. Data without modes
        # (banana, moons, your CSV) has nothing to count, so its chart is hidden rather than left empty.
        has_modes = any(r.modes is not None for r in sess.runs)
        modes = gr.LinePlot(value=cover if len(cover) else None, visible=has_modes)
        return "  \n".join(lines), by_run(rows), curves if len(curves) else None, modes


def by_run(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The live numbers with one column per run (A and B side by side, one measure per row): a dozen measures
    as columns wrapped their headers letter by letter in the lab's width."""
    measures = list(dict.fromkeys(k for row in rows for k in row if k not in ("run", "objective")))
    columns = {"measure": measures}
    for row in rows:
        columns[f"{row['run']}: {row['objective']}"] = [str(row.get(k, "")) for k in measures]
    return pd.DataFrame(columns)


def live_html(sess: LabSession, scenes: list[Scene] | None = None) -> str:
    """The runs' pictures side by side, in the holder that carries the session's token for the page's script."""
    return f'<div data-lab-token="{sess.token}" style="{PAIR_STYLE}">{frames_html(scenes or sess.scenes())}</div>'


PAIR_STYLE = "display:flex;gap:12px;align-items:flex-start"


def frames_html(scenes: list[Scene]) -> str:
    return "".join(f'<div style="flex:1 1 0;min-width:0">{sc.to_svg()}</div>' for sc in scenes)


def lab_frame(token: Any) -> dict[str, Any]:
    """The page's script asks for its next frame: step the session by its steps per frame and send the pictures.
    A server function of the live picture (``gr.HTML(server_functions=…)``), not a queued event (see above)."""
    sess = LIVE.get(str(token))
    if sess is None or not sess.running:
        return {"running": False}
    try:
        sess.step("both", sess.steps_per_frame)
    except PlaygroundError as exc:  # e.g. a plugin that raised: stop, and the numbers say why
        sess.running, sess.stopped_by = False, str(exc)
        return {"running": False}
    if sess.failed:  # every run hit a non-finite loss (each says which)
        sess.running = False
    return {"running": sess.running, "html": frames_html(sess.scenes())}


def _waiting() -> str:
    return ('<div style="height:300px;display:flex;align-items:center;justify-content:center;color:#888;'
            'border:1px dashed #ccc">The runs appear here.</div>')


def _frame(rows: list[tuple[int, str, float]], columns: list[str]) -> pd.DataFrame:
    """Typed even when empty: the plot infers its axis types from the first value it gets (object = nominal)."""
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({columns[0]: "int64", columns[1]: "str", columns[2]: "float64"})


def _need(sess: LabSession | None) -> LabSession:
    if sess is None:
        raise ConfigError("Press New runs first.")
    return sess

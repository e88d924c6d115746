"""The tab of one model family: Generate (one sub-tab per declared task) · Train · Evaluate · Weights."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from .. import zerogpu
from ..contracts import ModelFamily
from ..data import FolderAccess, offered_names
from ..errors import WeightsError
from ..images import make_grid, tensor_to_pil
from ..inference import QualityInputs
from ..jobs import Job, TrainingJobs
from ..models import import_file
from ..params import ImageInput, ParamSpec, param, param_specs, settable_specs, validate_value
from ..weights import list_weights, resolve
from . import loss_chart
from .common import GPU, api_parameters, checked_ref, user_errors, weight_refs, weights_dropdown
from .examples import example_files
from .lab_tab import LabPanel
from .quality import quality_outputs
from .visitor import visitor_id, visitor_state
from .widgets import (
    animation_file,
    build_inputs,
    chart_component,
    chart_update,
    gallery_value,
    param_component,
    sentence_case,
)

POLL_SECONDS = 1.0


@dataclass
class ImportOptions:
    """The Weights tab's own switch, declared so the one validator checks it (import and Hub pull share it)."""

    replace: bool = param(False, label="replace an import of the same name",
                          help="Off: a taken name is refused, so no import is lost by accident.")


REPLACE = param_specs(ImportOptions)[0]


class FamilyTab:
    def __init__(self, registry: Any, family: ModelFamily, jobs: TrainingJobs,
                 folders: FolderAccess | None = None, visitor: gr.BrowserState | None = None) -> None:
        self.registry, self.family, self.jobs = registry, family, jobs
        self.visitor = visitor  # the page's visitor token (ui.visitor); made in the tab when none is given
        self.gpu_key = zerogpu.register(registry)  # GPU work goes through zerogpu (a no-op wrapper off ZeroGPU)
        self.folders = folders if folders is not None else FolderAccess()
        self.name = family.name
        self.image_datasets = [n for n, d in registry.datasets.items() if d.kind == "image"]
        self.weight_dropdowns: list[gr.Dropdown] = []
        self.examples = example_files(registry, family.name)
        # The Train panel's status poll: on only while this family's tab is open and its Lab is not (a page with
        # ten families polling every second would spend its browser and the server on panels nobody sees).
        self.poll_timer: gr.Timer | None = None

    # -- layout ---------------------------------------------------------------------------------------
    def build(self, tab: gr.Tab | None = None) -> None:
        """The family's sub-tabs inside its ``tab`` (opening it starts the Lab's default run the first time)."""
        fam = self.family
        gr.Markdown(f"### {fam.title}\n{fam.description}")
        sub_tabs = []
        with gr.Tabs():
            if fam.has_lab:
                with gr.Tab("Lab", id=f"{self.name}-lab") as lab_tab:
                    LabPanel(self.registry, fam, self.folders).build(opened_by=[t for t in (tab, lab_tab) if t])
                sub_tabs.append(lab_tab)
            with gr.Tab("Generate", id=f"{self.name}-generate") as generate_tab, gr.Tabs():
                for task in fam.tasks:
                    with gr.Tab(task.title, id=f"{self.name}-{task.name}"):
                        self._task_panel(task)
            with gr.Tab("Train", id=f"{self.name}-train") as train_tab:
                self._train_panel()
            with gr.Tab("Evaluate", id=f"{self.name}-evaluate") as evaluate_tab:
                self._evaluate_panel()
                if self.family.samples_images:
                    self._quality_panel()
            with gr.Tab("Weights", id=f"{self.name}-weights") as weights_tab:
                self._weights_panel()
        for sub in [*sub_tabs, generate_tab, train_tab, evaluate_tab, weights_tab]:
            sub.select(lambda on=sub is train_tab: gr.Timer(active=on), None, self.poll_timer,
                       api_visibility="private", queue=False, show_progress="hidden")

    def _task_panel(self, task: Any) -> None:
        if task.description:
            gr.Markdown(task.description)
        with gr.Row():
            with gr.Column(scale=1):
                wd = weights_dropdown(self.name)
                self.weight_dropdowns.append(wd)
                specs = param_specs(task.inputs)
                comps, collect = build_inputs(specs, self.image_datasets)
                if any(s.type is ImageInput for s in specs) and self.examples:
                    gr.Examples([[f] for f in self.examples], inputs=[comps[0]], label="Examples (click one)")
                run = gr.Button(task.title, variant="primary", elem_id=f"{self.name}-{task.name}-run")
            with gr.Column(scale=1):
                gallery = gr.Gallery(label="Output", format="png", columns=3, height="auto", object_fit="contain",
                                     elem_id=f"{self.name}-{task.name}-gallery")
                values = gr.JSON(label="Values")
                outputs = [gallery, values]
                if task.chart:
                    outputs.append(chart_component(task.chart))
                if task.animation:
                    outputs.append(gr.Image(label="Animation", type="filepath", format="gif", height=200,
                                            elem_id=f"{self.name}-{task.name}-animation"))

        @user_errors
        def handler(weights: str, *vals: Any) -> tuple:
            # run_task checks the inputs before it resolves the weights (so even a family without weights names a
            # bad input), and resolving is where every reference is checked.
            result = zerogpu.task_on_gpu(self.gpu_key, self.name, weights, task.name,
                                         self._checked(collect(vals), specs))
            out = (gallery_value(result), result.values)
            if task.chart:
                out += (chart_update(result.chart, task.chart),)
            if task.animation:
                out += (animation_file(result.animation),)
            return out

        handler.__name__ = f"{self.name}_{task.name}"
        api_parameters(handler, ["weights", *collect.names])
        run.click(handler, [wd, *comps], outputs, api_name=f"{self.name}_{task.name}", **GPU)

    def _fitting(self, stream: Any) -> list[str]:
        return offered_names(self.registry.datasets, stream.kind, labelled=stream.labels)

    def _checked(self, values: dict[str, Any], specs: list[ParamSpec], streams: tuple = ()) -> dict[str, Any]:
        """``values`` with every dataset named in them checked against what a web visitor may use (registered
        datasets; ``folder:PATH`` only under the roots this server allows). Stream fields must name one; other
        dataset fields may stay empty where the family reads empty as "none"."""
        out = dict(values)
        fields = {st.field: self._fitting(st) for st in streams}
        for s in specs:
            if s.name not in out or not (s.dataset or s.name in fields):
                continue
            if s.name not in fields and not str(out[s.name] or "").strip():
                continue
            out[s.name] = self.folders.check(sentence_case(s.label), out[s.name],
                                             fields.get(s.name, self.image_datasets))
        return out

    def _dataset_picker(self, stream: Any, spec: Any) -> gr.Dropdown:
        """One dataset picker per declared stream, offering the registered datasets that fit it; labelled by the
        config field's label (e.g. "domain A")."""
        fitting = self._fitting(stream)
        own = "folder:PATH for your own images" if stream.kind == "image" else "csv:PATH for your own x,y points"
        folders = f", or {own} (under {self.folders.describe()})" if self.folders.roots != () else ""
        return gr.Dropdown(choices=fitting, value=spec.default if spec.default in fitting else (fitting or [None])[0],
                           label=sentence_case(spec.label), allow_custom_value=True,
                           info=f"A registered dataset{folders}." if spec.label == "dataset" else spec.help)

    def _setting(self, spec: Any) -> Any:
        """A config field's widget; a parent model's field picks from that family's weights."""
        parent = next((p for p in self.family.parents if p.field == spec.name), None)
        if parent is None:
            return param_component(spec, datasets=self.image_datasets)
        refs = weight_refs(parent.family)
        return gr.Dropdown(choices=refs, value=spec.default if spec.default in refs else (refs or [None])[0],
                           label=sentence_case(spec.label), allow_custom_value=True,
                           info=f"{spec.help} ({parent.family} weights; the run records which, with a hash)")

    def _train_panel(self) -> None:
        streams = self.family.declared_streams
        fields = [s.field for s in streams]
        every = {s.name: s for s in param_specs(self.family.config)}
        specs = [s for s in settable_specs(self.family.config) if s.name not in fields]
        with gr.Row():
            with gr.Column(scale=1):
                pickers = [self._dataset_picker(st, every[st.field]) for st in streams]
                engine = self.family.config.engine_fields
                ordered = ([s for s in specs if not s.advanced and s.name not in engine]
                           + [s for s in specs if s.advanced and s.name not in engine]
                           + [s for s in specs if s.name in engine])
                comps = [self._setting(s) for s in ordered if not s.advanced]
                with gr.Accordion("Advanced", open=False):
                    comps += [self._setting(s) for s in ordered if s.advanced]
                runs = [r for r in weight_refs(self.name) if r.startswith("run/")]
                resume = gr.Dropdown(choices=["(new run)", *runs],
                                     value="(new run)", label="Resume from", allow_custom_value=True,
                                     info="Continue one of your runs exactly (only steps and intervals may change).")
                with gr.Row():
                    start = gr.Button("Start training", variant="primary", elem_id=f"{self.name}-train-start")
                    stop = gr.Button("Stop", variant="stop", elem_id=f"{self.name}-train-stop")
            with gr.Column(scale=1):
                status = gr.Markdown("No training run yet.", elem_id=f"{self.name}-train-status")
                curve = loss_chart.loss_plot(height=260, logged_kind=self.family.logged_kind)
                preview = gr.Image(label="Preview (from the model being trained)", type="pil", height=300,
                                   format="png", elem_id=f"{self.name}-train-preview")
        self.resume_dropdown = resume

        n_streams = len(pickers)

        def start_job(*vals: Any, request: gr.Request | None = None) -> Job:
            datasets, resume_ref, rest, token = vals[:n_streams], vals[n_streams], vals[n_streams + 1:-1], vals[-1]
            owner = visitor_id(token, request)
            values = {**dict(zip(fields, datasets, strict=True)),
                      **{s.name: v for s, v in zip(ordered, rest, strict=True)}}
            values = self._checked(values, list(every.values()), streams)
            for p in self.family.parents:  # a parent model is checked now, not when the run's thread loads it
                if p.field in values:
                    values[p.field] = checked_ref(p.family, values[p.field])
            if resume_ref and resume_ref != "(new run)":
                keep = {k: values[k] for k in self.family.config.resumable if k in values}
                job = self.jobs.start(self.name, keep, resume=resume_ref, owner=owner)
            else:
                job = self.jobs.start(self.name, values, owner=owner)
            return job

        if self.jobs.bursts:
            @user_errors
            def start_fn(*vals: Any) -> Iterator[str]:
                job = start_job(*vals[:-1], request=vals[-1])  # the last value is the caller's request
                yield f"Started {job.ref}: training in GPU bursts of up to {self.jobs.burst_seconds:.0f} s."
                for p in self.jobs.drive(job):
                    yield f"{job.ref} · {p.status} · step {p.step}/{p.total}"
        else:
            @user_errors
            def start_fn(*vals: Any) -> str:
                return f"Started {start_job(*vals[:-1], request=vals[-1]).ref}."  # the last: the caller's request

        @user_errors
        def stop_fn(token: str | None = None, request: gr.Request = None) -> str:
            job = self.jobs.stop(self.name, visitor_id(token, request))  # another visitor's run: refused
            if job is None or not job.alive:
                return "Nothing is training."
            return "Stopping after this burst…" if self.jobs.bursts else "Stopping…"

        def status_fn(token: str | None = None, request: gr.Request = None) -> tuple:
            return self._status(visitor_id(token, request))

        if self.visitor is None:
            self.visitor = visitor_state()
        start_fn.__name__ = f"{self.name}_train_start"
        # visitor: the page sends its browser's token; an API client may leave it out (its session is then the owner)
        api_parameters(start_fn, [*fields, "resume", *(s.name for s in ordered)], optional={"visitor": None},
                       request=True)
        start.click(start_fn, [*pickers, resume, *comps, self.visitor], [status],
                    api_name=f"{self.name}_train_start")
        stop.click(stop_fn, [self.visitor], [status], api_name=f"{self.name}_train_stop")
        timer = self.poll_timer = gr.Timer(POLL_SECONDS, active=False)
        timer.tick(status_fn, [self.visitor], [status, curve, preview], show_progress="hidden",
                   api_visibility="private", concurrency_limit=None)
        gr.api(self._status_json, api_name=f"{self.name}_train_status", concurrency_limit=None)

    def _status(self, viewer: str = "") -> tuple:
        job = self.jobs.get(self.name)
        if job is None:
            busy = self.jobs.running()
            note = (f"Training now: {self.jobs.describe(busy, viewer)}." if busy else "No training run yet.")
            return note, gr.skip(), gr.skip()
        p = job.progress
        if job.owner != viewer:  # another visitor's run: its progress, read-only, and nothing of its settings
            return (f"**{self.jobs.describe(job, viewer)}** · {p.status} (read-only: only its owner can stop it)",
                    gr.skip(), gr.skip())
        frac = p.step / max(p.total, 1)
        bar = "█" * int(frac * 20) + "░" * (20 - int(frac * 20))
        eta = (p.total - p.step) / p.steps_per_s if p.steps_per_s > 0 and not p.done else 0
        lines = [f"**{job.ref}** · {p.status} · step {p.step}/{p.total} `{bar}` {frac:.0%}",
                 f"{p.steps_per_s:.1f} steps/s" + (f" · about {eta / 60:.1f} min left" if eta else "")]
        if p.losses:  # the chart scales each loss to its own range; the numbers themselves are here
            last = p.losses[-1][0]
            lines.append("Latest (step {}): {}".format(last, " · ".join(
                f"{n} {v:.4g}" for s, n, v in p.losses if s == last)))
        if p.message:
            lines.append(("⚠️ " if p.status == "failed" else "") + p.message)
        lines += [f"Note: {n}" for n in p.notes]
        if p.checkpoint:
            lines.append(f"Last checkpoint: step {p.checkpoint_step} (weights `{job.ref}`)")
        frame = loss_chart.loss_frame(p.losses) if p.losses else None
        img = None
        if p.preview is not None:  # a grid of small images, or one 2-D plot (already large)
            n, side = p.preview.shape[0], p.preview.shape[-1]
            img = tensor_to_pil(make_grid(p.preview, nrow=min(8, n)), scale=2 if side < 128 else 1)
        return "  \n".join(lines), frame if frame is not None else gr.skip(), img if img is not None else gr.skip()

    def _status_json(self, request: gr.Request) -> dict:
        """The API's view of this family's run: in full for the client that started it (its session), the
        progress alone for anyone else."""
        job = self.jobs.get(self.name)
        if job is None:
            return {"status": "idle"}
        p = job.progress
        brief = {"run": job.ref, "status": p.status, "step": p.step, "total": p.total}
        if job.owner != visitor_id(None, request):
            return {**brief, "owner": "another visitor"}
        return {**brief, "owner": "you", "message": p.message, "notes": p.notes, "checkpoint_step": p.checkpoint_step,
                "losses": p.losses[-20:]}

    def _evaluate_panel(self) -> None:
        fam = self.family
        if fam.evaluate_inputs is None:
            if not fam.samples_images:
                gr.Markdown(f"{fam.title} declares no evaluation.")
            return
        with gr.Row():
            with gr.Column(scale=1):
                wd = weights_dropdown(self.name)
                self.weight_dropdowns.append(wd)
                specs = param_specs(fam.evaluate_inputs)
                comps, collect = build_inputs(specs, self.image_datasets)
                run = gr.Button("Evaluate", variant="primary", elem_id=f"{self.name}-evaluate-run")
            with gr.Column(scale=1):
                values = gr.JSON(label="Results")
                chart = chart_component(fam.scores.chart)
                pictures = gr.Gallery(label="Pictures", format="png", columns=1, height=420, object_fit="contain",
                                      elem_id=f"{self.name}-evaluate-gallery")

        @user_errors
        def evaluate_fn(weights: str, *vals: Any, progress: gr.Progress = gr.Progress()) -> tuple:
            progress(0, desc="Evaluating")
            result = zerogpu.evaluate_on_gpu(self.gpu_key, self.name, weights,  # as run_task
                                             self._checked(collect(vals), specs))
            return result.values, chart_update(result.chart, fam.scores.chart), gallery_value(result)

        api_parameters(evaluate_fn, ["weights", *collect.names])
        run.click(evaluate_fn, [wd, *comps], [values, chart, pictures], api_name=f"{self.name}_evaluate", **GPU)

    def _quality_panel(self) -> None:
        gr.Markdown("#### Sample quality\nFID, KID, Inception-style score, precision/recall/density/coverage and the "
                    "class histogram, on the features of the training dataset's shipped evaluator network. Each "
                    "score sits beside its real-vs-real baseline at the same protocol; rows with different "
                    "protocols are marked and must not be compared.")
        with gr.Row():
            with gr.Column(scale=1):
                refs = weight_refs(self.name)
                pick = gr.Dropdown(choices=refs, value=refs[:1], multiselect=True, allow_custom_value=True,
                                   label="Checkpoints (one or more, compared side by side)")
                self.weight_dropdowns.append(pick)
                n, seed = (param_component(s) for s in param_specs(QualityInputs))
                run = gr.Button("Score samples", variant="primary", elem_id=f"{self.name}-quality-run")
            with gr.Column(scale=2):
                table = gr.Dataframe(label="Scores (baseline = real held-out images vs the same reference)",
                                     interactive=False, wrap=True)
                note = gr.Markdown()
                hist = gr.BarPlot(x="class", y="fraction", color="weights", label="Class histogram of samples",
                                  height=240)
                nn_gallery = gr.Gallery(label="Nearest training image to each sample (memorisation check)",
                                        format="png", columns=8, height=220)

        @user_errors
        def quality_fn(weights: list[str] | str, n_: float, seed_: float,
                       progress: gr.Progress = gr.Progress()) -> tuple:
            weights = [weights] if isinstance(weights, str) else list(weights or [])
            if not weights:
                raise WeightsError("Checkpoints: choose at least one.")
            for w in weights:
                checked_ref(self.name, w)
            progress(0, desc=f"Sampling and scoring {len(weights)} checkpoint(s)")
            results = zerogpu.quality_on_gpu(self.gpu_key, self.name, weights, n_, seed_)
            return quality_outputs(self.registry, results)

        run.click(quality_fn, [pick, n, seed], [table, note, hist, nn_gallery], api_name=f"{self.name}_quality", **GPU)

    def _weights_panel(self) -> None:
        gr.Markdown("Shipped checkpoints, your training runs and imported files. A checkpoint is a folder with "
                    "`model.safetensors` (weights, config in its metadata), `config.json` and a model card.")
        table = gr.Dataframe(self._weights_table(), label="Available weights", interactive=False)
        with gr.Row():
            with gr.Column():
                wd = weights_dropdown(self.name, "Show")
                self.weight_dropdowns.append(wd)
                card = gr.Markdown(self._card(wd.value) if wd.value else "")
                download = gr.File(label="model.safetensors of the selected weights", interactive=False)
            with gr.Column():
                upload = gr.File(label="Import a model.safetensors", file_types=[".safetensors"], type="filepath")
                name = gr.Textbox(label="Name for the import", placeholder="my-model")
                replace = param_component(REPLACE)
                do_import = gr.Button("Import", elem_id=f"{self.name}-import")
                result = gr.Markdown()
                with gr.Accordion("Hugging Face Hub", open=False):
                    repo = gr.Textbox(label="Repository id", placeholder="user/my-model")
                    with gr.Row():
                        do_pull = gr.Button("Pull into imports")
                        do_push = gr.Button("Push the selected weights")
                    token = gr.Textbox(label="Your Hugging Face token (not stored): push needs one with write "
                                       "access; pull uses it for private repositories, else reads anonymously",
                                       type="password")
                    hub_result = gr.Markdown()

        @user_errors
        def card_fn(ref: str) -> tuple:
            return self._card(checked_ref(self.name, ref)), str(resolve(self.name, ref) / "model.safetensors")

        @user_errors
        def import_fn(path: str | None, label: str, overwrite: Any = False) -> tuple:
            entry = import_file(self.registry, self.name, path, label or None,
                                overwrite=validate_value(REPLACE, overwrite))
            refs = weight_refs(self.name)
            return (f"Imported as `{entry.ref}` (step {entry.step}, trained on {entry.dataset}).",
                    self._weights_table(), *[gr.update(choices=refs) for _ in self.weight_dropdowns])

        @user_errors
        def pull_fn(repo_id: str, overwrite: Any = False, tok: str | None = None) -> tuple:
            from ..hub import pull, visitor_token

            entry = pull(self.registry, self.name, repo_id, overwrite=validate_value(REPLACE, overwrite),
                         token=visitor_token(tok))
            refs = weight_refs(self.name)
            return (f"Pulled `{repo_id}` as `{entry.ref}` (step {entry.step}).", self._weights_table(),
                    *[gr.update(choices=refs) for _ in self.weight_dropdowns])

        @user_errors
        def push_fn(ref: str, repo_id: str, tok: str) -> str:
            from ..hub import push, visitor_token

            url = push(self.name, ref, repo_id, token=visitor_token(tok))  # checks the id, token, then weights
            return f"Pushed `{ref}` to {url}."

        do_pull.click(pull_fn, [repo, replace, token], [hub_result, table, *self.weight_dropdowns],
                      api_name=f"{self.name}_hub_pull")
        do_push.click(push_fn, [wd, repo, token], [hub_result], api_name=f"{self.name}_hub_push")
        wd.change(card_fn, [wd], [card, download], api_name=f"{self.name}_weights_card")
        do_import.click(import_fn, [upload, name, replace], [result, table, *self.weight_dropdowns],
                        api_name=f"{self.name}_weights_import")
        refresh = gr.Button("Refresh lists", size="sm")
        refresh.click(self._refresh, None, [table, self.resume_dropdown, *self.weight_dropdowns],
                      api_name=f"{self.name}_weights_list")

    def _refresh(self) -> tuple:
        refs = weight_refs(self.name)
        runs = ["(new run)"] + [r for r in refs if r.startswith("run/")]
        updates = [gr.update(choices=refs) for _ in self.weight_dropdowns]
        return (self._weights_table(), gr.update(choices=runs), *updates)

    def _weights_table(self) -> pd.DataFrame:
        rows = [{"weights": e.ref, "source": e.source, "step": e.step, "trained on": e.dataset}
                for e in list_weights(self.name)]
        return pd.DataFrame(rows, columns=["weights", "source", "step", "trained on"])

    def _card(self, ref: str) -> str:
        entry = next((e for e in list_weights(self.name) if e.ref == ref), None)
        if entry is None:
            return ""
        return entry.card or f"**{ref}**: step {entry.step}, trained on `{entry.dataset}` (no model card)."

"""The model-family contract as checks: what every family must do for the engine, the UI and the API to rely on it.

One implementation for two callers: the project's test suite (``tests/test_conformance.py``, one test per check
and family) and ``playground check-plugin DIR`` (a plugin author's folder alone, a verdict per family, an exit
code for CI). Each check raises ``CheckFailed`` with the reason, or ``CheckSkipped`` where it does not apply, and
returns a one-line detail when it passes.

The learning rule is sign-safe: a score (lower is better) must fall by a share of its own size,
``after <= before - margin·|before|``, so a negative log-likelihood that starts below zero cannot pass by
staying put, and a loss that starts positive must fall to ``(1 - margin)·before`` as before.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .contracts import ModelFamily, ModelState, TaskResult
from .data import DataSpec, load_dataset
from .engine import Progress, Trainer
from .images import UserImage, tensor_to_pil
from .inference import call_task, task_inputs
from .models import load_model, untrained_like
from .registry import Registry

STEPS = 300  # a smoke run, unless the family's checks.smoke_config says "steps"
LOSS_MARGIN = 0.5  # the learning loss must fall by half its untrained size
SCORE_MARGIN = 0.4  # learning_score (adversarial families) by 40 %
RESUME_STEPS, RESUME_STOP = 30, 12


class CheckFailed(AssertionError):
    """The family breaks the contract; the message says how."""


class CheckSkipped(Exception):
    """The check does not apply to this family (the message says why)."""


@dataclass
class Trained:
    """One smoke run of a family, shared by the checks that need a trained model."""

    registry: Registry
    family: ModelFamily
    state: ModelState
    progress: Progress
    checkpoint: Path


@dataclass
class Verdict:
    family: str
    check: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""
    seconds: float = 0.0


def smoke(fam: ModelFamily, **extra: Any) -> dict[str, Any]:
    """The family's smoke config (digits unless it says otherwise, seed 0) with ``extra`` on top."""
    return {"dataset": "digits", **fam.checks.smoke_config, "seed": 0, **extra}


def smoke_steps(fam: ModelFamily) -> int:
    return int(fam.checks.smoke_config.get("steps", STEPS))


def sample_image(registry: Registry) -> UserImage:
    """A real test-split digit, upscaled like a user's upload (what image inputs get in the checks)."""
    data = load_dataset(registry.datasets, DataSpec("digits", split="test"))
    return UserImage(tensor_to_pil(data.float_images()[0], scale=4))


def held_out(registry: Registry, state: ModelState) -> torch.Tensor:
    """The test split of the data the model trained on, as the family sees it (images in [-1, 1] or points)."""
    data = load_dataset(registry.datasets, DataSpec(state.data["name"], split="test"))
    return data.points if state.info.kind == "points" else data.float_images()


def train_smoke(registry: Registry, name: str, folder: Path) -> Trained:
    """The shared smoke run: ``smoke_steps`` steps, a loss logged every step, one checkpoint at the end."""
    fam = registry.family(name)
    trainer = Trainer(registry, name, smoke(fam, steps=smoke_steps(fam), log_every=1, checkpoint_every=10_000),
                      out_dir=folder / "ckpt", device="cpu")
    progress = trainer.run()
    if progress.status != "finished" or progress.step != smoke_steps(fam):
        raise CheckFailed(f"the smoke run ended {progress.status} at step {progress.step}/{smoke_steps(fam)}: "
                          f"{progress.message}")
    return Trained(registry, fam, trainer.state, progress, folder / "ckpt")


def improved(before: float, after: float, margin: float) -> bool:
    """Sign-safe: ``after`` is lower than ``before`` by ``margin`` of ``|before|``."""
    return after <= before - margin * abs(before)


def check_learns(t: Trained) -> str:
    """Training beats an untrained model by a wide margin: the declared ``learning_score`` (adversarial games,
    whose losses need not fall) on held-out data, or else the family's ``checks.learning_loss`` series."""
    fam, state = t.family, t.state
    images = held_out(t.registry, state)
    before = fam.learning_score(untrained_like(t.registry, state), images)
    if before is not None:
        after = fam.learning_score(state, images)
        if after is None or not improved(before, after, SCORE_MARGIN):
            raise CheckFailed(f"learning_score went from {before:.4g} (untrained) to {after} after "
                              f"{t.progress.step} steps; it must fall by {SCORE_MARGIN:.0%} of its size")
        return f"learning_score {before:.4g} → {after:.4g}"
    series = sorted({n for _, n, _ in t.progress.losses})
    key = fam.checks.learning_loss
    if key not in series:
        raise CheckFailed(f"no {key!r} in the logged losses ({', '.join(series)}); return it from train_step or "
                          "set checks = pg.Checks(learning_loss=...) to the loss that must fall")
    values = [v for _, n, v in t.progress.losses if n == key]
    untrained, final = values[0], sum(values[-20:]) / len(values[-20:])
    if not improved(untrained, final, LOSS_MARGIN):
        raise CheckFailed(f"{key!r} went from {untrained:.4g} (first step) to {final:.4g} (mean of the last 20); "
                          f"it must fall by {LOSS_MARGIN:.0%} of its size")
    return f"{key} {untrained:.4g} → {final:.4g}"


def run_every_task(t: Trained, state: ModelState, image: UserImage) -> dict[str, TaskResult]:
    """Each declared task with its default inputs (image inputs: ``image``, through the framework's conversion)."""
    state.modules.eval()
    out = {}
    for task in t.family.tasks:
        values = {f.name: image for f in dataclasses.fields(task.inputs) if f.default is None}
        with torch.no_grad():
            out[task.name] = call_task(t.registry, t.family, state, task, task_inputs(task, values, state))
    return out


def check_tasks(t: Trained, image: UserImage) -> str:
    """Every task returns what it declares: C×H×W float images in [-1, 1] (the model's channels or RGB figures;
    2-D families RGB plots), JSON-able values, a chart exactly when declared."""
    fam, state = t.family, t.state
    results = run_every_task(t, state, image)
    allowed = {state.info.channels, 3} if fam.kind == "image" else {3}
    for task in fam.tasks:
        r = results[task.name]
        if not isinstance(r, TaskResult):
            raise CheckFailed(f"{task.name} returned {type(r).__name__}, not a TaskResult")
        if not r.images:
            raise CheckFailed(f"{task.name} returned no images")
        for caption, img in r.images:
            if not torch.is_tensor(img) or img.dtype != torch.float32 or img.ndim != 3:
                raise CheckFailed(f"{task.name} image {caption!r} is not a float32 C×H×W tensor")
            if img.shape[0] not in allowed:
                raise CheckFailed(f"{task.name} image {caption!r} has {img.shape[0]} channels; allowed: "
                                  f"{sorted(allowed)}")
            if not torch.isfinite(img).all() or img.min() < -1 or img.max() > 1:
                raise CheckFailed(f"{task.name} image {caption!r} is not finite and within [-1, 1]")
        try:
            json.dumps(r.values)
        except TypeError as exc:
            raise CheckFailed(f"{task.name} values are not JSON-able ({exc}); return numbers, strings, lists") from exc
        if task.chart and (r.chart is None or not r.chart.rows or not {r.chart.x, r.chart.y} <= set(r.chart.rows[0])):
            raise CheckFailed(f"{task.name} declares chart={task.chart!r} but returned no chart with its x and y")
        if not task.chart and r.chart is not None:
            raise CheckFailed(f"{task.name} returned a chart but its Task declares none")
    return f"{len(fam.tasks)} task(s)"


def check_save_load(t: Trained, image: UserImage) -> str:
    """Saved then loaded, the model gives identical task outputs; parents stay frozen."""
    loaded = load_model(t.registry, t.checkpoint, family=t.family.name)
    before, after = run_every_task(t, t.state, image), run_every_task(t, loaded, image)
    for task, a in before.items():
        b = after[task]
        for (caption, x), (_, y) in zip(a.images, b.images, strict=True):
            if not torch.equal(x, y):
                raise CheckFailed(f"{task} image {caption!r} differs after save → load (state kept outside "
                                  "modules/stats?)")
        if a.deterministic_values() != b.deterministic_values():
            raise CheckFailed(f"{task} values differ after save → load: {a.values} vs {b.values} (timings belong in "
                              "TaskResult.measured)")
    if any(p.requires_grad for ps in loaded.parents.values() for p in ps.modules.parameters()):
        raise CheckFailed("a loaded parent model has trainable parameters")
    return "identical"


def _same(what: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    if a.keys() != b.keys():
        raise CheckFailed(f"{what}: keys differ ({sorted(set(a) ^ set(b))})")
    for k in a:
        if not torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])):
            raise CheckFailed(f"{what} {k!r} differs from the uninterrupted run's")


def check_resume(registry: Registry, name: str, folder: Path) -> str:
    """Stopped at step 12 and resumed to 30, a run ends bit-identical to an uninterrupted one (weights, stats,
    stash, optimiser state, learning-rate schedule, cosine on). Draw all training randomness from run.generator."""
    fam = registry.family(name)
    cfg = smoke(fam, steps=RESUME_STEPS, log_every=4, checkpoint_every=10_000, lr_schedule="cosine")
    full = Trainer(registry, name, cfg, out_dir=folder / "full", device="cpu")
    full.run()
    part: Trainer

    def stop(progress: Progress) -> None:
        if progress.step >= RESUME_STOP:
            part.stop()

    part = Trainer(registry, name, cfg, out_dir=folder / "part", device="cpu", on_progress=stop)
    p1 = part.run()
    if p1.status != "stopped" or p1.step != RESUME_STOP:
        raise CheckFailed(f"the run asked to stop at {RESUME_STOP} ended {p1.status} at step {p1.step}")
    resumed = Trainer(registry, name, {"steps": RESUME_STEPS}, out_dir=folder / "part", resume=folder / "part",
                      device="cpu")
    p2 = resumed.run()
    if p2.status != "finished" or p2.step != RESUME_STEPS:
        raise CheckFailed(f"the resumed run ended {p2.status} at step {p2.step}: {p2.message}")
    a, b = full.state, resumed.state
    _same("weight", a.modules.state_dict(), b.modules.state_dict())
    _same("stat", a.stats, b.stats)
    _same("stash entry", a.stash, b.stash)
    if a.optimizers.keys() != b.optimizers.keys():
        raise CheckFailed("the resumed run has other optimisers")
    for opt in a.optimizers:
        sa, sb = a.optimizers[opt].state_dict(), b.optimizers[opt].state_dict()
        if [g["lr"] for g in sa["param_groups"]] != [g["lr"] for g in sb["param_groups"]]:
            raise CheckFailed(f"optimiser {opt!r}: the learning-rate schedule moved on resume")
        for i in sa["state"]:
            _same(f"optimiser {opt!r} state", sa["state"][i], sb["state"][i])
    return f"stop at {RESUME_STOP}, resume to {RESUME_STEPS}: bit-identical"


def has_batch_norm(state: ModelState) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in state.modules.modules())


def has_instance_norm(state: ModelState) -> bool:
    """Instance norm divides by each image's own spread: in near-constant channels (the digits' black borders) float
    noise of ~1e-7 grows past 1 % of a weight's movement within a few adversarial steps, so two micro-batches agree
    with one batch on the first step's gradients (tested per family, e.g. tests/test_cyclegan.py), not item for
    item after five."""
    return any(isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) for m in state.modules.modules())


def check_grad_accum(t: Trained, folder: Path) -> str:
    """Two micro-batches of B give batch 2B's weights, for families where item-for-item equality is defined (no
    batch or instance norm, optimisers, no adversarial parts, no per-item noise: ``checks.accumulation_exact``)."""
    fam, state, registry = t.family, t.state, t.registry
    reasons = [why for why, applies in (("batch norm", has_batch_norm(state)), ("instance norm",
               has_instance_norm(state)), ("no optimiser", not state.optimizers), ("partial updates (lab parts)",
               bool(fam.lab_settings.parts)), ("accumulation_exact = False", not fam.checks.accumulation_exact))
               if applies]
    if reasons:
        raise CheckSkipped(f"not comparable item for item: {', '.join(reasons)}")
    cfg = smoke(fam, steps=5, batch_size=32, log_every=5)
    one = Trainer(registry, fam.name, cfg, out_dir=folder / "one", device="cpu")
    one.run()
    two = Trainer(registry, fam.name, {**cfg, "grad_accum": 2}, out_dir=folder / "two", device="cpu")
    two.run()
    # Element-wise equality up to float noise, or (where Adam turns summation-order noise on near-zero gradients
    # into full-size steps: attention, an EMA codebook fed by the encoder) a difference under 1 % of how far
    # training moved that tensor. Accumulation done wrong (an optimiser or EMA stepping per micro-batch, a loss
    # not divided) moves weights by a good share of a step, far above that.
    init = untrained_like(registry, one.state).modules.state_dict()
    mine = two.state.modules.state_dict()
    for k, v in one.state.modules.state_dict().items():
        w = mine[k]
        if torch.allclose(w, v, rtol=1e-4, atol=1e-5):
            continue
        moved = float((v.float() - init[k].float()).norm())
        if float((w.float() - v.float()).norm()) >= 0.01 * moved:
            raise CheckFailed(f"{k!r}: grad_accum=2 differs from one batch by {float((w - v).abs().max()):.3g} "
                              f"(training moved it {moved:.3g}); step and update once per step, on "
                              "run.last_micro_batch")
    return "grad_accum=2 equals one batch"


def check_autocast(registry: Registry, name: str, folder: Path) -> str:
    """precision=bf16 runs train_step under bf16 autocast (on the CPU here) and trains finite; fp32 and the CPU's
    "auto" run it without autocast."""
    fam = registry.family(name)
    cls = type(fam)
    real_step = cls.train_step
    seen: list[bool] = []

    def recording(self: Any, run: Any, batch: Any) -> Any:
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return real_step(self, run, batch)

    cfg = smoke(fam, steps=4, log_every=1, batch_size=16)
    cls.train_step = recording  # restored below; check-plugin and the tests run one check at a time
    try:
        for precision, expected in (("fp32", False), ("auto", False), ("bf16", True)):
            seen.clear()
            p = Trainer(registry, name, {**cfg, "precision": precision}, out_dir=folder / precision,
                        device="cpu").run()
            if p.status != "finished":
                raise CheckFailed(f"precision={precision}: the run ended {p.status}: {p.message}")
            if not all(torch.isfinite(torch.tensor(v)) for _, _, v in p.losses):
                raise CheckFailed(f"precision={precision}: a logged loss is not finite")
            if not seen or set(seen) != {expected}:
                raise CheckFailed(f"precision={precision}: train_step ran with bf16 autocast {set(seen)}, "
                                  f"expected {expected}")
    finally:
        cls.train_step = real_step
    return "fp32, auto, bf16"


def check_ui(registry: Registry, name: str) -> str:
    """The family's app tab builds from its declarations (every form, task, evaluation and Lab widget)."""
    from .ui.app import build_family_tab

    panel = build_family_tab(registry, registry.family(name))
    return f"{len(panel.weight_dropdowns)} weights pickers"


@dataclass(frozen=True)
class Check:
    name: str
    doc: str
    run: Callable[..., str]
    needs: str  # "trained" (gets the shared smoke run) or "registry" (trains its own runs)


CHECKS: tuple[Check, ...] = (
    Check("learns", "training beats an untrained model by a wide margin", lambda t, img, d: check_learns(t),
          "trained"),
    Check("tasks", "every task returns its declared outputs", lambda t, img, d: check_tasks(t, img), "trained"),
    Check("save_load", "save → load gives identical outputs", lambda t, img, d: check_save_load(t, img), "trained"),
    Check("resume", "stop and resume equals an uninterrupted run",
          lambda reg, name, d: check_resume(reg, name, d), "registry"),
    Check("grad_accum", "gradient accumulation equals one big batch", lambda t, img, d: check_grad_accum(t, d),
          "trained"),
    Check("autocast", "bf16 autocast on and off", lambda reg, name, d: check_autocast(reg, name, d), "registry"),
    Check("ui", "its app tab builds", lambda reg, name, d: check_ui(reg, name), "registry"),
)
CHECK_NAMES = tuple(c.name for c in CHECKS)


def _timed(family: str, check: str, fn: Callable[[], str]) -> Verdict:
    t0 = time.perf_counter()
    try:
        detail, status = fn(), "pass"
    except CheckSkipped as exc:
        detail, status = str(exc), "skip"
    except Exception as exc:  # noqa: BLE001 - a plugin's exception is the verdict, not a crash of the checker
        cause = exc.__cause__ if exc.__cause__ is not None and not isinstance(exc, CheckFailed) else exc
        detail, status = (str(exc) if isinstance(exc, CheckFailed) else f"{type(cause).__name__}: {cause}"), "fail"
    return Verdict(family, check, status, detail, time.perf_counter() - t0)


def check_family(registry: Registry, name: str, folder: Path, checks: Iterable[str] = CHECK_NAMES) -> list[Verdict]:
    """Every check on one family, each its own verdict (a failed smoke run fails the checks that need it)."""
    wanted = [c for c in CHECKS if c.name in set(checks)]
    fam = registry.family(name)
    image = sample_image(registry)
    verdicts: list[Verdict] = []
    trained: Trained | None = None

    def train() -> str:
        nonlocal trained
        trained = train_smoke(registry, name, folder / "smoke")
        return f"{smoke_steps(fam)} steps"

    if any(c.needs == "trained" for c in wanted):
        verdicts.append(_timed(name, "train", train))
    for c in wanted:
        sub = folder / c.name
        if c.needs == "trained":
            if trained is None:
                verdicts.append(Verdict(name, c.name, "fail", "the smoke run failed (see train)"))
                continue
            verdicts.append(_timed(name, c.name, lambda c=c, sub=sub: c.run(trained, image, sub)))
        else:
            verdicts.append(_timed(name, c.name, lambda c=c, sub=sub: c.run(registry, name, sub)))
    return verdicts


@dataclass
class PluginReport:
    """What ``check-plugin`` found: load failures of the folder's plugins and each family's verdicts."""

    families: list[str]
    load_failures: list[Verdict] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.families) and not self.load_failures and all(v.status != "fail" for v in self.verdicts)

    def family_status(self, name: str) -> str:
        mine = [v for v in self.verdicts if v.family == name]
        return "fail" if any(v.status == "fail" for v in mine) else "pass"


def folder_families(registry: Registry, folder: Path) -> tuple[list[str], list[Verdict]]:
    """The families registered by plugins from ``folder``, and that folder's plugin failures as verdicts."""
    origin = str(folder)
    mine = {p for p, rec in registry.plugins.items() if rec.origin == origin}
    families = sorted(f for f in registry.families if registry.owner_of(f) in mine)
    failures = [Verdict(f.plugin, f"load ({f.stage})", "fail", f.message) for f in registry.failures
                if f.plugin in mine or f.file == origin or f.file.startswith(origin.rstrip("/") + "/")]
    return families, failures


def check_plugin_folder(folder: str | Path, families: Iterable[str] | None = None,
                        checks: Iterable[str] = CHECK_NAMES,
                        progress: Callable[[Verdict], None] | None = None) -> PluginReport:
    """The conformance checks on the families of one plugins folder (built-ins loaded for their datasets and
    parents, not checked)."""
    folder = Path(folder)
    registry = Registry([folder])
    found, failures = folder_families(registry, folder)
    if families:
        unknown = sorted(set(families) - set(found))
        failures += [Verdict(f, "load", "fail", f"no family {f!r} in {folder}; found: {', '.join(found) or 'none'}")
                     for f in unknown]
        found = [f for f in found if f in set(families)]
    report = PluginReport(found, failures)
    with tempfile.TemporaryDirectory(prefix="check-plugin-") as tmp:
        for name in found:
            for v in check_family(registry, name, Path(tmp) / name, checks):
                report.verdicts.append(v)
                if progress:
                    progress(v)
    return report

"""The 2-D lab: steps/s per objective next to the engine's, the time of one picture (PNG for the API, SVG for the
page), side-by-side updates/s in-process and through the HTTP API, and a sweep of every objective's coverage."""

from __future__ import annotations

import tempfile
import time
from typing import Any

from playground.bench import median_ms


def bench_lab(registry: Any, family: str, steps_per_frame: int, frames: int,
              objectives: tuple[str, ...] = ("nonsaturating", "wgan_gp")) -> dict[str, float]:
    from playground.engine import Trainer
    from playground.lab import LabRun, LabSession, lab_families
    from playground.ui.app import LAUNCH_OPTIONS, build_app

    if family not in lab_families(registry):
        raise SystemExit(f"{family} has no 2-D lab.")
    out: dict[str, float] = {"lab_steps_per_frame": float(steps_per_frame)}
    for obj in objectives:
        run = LabRun.create(registry, family, {"objective": obj})
        run.step("both", 10)  # warm up
        t = time.perf_counter()
        run.step("both", 200)
        out[f"lab_{obj}_steps_per_s"] = 200 / (time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            tr = Trainer(registry, family, {"objective": obj, "steps": 210, "log_every": 50}, out_dir=tmp, device="cpu")
            tr.run()
        out[f"engine_{obj}_steps_per_s"] = tr.progress.steps_per_s
        # The API's picture (drawn, with the live numbers) and the page's frame (the scene as SVG; numbers apart).
        out[f"lab_{obj}_frame_png_ms_median"] = median_ms(lambda _, r=run: r.frame(), frames)
        out[f"lab_{obj}_frame_svg_ms_median"] = median_ms(lambda _, r=run: r.scene().to_svg(), frames)
    sess = LabSession.create(registry, family, {}, list(objectives))
    t = time.perf_counter()
    for _ in range(frames):
        sess.step("both", steps_per_frame)
        [sc.to_svg() for sc in sess.scenes()]
    out["lab_side_by_side_updates_per_s_inprocess"] = frames / (time.perf_counter() - t)
    demo = build_app(registry)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    try:
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        names = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        params = names[f"/{family}_lab_reset"]["parameters"]
        reset_args = ["ring8", *objectives, "(fresh)", "(fresh)"]
        defaults = [p.get("parameter_default") for p in params[len(reset_args):]]  # the form's own settings
        client.predict(*reset_args, *defaults, api_name=f"/{family}_lab_reset")
        t = time.perf_counter()
        for _ in range(frames):
            client.predict(steps_per_frame, api_name=f"/{family}_lab_step")
        out["lab_side_by_side_updates_per_s_api"] = frames / (time.perf_counter() - t)
    finally:
        demo.close()
    return out


def lab_sweep(registry: Any, family: str, steps: int, every: int = 250) -> dict[str, Any]:
    """Every choice of the family's compared field (GAN 2-D: every objective) at the defaults on the default data:
    modes covered and % high quality every ``every`` steps (the numbers behind the Lab's notes)."""
    from playground.lab import LabRun
    from playground.params import param_specs

    fam = registry.family(family)
    field = fam.lab_compare[0] if fam.lab_compare else None
    choices = next((s.choices for s in param_specs(fam.config) if s.name == field), None) or (None,)
    out: dict[str, Any] = {}
    for choice in choices:
        run = LabRun.create(registry, family, {field: choice} if field else {})
        t, trace = time.perf_counter(), []
        while run.steps < steps:
            run.step("both", min(every, steps - run.steps))
            m = run.metrics()
            trace.append(f"{run.steps}:{m.get('modes_covered', '-')}/{round(m.get('high_quality_pct', 0))}%")
        out[f"sweep_{choice}"] = f"{' '.join(trace)} ({time.perf_counter() - t:.0f} s)"
    return out

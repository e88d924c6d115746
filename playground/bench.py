"""``playground bench``: speed and memory figures measured in one run, printed as ratios where it matters.

1. Training throughput: the engine vs a plain reference loop (DataLoader over a TensorDataset, a
   per-step ``.item()``), same family code, model, data, batch size and number of steps.
2. Inference latency for a 64-image grid: in-process and through the HTTP API. With ``--tasks``: every task's
   latency and one evaluation's time (``--eval KEY=VALUE`` sets its inputs).
   With ``--precision``: fp32 vs bf16 autocast steps/s and CUDA peak memory (batch 256).
   With ``--processes``: the same run in 1 and 2 CPU processes (torchrun, gloo), steps/s of each.
3. App cold start (``python app.py`` until HTTP 200) and its resident memory.
4. FID + KID + PRDC on 10,000 generated vs 10,000 real images: time per stage and memory.
5. ``--memory BATCH``: the memory guard's estimate for one step next to a real step's peak (ratio > 1 = safe).
   ``--concurrency SECONDS``: 8 API clients on every generate endpoint while a 2-D lab steps (errors, p50/p99,
   calls/s, server peak RSS).
6. ``--recipe NAME:KEY=VALUE,…`` (repeat) with ``--at 250,500,1000``: train each recipe of ``--family`` from the
   same seed and score its samples (FID, KID, precision, recall, smallest class, on one protocol) after each
   number of steps, in one table, with each recipe's steps/s (the overhead of what it adds).
7. For a 2-D family (``--family gan2d``): lab steps/s per objective next to the engine's on the same model, the
   time of one picture (PNG, as the API sends it; SVG, as the page draws it), and visual updates/s for
   side-by-side runs in-process and through the HTTP API; ``--lab-sweep N`` adds every objective's mode coverage
   over N steps. ``--lab-browser SECONDS``: the app in Debian's chromium (Playwright), the family's tab opened as
   a visitor does (its default side-by-side run starts by itself): visual updates/s of the picture the page
   shows, counted at every animation frame, and training steps/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PlainRun:
    """What a tutorial's loop does around a step: ``loss.backward()``, ``opt.step()``, ``opt.zero_grad()``,
    nothing else (no autocast, clipping, accumulation, schedules or processes): the reference the engine's run
    context is measured against."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.config, self.modules, self.generator, self.device = state.config, state.modules, state.generator, \
            state.device
        self.stash, self.parents = state.stash, state.parents
        self.last_micro_batch = True  # one batch per step, one process
        from playground.run import Distributed

        self.dist = Distributed()

    def backward(self, loss: torch.Tensor, name: str | None = None, *, retain_graph: bool = False) -> None:
        # Only the named optimiser's parameters, as a tutorial gets by toggling requires_grad on the other player.
        params = None if name is None else [p for g in self.state.optimizers[name].param_groups for p in g["params"]]
        loss.backward(inputs=params, retain_graph=retain_graph)

    def step(self, name: str | None = None) -> bool:
        opts = self.state.optimizers
        opt = opts[name] if name else next(iter(opts.values()))
        opt.step()
        opt.zero_grad(set_to_none=True)
        return True


def bench_training(registry: Any, family: str, steps: int, batch_size: int, device: str) -> dict[str, float]:
    from playground.contracts import Batch
    from playground.data import load_dataset
    from playground.engine import Trainer
    from playground.models import load_parents, new_state
    from playground.params import build_params
    from playground.streams import StreamData, spec_of

    fam = registry.family(family)
    cfg_values = {"steps": steps, "batch_size": batch_size, "log_every": 50, "sample_every": 10**6,
                  "checkpoint_every": 10**6}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, channels_last in (("engine", True), ("engine_contiguous", False)):
            t = Trainer(registry, family, cfg_values, out_dir=Path(tmp) / label, device=device,
                        channels_last=channels_last)
            t.run()
            out[f"{label}_steps_per_s"] = t.progress.steps_per_s

    # The plain reference loop a tutorial would write (one DataLoader per stream, loss.backward(), opt.step(), a
    # per-step .item()), around the very same model code.
    cfg = build_params(fam.config, cfg_values)
    dev = torch.device(device)
    loaders, infos, specs = {}, {}, {}
    for stream in fam.streams(cfg):
        spec = spec_of(stream, cfg)
        sd = StreamData(stream, spec, load_dataset(registry.datasets, spec))
        x, y = sd.items()
        tensors = (x,) if y is None else (x, y)
        loaders[stream.name] = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), shuffle=True,
                                                           drop_last=True, batch_size=batch_size * stream.per_step)
        infos[stream.name], specs[stream.name] = sd.info, sd.describe()
    parents, records = load_parents(registry, fam, cfg, dev)
    state = new_state(registry, fam, cfg, infos, specs, dev, parents=parents, parent_records=records)
    state.modules.train()
    run = PlainRun(state)
    iters = {name: iter(dl) for name, dl in loaders.items()}

    def next_batch(name: str) -> Batch:
        try:
            parts = next(iters[name])
        except StopIteration:  # a new epoch of this stream
            iters[name] = iter(loaders[name])
            parts = next(iters[name])
        return Batch(parts[0].to(dev), parts[1].to(dev) if len(parts) > 1 else None)

    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        step_losses = fam.train_step(run, Batch.of({name: next_batch(name) for name in loaders}))
        losses.append({k: v.item() for k, v in step_losses.items()})  # the per-step sync a tutorial does
    out["reference_steps_per_s"] = steps / (time.perf_counter() - t0)
    out["ratio_engine_vs_reference"] = out["engine_steps_per_s"] / out["reference_steps_per_s"]
    return out


def bench_precision(registry: Any, family: str, steps: int, batch_size: int, device: str) -> dict[str, float]:
    """The engine at fp32 and bf16 autocast on ``device``: steps/s and, on CUDA, peak memory of each."""
    from playground.engine import Trainer

    out: dict[str, float] = {}
    cfg = {"steps": steps, "batch_size": batch_size, "log_every": 50, "sample_every": 10**6, "checkpoint_every": 10**6}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "bf16"):
            cuda = device.startswith("cuda")
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            t = Trainer(registry, family, {**cfg, "precision": precision}, out_dir=Path(tmp) / precision,
                        device=device)
            t.run()
            out[f"{precision}_steps_per_s"] = t.progress.steps_per_s
            if cuda:
                out[f"{precision}_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    out["ratio_bf16_vs_fp32_steps"] = out["bf16_steps_per_s"] / out["fp32_steps_per_s"]
    return out


def bench_processes(family: str, steps: int, batch_size: int) -> dict[str, float]:
    """The same run (same global batch) in 1 and in 2 CPU processes (torchrun, gloo): steps/s of each."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port",
                   str(29400 + n), "-m", "playground.cli", "train", family, "--steps", str(steps), "--batch-size",
                   str(batch_size), "--log-every", str(steps), "--checkpoint-every", str(10 * steps),
                   "--sample-every", str(10 * steps), "--out", str(Path(tmp) / f"p{n}"), "--device", "cpu"]
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // n)), "PYTHONUNBUFFERED": "1"}
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
            if res.returncode != 0:
                raise RuntimeError(f"{n}-process run failed:\n{res.stderr[-2000:]}")
            rates = [float(line.split("(")[-1].split()[0]) for line in res.stdout.splitlines() if "steps/s" in line]
            out[f"processes_{n}_steps_per_s"] = rates[-1]
    out["ratio_2_vs_1_processes"] = out["processes_2_steps_per_s"] / out["processes_1_steps_per_s"]
    return out


def bench_inference(registry: Any, family: str, weights: str, device: str, repeats: int) -> dict[str, float]:
    """Median latency of a 64-image grid: the ``generate`` task (as the UI runs it) and ``sample()`` alone."""
    from playground.inference import model_cache, run_task

    fam = registry.family(family)
    out: dict[str, float] = {}
    if any(t.name == "generate" for t in fam.tasks):
        values = {"n": 64, "seed": 0}
        run_task(registry, family, weights, "generate", values, device)  # load + warm up
        times = []
        for i in range(repeats):
            t = time.perf_counter()
            run_task(registry, family, weights, "generate", {**values, "seed": i}, device)
            times.append(time.perf_counter() - t)
        out["inprocess_grid64_ms_median"] = 1000 * statistics.median(times)
    if fam.can_sample:
        state = model_cache().get(registry, family, weights, torch.device(device))
        times = []
        for i in range(repeats):
            t = time.perf_counter()
            fam.sample(state, 64, torch.Generator(state.device).manual_seed(i))
            times.append(time.perf_counter() - t)
        out["sample64_ms_median"] = 1000 * statistics.median(times)
    return out


def bench_tasks(registry: Any, family: str, weights: str, device: str, repeats: int,
                evaluate_values: dict[str, Any], task_values: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, float]:
    """Median latency of every declared task at its default inputs (a real test digit for image inputs), and the
    time of one evaluation with ``evaluate_values`` (e.g. the VAE's IWAE bound over the test split)."""
    from playground.data import DataSpec, load_dataset
    from playground.images import UserImage, tensor_to_pil
    from playground.inference import run_evaluate, run_task
    from playground.params import ImageInput, param_specs

    fam = registry.family(family)
    digit = tensor_to_pil(load_dataset(registry.datasets, DataSpec("digits", split="test")).float_images()[0], 4)
    out: dict[str, float] = {}
    for task in fam.tasks:
        values = {s.name: UserImage(digit) for s in param_specs(task.inputs) if s.type is ImageInput}
        values.update((task_values or {}).get(task.name, {}))
        run_task(registry, family, weights, task.name, values, device)  # load + warm up
        times = []
        for _ in range(max(3, repeats // 4)):
            t = time.perf_counter()
            run_task(registry, family, weights, task.name, values, device)
            times.append(time.perf_counter() - t)
        label = ", ".join(f"{k}={v}" for k, v in (task_values or {}).get(task.name, {}).items())
        out[f"task_{task.name}_ms_median" + (f" ({label})" if label else "")] = 1000 * statistics.median(times)
    if fam.evaluate_inputs is not None:
        t = time.perf_counter()
        run_evaluate(registry, family, weights, evaluate_values, device)
        out["evaluate_s (" + ", ".join(f"{k}={v}" for k, v in evaluate_values.items()) + ")"] = \
            time.perf_counter() - t
    return out


def bench_app(repeats: int) -> dict[str, float]:
    """Cold start of ``python app.py`` to HTTP 200, its RSS, and API latency of a 64-image grid."""
    from gradio_client import Client

    t0 = time.perf_counter()
    proc, url = _start_app(7891)
    try:
        cold = time.perf_counter() - t0
        rss_start = _rss_mib(proc.pid)
        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        client.predict("digits", 64, 0, 1.0, api_name="/autoencoder_generate")
        times = []
        for i in range(repeats):
            t = time.perf_counter()
            client.predict("digits", 64, i, 1.0, api_name="/autoencoder_generate")
            times.append(time.perf_counter() - t)
        return {"cold_start_s": cold, "rss_after_start_mib": rss_start, "rss_after_inference_mib": _rss_mib(proc.pid),
                "api_grid64_ms_median": 1000 * statistics.median(times)}
    finally:
        proc.terminate()
        proc.wait(10)


def _start_app(port: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError("app.py exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)


def bench_concurrency(seconds: float, clients: int, only: str = "") -> dict[str, float]:
    """``clients`` API clients calling every family's generate endpoint in turn for ``seconds`` while one lab
    session steps: errors, latency percentiles, calls/s and the server's peak resident memory."""
    import threading

    from gradio_client import Client

    proc, url = _start_app(7892)
    try:
        probe = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        names = sorted(n for n in probe.view_api(return_format="dict", print_info=False)["named_endpoints"]
                       if n.endswith("_generate") and (not only or n.strip("/") in only.split(",")))
        for n in names:  # warm every model once, so the figures are steady state
            probe.predict(api_name=n)
        lab = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        lab.predict(api_name="/gan2d_lab_reset")
        stop, lock = threading.Event(), threading.Lock()
        times: list[float] = []
        errors: list[str] = []
        peak = [_rss_mib(proc.pid)]
        lab_frames = [0]

        def user(i: int) -> None:
            c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
            k = i
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    c.predict(api_name=names[k % len(names)])
                    with lock:
                        times.append(time.perf_counter() - t)
                except Exception as exc:  # noqa: BLE001 - counted, not raised
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                k += 1

        def lab_loop() -> None:
            while not stop.is_set():
                lab.predict(api_name="/gan2d_lab_step")
                lab_frames[0] += 1

        threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
        threads.append(threading.Thread(target=lab_loop))
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        while time.perf_counter() - t0 < seconds:
            time.sleep(0.5)
            peak[0] = max(peak[0], _rss_mib(proc.pid))
        stop.set()
        for th in threads:
            th.join(120)
        elapsed = time.perf_counter() - t0
        times.sort()
        pct = lambda q: 1000 * times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")  # noqa: E731
        return {"concurrency_clients": clients, "concurrency_calls": len(times), "concurrency_errors": len(errors),
                "concurrency_p50_ms": pct(0.5), "concurrency_p99_ms": pct(0.99),
                "concurrency_calls_per_s": len(times) / elapsed,
                "concurrency_lab_frames_per_s": lab_frames[0] / elapsed,
                "concurrency_server_peak_rss_mib": peak[0]}
    finally:
        proc.terminate()
        proc.wait(10)


def bench_memory(registry: Any, family: str, batch_size: int, device: str) -> dict[str, float]:
    """The memory guard's estimate for one step at ``batch_size`` next to what a real step takes (a fresh
    process's peak resident growth on CPU, ``max_memory_allocated`` on CUDA): the ratio must stay above 1."""
    code = f"""
import json, os, resource, sys, time
os.environ["PLAYGROUND_MEMORY_GUARD"] = "0"
import torch
from playground.engine import Trainer
from playground.memory import measure
from playground.registry import get_registry
reg = get_registry()
tr = Trainer(reg, {family!r}, {{"batch_size": {batch_size}, "steps": 1, "sample_every": 10**6,
             "checkpoint_every": 10**6}}, out_dir=sys.argv[1], device={device!r})
tr.preflight()
t = time.perf_counter()
est = measure(reg, tr.family, tr.cfg, tr._streams, tr.device)
guard_s = time.perf_counter() - t
need = est.need({batch_size})
cuda = tr.device.type == "cuda"
if cuda:
    torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    base = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
tr.run()
peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"need": need, "used": peak - base, "guard_s": guard_s}}))
"""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code, tmp], cwd=ROOT, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"memory_batch": batch_size, "memory_estimate_mib": r["need"] / 2**20,
            "memory_measured_mib": r["used"] / 2**20, "memory_estimate_over_measured": r["need"] / max(r["used"], 1),
            "memory_guard_s": r["guard_s"]}


def bench_quality(registry: Any, n: int) -> dict[str, float]:
    """FID + KID + PRDC on ``n`` generated vs ``n`` real images on the CPU: time per stage and memory."""
    import resource

    from playground.data import DataSpec, load_dataset
    from playground.inference import model_cache
    from playground.metrics.evaluator import load_evaluator
    from playground.metrics.scores import fid, kid, prdc

    ev = load_evaluator("digits")
    real = load_dataset(registry.datasets, DataSpec("digits")).float_images()
    real = torch.cat([torch.roll(real, shifts=(i % 3 - 1, i // 3 % 3 - 1), dims=(2, 3)) for i in range(9)])
    real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))][:n]
    state = model_cache().get(registry, "autoencoder", "digits", torch.device("cpu"))
    fake = registry.family("autoencoder").sample(state, n, torch.Generator().manual_seed(0))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, float] = {"quality_n": float(n)}
    t = time.perf_counter()
    rf, _ = ev.embed(real)
    ff, fl = ev.embed(fake)
    out["quality_embed_s"] = time.perf_counter() - t
    out["quality_embed_ms_per_image"] = 1000 * out["quality_embed_s"] / (2 * n)
    for name, fn in (("fid", lambda: fid(rf, ff)), ("kid", lambda: kid(rf, ff)), ("prdc", lambda: prdc(rf, ff))):
        t = time.perf_counter()
        fn()
        out[f"quality_{name}_s"] = time.perf_counter() - t
    out["quality_total_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    out["quality_peak_rss_growth_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    return out


def _median_ms(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


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
        out[f"lab_{obj}_frame_png_ms_median"] = _median_ms(run.frame, frames)
        out[f"lab_{obj}_frame_svg_ms_median"] = _median_ms(lambda r=run: r.scene().to_svg(), frames)
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


# Counts the changes of the lab's picture at every animation frame: the first line of run A's SVG (its update
# counts) on today's page, or the PNG's address on a page that shows images (so older versions compare).
COUNT_UPDATES_JS = """(sel) => { window.__updates = []; let last = null;
  const look = () => { const el = document.querySelector(sel);
    const img = el && el.querySelector('img'); const title = el && el.querySelector('svg text.title');
    const now = img ? img.src : (title ? title.textContent : null);
    if (now !== null && now !== last) {
      if (last !== null) window.__updates.push([performance.now(), now]);
      last = now; }
    requestAnimationFrame(look); }; look(); }"""


def bench_lab_browser(registry: Any, family: str, seconds: float, url: str | None = None,
                      steps_per_frame: int | None = None) -> dict[str, float]:
    """Visual updates/s of the Lab in chromium, the family's tab opened as a visitor opens it (``url``: an app
    already running, e.g. an older version's, instead of this one; ``steps_per_frame``: typed into the page's
    control first, None = the page's default)."""
    import re

    from playwright.sync_api import sync_playwright

    from playground.ui.app import LAUNCH_OPTIONS, build_app

    demo = None
    if url is None:
        demo = build_app(registry)
        demo.queue()
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    title = registry.family(family).title
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                               "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            page.get_by_role("tab", name=title).first.click()
            sel = next(s for s in (f"#{family}-lab-live", f"#{family}-lab-plot-a") if page.locator(s).count())
            page.locator(sel).locator("img, svg text.title").first.wait_for(timeout=60_000)
            if steps_per_frame is not None:
                box = page.get_by_label("number input for Steps per frame").first
                box.fill(str(steps_per_frame))
                box.press("Enter")
            time.sleep(3)  # past the first frames
            page.evaluate(COUNT_UPDATES_JS, sel)
            time.sleep(seconds)
            updates = page.evaluate("window.__updates")
            browser.close()
    finally:
        if demo is not None:
            demo.close()
    out = {"lab_browser_updates_per_s": (len(updates) - 1) / ((updates[-1][0] - updates[0][0]) / 1000)
           if len(updates) > 1 else 0.0}
    counts = [int(m[-1]) for _, text in updates if (m := re.findall(r"\d+", text)) and not text.startswith("http")]
    if len(counts) > 1:  # the title's last count is G's updates (a GAN) or the step
        out["lab_browser_steps_per_s"] = (counts[-1] - counts[0]) / ((updates[-1][0] - updates[0][0]) / 1000)
    return out


def bench_overview(registry: Any, cold: bool) -> dict[str, float]:
    """The Overview's open time: reading the cached rows (hashes of every shipped weights file), and in chromium
    page load → the first table's cells and the gallery's pictures; ``cold``: also scoring every shipped model on the
    protocol from nothing (what a changed weights file costs, in the background, once)."""
    from playwright.sync_api import sync_playwright

    from playground import leaderboard as lb
    from playground.ui.app import LAUNCH_OPTIONS, build_app

    out = {"overview_cached_rows_ms": _median_ms(lambda: lb.cached_rows(registry), 5)}
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            lb.update(registry, into=Path(tmp) / "leaderboard.json", force=True)
            out["overview_cold_score_all_s"] = time.perf_counter() - t0
    demo = build_app(registry)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                               "--disable-component-update"])
            times = []
            for _ in range(3):
                page = browser.new_page(viewport={"width": 1400, "height": 1300})
                t0 = time.perf_counter()
                page.goto(url)
                # a model's row ("Title · weights") drawn in the first table
                page.wait_for_function("() => (document.querySelector('#overview-image')?.innerText || '')"
                                       ".includes(' · ')", timeout=60_000)
                page.locator("#overview-gallery img:visible").first.wait_for(timeout=60_000)
                times.append(time.perf_counter() - t0)
                page.close()
            browser.close()
    finally:
        demo.close()
    out["overview_browser_open_s"] = statistics.median(times)
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


def parse_recipe(text: str) -> tuple[str, dict[str, str]]:
    """"ema:ema=0.999,augment=translation,cutout" → ("ema", {"ema": "0.999", "augment": "translation,cutout"}):
    a piece without "=" continues the previous value (values may hold commas)."""
    name, _, body = text.partition(":")
    values: dict[str, str] = {}
    key = None
    for piece in filter(None, body.split(",")):
        if "=" in piece:
            key, value = piece.split("=", 1)
            values[key] = value
        elif key is None:
            raise SystemExit(f"--recipe {text!r}: {piece!r} is not KEY=VALUE")
        else:
            values[key] += "," + piece
    if not name or "=" in name:
        raise SystemExit(f"--recipe {text!r}: write NAME:KEY=VALUE,KEY=VALUE (e.g. plain:ema=0,augment=none)")
    return name, values


def bench_recipes(registry: Any, family: str, recipes: list[tuple[str, dict[str, str]]], at: list[int], n: int,
                  device: str, base: dict[str, str] | None = None,
                  keep: str | None = None) -> tuple[dict[str, float], str]:
    """Each recipe trained to every step count in ``at`` (one run, resumed exactly between counts) and scored;
    returns the figures and a Markdown table (rows: recipe × steps). ``keep``: a folder to keep the runs in
    (``keep/NAME``, resumable), else they are deleted."""
    from playground.engine import Trainer
    from playground.metrics.report import quality_report

    fam = registry.family(family)
    at = sorted(at)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = keep or scratch
        for name, values in recipes:
            folder, resume, train_s = Path(tmp) / name, None, 0.0
            for steps in at:
                counts = {"steps": steps, "checkpoint_every": steps, "log_every": steps, "sample_every": steps}
                cfg = counts if resume else {**(base or {}), **values, **counts}  # a resume may change counts only
                t = Trainer(registry, family, cfg, out_dir=folder, resume=resume, device=device)
                t0 = time.perf_counter()
                t.run()
                train_s += time.perf_counter() - t0
                resume = folder
                images = fam.sample(t.state, n, torch.Generator(t.state.device).manual_seed(0)).cpu()
                rep = quality_report(registry, images, t.state.data["name"], seed=0, neighbours=0,
                                     view=fam.quality_view)
                sc = rep.scores
                rows.append(f"| {name} | {steps} | {sc['FID']:.2f} | {sc['KID']:.3f} | {sc['precision']:.3f} | "
                            f"{sc['recall']:.3f} | {sc['smallest class %']:.1f} | {steps / train_s:.2f} |")
                figures[f"recipe {name} FID@{steps}"] = sc["FID"]
            figures[f"recipe {name} steps/s"] = at[-1] / train_s
        base_fid = rep.baseline["FID"]
    table = "\n".join([f"Recipes of {family} (n = {n} samples per point, seed 0; real-vs-real FID {base_fid:.2f}):",
                       "", "| recipe | steps | FID | KID | precision | recall | smallest class % | steps/s |",
                       "|---|---|---|---|---|---|---|---|", *rows])
    return figures, table


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    p = argparse.ArgumentParser(prog="playground bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="autoencoder")
    p.add_argument("--weights", default="digits")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-app", action="store_true")
    p.add_argument("--steps-per-frame", type=int, default=5, help="2-D lab: steps between pictures")
    p.add_argument("--lab-browser", type=float, default=0, metavar="SECONDS",
                   help="2-D lab: also count the page's visual updates/s in chromium for SECONDS")
    p.add_argument("--lab-browser-steps", type=int, help="--lab-browser: steps per frame typed into the page "
                   "(default: the page's own)")
    p.add_argument("--lab-url", help="--lab-browser: measure the app already running here instead (e.g. an older "
                   "version, for a before/after)")
    p.add_argument("--overview", action="store_true", help="also the Overview's open time: cached rows, and page "
                   "load → first table in chromium")
    p.add_argument("--overview-cold", action="store_true", help="--overview: also score every shipped model from "
                   "nothing (minutes)")
    p.add_argument("--lab-sweep", type=int, default=0, help="2-D lab: also train every objective this many steps "
                   "and print modes covered / %% high quality every 250 steps")
    p.add_argument("--lab-objectives", default="nonsaturating,fgan_kl",
                   help="2-D lab: the two objectives of the side-by-side figures (the Lab's default pair)")
    p.add_argument("--quality-n", type=int, default=10_000, help="images per side for the metrics benchmark (0: skip)")
    p.add_argument("--processes", action="store_true", help="also train in 1 and 2 CPU processes (torchrun, gloo) "
                   "at the same global batch and compare steps/s")
    p.add_argument("--precision", action="store_true", help="also train at fp32 and bf16 autocast on --device: "
                   "steps/s and (CUDA) peak memory of each")
    p.add_argument("--precision-batch", type=int, default=256, help="batch size of the --precision runs")
    p.add_argument("--tasks", action="store_true", help="also the latency of every task of --family on --weights and "
                   "the time of one evaluation (set its inputs with --eval KEY=VALUE)")
    p.add_argument("--eval", action="append", default=[], metavar="KEY=VALUE",
                   help="an evaluation input for --tasks (repeat), e.g. --eval quality_n=0 --eval iwae_k=64")
    p.add_argument("--task", action="append", default=[], metavar="TASK.KEY=VALUE",
                   help="a task input for --tasks (repeat), e.g. --task batch_translate.count=64")
    p.add_argument("--memory", type=int, default=0, metavar="BATCH",
                   help="also the memory guard's estimate for one step at BATCH vs a real step's peak (fresh process)")
    p.add_argument("--concurrency", type=float, default=0, metavar="SECONDS",
                   help="also 8 API clients calling every generate endpoint for SECONDS while a 2-D lab steps")
    p.add_argument("--concurrency-endpoints", default="", metavar="A,B",
                   help="only these generate endpoints (e.g. autoencoder_generate,gan_generate); default: all")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME:KEY=VALUE,…",
                   help="a training recipe of --family to compare (repeat); e.g. --recipe plain:ema=0,augment=none")
    p.add_argument("--recipe-base", default="", metavar="KEY=VALUE,…", help="settings every --recipe shares")
    p.add_argument("--at", default="250,500,1000,2000", help="--recipe: step counts to score each recipe at")
    p.add_argument("--recipe-n", type=int, default=1000, help="--recipe: samples scored at each point")
    p.add_argument("--recipe-out", help="--recipe: keep each recipe's run in this folder (resumable)")
    p.add_argument("--json", help="write the figures here too")
    a = p.parse_args(argv)
    from playground.registry import get_registry

    reg = get_registry()
    results: dict[str, Any] = {"device": a.device, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.recipe:  # on its own: training several recipes is the whole run
        base = parse_recipe("base:" + a.recipe_base)[1]
        figures, table = bench_recipes(reg, a.family, [parse_recipe(r) for r in a.recipe],
                                       [int(x) for x in a.at.split(",")], a.recipe_n, a.device, base,
                                       a.recipe_out)
        results.update(figures)
        print(table)
    elif reg.family(a.family).kind == "points":
        results.update(bench_lab(reg, a.family, a.steps_per_frame, a.repeats, tuple(a.lab_objectives.split(","))))
        if a.lab_sweep:
            results.update(lab_sweep(reg, a.family, a.lab_sweep))
        if a.lab_browser:
            results.update(bench_lab_browser(reg, a.family, a.lab_browser, a.lab_url, a.lab_browser_steps))
    else:
        results.update(bench_training(reg, a.family, a.steps, a.batch_size, a.device))
        results.update(bench_inference(reg, a.family, a.weights, a.device, a.repeats))
        if a.tasks:
            evaluate_values = dict(kv.split("=", 1) for kv in a.eval)
            task_values: dict[str, dict[str, Any]] = {}
            for kv in a.task:
                key, value = kv.split("=", 1)
                task, name = key.split(".", 1)
                task_values.setdefault(task, {})[name] = value
            results.update(bench_tasks(reg, a.family, a.weights, a.device, a.repeats, evaluate_values, task_values))
        if a.precision:
            results.update(bench_precision(reg, a.family, a.steps, a.precision_batch, a.device))
        if a.processes:
            results.update(bench_processes(a.family, a.steps, a.batch_size))
    if a.memory:
        results.update(bench_memory(reg, a.family, a.memory, a.device))
    if a.overview or a.overview_cold:
        results.update(bench_overview(reg, a.overview_cold))
    if a.concurrency:
        results.update(bench_concurrency(a.concurrency, 8, a.concurrency_endpoints))
    if a.quality_n:
        results.update(bench_quality(reg, a.quality_n))
    if not a.skip_app:
        results.update(bench_app(max(3, a.repeats // 2)))
    for k, v in results.items():
        print(f"{k:<32} {v:.3f}" if isinstance(v, float) else f"{k:<32} {v}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0

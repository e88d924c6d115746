"""``./dev bench``: the project's speed and memory figures, measured in one run, printed as ratios where it matters.

Everything ``playground bench --family F`` measures (engine vs a plain loop, latency, ``--tasks``, ``--precision``,
``--memory BATCH``), and for the project:

- app cold start (``python app.py`` until HTTP 200), its resident memory and the API's latency (``--skip-app``: not);
- FID + KID + PRDC on 10,000 generated vs 10,000 real images: time per stage and memory (``--quality-n``, 0: not);
- ``--processes``: the same run in 1 and 2 CPU processes (torchrun, gloo), steps/s of each;
- ``--concurrency SECONDS``: 8 API clients on every generate endpoint while a 2-D lab steps (errors, p50/p99,
  calls/s, server peak RSS);
- ``--recipe NAME:KEY=VALUE,…`` (repeat) with ``--at 250,500,1000``: each recipe of ``--family`` trained from the
  same seed and scored (FID, KID, precision, recall, smallest class) after each number of steps, in one table;
- a 2-D family (``--family gan2d``): lab steps/s per objective next to the engine's, the time of one picture (PNG as
  the API sends it, SVG as the page draws it), side-by-side updates/s in-process and through the API;
  ``--lab-sweep N`` every objective's coverage over N steps; ``--lab-browser SECONDS`` the page's visual updates/s
  in Debian's chromium;
- ``--overview``: the Overview's open time (cached rows; page load → first table in chromium);
- ``--soak MINUTES``: 8 visitors of mixed traffic against one server (generate, a Lab stepping, a train/poll/stop
  cycle, evaluations): RSS over time and its growth after a 5-minute warm-up, file descriptors, threads, folder
  sizes, errors, p50/p95 per endpoint.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch

from playground.bench import family_figures, family_parser, print_figures

from .browser import bench_lab_browser, bench_overview
from .lab import bench_lab, lab_sweep
from .processes import bench_processes
from .quality import bench_quality
from .recipes import bench_recipes, parse_recipe
from .server import bench_app, bench_concurrency
from .soak import bench_soak


def parser() -> Any:
    p = family_parser("./dev bench", __doc__)
    p.add_argument("--skip-app", action="store_true", help="no app cold start / API latency figures")
    p.add_argument("--quality-n", type=int, default=10_000, help="images per side for the metrics benchmark (0: skip)")
    p.add_argument("--processes", action="store_true", help="also train in 1 and 2 CPU processes (torchrun, gloo) "
                   "at the same global batch and compare steps/s")
    p.add_argument("--concurrency", type=float, default=0, metavar="SECONDS",
                   help="also 8 API clients calling every generate endpoint for SECONDS while a 2-D lab steps")
    p.add_argument("--concurrency-endpoints", default="", metavar="A,B",
                   help="only these generate endpoints (e.g. autoencoder_generate,gan_generate); default: all")
    p.add_argument("--steps-per-frame", type=int, default=5, help="2-D lab: steps between pictures")
    p.add_argument("--lab-objectives", default="nonsaturating,fgan_kl",
                   help="2-D lab: the two objectives of the side-by-side figures (the Lab's default pair)")
    p.add_argument("--lab-sweep", type=int, default=0, help="2-D lab: also train every objective this many steps "
                   "and print modes covered / %% high quality every 250 steps")
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
    p.add_argument("--soak", type=float, default=0, metavar="MINUTES", help="also 8 visitors of mixed traffic "
                   "for MINUTES against one server: what grows (RSS, fds, threads, folders), errors, latency")
    p.add_argument("--soak-warmup", type=float, default=300, metavar="SECONDS", help="--soak: RSS growth is "
                   "measured after this warm-up")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME:KEY=VALUE,…",
                   help="a training recipe of --family to compare (repeat); e.g. --recipe plain:ema=0,augment=none")
    p.add_argument("--recipe-base", default="", metavar="KEY=VALUE,…", help="settings every --recipe shares")
    p.add_argument("--at", default="250,500,1000,2000", help="--recipe: step counts to score each recipe at")
    p.add_argument("--recipe-n", type=int, default=1000, help="--recipe: samples scored at each point")
    p.add_argument("--recipe-out", help="--recipe: keep each recipe's run in this folder (resumable)")
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    a = parser().parse_args(argv)
    from playground.registry import get_registry

    reg = get_registry()
    results: dict[str, Any] = {"family": a.family, "device": a.device, "torch": torch.__version__,
                               "threads": torch.get_num_threads()}
    if a.recipe:  # on its own: training several recipes is the whole run
        base = parse_recipe("base:" + a.recipe_base)[1]
        figures, table = bench_recipes(reg, a.family, [parse_recipe(r) for r in a.recipe],
                                       [int(x) for x in a.at.split(",")], a.recipe_n, a.device, base, a.recipe_out)
        results.update(figures)
        print(table)
    else:
        results.update(family_figures(reg, a))
        if reg.family(a.family).kind == "points":
            results.update(bench_lab(reg, a.family, a.steps_per_frame, a.repeats, tuple(a.lab_objectives.split(","))))
            if a.lab_sweep:
                results.update(lab_sweep(reg, a.family, a.lab_sweep))
            if a.lab_browser:
                results.update(bench_lab_browser(reg, a.family, a.lab_browser, a.lab_url, a.lab_browser_steps))
        if a.processes:
            results.update(bench_processes(a.family, a.steps, a.batch_size))
    if a.overview or a.overview_cold:
        results.update(bench_overview(reg, a.overview_cold))
    if a.concurrency:
        results.update(bench_concurrency(a.concurrency, 8, a.concurrency_endpoints))
    if a.soak:
        results.update(bench_soak(a.soak, warmup_s=a.soak_warmup))
    if a.quality_n:
        results.update(bench_quality(reg, a.quality_n))
    if not a.skip_app:
        results.update(bench_app(max(3, a.repeats // 2)))
    print_figures(results, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

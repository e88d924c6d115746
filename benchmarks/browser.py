"""What a visitor's browser sees, in Debian's chromium (Playwright): the 2-D lab's visual updates/s and the
Overview's open time."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playground.bench import median_ms

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


@contextlib.contextmanager
def chromium_on_app(registry: Any, url: str | None = None) -> Iterator[tuple[Any, str]]:
    """Debian's chromium (Playwright) and the app's address: this app, started here, unless ``url`` names one
    already running (e.g. an older version's)."""
    from playwright.sync_api import sync_playwright

    from playground.ui.app import LAUNCH_OPTIONS, build_app

    demo = None
    if url is None:
        demo = build_app(registry)
        demo.queue()
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                               "--disable-component-update"])
            try:
                yield browser, url
            finally:
                browser.close()
    finally:
        if demo is not None:
            demo.close()


def bench_lab_browser(registry: Any, family: str, seconds: float, url: str | None = None,
                      steps_per_frame: int | None = None) -> dict[str, float]:
    """Visual updates/s of the Lab in chromium, the family's tab opened as a visitor opens it (``url``: an app
    already running, e.g. an older version's, instead of this one; ``steps_per_frame``: typed into the page's
    control first, None = the page's default)."""
    import re

    title = registry.family(family).title
    with chromium_on_app(registry, url) as (browser, address):
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(address)
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
    from playground import leaderboard as lb

    out = {"overview_cached_rows_ms": median_ms(lambda _: lb.cached_rows(registry), 5)}
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            lb.update(registry, into=Path(tmp) / "leaderboard.json", force=True)
            out["overview_cold_score_all_s"] = time.perf_counter() - t0
    times = []
    with chromium_on_app(registry) as (browser, url):
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
    out["overview_browser_open_s"] = statistics.median(times)
    return out

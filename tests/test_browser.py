"""A real browser (Debian chromium via Playwright) against a real server."""

import os
import re
import shutil
import time

import pytest

from playground.registry import Registry
from playground.ui.app import LAUNCH_OPTIONS, build_app

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not shutil.which(CHROMIUM):
    if os.environ.get("PLAYGROUND_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is required (PLAYGROUND_REQUIRE_BROWSER is set) but missing")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


SERVER: dict = {}  # the app the url fixture serves, for tests that look at its jobs from the inside


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    os.environ["PLAYGROUND_HOME"] = str(tmp_path_factory.mktemp("home"))
    demo = SERVER["demo"] = build_app(Registry())
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    yield url
    job = demo.jobs.running()
    if job is not None:
        job.trainer.stop()
        job.thread.join(30)
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                                    "--disable-background-networking", "--disable-component-update"])
        yield b
        b.close()


def test_reconstruct_in_the_autoencoder_tab(url, browser, digit_png, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 1200})
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                                  "blob:")) else None)
    page.goto(url)
    page.get_by_role("tab", name="Autoencoder").first.click()
    # the open tab's upload (the Overview's tables carry hidden CSV inputs earlier in the page)
    page.locator("[role=tabpanel]:visible input[type=file][accept*=image]").first.set_input_files(str(digit_png))
    page.locator("#autoencoder-reconstruct-run").click()
    gallery = page.locator("#autoencoder-reconstruct-gallery img")
    gallery.first.wait_for(timeout=30_000)
    assert gallery.count() >= 2
    assert "psnr_db" in page.content()
    page.screenshot(path=str(tmp_path / "reconstruct.png"), full_page=True)
    assert not external, external
    page.close()


def test_training_survives_a_reload_and_stops(url, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1200})
    page.goto(url)
    page.get_by_role("tab", name="Autoencoder").first.click()
    page.get_by_role("tab", name="Train", exact=True).click()
    steps = page.get_by_label("Steps", exact=True)
    steps.fill("100000")
    page.locator("#autoencoder-train-start").click()
    status = page.locator("#autoencoder-train-status")
    status.get_by_text("running").wait_for(timeout=30_000)
    page.reload()
    page.get_by_role("tab", name="Autoencoder").first.click()
    page.get_by_role("tab", name="Train", exact=True).click()
    status = page.locator("#autoencoder-train-status")
    status.get_by_text("running").wait_for(timeout=30_000)  # the run outlived the page
    page.locator("#autoencoder-train-stop").click()
    status.get_by_text("stopped").wait_for(timeout=30_000)
    assert "checkpoint saved" in status.inner_text()
    page.close()


def test_lab_runs_live_and_pauses(url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="GAN 2-D lab").first.click()
    page.locator("#gan2d-lab-reset").click()
    # The page draws each run as SVG: its first line names the run and counts D's and G's updates.
    title = page.locator("#gan2d-lab-live svg text.title").first
    title.wait_for(timeout=30_000)
    page.locator("#gan2d-lab-run").click()
    seen = {title.text_content()}
    deadline = time.time() + 60
    while len(seen) < 4 and time.time() < deadline:  # the picture keeps changing while it runs
        seen.add(title.text_content())
        time.sleep(0.05)
    assert len(seen) >= 4, seen
    assert page.locator("#gan2d-lab-live svg path").count() == 4  # real and generated points, in each run
    assert page.locator("#gan2d-lab-live svg image").count() == 2  # D's field, in each run
    page.locator("#gan2d-lab-pause").click()
    time.sleep(2)  # a frame already under way may still land
    paused = title.text_content()
    time.sleep(2)
    assert title.text_content() == paused
    table = page.locator("#gan2d-lab-table").inner_text()
    assert "nonsaturating" in table and "modes covered" in table.lower()
    page.close()


def _counts(title) -> int:  # noqa: ANN001
    """The last number of a run's title line: G's updates (or the step)."""
    return int(re.findall(r"\d+", title.text_content())[-1])


def test_new_runs_keep_the_lab_playing_or_paused(url, browser):
    """New runs while the lab plays starts over and goes on playing (as GAN Lab's reset); after Pause it starts over
    paused. So New runs then a quick Run ends running in whichever order the server takes the two clicks."""
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="GAN 2-D lab").first.click()  # opens playing
    title = page.locator("#gan2d-lab-live svg text.title").first
    title.wait_for(timeout=30_000)
    deadline = time.time() + 60
    while _counts(title) < 100 and time.time() < deadline:
        time.sleep(0.1)
    assert _counts(title) >= 100
    page.locator("#gan2d-lab-reset").click()
    deadline = time.time() + 60
    while _counts(title) >= 100 and time.time() < deadline:  # started over ...
        time.sleep(0.05)
    start = _counts(title)
    assert start < 100
    deadline = time.time() + 60
    while _counts(title) <= start + 20 and time.time() < deadline:  # ... and plays on without a click
        time.sleep(0.1)
    assert _counts(title) > start + 20
    page.locator("#gan2d-lab-pause").click()
    time.sleep(2)
    page.locator("#gan2d-lab-reset").click()
    deadline = time.time() + 60
    while _counts(title) != 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(2)
    assert _counts(title) == 0  # started over, paused
    page.close()


def test_the_lab_moves_on_first_open_without_a_click(url, browser):
    """A first-time visitor who opens the MCMC tab sees its default side-by-side run moving; Pause stops it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="MCMC").first.click()
    title = page.locator("#mcmc-lab-live svg").nth(1).locator("text.title").first  # run B's first line: its counts
    title.wait_for(timeout=30_000)
    seen = {title.text_content()}
    deadline = time.time() + 60
    while len(seen) < 3 and time.time() < deadline:
        seen.add(title.text_content())
        time.sleep(0.05)
    assert len(seen) >= 3, "the lab did not start by itself"
    page.locator("#mcmc-lab-pause").click()
    time.sleep(2)
    paused = title.text_content()
    time.sleep(2)
    assert title.text_content() == paused
    page.close()


def test_vae_latent_map_updates_live_while_training(url, browser, tmp_path):
    """The VAE's Train tab: its preview is the latent map, and it is redrawn as the model learns."""
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="VAE").first.click()
    page.get_by_role("tab", name="Train", exact=True).click()
    page.get_by_label("Steps", exact=True).fill("100000")
    page.get_by_label("number input for Width").fill("8")  # sliders: type into their number box
    page.get_by_label("number input for Latent dim").fill("2")
    page.get_by_text("Advanced").first.click()
    page.get_by_label("Sample every", exact=True).fill("20")
    page.locator("#vae-train-start").click()
    preview = page.locator("#vae-train-preview img").first
    preview.wait_for(timeout=60_000)
    seen = {preview.get_attribute("src")}
    deadline = time.time() + 90
    while len(seen) < 3 and time.time() < deadline:  # a new map every 20 steps
        seen.add(preview.get_attribute("src"))
        time.sleep(0.2)
    page.screenshot(path=str(tmp_path / "vae-train.png"), full_page=True)
    page.locator("#vae-train-stop").click()
    page.locator("#vae-train-status").get_by_text("stopped").wait_for(timeout=30_000)
    assert len(seen) >= 3, len(seen)
    box = preview.bounding_box()
    assert box["width"] > 1.5 * box["height"]  # the map beside the decoded manifold, not a grid of samples
    page.close()


def test_vqvae_codebook_health_is_live_and_shows_the_collapse_without_restarts(url, browser, tmp_path):
    """The VQ-VAE's Train tab with restarts off: the preview (code maps over the usage histogram) is redrawn as it
    trains, and the logged health says most codes are dead."""
    from gradio_client import Client

    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="VQ-VAE", exact=True).first.click()
    page.get_by_role("tab", name="Train", exact=True).click()
    page.get_by_label("Steps", exact=True).fill("100000")
    page.get_by_label("number input for Width").fill("8")
    page.get_by_label("Dead-code restarts").uncheck()
    page.get_by_text("Advanced").first.click()
    page.get_by_label("Sample every", exact=True).fill("20")
    page.locator("#vqvae-train-start").click()
    preview = page.locator("#vqvae-train-preview img").first
    preview.wait_for(timeout=60_000)
    seen = {preview.get_attribute("src")}
    deadline = time.time() + 90
    while len(seen) < 3 and time.time() < deadline:
        seen.add(preview.get_attribute("src"))
        time.sleep(0.2)
    page.screenshot(path=str(tmp_path / "vqvae-train.png"), full_page=True)
    status = Client(url, verbose=False).predict(api_name="/vqvae_train_status")
    assert status["owner"] == "another visitor" and "losses" not in status  # the page's run is not the API's
    losses = list(SERVER["demo"].jobs.get("vqvae").progress.losses)
    page.locator("#vqvae-train-stop").click()
    page.locator("#vqvae-train-status").get_by_text("stopped").wait_for(timeout=30_000)
    assert len(seen) >= 3, len(seen)
    dead = [v for _, name, v in losses if name == "dead codes"]
    restarted = [v for _, name, v in losses if name == "restarted codes"]
    assert dead and dead[-1] > 256 and max(restarted) == 0, losses  # collapse, and nothing revived
    page.close()


def test_draw_a_digit_and_see_it_printed(url, browser, tmp_path):
    """The CycleGAN tab: draw a "7" on the sketchpad with the mouse, translate it, and get the printed digit and the
    round trip back, with the evaluator's class of each."""
    page = browser.new_page(viewport={"width": 1300, "height": 1300})
    page.goto(url)
    page.get_by_role("tab", name="CycleGAN").first.click()
    page.locator("button[role=tab]:visible", has_text="Draw").first.click()  # the Translate task's sketchpad
    canvas = page.locator("canvas:visible").first
    canvas.wait_for(timeout=30_000)
    page.locator("button[aria-label=Brush]:visible").first.click()  # Gradio's sketchpad draws once a tool is chosen
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the drawing square is centred
    page.mouse.move(cx - 60, cy - 80)
    page.mouse.down()
    for dx, dy in ((60, -80), (-10, 90)):  # the bar of a 7, then its stem
        page.mouse.move(cx + dx, cy + dy, steps=12)
    page.mouse.up()
    page.locator("#cyclegan-translate-run").click()
    gallery = page.locator("#cyclegan-translate-gallery img")
    gallery.first.wait_for(timeout=60_000)
    assert gallery.count() == 3
    content = page.content()
    assert "evaluator" in content and "translated (glyphs)" in content
    page.screenshot(path=str(tmp_path / "cyclegan.png"), full_page=True)
    page.close()


def test_tabs_have_links(url, browser):
    """?tab=ID opens that tab, and opening a tab puts its link in the address bar."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}?tab=vae")
    selected = page.locator("button[role=tab][aria-selected=true]").first
    selected.wait_for(timeout=30_000)
    page.wait_for_function("() => document.querySelector('button[role=tab][aria-selected=true]')"
                           "?.textContent.includes('VAE')", timeout=30_000)
    page.get_by_role("tab", name="Plugins").first.click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('tab') === 'plugins'", timeout=10_000)
    page.goto(f"{url}?tab=nonsense")  # an unknown id leaves the first tab open
    page.wait_for_function("() => document.querySelector('button[role=tab][aria-selected=true]')"
                           "?.textContent.includes('Overview')", timeout=30_000)
    page.close()


def test_the_overview_shows_samples_and_scores_without_a_click(url, browser, tmp_path):
    """The first thing a visitor sees: every shipped model's samples and its scores, with nothing pressed; every
    tab's title fits on one line at 1300 px (no overflow menu)."""
    from playground import leaderboard as lb

    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(url)
    images = page.locator("#overview-gallery img")
    images.first.wait_for(timeout=30_000)
    rows, _ = lb.cached_rows(Registry())
    assert images.count() >= len([r for r in rows if r.samples]) // 2  # the gallery shows the grids it holds
    table = page.locator("#overview-image")
    table.get_by_text("GAN · digits-conditional").first.wait_for(timeout=10_000)
    assert "FID" in table.inner_text() and "(real 1.48)" in table.inner_text()
    assert page.locator("#overview-points").get_by_text("GMM (EM) · ring8").count() >= 1
    titles = page.locator("button[role=tab]").all_inner_texts()
    assert "Plugins" in [t.strip() for t in titles], titles  # not pushed into an overflow menu
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    page.close()

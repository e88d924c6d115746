"""The app through a real Gradio server and gradio_client, as an API user sees it."""

import os
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from playground.data import DataSpec
from playground.data.builtin import load_shapes
from playground.images import tensor_to_pil
from playground.registry import Registry
from playground.ui.app import LAUNCH_OPTIONS, build_app

from conftest import write_plugin
from plugin_samples import BROKEN_IMPORT, GOOD

pytestmark = pytest.mark.slow  # one real server for the module


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    old_home = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(root / "home")
    plugins = root / "plugins"
    write_plugin(plugins, "tinyplugin", GOOD)
    write_plugin(plugins, "brokenplugin", BROKEN_IMPORT)
    demo = build_app(Registry([plugins]))
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    yield client, demo, root
    job = demo.jobs.running()
    if job is not None:
        job.trainer.stop()
        job.thread.join(30)
    demo.close()
    if old_home is None:
        os.environ.pop("PLAYGROUND_HOME", None)
    else:
        os.environ["PLAYGROUND_HOME"] = old_home


@pytest.fixture(scope="module")
def shape_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "shape.png"
    tensor_to_pil(load_shapes(DataSpec("shapes", split="test")).float_images()[0], scale=4).save(path)
    return path


def test_every_family_action_is_a_named_endpoint(server):
    client, _, _ = server
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    ae = {f"/autoencoder_{a}" for a in ("reconstruct", "denoise", "generate", "anomaly", "train_start",
                                          "train_stop", "train_status", "evaluate", "weights_card",
                                          "weights_import", "weights_list")}
    assert ae <= names
    assert {"/tiny_generate", "/tiny_train_start", "/plugins_status"} <= names


def test_reconstruct_from_shipped_weights(server, digit_png):
    client, _, _ = server
    gallery, values = client.predict("digits", handle_file(str(digit_png)), None, "auto",
                                     api_name="/autoencoder_reconstruct")
    assert [g["caption"] for g in gallery] == ["input", "reconstruction"]
    assert values["psnr_db"] > 18  # an untrained decoder gives about 5 dB
    with Image.open(gallery[1]["image"]["path"]) as im:
        assert im.format == "PNG" and im.size[0] >= 128


def test_denoise_improves_psnr(server, digit_png):
    client, _, _ = server
    gallery, values = client.predict("digits", handle_file(str(digit_png)), None, "auto", "gaussian", 0.4, 3,
                                     api_name="/autoencoder_denoise")
    assert [g["caption"] for g in gallery] == ["clean", "noisy", "denoised"]
    assert values["psnr_denoised_db"] > values["psnr_noisy_db"] + 6


def test_generate_grid(server):
    client, _, _ = server
    gallery, values = client.predict("digits", 16, 7, 1.0, api_name="/autoencoder_generate")
    assert len(gallery) == 1 and values == {"n": 16, "seed": 7, "temperature": 1.0}


def test_anomaly_separates_a_digit_from_a_shape(server, digit_png, shape_png):
    client, _, _ = server
    _, digit, chart = client.predict("digits", handle_file(str(digit_png)), None, "auto",
                                     api_name="/autoencoder_anomaly")
    _, shape, _ = client.predict("digits", handle_file(str(shape_png)), None, "auto", api_name="/autoencoder_anomaly")
    assert digit["verdict"] == "typical" and shape["verdict"] == "anomalous"
    assert shape["score"] > digit["score"]
    assert sum(1 for row in chart["value"]["data"] if "this image" in row) == 1


def test_evaluate(server):
    client, _, _ = server
    values, chart, pictures = client.predict("digits-holdout-9", 100, "shapes", 0, api_name="/autoencoder_evaluate")
    assert pictures == []  # the AE's evaluation draws no pictures
    assert values["ROC-AUC digits vs shapes"] > 0.9
    assert values["ROC-AUC held-out class [9] vs rest"] > 0.5
    assert chart["value"]["data"]


def test_rgba_upload_works(server, tmp_path, digit_png):
    client, _, _ = server
    rgba = Image.open(digit_png).convert("RGBA")
    rgba.putalpha(255)
    rgba.save(tmp_path / "rgba.png")
    _, values = client.predict("digits", handle_file(str(tmp_path / "rgba.png")), None, "auto",
                               api_name="/autoencoder_reconstruct")
    assert values["psnr_db"] > 18


def _sketch(tmp_path, draw: bool) -> dict:
    canvas = np.full((280, 280), 255, np.uint8)
    if draw:
        canvas[60:220, 130:150] = 0  # a "1"
    Image.fromarray(canvas).save(tmp_path / "sketch.png")
    return {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "sketch.png"))}


def test_drawn_digit_is_reconstructed(server, tmp_path):
    client, _, _ = server
    gallery, values = client.predict("digits", None, _sketch(tmp_path, True), "auto",
                                     api_name="/autoencoder_reconstruct")
    assert len(gallery) == 2 and values["psnr_db"] > 10


@pytest.mark.parametrize("case, match", [
    ("empty_sketch", "sketch is empty"),
    ("no_image", "No image given"),
    ("tiny", "each side must be between"),
])
def test_bad_images_come_back_as_clear_errors(server, tmp_path, case, match):
    client, _, _ = server
    image, sketch = None, None
    if case == "empty_sketch":
        sketch = _sketch(tmp_path, False)
    elif case == "tiny":
        Image.new("L", (2, 2)).save(tmp_path / "tiny.png")
        image = handle_file(str(tmp_path / "tiny.png"))
    with pytest.raises(AppError, match=match):
        client.predict("digits", image, sketch, "auto", api_name="/autoencoder_reconstruct")


def test_bad_numbers_and_weights_are_clear_errors(server):
    client, _, _ = server
    with pytest.raises(AppError, match="greater than maximum value 256|'n' must be at most 256"):
        client.predict("digits", 100000, 0, 1.0, api_name="/autoencoder_generate")
    with pytest.raises(AppError, match="'../../etc/passwd'.*paths are not accepted"):
        client.predict("../../etc/passwd", 4, 0, 1.0, api_name="/autoencoder_generate")


def _train_args(**over):
    cfg = {"steps": 40, "batch_size": 8, "lr": 1e-3, "seed": 0, "latent_dim": 8, "width": 4, "noise": "mixed",
           "noise_level": 0.5, "holdout_class": -1, "log_every": 10, "sample_every": 20, "checkpoint_every": 20}
    cfg.update(over)
    order = ["steps", "batch_size", "lr", "seed", "latent_dim", "width", "noise", "noise_level", "holdout_class",
             "log_every", "sample_every", "checkpoint_every"]
    return [cfg[k] for k in order]


def wait_status(client, done, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = client.predict(api_name="/autoencoder_train_status")
        if done(st):
            return st
        time.sleep(0.3)
    raise AssertionError(f"timeout; last status {st}")


def test_nan_hyperparameter_is_a_clear_error(server):
    client, _, _ = server
    with pytest.raises(AppError, match="'lr'.*must be a finite number"):
        # JSON cannot carry NaN; the string "nan" is how a client sends it, and Number parses it to NaN.
        client.predict("digits", "(new run)", *_train_args(lr="nan"), api_name="/autoencoder_train_start")


def test_train_in_background_then_use_the_run(server):
    client, _, _ = server
    msg = client.predict("digits", "(new run)", *_train_args(), api_name="/autoencoder_train_start")
    assert msg.startswith("Started run/")
    run = msg.split()[1].rstrip(".")
    with pytest.raises(AppError, match="one run per family at a time; stop it first"):
        client.predict("digits", "(new run)", *_train_args(), api_name="/autoencoder_train_start")
    st = wait_status(client, lambda s: s["status"] in ("finished", "failed"))
    assert st["status"] == "finished" and st["step"] == 40 and st["losses"]
    _, values = client.predict(run, 4, 0, 1.0, api_name="/autoencoder_generate")
    assert values["n"] == 4


def test_stop_a_running_job(server):
    client, _, _ = server
    client.predict("digits", "(new run)", *_train_args(steps=100000, log_every=5), api_name="/autoencoder_train_start")
    wait_status(client, lambda s: s["status"] == "running" and s["step"] > 0)
    client.predict(api_name="/autoencoder_train_stop")
    st = wait_status(client, lambda s: s["status"] in ("stopped", "failed"))
    assert st["status"] == "stopped" and 0 < st["step"] < 100000 and st["checkpoint_step"] == st["step"]


def test_a_run_belongs_to_the_visitor_who_started_it(server):
    """Two visitors on one server (two API sessions): B sees A's run read-only, cannot stop it, and cannot start
    another beyond the server's limit (told what trains and whose it is); A stops it. A browser's token (kept in its
    localStorage) makes its runs its own across reloads and tabs: the same token from another session may stop."""
    client, _, _ = server
    url = client.src
    other = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    client.predict("digits", "(new run)", *_train_args(steps=100000, log_every=5), api_name="/autoencoder_train_start")
    wait_status(client, lambda s: s["status"] == "running" and s["step"] > 0)
    seen = other.predict(api_name="/autoencoder_train_status")
    assert seen["owner"] == "another visitor" and "losses" not in seen and "message" not in seen
    with pytest.raises(AppError, match="another visitor's autoencoder run run/.*only the visitor who started it"):
        other.predict(api_name="/autoencoder_train_stop")
    with pytest.raises(AppError, match="trains 1 run\\(s\\) at a time, and another visitor's autoencoder run"):
        other.predict(api_name="/gan_train_start")  # the form's defaults
    assert client.predict(api_name="/autoencoder_train_status")["status"] == "running"  # untouched
    client.predict(api_name="/autoencoder_train_stop")
    assert wait_status(client, lambda s: s["status"] in ("stopped", "failed"))["status"] == "stopped"
    # A browser's token: started by one session, stopped by another that holds the same token (a reload).
    client.predict("digits", "(new run)", *_train_args(steps=100000, log_every=5), visitor="token-of-one-browser",
                   api_name="/autoencoder_train_start")
    wait_status(client, lambda s: s["status"] == "running" and s["step"] > 0)
    with pytest.raises(AppError, match="only the visitor who started it"):
        client.predict(api_name="/autoencoder_train_stop")  # this session without the token is someone else
    other.predict("token-of-one-browser", api_name="/autoencoder_train_stop")
    assert wait_status(client, lambda s: s["status"] in ("stopped", "failed"))["status"] == "stopped"


def test_import_weights_through_the_api(server):
    client, _, root = server
    from playground.weights import shipped_dir

    src = shipped_dir() / "autoencoder" / "digits" / "model.safetensors"
    msg, table, *_ = client.predict(handle_file(str(src)), "copied", api_name="/autoencoder_weights_import")
    assert "Imported as `import/copied`" in msg
    assert "import/copied" in [row[0] for row in table["data"]]
    junk = root / "junk.safetensors"
    junk.write_bytes(b"junk" * 10)
    with pytest.raises(AppError, match="not a readable safetensors file"):
        client.predict(handle_file(str(junk)), "junk", api_name="/autoencoder_weights_import")


def test_plugin_from_a_folder_is_a_working_tab_and_broken_one_is_listed(server):
    client, _, _ = server
    msg = client.predict("digits", "(new run)", 30, 8, 0.01, 0, 8, 10, 10, 10, api_name="/tiny_train_start")
    run = msg.split()[1].rstrip(".")
    t0 = time.time()
    while client.predict(api_name="/tiny_train_status")["status"] not in ("finished", "failed"):
        assert time.time() - t0 < 60
        time.sleep(0.3)
    gallery, values = client.predict(run, 3, 0, api_name="/tiny_generate")
    assert len(gallery) == 3 and values == {"n": 3}
    table, failures = client.predict(api_name="/plugins_status")
    rows = {r[0]: r for r in table["data"]}
    assert rows["tinyplugin"][1] == "loaded" and rows["brokenplugin"][1] == "failed"
    assert "broken on purpose" in failures
    assert rows["autoencoder"][1] == "loaded"


def test_sample_quality_compares_checkpoints_with_their_protocol(server):
    client, _, _ = server
    table, note, hist, pairs = client.predict(["digits", "digits-holdout-9"], 200, 0, api_name="/autoencoder_quality")
    cols = table["headers"]
    rows = [dict(zip(cols, r, strict=True)) for r in table["data"]]
    assert [r["weights"] for r in rows] == ["digits", "digits-holdout-9"]
    assert {r["protocol"] for r in rows} == {"A"}  # same evaluator, data and n: comparable
    for r in rows:
        assert r["FID"] > r["FID (real baseline)"] > 0
        assert 0 <= r["coverage"] <= 1
    assert "n generated 200" in note and "test_resnet" in note
    holdout = {d[0]: d[1] for d in hist["data"] if d[2] == "digits-holdout-9"}
    full = {d[0]: d[1] for d in hist["data"] if d[2] == "digits"}
    assert holdout["9"] < full["9"]  # the model that never saw a 9 draws fewer of them
    assert len(pairs) == 16


def test_hub_pull_offline_is_a_clear_error(server):
    client, _, _ = server
    with pytest.raises(AppError, match="not in the local Hub cache"):
        client.predict("someone/absent", api_name="/autoencoder_hub_pull")


@pytest.fixture
def hub_http(monkeypatch):
    """The Hub's HTTP layer replaced by a recorder (nothing leaves the process), on a server whose owner set
    HF_TOKEN, with huggingface_hub online: every request it would send is kept; each is answered 404."""
    import httpx2
    import huggingface_hub.constants
    from huggingface_hub.utils import _http

    sent = []

    def answer(request):
        sent.append(request)
        return httpx2.Response(404, json={"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"})

    monkeypatch.setenv("HF_TOKEN", SERVER_TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(answer)))
    yield sent
    _http.set_client_factory(_http.default_client_factory)


SERVER_TOKEN = "hf_owner_secret_of_the_space"


def _authorisations(sent) -> set:
    return {r.headers.get("authorization") for r in sent}


def test_web_hub_calls_never_use_the_servers_login(server, hub_http):
    """A visitor without a token cannot push as the Space's owner (refused before any request) and pulls
    anonymously; a typed token is the only one sent. The CLI's path, on the same recorder, does send the machine's
    login: the recorder sees tokens, so the first two checks would catch a leak."""
    client, _, _ = server
    with pytest.raises(AppError, match="Pushing needs a Hugging Face token"):
        client.predict("digits", "someone/x", "", api_name="/autoencoder_hub_push")
    assert hub_http == []
    with pytest.raises(AppError, match="Could not fetch someone/private"):
        client.predict("someone/private", False, "", api_name="/autoencoder_hub_pull")
    assert hub_http and _authorisations(hub_http) == {None}
    hub_http.clear()
    with pytest.raises(AppError, match="Could not fetch someone/private"):
        client.predict("someone/private", False, "hf_visitor", api_name="/autoencoder_hub_pull")
    assert _authorisations(hub_http) == {"Bearer hf_visitor"}
    hub_http.clear()
    with pytest.raises(AppError, match="Upload to someone/x failed"):
        client.predict("digits", "someone/x", " hf_visitor ", api_name="/autoencoder_hub_push")
    assert hub_http and _authorisations(hub_http) == {"Bearer hf_visitor"}
    hub_http.clear()
    from playground import hub
    from playground.errors import WeightsError

    with pytest.raises(WeightsError):
        hub.pull(Registry(), "autoencoder", "someone/private")  # the CLI: this machine's own login
    assert _authorisations(hub_http) == {f"Bearer {SERVER_TOKEN}"}


def test_gan_tab_endpoints(server):
    client, _, _ = server
    gallery, values = client.predict("digits", 16, 0, 0.0, api_name="/gan_generate")
    assert len(gallery) == 1 and values["n"] == 16
    gallery, values = client.predict("digits-conditional", 8, 0, 0.0, 7, api_name="/gan_generate")
    assert len(gallery) == 1 and values["class"] == 7  # pick the digit
    with pytest.raises(AppError, match=r"classes 0\.\.9"):
        client.predict("digits-conditional", 8, 0, 0.0, 12, api_name="/gan_generate")
    with pytest.raises(AppError, match="unconditional"):
        client.predict("digits", 8, 0, 0.0, 3, api_name="/gan_generate")
    gallery, values, gif = client.predict("digits", 0, 1, 8, True, api_name="/gan_interpolate")
    assert len(gallery) == 1 and values["frames"] == 8
    with Image.open(gif["path"] if isinstance(gif, dict) else gif) as im:
        assert im.format == "GIF" and im.n_frames == 14
    with pytest.raises(AppError):
        client.predict("digits", "(new run)", 10, 8, 0.0, 0, "bogus", 0, False, 16, 8, 10, 10, 10, 0.0,
                       api_name="/gan_train_start")


# Lab reset inputs: data, run A/B objective, start A/B, then batch_size, lr, seed, d_steps, spectral_norm,
# latent_dim, hidden, depth, gp_weight (the config's order).
LAB_RESET = ("ring8", "nonsaturating", "hinge", "(fresh)", "(fresh)", 128, 1e-3, 0, 0, False, 2, 16, 2, 0.1)


def lab_numbers(table: dict) -> dict[str, dict[str, str]]:
    """The live table (one row per measure, one column per run) as {run column: {measure: value}}."""
    return {run: {row[0]: row[i] for row in table["data"]} for i, run in enumerate(table["headers"][1:], 1)}


def test_lab_steps_draw_and_keep_one_session_per_client(server):
    client, _, root = server
    other = Client(client.src, verbose=False, download_files=False, analytics_enabled=False)
    _, plot_a, plot_b, status, table, _, _, live = client.predict(*LAB_RESET, api_name="/gan2d_lab_reset")
    assert plot_a and plot_b and "nonsaturating" in status and "hinge" in status
    assert live.count("<svg") == 2 and "A: nonsaturating" in live and "B: hinge" in live  # what the page draws
    assert list(lab_numbers(table)) == ["A: nonsaturating", "B: hinge"]
    _, _, _, table, losses, modes, _ = client.predict(5, api_name="/gan2d_lab_step")
    assert [n["step"] for n in lab_numbers(table).values()] == ["5", "5"]
    _, _, _, table, _, _, live = client.predict(api_name="/gan2d_lab_step_d")
    nums = lab_numbers(table).values()
    assert [n["D updates"] for n in nums] == ["6", "6"] and [n["step"] for n in nums] == ["5", "5"]
    assert "D 6 · G 5" in live  # the counts are on the picture
    _, _, _, table, _, _, _ = client.predict(api_name="/gan2d_lab_step_g")
    assert [n["step"] for n in lab_numbers(table).values()] == ["6", "6"]
    # Another client has its own (empty) session: stepping it is a clear error, not someone else's run.
    with pytest.raises(AppError, match="New runs first"):
        other.predict(3, api_name="/gan2d_lab_step")
    _, _, plot_b, status, table, _, _, live = other.predict(*LAB_RESET[:2], "(none)", *LAB_RESET[3:],
                                                            api_name="/gan2d_lab_reset")
    assert plot_b is None and live.count("<svg") == 1 and [n["step"] for n in lab_numbers(table).values()] == ["0"]
    _, _, _, table, _, _, _ = client.predict(1, api_name="/gan2d_lab_step")
    assert [n["step"] for n in lab_numbers(table).values()] == ["7", "7"]  # untouched by the other client
    saved = client.predict(api_name="/gan2d_lab_save")
    assert saved.count("run/lab-") == 2
    assert (root / "home" / "runs" / "gan2d").is_dir()


def test_lab_bad_settings_are_clear_errors(server):
    client, _, _ = server
    for index, value, match in ((5, 0, "batch_size"), (6, 5.0, "'lr'.*must be at most 1.0")):
        bad = list(LAB_RESET)
        bad[index] = value
        with pytest.raises(AppError, match=match):
            client.predict(*bad, api_name="/gan2d_lab_reset")
    with pytest.raises(AppError, match="unknown dataset 'digits'; registered: .*ring8"):  # image data: refused
        client.predict("digits", *LAB_RESET[1:], api_name="/gan2d_lab_reset")
    with pytest.raises(AppError, match="reads no files or folders"):  # the Lab takes typed names, not server paths
        client.predict("csv:/etc/passwd", *LAB_RESET[1:], api_name="/gan2d_lab_reset")
    with pytest.raises(AppError, match="paths are not accepted"):
        client.predict(*LAB_RESET[:3], "../../etc", *LAB_RESET[4:], api_name="/gan2d_lab_reset")
    client.predict(*LAB_RESET, api_name="/gan2d_lab_reset")
    with pytest.raises(AppError, match="'steps_per_frame'.*must be at most 200"):
        client.predict(5000, api_name="/gan2d_lab_step")
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/gan2d_lab_step"]
    assert [p["parameter_name"] for p in api["parameters"]] == ["steps_per_frame"]  # the name the refusal uses


def test_lab_takes_points_uploaded_or_drawn_in_the_page(server, tmp_path):
    """A visitor's CSV (or drawing) goes into the playground's store as points:HASH (no server path involved), the
    Data picker switches to it, and a lab run trains on exactly those points."""
    client, _, root = server
    rows = np.random.default_rng(0).normal(size=(200, 2)) * [2.0, 0.3] + [1.0, -1.0]
    csv = tmp_path / "mine.csv"
    csv.write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in rows))
    picked, message = client.predict(handle_file(str(csv)), None, api_name="/gan2d_lab_points")
    assert picked.startswith("points:") and "160 training points" in message
    assert (root / "home" / "points" / f"{picked[len('points:'):]}.csv").is_file()
    again, _ = client.predict(handle_file(str(csv)), None, api_name="/gan2d_lab_points")
    assert again == picked  # named by content
    _, plot_a, _, status, table, _, _, _ = client.predict(picked, *LAB_RESET[1:], api_name="/gan2d_lab_reset")
    assert plot_a and table["headers"][1] == "A: nonsaturating"
    canvas = np.full((100, 100, 4), 255, np.uint8)
    canvas[20:80, 48:52, :3] = 0  # one vertical stroke
    Image.fromarray(canvas).save(tmp_path / "drawn.png")
    drawn, message = client.predict(None, {"background": None, "layers": [], "composite":
                                           handle_file(str(tmp_path / "drawn.png"))}, api_name="/gan2d_lab_points")
    assert drawn.startswith("points:") and drawn != picked
    with pytest.raises(AppError, match="upload a points file .* or draw points"):
        client.predict(None, None, api_name="/gan2d_lab_points")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(AppError, match="line 3: expected two numbers"):
        client.predict(handle_file(str(bad)), None, api_name="/gan2d_lab_points")
    with pytest.raises(AppError, match="not a stored-points name"):
        client.predict("points:../../etc/passwd", *LAB_RESET[1:], api_name="/gan2d_lab_reset")


@pytest.mark.parametrize("ref", ["/etc", "run/../../../etc", "../gan/digits", "import/x/y"])
def test_every_endpoint_refuses_path_like_weights(server, ref, digit_png):
    """Inference, evaluation, quality, cards, Hub push, resume and the lab: one check (weights.resolve) for all."""
    client, _, _ = server
    calls = [
        ((ref, 4, 0, 1.0), "/autoencoder_generate"),
        ((ref, handle_file(str(digit_png)), None, "auto"), "/autoencoder_reconstruct"),
        ((ref, 20, "shapes", 0), "/autoencoder_evaluate"),
        (([ref], 50, 0), "/autoencoder_quality"),
        ((ref,), "/autoencoder_weights_card"),
        ((ref, "someone/x", ""), "/autoencoder_hub_push"),
        (("digits", ref, *_train_args()), "/autoencoder_train_start"),
        ((*LAB_RESET[:3], ref, *LAB_RESET[4:]), "/gan2d_lab_reset"),
    ]
    for args, name in calls:
        with pytest.raises(AppError, match="paths are not accepted|outside the weights folders"):
            client.predict(*args, api_name=name)


def test_vae_tab_endpoints(server, digit_png, shape_png):
    """Every VAE task through the real server on the shipped weights, with the outputs a user sees."""
    client, _, _ = server
    digit = handle_file(str(digit_png))
    gallery, values = client.predict("digits", 16, 0, "auto", 1.0, -1, api_name="/vae_generate")
    assert len(gallery) == 1 and values["sampler"] == "mixture" and "mixture" in values["sampler used"]
    gallery, values = client.predict("digits", digit, None, "auto", 3, 0, -1, api_name="/vae_reconstruct")
    assert [g["caption"] for g in gallery][:2] == ["input", "reconstruction (posterior mean)"]
    assert values["PSNR of the reconstruction (dB)"] > 20 and values["KL of this input (nats)"] > 1
    gallery, values, gif = client.predict("digits", digit, None, "auto", handle_file(str(shape_png)), None, "auto",
                                          6, "spherical", -1, api_name="/vae_interpolate")
    with Image.open(gif["path"] if isinstance(gif, dict) else gif) as im:
        assert im.format == "GIF" and im.n_frames >= 6
    _, values, _ = client.predict("digits", 1, 2, 5, "linear", "prior", -1, api_name="/vae_interpolate_seeds")
    assert values["sampler"] == "prior" and len(values["|z| along the path"]) == 5
    _, values = client.predict("digits", digit, None, "auto", 4, 3.0, 5, -1, api_name="/vae_traverse")
    assert {"row 1", "row 4", "active units"} <= set(values) and "row 5" not in values
    gallery, values, chart = client.predict("digits", 8, -1, api_name="/vae_latent_map")
    assert len(gallery) == 1 and "principal directions" in values["view"]
    _, values = client.predict("digits-conditional", 8, 0, "auto", 1.0, 7, api_name="/vae_generate")
    assert values["class"] == 7
    values, chart, pictures = client.predict("digits", 60, 8, 0, "shapes", 0, api_name="/vae_evaluate")
    assert "latent map of the test split" in pictures[0]["caption"] and chart["value"]["data"]
    assert values["IWAE bound, K = 8 (nats per image)"] >= values["ELBO (nats per image)"] - 2
    assert values["reconstruction PSNR (dB)"] > 20


def test_vae_bad_inputs_are_clear_errors(server, digit_png):
    client, _, _ = server
    for args, match in [
        (("digits", 16, 0, "bogus", 1.0, -1), "not in the list of choices|must be one of"),
        (("digits", 16, 0, "auto", 1.0, 3), "unconditional"),
        (("digits-conditional", 16, 0, "auto", 1.0, 12), "not among this model's 10 classes"),
        (("digits", 100000, 0, "auto", 1.0, -1), "greater than maximum value 256|at most 256"),
        (("digits", 16, 0, "auto", "nan", -1), "finite|Expected a `float`"),  # clients send NaN as "nan"
    ]:
        with pytest.raises(AppError, match=match):
            client.predict(*args, api_name="/vae_generate")
    with pytest.raises(AppError, match="No image given"):
        client.predict("digits", None, None, "auto", 3, 0, -1, api_name="/vae_reconstruct")


def test_vqvae_and_prior_endpoints(server, digit_png):
    """Every VQ-VAE and prior task through the real server on the shipped weights."""
    client, _, _ = server
    digit = handle_file(str(digit_png))
    gallery, values = client.predict("digits", digit, None, "auto", api_name="/vqvae_reconstruct")
    assert [g["caption"] for g in gallery] == ["input", "code map", "reconstruction"]
    assert values["PSNR (dB)"] > 20 and values["bits per image (fixed length)"] == 576
    gallery, decoded = client.predict("digits", values["code map"], api_name="/vqvae_decode")
    assert decoded["distinct codes in this map"] == values["distinct codes in this map"]
    gallery, values, chart = client.predict("digits", "alone", "usage", 0, 16, api_name="/vqvae_codebook")
    assert len(chart["value"]["data"]) == 16 and len(values["order of the tiles"].split()) == 16
    gallery, values = client.predict("digits", digit, None, "auto", 2, 2, 3, 3, -1, api_name="/vqvae_edit")
    assert values["region"] == "rows 2–4, columns 2–4" and len(gallery) == 6
    gallery, values, gif = client.predict("digits", 4, 0, 1.0, 8192, -1, True, api_name="/vq_prior_generate")
    assert values["samples"] == 4 and values["top-k"] == "all codes"
    with Image.open(gif["path"] if isinstance(gif, dict) else gif) as im:
        assert im.format == "GIF" and im.n_frames >= 16  # the 4×4 grid filled code by code
    _, values, _ = client.predict("digits-conditional", 6, 0, 1.0, 8192, 7, False, api_name="/vq_prior_generate")
    assert values["classes"] == [7] * 6
    values, chart, pictures = client.predict("digits", 40, 12, api_name="/vqvae_evaluate")
    assert values["reconstruction PSNR (dB)"] > 26 and "rate–distortion" in pictures[1]["caption"]
    plot = chart["value"]
    assert {"JPEG", "WebP", "VQ-VAE"} <= {row[plot["columns"].index("codec")] for row in plot["data"]}


def test_vqvae_and_prior_bad_inputs_are_clear_errors(server, digit_png):
    client, _, _ = server
    row = " ".join(["0"] * 8)
    for codes, match in [("\n".join([row] * 7 + [row.replace("0", "512", 1)]), "between 0 and 511"),
                         ("1 2 3", "8×8 = 64 codes; got 3"), ("\n".join([row] * 7 + ["0 a"]), "not a whole number")]:
        with pytest.raises(AppError, match=match):
            client.predict("digits", codes, api_name="/vqvae_decode")
    for args, match in [((4, 0, 0.0, 8192, -1, False), "at least 0.05"), ((4, 0, "nan", 8192, -1, False),
                                                                           "finite|Expected a `float`"),
                        ((4, 0, 1.0, 0, -1, False), "at least 1"), ((4, 0, 1.0, 8192, 3, False), "unconditional")]:
        with pytest.raises(AppError, match=match):
            client.predict("digits", *args, api_name="/vq_prior_generate")
    with pytest.raises(AppError, match="8×8: row and column"):
        client.predict("digits", handle_file(str(digit_png)), None, "auto", 9, 0, 1, 1, 3,
                       api_name="/vqvae_edit")


def _by_label(client, api_name, **by_label):
    """Positional arguments for an endpoint: each parameter's default, or the value given for its label."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    return [by_label.get(p["label"], p.get("parameter_default")) for p in params]


def test_cyclegan_endpoints(server, digit_png, tmp_path):
    """Every CycleGAN task through the real server on the shipped weights: an upload, a drawn digit, a batch of test
    images, cycle drift and the evaluation with its ablation."""
    client, _, _ = server
    gallery, values = client.predict("digits-glyphs", handle_file(str(digit_png)), None, "auto", "AtoB",
                                     api_name="/cyclegan_translate")
    assert [g["caption"] for g in gallery] == ["input (digits)", "translated (glyphs)", "cycle reconstruction (digits)"]
    assert values["direction"] == "digits → glyphs" and set(values["evaluator's class"]) == {
        "input", "translated", "cycle reconstruction"}
    _, drawn = client.predict("digits-glyphs", None, _sketch(tmp_path, True), "auto", "AtoB",
                              api_name="/cyclegan_translate")
    assert "class kept" in drawn and drawn["cycle L1"] < 0.5
    gallery, values = client.predict("digits-glyphs", "BtoA", 16, 0, api_name="/cyclegan_batch_translate")
    assert len(gallery) == 1 and values["images"] == 16 and values["direction"] == "glyphs → digits"
    assert int(values["label preserved"].split()[0]) >= 12
    gallery, values, chart, gif = client.predict("digits-glyphs", handle_file(str(digit_png)), None, "auto", "AtoB", 4,
                                                 api_name="/cyclegan_cycle_drift")
    assert len(values["rounds"]) == 4 and len(chart["value"]["data"]) == 8
    with Image.open(gif["path"] if isinstance(gif, dict) else gif) as im:
        assert im.format == "GIF" and im.n_frames == 8  # input + 4 rounds, played forth and back
    values, chart, pictures = client.predict("digits-glyphs", 60, "digits-glyphs-no-cycle",
                                             api_name="/cyclegan_evaluate")
    rows = values["scores"]
    assert len(rows) == 4 and {r["direction"] for r in rows} == {"digits → glyphs", "glyphs → digits"}
    assert all("label preservation (%)" in r and "FID" in r for r in rows) and len(pictures) == 2


def test_cyclegan_bad_inputs_are_clear_errors(server, tmp_path, digit_png):
    client, _, _ = server
    with pytest.raises(AppError, match="sketch is empty"):
        client.predict("digits-glyphs", None, _sketch(tmp_path, False), "auto", "AtoB", api_name="/cyclegan_translate")
    with pytest.raises(AppError, match="not in the list of choices|must be one of"):
        client.predict("digits-glyphs", handle_file(str(digit_png)), None, "auto", "AtoC",
                       api_name="/cyclegan_translate")
    with pytest.raises(AppError, match="test split of digits has 359 images; start at most at 358"):
        client.predict("digits-glyphs", "AtoB", 8, 5000, api_name="/cyclegan_batch_translate")
    args = _by_label(client, "/cyclegan_train_start", **{"Domain A": "digits", "Domain B": "digits",
                                                         "Resume from": "(new run)"})
    with pytest.raises(AppError, match="Domains A and B are both 'digits'"):
        client.predict(*args, api_name="/cyclegan_train_start")

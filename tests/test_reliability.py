"""Reliability and security: no run is lost or reused, no oversized batch takes the process down, no server
folder is read for a web visitor unless allowed, broken weights files are refused clearly, 16-bit images are
read correctly, temporary files stay bounded, and a battery of hostile inputs on every endpoint of a real server
gets only clear refusals."""

import json
import os
import re
import threading
import time

import hostile
import numpy as np
import psutil
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from safetensors.torch import save_file

import playground as pg
from playground import memory, models, weights
from playground.checkpoint import FORMAT, MODEL_FILE, read_metadata, read_tensors
from playground.cli import main
from playground.data import FolderAccess
from playground.engine import Trainer
from playground.images import image_to_tensor, tensor_to_pil
from playground.jobs import TrainingJobs
from playground.params import build_params
from playground.registry import Registry
from playground.ui import widgets
from playground.ui.app import DELETE_CACHE, LAUNCH_OPTIONS, build_app

from conftest import write_plugin
from plugin_samples import GOOD


# -- 1. a run folder is never shared or reused ------------------------------------------------------------------
def test_runs_started_in_the_same_second_get_their_own_folders(home, monkeypatch):
    monkeypatch.setattr(weights.time, "strftime", lambda fmt: "20260101-000000")  # every start in one second
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(weights.claim_run_folder("gan2d")[0])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(names) == sorted(["20260101-000000"] + [f"20260101-000000-{i}" for i in range(2, 9)])


def test_two_app_runs_in_the_same_second_keep_two_checkpoints(registry, home, monkeypatch):
    monkeypatch.setattr(weights.time, "strftime", lambda fmt: "20260101-000000")
    jobs = TrainingJobs(registry)
    refs = []
    for seed in (0, 1):
        job = jobs.start("gan2d", {"steps": 3, "seed": seed, "log_every": 1, "checkpoint_every": 3})
        job.thread.join(60)
        assert job.progress.status == "finished", job.error
        refs.append(job.ref)
    assert refs == ["run/20260101-000000", "run/20260101-000000-2"]
    seeds = [read_metadata(weights.resolve("gan2d", r))["config"]["seed"] for r in refs]
    assert seeds == [0, 1]  # the second did not write over the first


def test_cli_refuses_to_reuse_a_run_name_or_a_checkpoint_folder(home, tmp_path, capsys):
    args = ["train", "gan2d", "--steps", "2", "--log-every", "1", "--checkpoint-every", "2"]
    assert main([*args, "--name", "mine"]) == 0
    before = (home / "runs" / "gan2d" / "mine" / MODEL_FILE).read_bytes()
    assert main([*args, "--name", "mine", "--seed", "5"]) != 0
    assert "run/mine already exists" in capsys.readouterr().err
    assert (home / "runs" / "gan2d" / "mine" / MODEL_FILE).read_bytes() == before
    out = tmp_path / "ship"
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(out)]) != 0
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--overwrite"]) == 0


# -- 2. the memory guard ------------------------------------------------------------------------------------------
def test_memory_guard_refuses_an_absurd_batch_and_names_one_that_fits(registry, home, monkeypatch, memory_guard):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 2 * 10**9)  # a small machine, the same everywhere
    rss = psutil.Process().memory_info().rss
    trainer = Trainer(registry, "autoencoder", {"batch_size": 65_536, "steps": 5}, out_dir=home / "x")
    with pytest.raises(pg.TrainingError, match="largest batch that fits is about") as err:
        trainer.preflight()
    assert psutil.Process().memory_info().rss - rss < 500e6  # refused without allocating the batch
    fits = int(re.search(r"about (\d+): use batch size", str(err.value)).group(1))
    assert 16 < fits < 65_536
    accum = int(re.search(r"--grad-accum (\d+)", str(err.value)).group(1))
    Trainer(registry, "autoencoder", {"batch_size": fits, "steps": 5}, out_dir=home / "y").preflight()
    Trainer(registry, "autoencoder", {"batch_size": 65_536, "grad_accum": accum, "steps": 5},
            out_dir=home / "z").preflight()


def test_memory_estimate_grows_with_the_batch_and_leaves_rngs_alone(registry):
    fam = registry.family("gan")
    cfg = build_params(fam.config, {"batch_size": 64})
    from playground.streams import load_streams

    streams = load_streams(registry, fam, cfg, torch.device("cpu"))
    before = torch.get_rng_state()
    est = memory.measure(registry, fam, cfg, streams, torch.device("cpu"))
    assert torch.equal(before, torch.get_rng_state())
    assert est.per_item > 10_000 and est.need(4096) > 2 * est.need(1024) > est.need(1)
    assert est.largest_batch(est.need(500)) >= 500 > est.largest_batch(est.need(400))


# -- 3. folders: any for the CLI, none for web visitors unless allowed ----------------------------------------------
def test_folder_access_rules(tmp_path):
    inside = tmp_path / "allowed" / "imgs"
    inside.mkdir(parents=True)
    (tmp_path / "link").symlink_to("/etc")
    registered = ["digits", "glyphs"]
    assert FolderAccess.anywhere().check("Dataset", f"folder:{inside}", registered) == f"folder:{inside}"
    with pytest.raises(pg.DataError, match="reads no files or folders for web visitors.*--allow-folders"):
        FolderAccess().check("Dataset", f"folder:{inside}", registered)
    allowed = FolderAccess.under([tmp_path / "allowed"])
    assert allowed.check("Dataset", f"folder:{inside}", registered)
    for outside in ("folder:/usr", f"folder:{tmp_path}/allowed/../link", f"folder:{tmp_path / 'link'}"):
        with pytest.raises(pg.DataError, match="outside the folders this server allows"):
            allowed.check("Dataset", outside, registered)
    with pytest.raises(pg.DataError, match="Dataset: unknown dataset 'nope'; registered: digits, glyphs"):
        allowed.check("Dataset", "nope", registered)


# -- 4. importing weights -----------------------------------------------------------------------------------------
def _broken_copy(tmp_path, name, change):
    src = weights.resolve("autoencoder", "digits") / MODEL_FILE
    meta = change(dict(read_metadata(src)))
    path = tmp_path / name
    save_file(read_tensors(src), str(path), metadata={"format": FORMAT, "playground": json.dumps(meta)})
    return path


@pytest.mark.parametrize("name, change, match", [
    ("no-info.safetensors", lambda m: {k: v for k, v in m.items() if k != "info"}, "'info' is missing"),
    ("bad-step.safetensors", lambda m: {**m, "step": "twelve"}, "'step' is 'twelve', not a number"),
    ("bad-size.safetensors", lambda m: {**m, "info": {**m["info"], "size": None}}, "'info.size' is None"),
])
def test_import_refuses_broken_metadata_by_name(registry, home, tmp_path, name, change, match):
    path = _broken_copy(tmp_path, name, change)
    with pytest.raises(pg.WeightsError, match=f"{name}: a playground checkpoint with broken metadata .*{match}"):
        models.import_file(registry, "autoencoder", path)
    assert not (home / "imports" / "autoencoder" / path.stem).exists()


def test_import_never_replaces_silently(registry, home, tmp_path):
    src = weights.resolve("autoencoder", "digits") / MODEL_FILE
    first = models.import_file(registry, "autoencoder", src, "mine")
    other = weights.resolve("autoencoder", "digits-holdout-9") / MODEL_FILE
    with pytest.raises(pg.WeightsError, match="import/mine already exists.*another name.*replace"):
        models.import_file(registry, "autoencoder", other, "mine")
    assert (first.path / MODEL_FILE).read_bytes() == src.read_bytes()
    models.import_file(registry, "autoencoder", other, "mine", overwrite=True)
    assert (first.path / MODEL_FILE).read_bytes() == other.read_bytes()
    with pytest.raises(pg.WeightsError, match="Name for the import '../x' is not usable"):
        models.import_file(registry, "autoencoder", src, "../x")


# -- 5. one validator: integers are whole, finite and in range -----------------------------------------------------
@pytest.mark.parametrize("value", [2.5, "2.5", "inf", "nan", True, "1e400", 10**12])
def test_integer_settings_refuse_what_they_cannot_hold(registry, value):
    with pytest.raises(pg.ConfigError, match="'steps'"):
        build_params(registry.family("autoencoder").config, {"steps": value})
    assert build_params(registry.family("autoencoder").config, {"steps": "12"}).steps == 12
    assert build_params(registry.family("autoencoder").config, {"steps": 12.0}).steps == 12


# -- 6. 16-bit images ---------------------------------------------------------------------------------------------
def _twins(tmp_path, digit_png):
    eight = np.asarray(Image.open(digit_png).convert("L"))
    path16 = tmp_path / "digit16.png"
    Image.fromarray(eight.astype(np.uint16) * 257).save(path16)  # the same picture at 16 bits
    assert Image.open(path16).mode.startswith("I")
    return digit_png, path16


def test_16bit_png_equals_its_8bit_twin(tmp_path, digit_png):
    p8, p16 = _twins(tmp_path, digit_png)
    for sketch in (False, True):
        a = image_to_tensor(str(p8), channels=1, size=32, sketch=sketch, invert="no")
        b = image_to_tensor(str(p16), channels=1, size=32, sketch=sketch, invert="no")
        assert (a - b).abs().max() <= 2 / 255  # [-1, 1] spans 2, so this is 1/255 of full scale


# -- 7. temporary files -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_animation_files_are_pruned_and_the_cache_is_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    frames = [torch.zeros(1, 8, 8), torch.ones(1, 8, 8)]
    old = [widgets.animation_file(frames) for _ in range(3)]
    past = time.time() - widgets.ANIMATION_KEEP_SECONDS - 5
    for f in old:
        os.utime(f, (past, past))
    new = widgets.animation_file(frames)
    assert str(tmp_path / "gradio") in new
    assert sorted(p.name for p in widgets.animations_dir().iterdir()) == [os.path.basename(new)]
    demo = build_app(Registry())
    assert demo.delete_cache == DELETE_CACHE and DELETE_CACHE[1] <= 3600


# -- the server-level checks and the battery --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """The app as deployed, except that Gradio hides messages of errors nobody meant to raise (show_error=False):
    whatever text comes back was a deliberate refusal. Folders are allowed under one root only."""
    root = tmp_path_factory.mktemp("strict")
    old_home = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(root / "home")
    allowed = root / "allowed"
    imgs = allowed / "imgs"
    imgs.mkdir(parents=True)
    data = torch.rand(12, 1, 16, 16)
    for i, x in enumerate(data):
        tensor_to_pil(x * 2 - 1).save(imgs / f"{i}.png")
    write_plugin(root / "plugins", "tinyplugin", GOOD)  # a plugin's endpoints are attacked like the built-ins'
    demo = build_app(Registry([root / "plugins"]), FolderAccess.under([allowed]))
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**LAUNCH_OPTIONS, "show_error": False})
    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    yield client, demo, root
    _stop_jobs(demo)
    demo.close()
    if old_home is None:
        os.environ.pop("PLAYGROUND_HOME", None)
    else:
        os.environ["PLAYGROUND_HOME"] = old_home


def _stop_jobs(demo) -> None:
    job = demo.jobs.running()
    if job is not None:
        job.trainer.stop()
        job.thread.join(60)


def _ae_start(client, dataset, **over):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/autoencoder_train_start"]
    args = {p["label"]: p["parameter_default"] for p in api["parameters"]}
    args.update({"Dataset": dataset, "Steps": 2, "Log every": 1, "Sample every": 2, "Checkpoint every": 2, **over})
    return client.predict(*args.values(), api_name="/autoencoder_train_start")


@pytest.mark.slow
def test_api_folders_only_under_the_allowed_root_and_the_guard_refuses_a_huge_batch(strict_server, memory_guard):
    client, demo, root = strict_server
    with pytest.raises(AppError, match="outside the folders this server allows"):
        _ae_start(client, "folder:/usr")
    with pytest.raises(AppError, match="Outlier dataset: .*outside the folders"):
        client.predict("digits", 10, "folder:/etc", 0, api_name="/autoencoder_evaluate")
    assert _ae_start(client, f"folder:{root / 'allowed' / 'imgs'}").startswith("Started run/")
    demo.jobs.get("autoencoder").thread.join(60)
    runs = sorted((root / "home" / "runs" / "autoencoder").iterdir())
    with pytest.raises(AppError, match="largest batch that fits is about \\d+"):
        _ae_start(client, "digits", **{"Batch size": 65_536})
    assert sorted((root / "home" / "runs" / "autoencoder").iterdir()) == runs  # nothing started, nothing left


@pytest.mark.slow
def test_api_16bit_upload_and_sketch_read_like_8bit(strict_server, tmp_path, digit_png):
    client, _, _ = strict_server
    p8, p16 = _twins(tmp_path, digit_png)
    out = []
    for p in (p8, p16):
        _, values = client.predict("digits", handle_file(str(p)), None, "auto", api_name="/autoencoder_reconstruct")
        out.append(values["psnr_db"])
        sketch = {"background": None, "layers": [], "composite": handle_file(str(p))}
        _, values = client.predict("digits", None, sketch, "auto", api_name="/autoencoder_reconstruct")
        out.append(values["psnr_db"])
    assert out[0] == pytest.approx(out[2], abs=0.05) and out[1] == pytest.approx(out[3], abs=0.05)


@pytest.mark.slow
def test_hostile_input_battery_on_every_endpoint(strict_server, tmp_path, digit_png):
    """Every named endpoint from the app's own functions, attacked one parameter at a time: only clear refusals."""
    client, demo, _ = strict_server
    outcomes = hostile.run_battery(demo, client, hostile.hostile_files(tmp_path / "files"), digit_png,
                                   lambda endpoint: _stop_jobs(demo))
    report = hostile.summary(outcomes)
    print(report)
    endpoints = {o.attack.endpoint for o in outcomes}
    assert len(endpoints) > 50 and "/tiny_generate" in endpoints  # every family's tabs were walked, plugins too
    bad = [o for o in outcomes if o.verdict != "clear"]
    assert not bad, report

"""The ZeroGPU rules without a Space: every function the app hands to ``spaces.GPU`` runs through a harness that does
what ZeroGPU's wrapper does (arguments and result pickled, the call in a forked child process, whatever the child
changes lost) and must give what the direct path gives; training in bursts through it ends with the same weights as
one uninterrupted run; and the app builds with the real ``spaces`` package imported first, as on a Space."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
import torch

from playground import zerogpu
from playground.checkpoint import read_tensors
from playground.engine import Trainer
from playground.inference import model_cache
from playground.jobs import TrainingJobs

ROOT = Path(__file__).resolve().parents[1]


def as_on_zerogpu(fn: Any) -> Any:
    """``fn`` as ZeroGPU runs a decorated function: pickled in, forked, pickled out, the child's state discarded."""

    def call(*args: Any, **kwargs: Any) -> Any:
        payload = pickle.dumps((args, kwargs))  # an unpicklable argument fails here, as it would on a Space
        ctx = multiprocessing.get_context("fork")
        reader, writer = ctx.Pipe(duplex=False)

        def child() -> None:
            torch.set_num_threads(1)  # an OpenMP pool does not survive fork; ZeroGPU's child starts its own
            try:
                a, k = pickle.loads(payload)
                out = pickle.dumps(("ok", fn(*a, **k)))
            except BaseException as exc:  # noqa: BLE001 - carried to the parent, as ZeroGPU does
                out = pickle.dumps(("error", exc, traceback.format_exc()))
            writer.send_bytes(out)

        proc = ctx.Process(target=child)
        proc.start()
        data = reader.recv_bytes()
        proc.join(60)
        kind, value, *tb = pickle.loads(data)
        if kind == "error":
            raise value
        return value

    return call


@pytest.fixture
def key(registry):
    return zerogpu.register(registry)


@pytest.fixture
def one_thread():
    """The harness's child computes on one thread; the direct runs it is compared with do too (a reduction split
    over more threads may round differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_inference_and_evaluation_through_the_harness_equal_the_direct_path(registry, key, one_thread):
    model_cache().clear()
    values = {"n": 8, "seed": 3}
    direct = zerogpu.task(key, "gan", "digits", "generate", values)
    forked = as_on_zerogpu(zerogpu.task)(key, "gan", "digits", "generate", values)
    assert [c for c, _ in forked.images] == [c for c, _ in direct.images]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(forked.images, direct.images, strict=True))
    ev = {"n": 400, "seed": 0}
    assert as_on_zerogpu(zerogpu.evaluate)(key, "gmm", "ring8", ev).values == \
        zerogpu.evaluate(key, "gmm", "ring8", ev).values


def test_what_the_child_does_stays_in_the_child(registry, key):
    """The model the forked call loaded is not in the parent's cache: nothing may rely on a call's side effects."""
    model_cache().clear()
    as_on_zerogpu(zerogpu.task)(key, "gmm", "ring8", "generate", {"n": 100, "seed": 0})
    assert len(model_cache()._items) == 0  # noqa: SLF001 - the harness's promise, checked
    zerogpu.task(key, "gmm", "ring8", "generate", {"n": 100, "seed": 0})
    assert len(model_cache()._items) == 1  # noqa: SLF001


def test_user_errors_cross_the_process_boundary_with_their_message(registry, key):
    import playground as pg

    with pytest.raises(pg.PlaygroundError, match="No weights 'nope'"):
        as_on_zerogpu(zerogpu.task)(key, "gan", "nope", "generate", {"n": 4})


CFG = {"steps": 24, "batch_size": 16, "lr": 1e-2, "log_every": 4, "checkpoint_every": 1000, "sample_every": 1000}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return read_tensors(folder / "model.safetensors")


def test_training_in_bursts_ends_with_the_weights_of_one_uninterrupted_run(registry, key, tmp_path, one_thread):
    whole = Trainer(registry, "autoencoder", CFG, out_dir=tmp_path / "whole", device="cpu")
    whole.run()
    burst = as_on_zerogpu(zerogpu.train_burst)
    first = burst(key, "autoencoder", CFG, str(tmp_path / "bursts"), False, 1e9, 10)
    assert first.status == "paused" and first.step == 10 and first.checkpoint
    second = burst(key, "autoencoder", CFG, str(tmp_path / "bursts"), True, 1e9, None)
    assert second.status == "finished" and second.step == 24
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "bursts")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_train_tab_chains_bursts_until_the_run_is_done(registry, tmp_path, monkeypatch, one_thread):
    """TrainingJobs in burst mode (a ZeroGPU Space): the handler drives bursts bounded by time through the harness;
    the job's progress grows burst by burst and the checkpoint equals an uninterrupted run's."""
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    jobs = TrainingJobs(registry, bursts=True, burst=as_on_zerogpu(zerogpu.train_burst), burst_seconds=0.3)
    cfg = {**CFG, "steps": 60}
    job = jobs.start("autoencoder", cfg)
    assert jobs.running() is job and job.thread is None  # busy, and no thread: the handler drives it
    seen = [p.step for p in jobs.drive(job)]
    assert seen[-1] == 60 and job.progress.status == "finished" and not job.alive
    assert len(seen) >= 2 and seen == sorted(seen)  # several bursts, each going on from the last
    logged = [s for s, n, _ in job.progress.losses if n == "loss"]
    assert logged == sorted(set(logged)) and logged[-1] == 60
    whole = Trainer(registry, "autoencoder", cfg, out_dir=tmp_path / "whole", device="cpu")
    whole.run()
    a, b = _weights(tmp_path / "whole"), _weights(Path(job.trainer.out_dir))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_ends_a_burst_run_after_the_current_burst_and_leaving_pauses_it(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    jobs = TrainingJobs(registry, bursts=True, burst=zerogpu.train_burst, burst_seconds=0.2)
    job = jobs.start("autoencoder", {**CFG, "steps": 100_000})
    drive = jobs.drive(job)
    next(drive)
    jobs.stop("autoencoder")
    last = list(drive)[-1]
    assert last.status == "stopped" and 0 < last.step < 100_000 and not job.alive
    job2 = jobs.start("autoencoder", {**CFG, "steps": 100_000})
    drive = jobs.drive(job2)
    step = next(drive).step
    drive.close()  # the browser went away between bursts
    assert job2.progress.status == "paused" and not job2.alive and "resume" in job2.progress.message
    resumed = jobs.start("autoencoder", {}, resume=job2.ref)
    assert next(jobs.drive(resumed)).step > step


@pytest.mark.skipif(not __import__("importlib").util.find_spec("spaces"), reason="the spaces package is a test "
                    "dependency (pyproject [test]); install it to check the Space's import order")
@pytest.mark.slow
def test_the_app_builds_with_the_real_spaces_package_imported_first(tmp_path):
    """As on a Space: app.py imports spaces before torch, the decorators are no-ops off ZeroGPU, and the demo
    builds offline with every family's endpoints."""
    code = ("import app, sys, torch, spaces; from playground import zerogpu; "
            "assert zerogpu.task_on_gpu is zerogpu.task and zerogpu.train_burst_on_gpu is zerogpu.train_burst; "
            "names = app.demo.config['dependencies']; print(len(names))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PLAYGROUND_HOME": str(tmp_path)}
    env.pop("SPACES_ZERO_GPU", None)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.strip().splitlines()[-1]) > 50

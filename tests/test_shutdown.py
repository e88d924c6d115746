"""Faults from outside a run: a full disk during a save, and the signals a terminal, a container or a Space sends
(SIGINT, SIGTERM) — each ends with the last checkpoint intact and a way to go on, never a traceback."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import playground as pg
from playground import checkpoint
from playground.checkpoint import CONFIG_FILE, MODEL_FILE, TRAIN_FILE, read_metadata
from playground.engine import Trainer
from playground.jobs import TrainingJobs

ROOT = Path(__file__).resolve().parents[1]
SMALL_AE = {"width": 8, "latent_dim": 8, "batch_size": 16}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint_whole(registry, home, monkeypatch):
    """ENOSPC while the second checkpoint is written (its model file, the last of three): the run fails with the
    cause and the step of the checkpoint it still has, the folder holds exactly the first checkpoint's files (no
    new training state beside an old model, no temporary files), and that checkpoint resumes."""
    folder = home / "runs" / "autoencoder" / "full"
    trainer = Trainer(registry, "autoencoder", {**SMALL_AE, "steps": 4, "checkpoint_every": 2}, out_dir=folder)
    real = checkpoint.save_file
    saved: list[dict[str, bytes]] = []

    def disk_fills(tensors, path, metadata=None):
        if Path(path).name.startswith(f".{MODEL_FILE}") and saved:
            Path(path).write_bytes(b"\0" * 10)  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(tensors, path, metadata=metadata)
        if Path(path).name.startswith(f".{MODEL_FILE}"):
            saved.append({})  # the first checkpoint's model file is being written; the next one fails

    monkeypatch.setattr(checkpoint, "save_file", disk_fills)
    first: dict[str, bytes] = {}

    def after_first_save(progress):
        if progress.checkpoint_step == 2 and not first:
            first.update(_files(folder))

    trainer.on_progress = after_first_save
    with pytest.raises(pg.TrainingError) as err:
        trainer.run()
    message = str(err.value)
    assert "Could not write the checkpoint at step 4" in message and "No space left on device" in message
    assert "the previous checkpoint (step 2) is intact" in message
    assert first and _files(folder) == first  # byte for byte, and nothing else
    assert read_metadata(folder)["step"] == 2 and {MODEL_FILE, TRAIN_FILE, CONFIG_FILE} <= set(first)
    monkeypatch.setattr(checkpoint, "save_file", real)
    resumed = Trainer(registry, "autoencoder", {"steps": 4}, out_dir=folder, resume=folder).run()
    assert resumed.status == "finished" and read_metadata(folder)["step"] == 4


def test_stopping_every_job_writes_each_checkpoint(registry, home):
    """What the app does when it is shut down: every running job stops after its step and saves."""
    jobs = TrainingJobs(registry, bursts=False)
    job = jobs.start("autoencoder", {**SMALL_AE, "steps": 100_000, "log_every": 5})
    deadline = time.time() + 60
    while job.progress.step < 3 and time.time() < deadline:
        time.sleep(0.05)
    (stopped,) = jobs.stop_all()
    assert stopped is job and not job.alive and job.progress.status == "stopped"
    assert read_metadata(job.trainer.out_dir)["step"] == job.progress.step >= 3


def _cli_train(home: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PLAYGROUND_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "playground.cli", "train", "autoencoder", "--steps", "100000",
                             "--width", "8", "--latent-dim", "8", "--batch-size", "16", "--log-every", "5",
                             "--checkpoint-every", "100000", "--name", name], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, text: str, seconds: float = 120) -> list[str]:
    lines, deadline = [], time.time() + seconds
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    raise AssertionError(f"no {text!r} within {seconds} s: {''.join(lines)[-2000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_training_stops_cleanly_on_a_signal_and_says_how_to_go_on(home, sig, code):
    """Ctrl-C (or a container's SIGTERM) at any step: the run stops after that step, writes its checkpoint, says how
    to continue and exits with the shell's code for the signal; no traceback. (It used to die with a
    KeyboardInterrupt traceback and lose everything since the last checkpoint.)"""
    proc = _cli_train(home, "sig")
    _wait_for(proc, "[running] step 10/")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err and f"{sig.name}: stopping after this step" in err
    stopped = next(line for line in out.splitlines() if line.startswith("Stopped at step"))
    step = int(stopped.split()[3].rstrip(";"))
    assert read_metadata(home / "runs" / "autoencoder" / "sig")["step"] == step >= 10
    assert "Continue it with: playground train autoencoder --resume run/sig" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_app_stops_its_trainings_and_saves_them_when_it_is_shut_down(home):
    """A Space restarting (SIGTERM) while a visitor's run trains: the server closes, the run stops after its step
    and writes its checkpoint, and the log says how to resume it."""
    from gradio_client import Client

    port = _free_port()
    env = {**os.environ, "PLAYGROUND_HOME": str(home), "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(proc, "Running on local URL")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False, analytics_enabled=False)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/autoencoder_train_start"]
        args = {p["label"]: p["parameter_default"] for p in api["parameters"]}
        args.update({"Steps": 100_000, "Log every": 5, "Checkpoint every": 100_000, "Width": 8, "Batch size": 16})
        assert client.predict(*args.values(), api_name="/autoencoder_train_start").startswith("Started run/")
        deadline, status = time.time() + 120, {}
        while status.get("step", 0) < 10 and time.time() < deadline:  # trained a few steps
            status = client.predict(api_name="/autoencoder_train_status")
            time.sleep(0.2)
        folder = home / "runs" / "autoencoder" / status["run"].removeprefix("run/")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"--resume run/{folder.name}" in out, out[-3000:]
    assert "SIGTERM: closing the server" in out and "Traceback" not in out
    assert read_metadata(folder)["step"] >= 10 and json.loads((folder / CONFIG_FILE).read_text())["step"] >= 10


def test_an_unusable_home_is_a_start_up_error_with_its_path(registry, tmp_path, monkeypatch, capsys):
    """PLAYGROUND_HOME naming a file (or a folder that cannot be written): the app refuses to start and training
    refuses to begin, each with the path, before anything else happens."""
    from playground.cli import main
    from playground.ui.app import launch

    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("a file")
    monkeypatch.setenv("PLAYGROUND_HOME", str(not_a_folder))
    with pytest.raises(pg.WeightsError, match=f"home folder {not_a_folder} is not usable"):
        launch(registry)
    assert main(["train", "autoencoder", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert f"home folder {not_a_folder} is not usable" in err and "Traceback" not in err


def test_runs_have_owners_and_the_server_a_limit(registry, home):
    """Up to max_jobs runs of different families at once, one per family; beyond, a refusal naming what trains and
    whose; only a run's owner may stop it."""
    jobs = TrainingJobs(registry, bursts=False, max_jobs=2)
    a = jobs.start("autoencoder", {**SMALL_AE, "steps": 100_000}, owner="browser:a")
    b = jobs.start("gan2d", {"steps": 100_000}, owner="session:b")
    with pytest.raises(pg.TrainingError, match="gan2d is already training \\(your gan2d run"):
        jobs.start("gan2d", {"steps": 10}, owner="session:b")
    with pytest.raises(pg.TrainingError, match="trains 2 run\\(s\\) at a time, and another visitor's autoencoder"):
        jobs.start("gmm", {"steps": 10}, owner="session:c")
    with pytest.raises(pg.TrainingError, match="another visitor's autoencoder run .* only the visitor who started"):
        jobs.stop("autoencoder", "session:b")
    assert a.alive and b.alive
    assert jobs.stop("autoencoder", "browser:a") is a and jobs.stop("gan2d", "session:b") is b
    a.thread.join(60)
    b.thread.join(60)
    assert a.progress.status == b.progress.status == "stopped"

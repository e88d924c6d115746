import math

import pytest
import torch

import playground as pg
from playground.checkpoint import read_metadata
from playground.engine import Trainer
from playground.models import load_model
from playground.registry import Registry

from plugin_samples import GOOD

ns: dict = {}
exec(compile(GOOD, "good_plugin", "exec"), ns)
Tiny = ns["Tiny"]


class NaNAfterSeven(Tiny):
    name = "nanfam"

    def train_step(self, run, batch):
        losses = super().train_step(run, batch)
        if run.state.step >= 7:  # state.step counts completed steps: the 8th step goes NaN
            losses["loss"] = losses["loss"] * float("nan")
        return losses


class OOMFamily(Tiny):
    name = "oomfam"

    def train_step(self, run, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.fixture
def reg():
    r = Registry()

    class Plugin:
        @pg.hookimpl
        def register_models(self, register):
            register(NaNAfterSeven())
            register(OOMFamily())
            register(Tiny())

    assert r.register_plugin(Plugin(), "engine_test_families")
    yield r
    r.unregister_plugin("engine_test_families")


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(reg, tmp_path):
    t = Trainer(reg, "nanfam", {"steps": 50, "batch_size": 4, "log_every": 1, "checkpoint_every": 5},
                out_dir=tmp_path / "run")
    with pytest.raises(pg.TrainingError) as err:
        t.run()
    msg = str(err.value)
    assert "'loss' became nan at step 8" in msg and "step 5" in msg and "lower learning rate" in msg
    assert t.progress.status == "failed"
    state = load_model(reg, tmp_path / "run", family="nanfam")
    assert state.step == 5
    assert all(torch.isfinite(v).all() for v in state.modules.state_dict().values())


def test_out_of_memory_becomes_a_message_with_a_smaller_batch(reg, tmp_path):
    with pytest.raises(pg.TrainingError, match=r"Out of memory at batch size 64.*--batch-size 32"):
        Trainer(reg, "oomfam", {"steps": 5, "batch_size": 64}, out_dir=tmp_path / "r").run()
    assert not any(f.plugin == "engine_test_families" and f.stage == "train" for f in reg.failures)


def test_stop_is_cooperative_and_writes_a_checkpoint(reg, tmp_path):
    def stop_soon(p):
        if p.step >= 6:
            t.stop()

    t = Trainer(reg, "tiny", {"steps": 10_000, "batch_size": 4, "log_every": 3}, out_dir=tmp_path / "r",
                on_progress=stop_soon)
    p = t.run()
    assert p.status == "stopped" and p.step == 6
    assert read_metadata(tmp_path / "r")["step"] == 6


@pytest.mark.parametrize("bad, match", [
    ({"lr": float("nan")}, "'lr'.*must be a finite number"),
    ({"lr": "inf"}, "'lr'.*must be a finite number"),
    ({"lr": 5.0}, "'lr'.*must be at most 1.0"),
    ({"batch_size": 0}, "'batch_size'.*must be at least 1"),
    ({"steps": 2.5}, "'steps'.*must be a whole number"),
    ({"noise": "salt"}, "'noise'.*must be one of none, gaussian, masking, mixed"),
    ({"latent_dim": "abc"}, "'latent_dim'.*must be int"),
    ({"bogus": 1}, "Unknown setting"),
])
def test_bad_hyperparameters_are_clear_errors(bad, match, registry, tmp_path):
    with pytest.raises(pg.ConfigError, match=match):
        Trainer(registry, "autoencoder", bad, out_dir=tmp_path / "r")


def test_unknown_dataset_and_point_dataset_are_clear_errors(registry, tmp_path):
    with pytest.raises(pg.DataError, match="Unknown dataset 'nope'.*digits"):
        Trainer(registry, "autoencoder", {"dataset": "nope", "steps": 1}, out_dir=tmp_path / "a").run()
    with pytest.raises(pg.DataError, match="trains on images; 'ring8' holds 2-D points. Try one of: digits"):
        Trainer(registry, "autoencoder", {"dataset": "ring8", "steps": 1}, out_dir=tmp_path / "b").run()


def test_resume_refuses_to_change_the_model(registry, tmp_path):
    Trainer(registry, "autoencoder", {"steps": 2, "width": 4, "batch_size": 4}, out_dir=tmp_path / "r").run()
    with pytest.raises(pg.ConfigError, match="Cannot change width"):
        Trainer(registry, "autoencoder", {"width": 8, "steps": 4}, out_dir=tmp_path / "r", resume=tmp_path / "r")
    p = Trainer(registry, "autoencoder", {"steps": 4}, out_dir=tmp_path / "r", resume=tmp_path / "r").run()
    assert p.step == 4 and read_metadata(tmp_path / "r")["step"] == 4


def test_progress_reports_losses_and_preview(registry, tmp_path):
    seen = []
    p = Trainer(registry, "autoencoder", {"steps": 20, "width": 4, "batch_size": 8, "log_every": 5,
                                          "sample_every": 10}, out_dir=tmp_path / "r",
                on_progress=lambda pr: seen.append(pr.step)).run()
    assert seen[:4] == [5, 10, 15, 20]
    assert [s for s, _, _ in p.losses] == [5, 10, 15, 20]
    assert all(math.isfinite(v) for _, _, v in p.losses)
    assert p.preview is not None and p.preview.shape[1:] == (1, 32, 32) and p.preview_step == 20

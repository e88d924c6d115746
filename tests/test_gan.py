"""The GAN family beyond the conformance suite: shipped weights, tasks, objectives in a real run."""

import pytest
import torch

import playground as pg
from playground.engine import Trainer
from playground.inference import model_cache, run_quality, run_task
from playground.metrics.report import quality_report
from playground.models import untrained_like


@pytest.mark.slow
def test_shipped_gan_covers_every_digit_and_beats_an_untrained_generator(registry):
    (_, report, _), = run_quality(registry, "gan", ["digits"], 1000, seed=0)
    assert report.scores["smallest class %"] >= 3, report.class_freq  # no digit dropped
    state = model_cache().get(registry, "gan", "digits", torch.device("cpu"))
    fam = registry.family("gan")
    untrained = untrained_like(registry, state)
    weak = quality_report(registry, fam.sample(untrained, 1000, torch.Generator().manual_seed(0)), "digits")
    assert report.scores["FID"] < 0.25 * weak.scores["FID"], (report.scores["FID"], weak.scores["FID"])


def test_generate_interpolate_and_truncation(registry):
    grid = run_task(registry, "gan", "digits", "generate", {"n": 16, "seed": 3})
    again = run_task(registry, "gan", "digits", "generate", {"n": 16, "seed": 3})
    assert torch.equal(grid.images[0][1], again.images[0][1])  # a seed is a seed
    trunc = run_task(registry, "gan", "digits", "generate", {"n": 16, "seed": 3, "truncation": 0.5})
    assert not torch.equal(grid.images[0][1], trunc.images[0][1])
    strip = run_task(registry, "gan", "digits", "interpolate", {"seed_a": 1, "seed_b": 2, "frames": 6})
    img = strip.images[0][1]
    assert img.shape[1] < img.shape[2] and img.shape[2] > 5 * 32  # one row of six frames


@pytest.mark.parametrize("objective", ["wgan", "wgan_gp", "hinge", "least_squares", "fgan_kl", "fgan_pearson"])
def test_every_objective_trains_without_nan(objective, tmp_path, registry):
    p = Trainer(registry, "gan", {"objective": objective, "steps": 6, "batch_size": 8, "width": 4, "latent_dim": 8,
                                  "log_every": 2, "d_steps": 2}, out_dir=tmp_path / "r").run()
    assert p.status == "finished"
    names = {n for _, n, _ in p.losses}
    assert {"d", "g"} <= names and (("gp" in names) == (objective == "wgan_gp"))


def test_weight_clipping_is_applied_in_training(tmp_path, registry):
    t = Trainer(registry, "gan", {"objective": "wgan", "steps": 3, "batch_size": 8, "width": 4, "latent_dim": 8},
                out_dir=tmp_path / "r")
    t.run()
    assert all(p.abs().max() <= 0.01 + 1e-7 for p in t.state.modules["D"].parameters())


@pytest.mark.parametrize("bad, match", [
    ({"objective": "bogus"}, "'objective'.*must be one of"),
    ({"batch_size": 0}, "'batch_size'.*must be at least 2"),
    ({"lr": float("nan")}, "'lr'.*must be a finite number"),
    ({"d_steps": 100}, "'d_steps'.*must be at most 20"),
])
def test_bad_gan_settings_are_clear_errors(bad, match, tmp_path, registry):
    with pytest.raises(pg.ConfigError, match=match):
        Trainer(registry, "gan", bad, out_dir=tmp_path / "r")


def test_shipped_gan_weights_have_a_card_and_are_small():
    from playground.weights import list_weights

    (entry,) = [e for e in list_weights("gan") if e.ref == "digits"]
    assert "playground train gan" in entry.card and "FID" in entry.card
    assert all(f.stat().st_size < 10 * 1024 * 1024 for f in entry.path.iterdir())


def test_interpolation_animation_is_a_gif(registry, tmp_path):
    from PIL import Image

    from playground.images import save_gif

    res = run_task(registry, "gan", "digits", "interpolate", {"seed_a": 1, "seed_b": 2, "frames": 5})
    assert len(res.animation) == 5 and not torch.equal(res.animation[0], res.animation[-1])
    path = save_gif(res.animation, tmp_path / "a.gif")
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 8  # forth and back: 5 + 3

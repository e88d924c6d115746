"""Evaluation kit: evaluators, scores on constructed cases, and reports with their protocol."""

import math

import pytest
import torch

from playground.data import DataSpec, load_dataset
from playground.metrics.evaluator import load_evaluator
from playground.metrics.report import quality_report
from playground.metrics.scores import codebook_health, fid, kid, prdc, toy_mode_metrics

FLOORS = {"digits": 0.95, "glyphs": 0.97, "shapes": 0.95}


@pytest.mark.parametrize("dataset", sorted(FLOORS))
def test_evaluator_reaches_its_accuracy_floor_on_held_out_data(registry, dataset):
    ev = load_evaluator(dataset)
    test = load_dataset(registry.datasets, DataSpec(dataset, split="test"))
    _, logits = ev.embed(test.float_images())
    acc = float((logits.argmax(1) == test.labels).float().mean())
    assert acc >= FLOORS[dataset], acc
    assert abs(acc - ev.accuracy) < 0.01  # the shipped card's number is the real one


@pytest.fixture(scope="module")
def digits_test(registry):
    return load_dataset(registry.datasets, DataSpec("digits", split="test")).float_images()


def test_real_vs_real_fid_is_about_the_baseline(registry, digits_test):
    rep = quality_report(registry, digits_test[:300], "digits", seed=1)
    assert rep.baseline["FID"] > 0
    assert rep.scores["FID"] == pytest.approx(rep.baseline["FID"], rel=0.35)
    assert rep.protocol.n_generated == 300 and "digits" in rep.protocol.backbone
    assert rep.scores["smallest class %"] > 3


def _blur(x, k):
    w = torch.ones(1, 1, k, k) / (k * k)
    return torch.nn.functional.conv2d(x, w, padding=k // 2)


def test_fid_grows_with_noise_and_blur(registry, digits_test):
    ev = load_evaluator("digits")
    train = load_dataset(registry.datasets, DataSpec("digits")).float_images()
    real, _ = ev.embed(train)
    g = torch.Generator().manual_seed(0)
    noise = [fid(real, ev.embed((digits_test + s * torch.randn(digits_test.shape, generator=g)).clamp(-1, 1))[0])
             for s in (0.0, 0.2, 0.4, 0.8)]
    assert noise == sorted(noise) and noise[-1] > 3 * noise[0], noise
    blur = [fid(real, ev.embed(_blur(digits_test, k) if k > 1 else digits_test)[0]) for k in (1, 3, 5, 7)]
    assert blur == sorted(blur) and blur[-1] > 3 * blur[0], blur


def test_prdc_on_constructed_cases():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 8, generator=g)
    same = prdc(a, a.clone())
    assert same["precision"] == 1 and same["recall"] == 1 and same["coverage"] == 1
    assert same["density"] == pytest.approx(1.0, abs=0.05)
    far = prdc(a, a + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    two_modes = torch.cat([torch.randn(500, 8, generator=g), torch.randn(500, 8, generator=g) + 20])
    one_mode = torch.randn(1000, 8, generator=g)  # the second mode is dropped
    dropped = prdc(two_modes, one_mode)
    assert dropped["precision"] > 0.9
    assert dropped["recall"] == pytest.approx(0.5, abs=0.05)
    assert dropped["coverage"] == pytest.approx(0.5, abs=0.05)


def test_kid_with_fewer_samples_than_its_default_subset():
    g = torch.Generator().manual_seed(0)
    mean, std = kid(torch.randn(60, 16, generator=g), torch.randn(60, 16, generator=g))
    assert math.isfinite(mean) and abs(mean) < 0.05 and std >= 0
    shifted, _ = kid(torch.randn(60, 16, generator=g), torch.randn(60, 16, generator=g) + 2)
    assert shifted > 10 * abs(mean)


def test_toy_mode_metrics(registry):
    ring = load_dataset(registry.datasets, DataSpec("ring8"))
    good = toy_mode_metrics(ring.points[:4000], ring.modes, ring.sigma)
    assert good["modes_covered"] == 8 and good["high_quality_pct"] > 95 and good["kl_to_uniform"] < 0.01
    one = ring.modes[0] + ring.sigma * torch.randn(1000, 2)
    collapsed = toy_mode_metrics(one, ring.modes, ring.sigma)
    assert collapsed["modes_covered"] == 1 and collapsed["kl_to_uniform"] == pytest.approx(math.log(8), abs=1e-4)
    noise = toy_mode_metrics(torch.rand(1000, 2) * 4 - 2, ring.modes, ring.sigma)
    assert noise["high_quality_pct"] < 10


def test_codebook_health():
    h = codebook_health(torch.tensor([0, 0, 1, 1]), 4)
    assert h == {"usage": 0.5, "perplexity": pytest.approx(2.0), "dead_codes": 2}


def test_class_histogram_shows_mode_collapse(registry, digits_test):
    labels = load_dataset(registry.datasets, DataSpec("digits", split="test")).labels
    ones = digits_test[labels == 1]
    rep = quality_report(registry, ones.repeat(4, 1, 1, 1)[:120], "digits")
    assert rep.class_freq[1] > 0.8 and rep.scores["smallest class %"] == 0
    assert rep.scores["IS"] < 2  # a collapsed generator has IS near 1; ten even classes would give near 10


def test_inception_fid_is_opt_in_with_a_clear_message_when_absent(tmp_path, monkeypatch):
    import playground as pg
    from playground.metrics.inception import inception_fid

    monkeypatch.setenv("PLAYGROUND_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    x = torch.zeros(4, 1, 32, 32)
    with pytest.raises(pg.WeightsError, match="Inception FID needs the TF-FID Inception weights"):
        inception_fid(x, x)

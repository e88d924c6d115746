"""The RBM beyond the conformance suite: free energy and Gibbs sampling against brute force on tiny machines, AIS
against the exact partition function, CD raising the exact likelihood, PCD's chains resumed exactly, the tasks and
the shipped CD-1 and PCD weights."""

import math

import numpy as np
import pytest
import torch

import playground as pg
from playground.data import DataSpec, load_dataset
from playground.engine import Trainer
from playground.inference import run_evaluate, run_task
from plugins.rbm.family import binarise
from plugins.rbm.machine import RBM, ais_log_partition, apply_update, base_biases, cd_gradient, exact_log_partition


def random_rbm(visible: int, hidden: int, scale: float, seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(visible, hidden)
    rbm.W.copy_(scale * torch.randn(visible, hidden, generator=g))
    rbm.b.copy_(0.5 * torch.randn(visible, generator=g))
    rbm.c.copy_(0.5 * torch.randn(hidden, generator=g))
    return rbm


def all_states(n: int) -> torch.Tensor:
    return torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * n).reshape(-1, n)


def exact_log_probs(rbm: RBM) -> torch.Tensor:
    """log p(v) for every visible configuration, by enumeration."""
    vs = all_states(rbm.W.shape[0])
    return -rbm.free_energy(vs).double() - exact_log_partition(rbm)


def test_free_energy_is_minus_log_sum_over_hidden_states():
    rbm = random_rbm(5, 4, 1.0)
    vs, hs = all_states(5), all_states(4)
    energy = -(vs @ rbm.b)[:, None] - (hs @ rbm.c)[None, :] - vs @ rbm.W @ hs.T  # E(v, h) for every pair
    assert torch.allclose(rbm.free_energy(vs), -torch.logsumexp(-energy, 1), atol=1e-5)
    assert abs(float(torch.logsumexp(exact_log_probs(rbm), 0))) < 1e-6  # p(v) sums to 1


def test_gibbs_sampling_reaches_the_model_distribution():
    rbm = random_rbm(4, 3, 1.5)
    g = torch.Generator().manual_seed(0)
    v = rbm.gibbs(torch.zeros(20_000, 4), 50, g)
    codes = (v * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    empirical = torch.bincount(codes, minlength=16).double() / len(v)
    exact = exact_log_probs(rbm).exp()
    assert 0.5 * float((empirical - exact).abs().sum()) < 0.03  # total variation


@pytest.mark.parametrize("scale", [0.5, 1.5])
def test_ais_matches_the_exact_partition_function(scale):
    rbm = random_rbm(20, 10, scale, seed=1)
    data = torch.bernoulli(torch.full((200, 20), 0.3), generator=torch.Generator().manual_seed(2))
    est = ais_log_partition(rbm, base_biases(data), runs=200, betas=2000, generator=torch.Generator().manual_seed(3))
    exact = exact_log_partition(rbm)
    assert abs(est.estimate - exact) < 0.1 and est.low <= exact <= est.high, (est, exact)


def test_contrastive_divergence_raises_the_exact_likelihood():
    """Two prototypes with flipped pixels; 600 CD-1 updates raise the exact mean log-likelihood by a wide margin,
    and PCD does too."""
    g = torch.Generator().manual_seed(0)
    protos = torch.tensor([[1.0] * 5 + [0.0] * 5, [0.0] * 5 + [1.0] * 5])
    data = protos[torch.randint(2, (500,), generator=g)]
    data = (data + (torch.rand(data.shape, generator=g) < 0.05).float()) % 2
    for persistent in (False, True):
        rbm = random_rbm(10, 6, 0.01)
        rbm.b.copy_(base_biases(data))
        rbm.c.zero_()
        before = float((-rbm.free_energy(data) - exact_log_partition(rbm)).mean())
        chains = data[:50].clone()
        for step in range(600):
            batch = data[(step * 50) % 500:(step * 50) % 500 + 50]
            update = cd_gradient(rbm, batch, chains if persistent else batch, 1, g)
            chains = update.negatives
            apply_update(rbm, update, 0.1, 0.0)
        after = float((-rbm.free_energy(data) - exact_log_partition(rbm)).mean())
        assert after > before + 1.5, (persistent, before, after)


def test_persistent_chains_live_in_the_checkpoint_and_resume_exactly(registry, tmp_path):
    cfg = {"persistent": True, "hidden": 32, "steps": 12, "log_every": 1, "batch_size": 16}
    full = Trainer(registry, "rbm", cfg, out_dir=tmp_path / "full", device="cpu")
    full.run()
    Trainer(registry, "rbm", {**cfg, "steps": 5}, out_dir=tmp_path / "part", device="cpu").run()
    resumed = Trainer(registry, "rbm", {"steps": 12}, out_dir=tmp_path / "part", resume=tmp_path / "part",
                      device="cpu")
    resumed.run()
    assert torch.equal(full.state.stash["chains"], resumed.state.stash["chains"])
    for k, v in full.state.modules.state_dict().items():
        assert torch.equal(v, resumed.state.modules.state_dict()[k]), k


def test_tasks_on_shipped_weights(registry, digit_png):
    res = run_task(registry, "rbm", "digits-cd1", "gibbs", {"frames": 6, "steps_per_frame": 3, "chains": 4})
    assert len(res.animation) == 6 and len(res.chart.rows) == 6 and res.chart.rows[-1]["Gibbs step"] == 15
    assert res.values["free energy at the end"] < res.values["free energy at the start"]  # noise → the model's modes
    start = run_task(registry, "rbm", "digits-cd1", "gibbs", {"frames": 2, "start": "test images", "chains": 4})
    test = binarise(load_dataset(registry.datasets, DataSpec("digits", split="test", size=16)).float_images()[:4])
    assert torch.equal(start.animation[0], pg.make_grid(test.reshape(4, 1, 16, 16) * 2 - 1, nrow=4))
    assert start.values["free energy at the start"] < res.values["free energy at the start"] - 20
    rec = run_task(registry, "rbm", "digits-cd1", "reconstruct", {"image": digit_png})
    assert rec.values["pixels changed (%)"] < 15 and rec.images[1][1].shape == (1, 16, 16)
    filt = run_task(registry, "rbm", "digits-cd1", "filters", {"count": 32})
    assert filt.values["hidden units"] == 128 and filt.images[0][1].shape[0] == 1


@pytest.mark.slow
def test_shipped_cd1_and_pcd_weights_model_digits(registry):
    """AIS test log-likelihood of both shipped machines beats the independent-pixel model of the same data (its
    exact log-likelihood) by a wide margin."""
    train = binarise(load_dataset(registry.datasets, DataSpec("digits", size=16)).float_images())
    test = binarise(load_dataset(registry.datasets, DataSpec("digits", split="test", size=16)).float_images())
    p = (train.mean(0) * len(train) + 0.5) / (len(train) + 1)
    independent = float((test * p.log() + (1 - test) * (1 - p).log()).sum(1).mean())
    res = run_evaluate(registry, "rbm", "digits-cd1", {"ais_runs": 50, "ais_betas": 1000, "n": 200,
                                                       "compare": "digits-pcd"})
    rows = {r["weights"]: r for r in res.values["comparison"]}
    assert rows["this model"]["recipe"].startswith("CD-1") and rows["digits-pcd"]["recipe"].startswith("PCD-1")
    for ref, row in rows.items():
        ll = row["test log-likelihood (nats per image)"]
        assert math.isfinite(ll) and ll > independent + 20, (ref, ll, independent)


def test_sample_quality_of_16_pixel_binary_samples_is_measured_like_with_like(registry):
    """Samples at 16 px go to the 32 px digits evaluator resized, and both sides through the RBM's view (binarised
    at 16×16): FID is then tens, not the ~220 of 16 px samples embedded as they are."""
    from playground.inference import model_cache
    from playground.metrics.report import quality_report

    fam = registry.family("rbm")
    state = model_cache().get(registry, "rbm", "digits-pcd", torch.device("cpu"))
    samples = fam.sample(state, 300, torch.Generator().manual_seed(0))
    assert samples.shape == (300, 1, 16, 16)
    report = quality_report(registry, samples, "digits", view=fam.scores.view)
    assert report.scores["FID"] < 80 and report.scores["precision"] > 0.5, report.scores


def test_gibbs_chains_start_from_your_image_and_wander_off_on_their_own_draws(registry, digit_png):
    """An uploaded digit (the task's optional image) is every chain's first state, and the chains move off it; no
    image, or an untouched sketchpad, is the noise start."""
    own = run_task(registry, "rbm", "digits-cd1", "gibbs",
                   {"image": digit_png, "frames": 4, "steps_per_frame": 50, "chains": 4})
    first = own.animation[0]  # a grid of 4 copies of the binarised upload
    rec = run_task(registry, "rbm", "digits-cd1", "reconstruct", {"image": digit_png})
    tile = rec.images[0][1]  # the binarised input, as reconstruct shows it
    assert torch.equal(first, pg.make_grid(tile[None].expand(4, -1, -1, -1), nrow=4))
    assert not torch.equal(own.animation[-1], first)  # 150 Gibbs steps moved the chains
    noise = run_task(registry, "rbm", "digits-cd1", "gibbs", {"frames": 2, "chains": 4})
    blank = pg.UserImage(np.full((40, 40), 255, np.uint8), sketch=True)
    untouched = run_task(registry, "rbm", "digits-cd1", "gibbs", {"frames": 2, "chains": 4, "image": blank})
    assert torch.equal(untouched.animation[0], noise.animation[0])
    assert own.values["free energy at the start"] < noise.values["free energy at the start"] - 20

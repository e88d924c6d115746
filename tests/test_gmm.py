"""Gaussian mixtures by EM beyond the conformance suite: agreement with scikit-learn from the same start, the
log-likelihood that never decreases, a collapse reported as such, BIC choosing K, the Lab's E and M steps, and the
shipped weights."""

import warnings

import numpy as np
import pytest
import torch

import playground as pg
from playground.data import DataSpec, load_dataset
from playground.engine import Trainer
from playground.inference import model_cache, run_evaluate, run_task
from playground.lab import LabRun
from plugins.gmm.family import DROP, LL
from plugins.gmm.mixture import Mixture, e_step, free_parameters, initialise, m_step


def _points(registry, name):
    return load_dataset(registry.datasets, DataSpec(name)).points


def _sklearn_fit(x, start: Mixture, covariance: str, iterations: int):
    from sklearn.mixture import GaussianMixture

    prec = torch.linalg.inv(start.covariances).numpy()
    if covariance == "diag":
        prec = np.stack([np.diag(p) for p in prec])
    elif covariance == "spherical":
        prec = prec[:, 0, 0]
    gm = GaussianMixture(start.k, covariance_type=covariance, reg_covar=1e-6, weights_init=start.weights.numpy(),
                         means_init=start.means.numpy(), precisions_init=prec, max_iter=iterations, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": we ask for a fixed number of iterations
        gm.fit(x.double().numpy())
    return gm


@pytest.mark.parametrize(("dataset", "k", "init", "covariance"), [
    ("grid25", 25, "random", "full"), ("moons", 6, "kmeans++", "diag"), ("spiral", 10, "random", "spherical")])
def test_em_agrees_with_scikit_learn_from_the_same_start(registry, tmp_path, dataset, k, init, covariance):
    """The family trained by the engine (seeded in prepare, 20 EM iterations) lands where scikit-learn's
    GaussianMixture does from the same initial parameters: per-point log-likelihood within 1e-9, means within 1e-9."""
    cfg = {"dataset": dataset, "components": k, "init": init, "covariance": covariance, "steps": 20}
    t = Trainer(registry, "gmm", cfg, out_dir=tmp_path, device="cpu")
    t.run()
    x = _points(registry, dataset)
    start = Mixture(k)
    initialise(start, x, init, covariance, 1e-6, torch.Generator().manual_seed(0))  # what prepare did (seed 0)
    gm = _sklearn_fit(x, start, covariance, 20)
    mix = t.state.modules["mixture"]
    ours = float(mix.log_prob(x).mean())
    assert ours == pytest.approx(gm.score(x.double().numpy()), abs=1e-9)
    np.testing.assert_allclose(mix.means.numpy(), gm.means_, atol=1e-9)
    np.testing.assert_allclose(mix.weights.numpy(), gm.weights_, atol=1e-9)


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_log_likelihood_never_decreases(registry, tmp_path, covariance):
    p = Trainer(registry, "gmm", {"dataset": "grid25", "components": 25, "init": "random", "covariance": covariance,
                                  "steps": 40, "log_every": 1}, out_dir=tmp_path, device="cpu").run()
    lls = [v for _, name, v in p.losses if name == LL]
    drops = [v for _, name, v in p.losses if name == DROP]
    assert len(lls) == 40 and lls[-1] > lls[0] + 0.3, lls  # random seeding on grid25: a long climb
    assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:], strict=False)), lls  # logged in float32
    assert max(drops) <= 1e-12, drops  # tracked in float64 inside the run


def test_a_collapsing_component_is_reported_and_regularisation_prevents_it():
    x = torch.cat([torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 0.1, torch.tensor([[5.0, 5.0]])])
    hard = torch.nn.functional.one_hot(torch.tensor([0] * 50 + [1]), 2).double()
    mix = Mixture(2)
    m_step(mix, x, hard, "full", 0.0)  # component 2 holds one point: zero covariance
    with pytest.raises(pg.TrainingError, match="Component 2 collapsed.*Raise the covariance regularisation"):
        e_step(mix, x)
    m_step(mix, x, hard, "full", 1e-6)
    assert torch.isfinite(torch.tensor(e_step(mix, x).log_likelihood))


def test_free_parameters_per_covariance_type():
    assert free_parameters(3, "full") == 2 + 6 + 9
    assert free_parameters(3, "diag") == 2 + 6 + 6
    assert free_parameters(3, "spherical") == 2 + 6 + 3


def test_bic_chooses_the_eight_modes_of_ring8(registry):
    res = run_task(registry, "gmm", "ring8", "choose_k", {"max_components": 10, "iterations": 30})
    assert res.values["best K by BIC"] == 8, res.values["fits"]
    fits = {r["K"]: r for r in res.values["fits"]}
    assert fits[8]["train log-likelihood"] > fits[4]["train log-likelihood"] + 0.5
    assert {r["criterion"] for r in res.chart.rows} == {"BIC", "AIC"} and len(res.chart.rows) == 20


def test_lab_steps_e_and_m_and_colours_points_by_responsibility(registry):
    lab = LabRun.create(registry, "gmm", {"dataset": "grid25", "components": 25, "init": "random"})
    start = lab.last_losses[LL]
    lab.step("E")
    assert lab.state.step == 0 and lab.last_losses[LL] == pytest.approx(start)  # E alone changes no parameter
    lab.step("M")
    after_m = lab.last_losses[LL]
    assert lab.state.step == 1 and after_m > start and lab.last_losses[DROP] == 0
    before = {k: v.clone() for k, v in lab.state.modules.state_dict().items()}
    lab.step("M")  # M again without an E: the same responsibilities give the same parameters
    assert all(torch.equal(v, lab.state.modules.state_dict()[k]) for k, v in before.items())
    lab.step("E")
    lab.step("M")
    assert lab.last_losses[LL] > after_m and lab.last_losses[DROP] == 0
    shapes = registry.family("gmm").overlays(lab.state)
    points = [s for s in shapes if isinstance(s, pg.Points)]
    ellipses = [s for s in shapes if isinstance(s, pg.Ellipse)]
    assert len(points) == 1 and len(ellipses) == 25
    assert points[0].colours.shape == (len(points[0].points), 3) and len({tuple(c) for c in
                                                                          points[0].colours.round().tolist()}) > 10
    img, row = lab.frame()
    assert img.size == (360, 360) and row["status"] == "ok"
    assert row[LL] == pytest.approx(lab.last_losses[LL], abs=1e-4) and f"loss {LL}" not in row  # not a loss
    gan = LabRun.create(registry, "gan2d", {"hidden": 8})
    gan.step()
    assert {"loss d", "loss g"} <= set(gan.frame()[1])  # a GAN's logged values are losses, and headed so
    gan.last_losses = {"loss": 0.5, "d": 1.0}  # a family that logs one value called "loss"
    assert {"loss", "loss d"} <= set(gan.frame()[1]) and "loss loss" not in gan.frame()[1]


def test_lab_controls_name_the_familys_own_parts(registry):
    from playground.ui.lab_tab import speed_spec

    assert "each runs E and M" in speed_spec(registry.family("gmm")).help
    assert "each runs D and G" in speed_spec(registry.family("gan2d")).help
    assert "each runs" not in speed_spec(registry.family("mcmc")).help  # whole steps only


def test_resume_continues_em_exactly(registry, tmp_path):
    cfg = {"dataset": "moons", "components": 6, "init": "random", "steps": 8}
    full = Trainer(registry, "gmm", cfg, out_dir=tmp_path / "full", device="cpu")
    full.run()
    Trainer(registry, "gmm", {**cfg, "steps": 3}, out_dir=tmp_path / "part", device="cpu").run()
    resumed = Trainer(registry, "gmm", {"steps": 8}, out_dir=tmp_path / "part", resume=tmp_path / "part", device="cpu")
    resumed.run()
    for k, v in full.state.modules.state_dict().items():
        assert torch.equal(v, resumed.state.modules.state_dict()[k]), k


@pytest.mark.slow
def test_shipped_weights_fit_their_data(registry):
    """The cards: ring8 with 8 full components covers all 8 modes with a held-out log-likelihood above 1.0 nats per
    point; moons with 10 components above −0.45."""
    ring = run_evaluate(registry, "gmm", "ring8", {"n": 5000})
    assert ring.values["modes_covered"] == 8 and ring.values["held-out log-likelihood (per point)"] > 1.0, ring.values
    moons = model_cache().get(registry, "gmm", "moons", torch.device("cpu"))
    test = load_dataset(registry.datasets, DataSpec("moons", split="test")).points
    assert float(moons.modules["mixture"].log_prob(test).mean()) > -0.45


def test_em_on_points_from_a_csv_file_and_bad_files_refused(registry, tmp_path):
    """csv:PATH: the user's own x,y points (header optional) train any 2-D family; broken files name the problem,
    and the web's folder rule covers files too."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    pts = centres[torch.arange(600) % 3] + 0.2 * torch.randn(600, 2, generator=g)
    good = tmp_path / "mine.csv"
    good.write_text("x,y\n" + "\n".join(f"{x:.5f},{y:.5f}" for x, y in pts.tolist()) + "\n")
    t = Trainer(registry, "gmm", {"dataset": f"csv:{good}", "components": 3, "steps": 20},
                out_dir=tmp_path / "run", device="cpu")
    t.run()
    means = t.state.modules["mixture"].means.float()
    assert torch.cdist(centres, means).min(1).values.max() < 0.1, means
    for name, text, why in [("words.csv", "x,y\n1,2\nthree,4\n", "line 3: expected two numbers"),
                            ("few.csv", "1,2\n3,4\n", "at least 10"),
                            ("nan.csv", "\n".join(["1,2"] * 12 + ["nan,1"]), "NaN or infinite"),
                            ("one.csv", "\n".join(["1"] * 12), "line 1|line 2")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(pg.DataError, match=why):
            load_dataset(registry.datasets, DataSpec(f"csv:{tmp_path / name}"))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01" * 20)
    with pytest.raises(pg.DataError, match="not a text CSV"):
        load_dataset(registry.datasets, DataSpec(f"csv:{tmp_path / 'bin.csv'}"))
    from playground.data import FolderAccess

    with pytest.raises(pg.DataError, match="names a file on the server.*reads no files or folders"):
        FolderAccess().check("Data", f"csv:{good}", ["ring8"])
    assert FolderAccess.under([tmp_path]).check("Data", f"csv:{good}", ["ring8"]) == f"csv:{good}"
    with pytest.raises(pg.DataError, match="outside the folders"):
        FolderAccess.under([tmp_path / "run"]).check("Data", f"csv:{good}", ["ring8"])
    with pytest.raises(pg.DataError, match="is not a file"):
        FolderAccess.under([tmp_path]).check("Data", f"csv:{tmp_path}", ["ring8"])


def test_the_modes_chart_shows_only_for_data_with_modes(registry):
    """ring8 has modes to count; moons has none, and an always-empty 'Modes covered' chart would only puzzle."""
    import gradio as gr

    from playground.lab import LabSession
    from playground.ui.lab_tab import LabPanel

    panel = LabPanel(registry, registry.family("gmm"))
    with gr.Blocks():
        for data, shown in (("ring8", True), ("moons", False)):
            sess = LabSession.create(registry, "gmm", {"dataset": data, "components": 4})
            sess.step("both", 2)
            modes = panel._numbers(sess, [])[-1]
            assert modes.visible is shown, data

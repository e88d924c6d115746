"""The 2-D GAN family and its lab: mode coverage, partial steps, side-by-side runs, pictures, bad input."""

import numpy as np
import pytest
import torch

import playground as pg
from playground.engine import Trainer
from playground.errors import ConfigError, DataError, TrainingError
from playground.inference import model_cache, run_evaluate, run_task
from playground.lab import LabRun, LabSession
from playground.metrics.scores import point_metrics
from playground.models import load_model, untrained_like
from playground.plot2d import FAKE_COLOUR, REAL_COLOUR, Extent, render
from playground.weights import list_weights

# The documented recipe (README, model card): non-saturating, lr 1e-3, z of 2, MLPs of 3×64 units.
RECIPE = {"dataset": "ring8", "objective": "nonsaturating", "lr": 1e-3, "hidden": 64, "latent_dim": 2,
          "batch_size": 256, "seed": 0}
STEP_BUDGET = 1500


def ring_metrics(fam, state, n=2000):
    fake = fam.sample(state, n, torch.Generator().manual_seed(1))
    modes, sigma = fam.modes(state)
    return point_metrics(fake, state.stats.get("real", fake), modes, sigma)


@pytest.mark.slow
def test_documented_objective_covers_the_ring_within_a_cpu_step_budget(registry, tmp_path):
    fam = registry.family("gan2d")
    trainer = Trainer(registry, "gan2d", {**RECIPE, "steps": STEP_BUDGET, "log_every": 100},
                      out_dir=tmp_path / "ring", device="cpu")
    trainer.run()
    trained = ring_metrics(fam, trainer.state)
    untrained = untrained_like(registry, trainer.state)
    untrained.stats = trainer.state.stats
    before = ring_metrics(fam, untrained)
    assert trained["modes_covered"] >= 7, trained
    assert trained["high_quality_pct"] > 50, trained
    assert before["modes_covered"] < 7 and before["high_quality_pct"] < 10, before


@pytest.mark.slow
def test_shipped_ring_checkpoints_one_covers_all_modes(registry):
    refs = [e.ref for e in list_weights("gan2d") if e.source == "shipped"]
    objectives = set()
    covered = {}
    for ref in refs:
        state = model_cache().get(registry, "gan2d", ref, torch.device("cpu"))
        objectives.add(state.config.objective)
        covered[ref] = run_evaluate(registry, "gan2d", ref, {"n": 5000}).values["modes_covered"]
    assert len(objectives) >= 2, refs
    assert max(covered.values()) == 8, covered


def test_lab_partial_steps_touch_only_their_player(registry):
    run = LabRun.create(registry, "gan2d", {**RECIPE, "hidden": 16})
    g0 = [p.clone() for p in run.state.modules["G"].parameters()]
    d0 = [p.clone() for p in run.state.modules["D"].parameters()]
    run.step("D", 3)
    assert all(torch.equal(a, b) for a, b in zip(g0, run.state.modules["G"].parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d0, run.state.modules["D"].parameters(), strict=True))
    d1 = [p.clone() for p in run.state.modules["D"].parameters()]
    run.step("G", 2)
    assert all(torch.equal(a, b) for a, b in zip(d1, run.state.modules["D"].parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(g0, run.state.modules["G"].parameters(), strict=True))
    run.step("both", 4)
    assert run.updates == {"D": 3 + 4, "G": 2 + 4} and run.steps == 6
    wgan = LabRun.create(registry, "gan2d", {**RECIPE, "hidden": 16, "objective": "wgan_gp"})
    wgan.step("both", 2)
    assert wgan.updates == {"D": 10, "G": 2}  # WGAN-GP's recommended 5 critic updates per G update
    with pytest.raises(ConfigError, match="Unknown part"):
        run.step("E", 1)
    with pytest.raises(ConfigError, match="between 1 and"):
        run.step("both", 0)


def test_lab_side_by_side_runs_share_data_seed_and_start(registry):
    sess = LabSession.create(registry, "gan2d", {**RECIPE, "hidden": 16}, ["nonsaturating", "wgan_gp"])
    a, b = sess.runs
    assert (a.label, b.label) == ("A", "B") and (a.objective, b.objective) == ("nonsaturating", "wgan_gp")
    for pa, pb in zip(a.state.modules.parameters(), b.state.modules.parameters(), strict=True):
        assert torch.equal(pa, pb)  # the same initial networks: only the objective differs
    assert torch.equal(a.samples(), b.samples()) and torch.equal(a.real, b.real)  # same noise, same start
    assert not sess.step("both", 3)
    images, rows = sess.frames(size=200)
    assert [im.size for im in images] == [(200, 200)] * 2
    assert {"modes covered", "% high quality", "KL to uniform", "precision", "recall"} <= set(rows[0])
    assert not torch.equal(a.samples(), b.samples())
    assert {s for _, s, _ in sess.history} >= {"A: d", "A: g", "B: d", "B: g", "B: gp"}
    with pytest.raises(ConfigError, match="at most two"):
        LabSession.create(registry, "gan2d", RECIPE, ["hinge", "wgan", "minimax"])


def test_lab_rolls_back_a_diverged_burst_and_keeps_the_other_run(registry, monkeypatch):
    sess = LabSession.create(registry, "gan2d", {**RECIPE, "hidden": 16}, ["nonsaturating", "hinge"])
    a, b = sess.runs
    sess.step("both", 2)
    before = {k: v.clone() for k, v in a.state.modules.state_dict().items()}
    fam = a.family
    real_step = type(fam).train_step

    def poisoned(self, run, batch):
        losses = real_step(self, run, batch)
        return {**losses, "d": losses["d"] * float("nan")} if run.state is a.state else losses

    monkeypatch.setattr(type(fam), "train_step", poisoned)
    errors = sess.step("both", 5)
    assert len(errors) == 1 and "Run A" in errors[0] and "'d'" in errors[0] and "Rolled back" in errors[0]
    for k, v in a.state.modules.state_dict().items():
        assert torch.equal(v, before[k]), k  # nothing of the bad burst is kept
    assert a.steps == 2 and b.steps == 7  # B went on
    images, rows = sess.frames(size=120)
    assert rows[0]["status"].startswith("Run A") and rows[1]["status"] == "ok"
    with pytest.raises(TrainingError, match="Rolled back"):
        a.step("both", 1)


def test_lab_from_weights_and_save_as_a_run(registry, home):
    shipped = [e.ref for e in list_weights("gan2d") if e.source == "shipped"][0]
    run = LabRun.create(registry, "gan2d", weights=shipped)
    assert run.steps > 0 and run.source == f"weights {shipped}"
    run.step("both", 3)
    ref = run.save("my-lab-run")
    assert ref == "run/my-lab-run" and ref in [e.ref for e in list_weights("gan2d")]
    loaded = load_model(registry, home / "runs" / "gan2d" / "my-lab-run", family="gan2d", training=True)
    assert loaded.step == run.steps
    for k, v in run.state.modules.state_dict().items():
        assert torch.equal(v, loaded.modules.state_dict()[k]), k
    # The saved run resumes in the engine like any other.
    p = Trainer(registry, "gan2d", {"steps": run.steps + 5}, out_dir=home / "runs" / "gan2d" / "my-lab-run",
                resume=home / "runs" / "gan2d" / "my-lab-run").run()
    assert p.status == "finished" and p.step == run.steps + 5


def test_lab_refuses_bad_settings_clearly(registry):
    with pytest.raises(ConfigError, match="lr"):
        LabRun.create(registry, "gan2d", {**RECIPE, "lr": float("nan")})
    with pytest.raises(ConfigError, match="objective"):
        LabRun.create(registry, "gan2d", {**RECIPE, "objective": "best"})
    with pytest.raises(ConfigError, match="batch_size"):
        LabRun.create(registry, "gan2d", {**RECIPE, "batch_size": 0})
    with pytest.raises(DataError, match="2-D points; 'digits' holds images"):
        LabRun.create(registry, "gan2d", {**RECIPE, "dataset": "digits"})
    with pytest.raises(pg.PluginError, match="no 2-D lab"):
        LabRun.create(registry, "autoencoder", {})


def test_image_families_refuse_point_data_and_back(registry, tmp_path):
    with pytest.raises(DataError, match="trains on images; 'ring8' holds 2-D points"):
        Trainer(registry, "gan", {"dataset": "ring8", "steps": 1}, out_dir=tmp_path / "a").run()


@pytest.mark.parametrize("objective", ["minimax", "fgan_kl", "fgan_reverse_kl", "fgan_js", "wgan", "least_squares"])
def test_field_says_what_d_means_under_each_objective(registry, objective):
    run = LabRun.create(registry, "gan2d", {**RECIPE, "hidden": 16, "objective": objective})
    fld = run.family.field(run.state, run.grid)
    assert fld.values.shape == (len(run.grid),) and torch.isfinite(fld.values).all()
    if objective == "minimax":
        assert fld.lo == 0 and fld.hi == 1 and fld.values.min() >= 0 and fld.values.max() <= 1
    if objective == "fgan_reverse_kl":
        assert fld.centre == -1 and (fld.values < 0).all()  # g_f(v) = −exp(−v) < 0; p = q at −1
    if objective == "wgan":
        assert fld.centre is None  # a critic is defined up to a constant: centred on its median


def test_render_puts_points_and_field_where_they_belong():
    ext = Extent(-1, 1, -1, 1)
    grid = ext.grid(4)
    assert grid[0].tolist() == pytest.approx([-0.75, 0.75])  # row-major from the top-left
    values = (grid[:, 0] > 0).float()  # "real" on the right half
    img = np.asarray(render(ext, field=pg.Field(values, "D", 0.0, 1.0), resolution=4, size=100,
                            real=torch.tensor([[-0.5, -0.5]]), fake=torch.tensor([[0.5, 0.5]])))
    left, right = img[50, 5].astype(int), img[50, 95].astype(int)
    assert right[1] > right[0] and left[0] > left[1]  # green on the right, purple on the left
    assert tuple(img[75, 25]) == REAL_COLOUR and tuple(img[25, 75]) == FAKE_COLOUR


def test_the_pages_svg_draws_the_same_scene_as_the_apis_png():
    """The live lab sends SVG; the API sends PNG. Both are drawn from one Scene: every mark is in both, in place."""
    import xml.etree.ElementTree as ET

    from playground.plot2d import scene

    ext = Extent(-1, 1, -1, 1)
    values = (ext.grid(4)[:, 0] > 0).float()
    sc = scene(ext, field=pg.Field(values, "D", 0.0, 1.0), resolution=4, size=100,
               real=torch.tensor([[-0.5, -0.5], [0.0, 0.0], [0.5, -0.5]]),
               fake=torch.tensor([[0.5, 0.5], [float("nan"), 0.0]]), modes=torch.tensor([[0.0, 0.5], [0.0, -0.5]]),
               hq_radius=0.1, title="A: <hinge> & co",
               overlays=[pg.Ellipse(torch.zeros(2), torch.eye(2) * 0.01, label="w=0.5"),
                         pg.Arrow(torch.zeros(2), torch.tensor([0.5, -0.2])), pg.Marker(torch.zeros(2), "m")])
    svg = ET.fromstring(sc.to_svg())  # well-formed, the title's < and & escaped
    ns = "{http://www.w3.org/2000/svg}"
    real, fake = (p.get("d") for p in svg.iter(f"{ns}path"))
    assert real.count("h0") == 3 and "M25.0 75.0h0" in real  # (-0.5, -0.5) at x 25, y 75 of 100 px
    assert fake.count("h0") == 1 and "M75.0 25.0h0" in fake  # the NaN point is left out, as in the PNG
    assert len(list(svg.iter(f"{ns}image"))) == 1  # the field, stretched over the picture
    rings = [c for g in svg.iter(f"{ns}g") for c in g]
    assert [(c.get("cx"), c.get("cy")) for c in rings] == [("50.0", "25.0"), ("50.0", "75.0")]
    texts = [t.text for t in svg.iter(f"{ns}text")]
    titles = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "title"]  # the picture's own lines
    assert titles == texts[-3:] == ["A: <hinge> & co", "D: 0 (purple) … 1 (green)",
                                    "1 of 2 generated points are outside this view"]  # the NaN one is not in view
    assert "w=0.5" in texts and "m" in texts
    assert len(list(svg.iter(f"{ns}polyline"))) == 2 + 3 + 2  # the ellipse's two contours, the arrow, the cross
    img = np.asarray(sc.to_image())
    assert tuple(img[75, 25]) == REAL_COLOUR and tuple(img[25, 75]) == FAKE_COLOUR


def test_generate_and_evaluate_tasks_report_mode_coverage(registry):
    ref = [e.ref for e in list_weights("gan2d") if e.source == "shipped"][0]
    out = run_task(registry, "gan2d", ref, "generate", {"n": 2000, "seed": 1})
    (caption, img), = out.images
    assert img.shape[0] == 3 and img.shape[1] > 100
    assert out.values["modes_total"] == 8 and out.chart is not None and len(out.chart.rows) == 8
    assert sum(r["fraction"] for r in out.chart.rows) == pytest.approx(out.values["high_quality_pct"] / 100, abs=1e-3)
    ev = run_evaluate(registry, "gan2d", ref, {"n": 2000})
    assert {"modes_covered", "high_quality_pct", "kl_to_uniform", "precision", "recall"} <= set(ev.values)


def test_image_quality_scores_refuse_point_models_with_a_pointer(registry):
    from playground.inference import run_quality

    with pytest.raises(pg.PluginError, match="2-D points, not images.*its own evaluation"):
        run_quality(registry, "gan2d", ["ring8-nonsaturating"], 100)


def test_render_says_when_generated_points_left_the_view():
    ext = Extent(-1, 1, -1, 1)
    inside = np.asarray(render(ext, fake=torch.zeros(10, 2), size=100))
    away = np.asarray(render(ext, fake=torch.full((10, 2), 50.0), size=100))
    assert (away[:40] != inside[:40]).any()  # the note is drawn at the top
    assert not (np.asarray(render(ext, fake=torch.full((10, 2), 50.0), size=100))[60:] != inside[60:]).any()


def test_train_tab_preview_of_a_2d_run_is_one_plot(registry, home):
    from playground.jobs import TrainingJobs
    from playground.ui.family_tab import FamilyTab

    jobs = TrainingJobs(registry)
    job = jobs.start("gan2d", {"steps": 20, "sample_every": 10, "log_every": 10})
    job.thread.join(60)
    _, _, preview = FamilyTab(registry, registry.family("gan2d"), jobs)._status()
    assert job.progress.status == "finished" and preview.size[0] == preview.size[1] > 300  # not a strip of 8


def test_each_critic_step_sees_fresh_real_data(registry, tmp_path, monkeypatch):
    import importlib

    fam = registry.family("gan2d")
    adversarial = importlib.import_module(type(fam).__module__.rsplit(".", 1)[0] + ".adversarial")
    seen, real_d_update = [], adversarial.d_update

    def recording(run, real, *rest):
        seen.append(real.clone())
        return real_d_update(run, real, *rest)

    monkeypatch.setattr(adversarial, "d_update", recording)
    monkeypatch.setenv("PLAYGROUND_MEMORY_GUARD", "0")  # its probe steps would be counted too
    Trainer(registry, "gan2d", {**RECIPE, "objective": "wgan_gp", "batch_size": 32, "steps": 1},
            out_dir=tmp_path / "w", device="cpu").run()
    assert len(seen) == 5 and all(s.shape == (32, 2) for s in seen)
    assert len({tuple(s[0].tolist()) for s in seen}) == 5  # five different real batches, not one reused


def test_gradient_penalty_weight_is_a_setting(registry):
    """λ from the config reaches the D loss (0 = the objective's 10); the 2-D default is the toy code's 0.1."""
    assert registry.family("gan2d").config().gp_weight == 0.1 and registry.family("gan").config().gp_weight == 0
    losses = {}
    for lam in (0.1, 100.0):
        run = LabRun.create(registry, "gan2d", {**RECIPE, "objective": "wgan_gp", "hidden": 16, "gp_weight": lam})
        run.step("D", 1)
        logged = {name: value for _, name, value in run.history}
        losses[lam] = (logged["A: d"], logged["A: gp"])
    # Same start, same data: the D loss differs by (λ₂ − λ₁)·gp.
    (d1, gp1), (d2, gp2) = losses[0.1], losses[100.0]
    assert gp1 == pytest.approx(gp2, rel=1e-5) and d2 - d1 == pytest.approx((100.0 - 0.1) * gp1, rel=1e-3)


def test_lab_rolls_back_when_the_plugin_raises_mid_burst(registry, monkeypatch):
    run = LabRun.create(registry, "gan2d", {**RECIPE, "hidden": 16})
    run.step("both", 2)
    before = {k: v.clone() for k, v in run.state.modules.state_dict().items()}
    real_step, calls = type(run.family).train_step, []

    def flaky(self, run, batch):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("plugin bug")
        return real_step(self, run, batch)

    monkeypatch.setattr(type(run.family), "train_step", flaky)
    with pytest.raises(pg.PluginError, match="plugin bug"):
        run.step("both", 5)
    for k, v in run.state.modules.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert run.steps == 2


def test_lab_logs_every_loss_at_the_start_and_leaves_no_trace(registry):
    """A new lab run logs its starting losses (so every series is on the chart from the first frame: the plot fixes
    its colours then), measured by a step that is rolled back: it then trains exactly as a run that never did."""
    from playground.models import fresh_state
    from playground.params import build_params
    from playground.streams import load_streams

    logged = LabRun.create(registry, "gan2d", {**RECIPE, "hidden": 16})
    assert {s for _, s, _ in logged.history} == {"A: d", "A: g"} and {st for st, _, _ in logged.history} == {0}
    fam = registry.family("gan2d")
    cfg = build_params(fam.config, {**RECIPE, "hidden": 16})
    cpu = torch.device("cpu")
    streams = load_streams(registry, fam, cfg, cpu)
    plain = LabRun(registry, fam, fresh_state(registry, fam, cfg, streams, cpu), streams)
    plain.state.modules.train()
    for run in (logged, plain):
        run.step("D", 2)
        run.step("both", 3)
    for pa, pb in zip(logged.state.modules.parameters(), plain.state.modules.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert logged.history[2:] == plain.history

"""The GAN's second round: class-conditional generation (projection D), the moving average of G that sampling uses,
and differentiable augmentation; each checked against its formula, in a real run, and on the shipped weights."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import playground as pg
from playground.engine import Trainer
from playground.inference import model_cache, run_evaluate, run_task, sample_classes
from playground.metrics.evaluator import load_evaluator
from playground.models import load_model
from plugins.gan.adversarial import g_update
from plugins.gan.augment import color, cutout, diff_augment, parse_policy, translation
from plugins.gan.ema import EMA_MODULE
from plugins.gan.nets import Discriminator, Generator

TINY = {"steps": 2, "batch_size": 16, "width": 4, "latent_dim": 8, "log_every": 1, "checkpoint_every": 1,
        "objective": "hinge", "spectral_norm": True}


# -- conditioning -----------------------------------------------------------------------------------------------
def test_the_label_reaches_g_and_the_projection_term_enters_d():
    torch.manual_seed(0)
    g, d = Generator(8, 1, 4, num_classes=10), Discriminator(1, 4, True, num_classes=10)
    g.eval()
    z = torch.randn(4, 8)
    a, b = g(z, torch.full((4,), 3)), g(z, torch.full((4,), 7))
    assert (a - b).abs().mean() > 1e-3  # same z, another class: another image
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([0, 1, 2, 3])
    d.eval()
    h = d.net[:-2](x)
    expected = d.net[-1](h.flatten(1)) + (d.embed(y) * h.sum((2, 3))).sum(1, keepdim=True)  # ψ(h) + ⟨e_y, Σ h⟩
    assert torch.allclose(d(x, y), expected, atol=1e-6)
    assert not torch.allclose(d(x, y), d(x, y.flip(0)))
    with pytest.raises(ValueError, match="needs labels"):
        g(z)


def test_transitional_conditioning_and_the_mode_seeking_ratio_follow_their_formulas(registry):
    from types import SimpleNamespace

    from plugins.gan.adversarial import conditioning_strength, mode_seeking_ratio

    cfg = SimpleNamespace(condition_start=10, condition_ramp=20)
    assert [conditioning_strength(cfg, t) for t in (0, 9, 10, 20, 30, 99)] == [0, 0, 0, 0.5, 1, 1]
    assert conditioning_strength(SimpleNamespace(condition_start=0, condition_ramp=0), 0) == 1  # off: full
    a, b = torch.zeros(4, 1, 2, 2), torch.full((4, 1, 2, 2), 0.5)
    za, zb = torch.zeros(4, 8), torch.full((4, 8), 0.25)
    assert mode_seeking_ratio(a, b, za, zb).item() == pytest.approx(2.0)  # mean|Δimage| / mean|Δz|
    g = Generator(8, 1, 4, num_classes=10).eval()
    z = torch.randn(3, 8)
    assert torch.equal(g(z, torch.tensor([1, 2, 3]), 0.0), g(z, torch.tensor([7, 7, 7]), 0.0))  # λ = 0: no class


def test_a_conditional_gan_needs_labelled_data(tmp_path, registry):
    from PIL import Image

    folder = tmp_path / "flat"  # images without class folders: unlabelled
    folder.mkdir()
    for i in range(4):
        Image.new("L", (32, 32), i * 40).save(folder / f"{i}.png")
    with pytest.raises(pg.DataError, match="needs labelled data"):
        Trainer(registry, "gan", {**TINY, "conditional": True, "dataset": f"folder:{folder}"},
                out_dir=tmp_path / "r").run()


# -- the moving average ---------------------------------------------------------------------------------------------
def _params(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items() if v.is_floating_point()}


def test_ema_follows_its_formula_in_training_and_is_what_sampling_uses(tmp_path, registry):
    cfg = {**TINY, "ema": 0.9, "augment": "none"}
    t = Trainer(registry, "gan", {**cfg, "steps": 1}, out_dir=tmp_path / "r")
    t.run()
    g1, ema1 = _params(t.state.modules["G"]), _params(t.state.modules[EMA_MODULE].module)
    assert all(torch.equal(g1[k], ema1[k]) for k in g1)  # d_1 = 0: the first update copies G
    t2 = Trainer(registry, "gan", {"steps": 2}, out_dir=tmp_path / "r", resume=tmp_path / "r")
    t2.run()
    g2, ema2 = _params(t2.state.modules["G"]), _params(t2.state.modules[EMA_MODULE].module)
    d2 = min(0.9, 1 - 2 ** -0.75)  # the warmed-up decay at G's second update
    for k in g2:
        assert torch.allclose(ema2[k], d2 * ema1[k] + (1 - d2) * g2[k], atol=1e-6), k
    assert any(not torch.equal(ema2[k], g2[k]) for k in g2)  # an average, not a copy

    fam, state = registry.family("gan"), t2.state
    before = fam.sample(state, 8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in state.modules["G"].parameters():
            p.add_(1.0)
    assert torch.equal(before, fam.sample(state, 8, torch.Generator().manual_seed(0)))  # G itself is not sampled
    with torch.no_grad():
        for p in state.modules[EMA_MODULE].module.parameters():
            p.add_(0.1)
    assert not torch.equal(before, fam.sample(state, 8, torch.Generator().manual_seed(0)))


def test_resume_with_ema_augmentation_and_labels_is_bit_identical(tmp_path, registry):
    cfg = {**TINY, "conditional": True, "ema": 0.99, "augment": "color,translation,cutout", "steps": 4}
    whole = Trainer(registry, "gan", cfg, out_dir=tmp_path / "whole")
    whole.run()
    Trainer(registry, "gan", {**cfg, "steps": 2}, out_dir=tmp_path / "half").run()
    resumed = Trainer(registry, "gan", {"steps": 4}, out_dir=tmp_path / "half", resume=tmp_path / "half")
    resumed.run()
    a, b = whole.state.modules.state_dict(), resumed.state.modules.state_dict()
    assert set(a) == set(b) and any(k.startswith(EMA_MODULE) for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_from_before_these_settings_load_as_trained(tmp_path, registry):
    """A checkpoint whose config predates conditional/ema/augment was trained without them (the legacy values),
    whatever today's defaults are."""
    t = Trainer(registry, "gan", {**TINY, "steps": 1, "ema": 0.0, "augment": "none"}, out_dir=tmp_path / "r")
    t.run()
    path = tmp_path / "r" / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    info = json.loads(meta["playground"])
    legacy = registry.family("gan").config.legacy
    assert {"conditional", "ema", "augment"} <= set(legacy)
    for key in legacy:
        del info["config"][key]
    save_file(tensors, str(path), metadata={**meta, "playground": json.dumps(info)})
    state = load_model(registry, path)
    assert (state.config.ema, state.config.augment, state.config.conditional) == (0.0, "none", False)
    assert registry.family("gan").config().ema > 0  # the default for new runs is the new recipe


# -- differentiable augmentation ------------------------------------------------------------------------------------
def test_translation_moves_content_by_whole_pixels_and_fills_zeros():
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 10, 12] = 1.0  # one lit pixel per image
    out = translation(x, torch.Generator().manual_seed(0))
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(64))  # the pixel moved, nothing smeared (4 px ≤ the border)
    ys, xs = out[:, 0].nonzero(as_tuple=True)[1:]
    assert ((ys - 10).abs() <= 4).all() and ((xs - 12).abs() <= 4).all()
    assert len(set(zip(ys.tolist(), xs.tolist(), strict=True))) > 10  # shifts differ per image
    full = translation(torch.ones(64, 1, 32, 32), torch.Generator().manual_seed(1))
    assert (full == 0).any() and set(full.unique().tolist()) <= {0.0, 1.0}  # the uncovered side is zero


def test_cutout_zeroes_one_square_of_half_the_side():
    out = cutout(torch.ones(256, 3, 32, 32), torch.Generator().manual_seed(0))
    zeros = (out == 0).all(1).sum((1, 2))  # per image, pixels zero in every channel
    assert zeros.max() == 16 * 16 and zeros.min() >= 8 * 8  # whole square inside, or clipped at a corner
    assert ((out == 0) | (out == 1)).all()


def test_color_is_brightness_saturation_contrast_per_image():
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    g = torch.Generator().manual_seed(0)
    out = color(x, g)
    g = torch.Generator().manual_seed(0)
    u = [torch.rand((32, 1, 1, 1), generator=g) for _ in range(3)]
    e = x + (u[0] - 0.5)
    m = e.mean(1, keepdim=True)
    e = m + (e - m) * (u[1] * 2)
    m = e.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(out, m + (e - m) * (u[2] + 0.5))


def test_augmentation_is_reproducible_per_generator_and_differentiable_into_g(registry, tmp_path):
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    policy = parse_policy("color,translation,cutout")
    a = diff_augment(x, policy, torch.Generator().manual_seed(5))
    b = diff_augment(x, policy, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)  # the run's generator decides: a resume replays it
    with pytest.raises(ValueError, match="choose from color, translation, cutout"):
        parse_policy("translation,flip")

    t = Trainer(registry, "gan", {**TINY, "steps": 1}, out_dir=tmp_path / "r")
    t.run()
    run = pg.Run(t.state)
    seen = {}

    def augment(img: torch.Tensor) -> torch.Tensor:
        out = diff_augment(img, policy, run.generator)
        seen["fake"] = img
        img.retain_grad()
        return out

    run.step = lambda name=None: True  # keep the gradients this test reads
    g_update(run, 8, augment=augment)
    assert seen["fake"].grad is not None and seen["fake"].grad.abs().sum() > 0  # through the augmentation to G
    assert all(p.grad is not None for p in t.state.modules["G"].parameters())


# -- tasks and evaluation -------------------------------------------------------------------------------------------
def test_generate_rows_per_class_a_chosen_class_and_clear_errors(registry):
    res = run_task(registry, "gan", "digits", "generate", {"n": 8, "seed": 0})
    assert res.images  # the shipped unconditional GAN
    with pytest.raises(pg.InputError, match="unconditional"):
        run_task(registry, "gan", "digits", "generate", {"n": 8, "seed": 0, "label": 3})
    rows = run_task(registry, "gan", "digits-conditional", "generate", {"n": 20, "seed": 0})
    assert rows.images[0][1].shape[1] > 9 * 32  # ten rows
    with pytest.raises(pg.InputError, match=r"0\.\.9"):
        run_task(registry, "gan", "digits-conditional", "generate", {"n": 8, "seed": 0, "label": 10})


@pytest.mark.slow
def test_shipped_conditional_gan_draws_the_digit_asked_for(registry):
    images = sample_classes(registry, "gan", "digits-conditional", list(range(10)), 100, seed=0)
    _, logits = load_evaluator("digits").embed(images)
    asked = torch.arange(10).repeat_interleave(100)
    hit = logits.argmax(1) == asked
    assert hit.float().mean() >= 0.95, hit.float().mean()
    assert all(hit[asked == k].float().mean() >= 0.8 for k in range(10))


def test_evaluate_reports_class_accuracy_and_fid_per_class(registry):
    res = run_evaluate(registry, "gan", "digits-conditional", {"n_per_class": 50, "seed": 0})
    acc = float(res.values["class accuracy of conditioned samples"].rstrip("%")) / 100
    assert acc >= 0.9 and len(res.values["FID per class (real baseline)"]) == 10
    within = res.values["recall within each class"]  # ≈ 0 for a G that draws one image per class
    assert min(within.values()) >= 0.6, within
    assert {r["series"] for r in res.chart.rows} == {"samples", "real test images"}
    uncond = run_evaluate(registry, "gan", "digits", {"n_per_class": 30, "seed": 0})
    assert "class accuracy of conditioned samples" not in uncond.values
    assert "predicted class" in uncond.values["grouped by"] and len(uncond.values["share per class"]) == 10


@pytest.mark.slow
def test_shipped_unconditional_gan_keeps_every_digit(registry):
    from playground.inference import run_quality

    (_, report, _), = run_quality(registry, "gan", ["digits"], 1000, seed=0)
    assert report.scores["smallest class %"] >= 5, report.class_freq
    state = model_cache().get(registry, "gan", "digits", torch.device("cpu"))
    assert state.config.ema > 0  # the shipped recipe samples from the moving average

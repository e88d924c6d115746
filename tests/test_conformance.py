"""Every registered model family, built-in or plugin, must pass these: the contract as an executable spec."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from playground.data import DataSpec, load_dataset
from playground.engine import Trainer
from playground.images import UserImage
from playground.inference import call_task, task_inputs
from playground.models import load_model, untrained_like
from playground.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "plugins"
CONTRACT = Path(__file__).resolve().parent / "families"  # small families for what contract 2 added
# Built-in families, the documented example plugin and the contract's test families must all conform.
FAMILIES = sorted(Registry([EXAMPLES, CONTRACT]).families)
STEPS = 300


def registry():
    return Registry([EXAMPLES, CONTRACT])


def smoke(fam, **extra):
    return {"dataset": "digits", **fam.smoke_config, "seed": 0, **extra}


def smoke_steps(fam):
    """STEPS, or more where the family says so (a 2-D GAN resolves its modes only after several hundred)."""
    return fam.smoke_config.get("steps", STEPS)


def held_out(reg, state):
    """The test split of the data the model trained on, as the family sees it (images in [-1, 1] or points)."""
    data = load_dataset(reg.datasets, DataSpec(state.data["name"], split="test"))
    return data.points if state.info.kind == "points" else data.float_images()


def run_every_task(reg, fam, state, image: Image.Image) -> dict:
    """Each declared task with its default inputs (images: a real digit, through the framework's conversion), in
    eval mode: {task: TaskResult}."""
    state.modules.eval()
    out = {}
    for task in fam.tasks:
        values = {f.name: UserImage(image) for f in dataclasses.fields(task.inputs) if f.default is None}
        with torch.no_grad():
            out[task.name] = call_task(reg, fam, state, task, task_inputs(task, values, state))
    return out


def same_state_dicts(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])), k


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short run per family (module-scoped: the learning, task and save/load tests share it)."""
    reg = registry()
    out = {}
    for name in FAMILIES:
        fam = reg.family(name)
        folder = tmp_path_factory.mktemp(name)
        trainer = Trainer(reg, name, smoke(fam, steps=smoke_steps(fam), log_every=1, checkpoint_every=10_000),
                          out_dir=folder / "ckpt", device="cpu")
        progress = trainer.run()
        out[name] = (reg, fam, trainer.state, progress, folder / "ckpt")
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_training_beats_an_untrained_model_by_a_wide_margin(trained, name):
    reg, fam, state, progress, _ = trained[name]
    assert progress.status == "finished" and progress.step == smoke_steps(fam)
    images = held_out(reg, state)
    before = fam.learning_score(untrained_like(reg, state), images)
    if before is not None:  # adversarial families: their losses need not fall, the samples must improve
        after = fam.learning_score(state, images)
        assert after < 0.6 * before, (before, after)
        return
    series = sorted({n for _, n, _ in progress.losses})
    key = "loss" if "loss" in series else series[0]
    values = [v for _, n, v in progress.losses if n == key]
    untrained, final = values[0], sum(values[-20:]) / 20
    assert final < 0.5 * untrained, (untrained, final)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_task_returns_declared_outputs(trained, name, digit_png):
    reg, fam, state, _, _ = trained[name]
    results = run_every_task(reg, fam, state, Image.open(digit_png))
    for task in fam.tasks:
        result = results[task.name]
        assert result.images, f"{task.name} returned no images"
        for caption, img in result.images:
            assert img.dtype == torch.float32 and img.ndim == 3, (task.name, caption, img.dtype, img.shape)
            # Image families answer in their data's channels (or with RGB figures: a latent map, a chart drawn as a
            # picture); 2-D families answer with RGB plots.
            assert img.shape[0] in ({state.info.channels, 3} if fam.kind == "image" else {3})
            assert img.min() >= -1 and img.max() <= 1 and torch.isfinite(img).all()
        json.dumps(result.values)  # the API returns these as JSON
        if task.chart:
            assert result.chart is not None and result.chart.rows
            assert {result.chart.x, result.chart.y} <= set(result.chart.rows[0])
        else:
            assert result.chart is None


@pytest.mark.parametrize("name", FAMILIES)
def test_save_then_load_gives_identical_outputs(trained, name, digit_png):
    reg, fam, state, _, ckpt = trained[name]
    loaded = load_model(reg, ckpt, family=name)
    image = Image.open(digit_png)
    before, after = run_every_task(reg, fam, state, image), run_every_task(reg, fam, loaded, image)
    for task, a in before.items():
        b = after[task]
        for (_, x), (_, y) in zip(a.images, b.images, strict=True):
            assert torch.equal(x, y), task
        assert a.values == b.values
    assert not any(p.requires_grad for ps in loaded.parents.values() for p in ps.modules.parameters())


@pytest.mark.parametrize("name", FAMILIES)
def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path, name, home):
    """Weights, optimiser state, stash and learning-rate schedule all continue exactly (cosine schedule on)."""
    reg = registry()
    fam = reg.family(name)
    cfg = smoke(fam, steps=30, log_every=4, checkpoint_every=10_000, lr_schedule="cosine")
    full = Trainer(reg, name, cfg, out_dir=tmp_path / "full", device="cpu")
    full.run()

    def stop_at_12(progress):
        if progress.step >= 12:
            part.stop()

    part = Trainer(reg, name, cfg, out_dir=tmp_path / "part", device="cpu", on_progress=stop_at_12)
    p1 = part.run()
    assert p1.status == "stopped" and p1.step == 12
    resumed = Trainer(reg, name, {"steps": 30}, out_dir=tmp_path / "part", resume=tmp_path / "part", device="cpu")
    p2 = resumed.run()
    assert p2.status == "finished" and p2.step == 30
    a, b = full.state, resumed.state
    same_state_dicts(a.modules.state_dict(), b.modules.state_dict())
    same_state_dicts(a.stats, b.stats)
    same_state_dicts(a.stash, b.stash)
    assert a.optimizers.keys() == b.optimizers.keys()
    for opt in a.optimizers:
        sa, sb = a.optimizers[opt].state_dict(), b.optimizers[opt].state_dict()
        assert [g["lr"] for g in sa["param_groups"]] == [g["lr"] for g in sb["param_groups"]]  # same schedule
        for i in sa["state"]:
            same_state_dicts(sa["state"][i], sb["state"][i])


def has_batch_norm(state):
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in state.modules.modules())


def has_instance_norm(state):
    """Instance norm divides by each image's own spread: in near-constant channels (the digits' black borders) float
    noise of ~1e-7 grows past 1 % of a weight's movement within a few adversarial steps, so two micro-batches agree
    with one batch on the first step's gradients (tested per family, e.g. tests/test_cyclegan.py), not item for
    item after five."""
    return any(isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) for m in state.modules.modules())


@pytest.mark.parametrize("name", FAMILIES)
def test_gradient_accumulation_equals_one_big_batch(tmp_path, name, trained):
    """2 micro-batches of B give batch 2B's weights: for families without batch norm (whose statistics depend on
    the micro-batch), one optimiser per loss and no per-item noise drawn in train_step."""
    reg, fam, state, _, _ = trained[name]
    if has_batch_norm(state) or has_instance_norm(state) or not state.optimizers or len(fam.lab_parts) or \
            name == "autoencoder":
        pytest.skip("not comparable item for item (batch or instance norm, adversarial updates, input noise or no "
                    "optimiser)")
    cfg = smoke(fam, steps=5, batch_size=32, log_every=5)
    one = Trainer(reg, name, cfg, out_dir=tmp_path / "one", device="cpu")
    one.run()
    two = Trainer(reg, name, {**cfg, "grad_accum": 2}, out_dir=tmp_path / "two", device="cpu")
    two.run()
    # Element-wise equality up to float noise, or (where Adam turns summation-order noise on near-zero gradients
    # into full-size steps: attention, an EMA codebook fed by the encoder) a difference under 1 % of how far
    # training moved that tensor. Accumulation done wrong (an optimiser or EMA stepping per micro-batch, a loss
    # not divided) moves weights by a good share of a step, far above that.
    init = untrained_like(reg, one.state).modules.state_dict()
    for k, v in one.state.modules.state_dict().items():
        w = two.state.modules.state_dict()[k]
        if torch.allclose(w, v, rtol=1e-4, atol=1e-5):
            continue
        moved = float((v.float() - init[k].float()).norm())
        assert float((w.float() - v.float()).norm()) < 0.01 * moved, (k, float((w - v).abs().max()), moved)


@pytest.mark.parametrize("name", FAMILIES)
def test_autocast_on_and_off(tmp_path, name, monkeypatch):
    """precision=bf16 runs train_step under bf16 autocast (on the CPU here) and trains finite; fp32 (the CPU's
    "auto") runs it without autocast."""
    reg = registry()
    fam = reg.family(name)
    seen = []
    real_step = type(fam).train_step

    def recording(self, run, batch):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return real_step(self, run, batch)

    monkeypatch.setattr(type(fam), "train_step", recording)
    cfg = smoke(fam, steps=4, log_every=1, batch_size=16)
    for precision, expected in (("fp32", False), ("auto", False), ("bf16", True)):
        seen.clear()
        p = Trainer(reg, name, {**cfg, "precision": precision}, out_dir=tmp_path / precision, device="cpu").run()
        assert p.status == "finished" and all(torch.isfinite(torch.tensor(v)) for _, _, v in p.losses)
        assert seen and set(seen) == {expected}, (precision, seen)

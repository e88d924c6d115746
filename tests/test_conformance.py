"""Every registered model family, built-in or plugin, must pass these."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from playground.data import DataSpec, load_dataset
from playground.engine import Trainer, all_items
from playground.models import load_model
from playground.params import ImageInput, build_params, param_specs
from playground.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"
# Built-in families and the documented example plugin must all conform.
FAMILIES = sorted(Registry([EXAMPLES]).families)
STEPS = 300


def smoke(fam, **extra):
    return {"dataset": "digits", **fam.smoke_config, "seed": 0, **extra}


def smoke_steps(fam):
    """STEPS, or more where the family says so (a 2-D GAN resolves its modes only after several hundred)."""
    return fam.smoke_config.get("steps", STEPS)


def held_out(reg, state):
    """The test split of the data the model trained on, as the family sees it (images in [-1, 1] or points)."""
    return all_items(load_dataset(reg.datasets, DataSpec(state.data["name"], split="test")))[0]


def run_every_task(fam, state, image: Image.Image) -> dict:
    """Each declared task with its default inputs (images: a real digit), in eval mode: {task: TaskResult}."""
    state.modules.eval()
    out = {}
    for task in fam.tasks:
        values = {s.name: image for s in param_specs(task.inputs) if s.type is ImageInput}
        with torch.no_grad():
            out[task.name] = getattr(fam, task.name)(state, build_params(task.inputs, values))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short run per family (module-scoped: the learning, task and save/load tests share it)."""
    reg = Registry([EXAMPLES])
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
    untrained_state = new_state(reg, fam, state.config, state.info, state.data, state.device)
    before = fam.learning_score(untrained_state, images)
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
    results = run_every_task(fam, state, Image.open(digit_png))
    for task in fam.tasks:
        result = results[task.name]
        assert result.images, f"{task.name} returned no images"
        for caption, img in result.images:
            assert img.dtype == torch.float32 and img.ndim == 3, (task.name, caption, img.dtype, img.shape)
            # Image families answer in their data's channels; 2-D families answer with RGB plots.
            assert img.shape[0] == (state.info.channels if fam.data_kind == "image" else 3)
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
    before, after = run_every_task(fam, state, image), run_every_task(fam, loaded, image)
    for task, a in before.items():
        b = after[task]
        for (_, x), (_, y) in zip(a.images, b.images, strict=True):
            assert torch.equal(x, y), task
        assert a.values == b.values


@pytest.mark.parametrize("name", FAMILIES)
def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path, name, home):
    reg = Registry([EXAMPLES])
    fam = reg.family(name)
    cfg = smoke(fam, steps=30, log_every=4, checkpoint_every=10_000)
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
    a, b = full.state.modules.state_dict(), resumed.state.modules.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for k in full.state.stats:
        assert torch.equal(full.state.stats[k], resumed.state.stats[k]), k
    # Optimiser state matches too (the next step would be the same).
    assert full.state.optimizers.keys() == resumed.state.optimizers.keys()
    for name in full.state.optimizers:
        sa, sb = full.state.optimizers[name].state_dict(), resumed.state.optimizers[name].state_dict()
        for i in sa["state"]:
            for k, v in sa["state"][i].items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb["state"][i][k])), (name, i, k)

"""Contract 2 beyond the conformance suite: streams, parents, stash, schedules, typed inputs, labels, weights
references and multi-process training."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import playground as pg
from playground.checkpoint import read_metadata, save_checkpoint
from playground.engine import Trainer
from playground.inference import run_task, sample_classes
from playground.models import load_model, untrained_like
from playground.registry import Registry
from playground.run import lr_factor
from playground.weights import resolve

from conftest import write_plugin

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path(__file__).resolve().parent / "families"
EXAMPLES = ROOT / "examples" / "plugins"


@pytest.fixture(scope="module")
def reg():
    r = Registry([EXAMPLES, CONTRACT])
    assert not r.failures, r.failures
    return r


def test_two_streams_get_one_labelled_batch_each_from_their_own_dataset(reg, tmp_path, monkeypatch):
    fam = reg.family("pair")
    seen = []
    real = type(fam).train_step

    def recording(self, run, batch):
        seen.append({n: (b.x.shape, None if b.y is None else b.y.clone(), b.x.mean().item())
                     for n, b in batch.streams.items()})
        return real(self, run, batch)

    monkeypatch.setattr(type(fam), "train_step", recording)
    t = Trainer(reg, "pair", {"steps": 2, "batch_size": 16}, out_dir=tmp_path / "p", device="cpu")
    t.run()
    assert len(seen) == 2 and set(seen[0]) == {"A", "B"}
    for step in seen:
        for name in ("A", "B"):
            shape, y, _ = step[name]
            assert shape == (16, 1, 32, 32) and y is not None and y.shape == (16,)
    assert seen[0]["A"][2] != seen[0]["B"][2]  # digits and glyphs, not one dataset twice
    meta = read_metadata(tmp_path / "p")
    assert meta["streams"]["A"]["name"] == "digits" and meta["streams"]["B"]["name"] == "glyphs"
    assert set(meta["info"]["streams"]) == {"A", "B"}


def test_a_stream_that_needs_labels_refuses_unlabelled_data(reg, tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("L", (16, 16), i * 40).save(folder / f"{i}.png")
    with pytest.raises(pg.DataError, match="needs labelled data for 'dataset_b'"):
        Trainer(reg, "pair", {"steps": 1, "dataset_b": f"folder:{folder}"}, out_dir=tmp_path / "x").run()


def test_family_without_optimiser_gets_none_and_trains_full_batch(reg, tmp_path):
    t = Trainer(reg, "em_gmm", {"steps": 5, "log_every": 1}, out_dir=tmp_path / "em", device="cpu")
    p = t.run()
    assert t.state.optimizers == {}
    nll = [v for _, n, v in p.losses if n == "nll"]
    assert all(b <= a + 1e-4 for a, b in zip(nll, nll[1:], strict=False)), nll  # EM never decreases the likelihood
    assert "best_loglik" in t.state.stash
    assert "stash.best_loglik" in load_file(str(tmp_path / "em" / "training_state.safetensors"))


def test_run_step_without_optimiser_is_a_clear_plugin_error(reg):
    from playground.models import fresh_state
    from playground.params import build_params
    from playground.run import Run
    from playground.streams import load_streams

    fam = reg.family("em_gmm")
    c = build_params(fam.config, {})
    state = fresh_state(reg, fam, c, load_streams(reg, fam, c, torch.device("cpu")), torch.device("cpu"))
    with pytest.raises(pg.PluginError, match="declares no optimiser"):
        Run(state).step()


def test_parent_is_frozen_recorded_and_checked(reg, home, tmp_path):
    # A parent of our own (run/parent), so the test can remove and change it.
    Trainer(reg, "autoencoder", {"steps": 3, "width": 4, "latent_dim": 8, "batch_size": 8},
            out_dir=home / "runs" / "autoencoder" / "parent").run()
    parent_before = {k: v.clone() for k, v in
                     load_model(reg, resolve("autoencoder", "run/parent")).modules.state_dict().items()}
    t = Trainer(reg, "code_prior", {"parent": "run/parent", "steps": 20}, out_dir=home / "runs" / "code_prior" / "c")
    t.run()
    meta = read_metadata(t.out_dir)
    rec = meta["parents"]["ae"]
    assert rec["family"] == "autoencoder" and rec["ref"] == "run/parent" and len(rec["sha256"]) == 64
    weights = load_file(str(t.out_dir / "model.safetensors"))
    assert not any(k.startswith(("model.encoder", "model.decoder", "model.ae")) for k in weights)  # not copied in
    after = t.state.parents["ae"]
    assert not after.modules.training and not any(p.requires_grad for p in after.modules.parameters())
    for k, v in after.modules.state_dict().items():
        assert torch.equal(v, parent_before[k]), k  # never optimised
    child = load_model(reg, resolve("code_prior", "run/c"))
    assert child.parents["ae"].config.latent_dim == 8
    # Changed parent: a clear error naming the change.
    state = load_model(reg, resolve("autoencoder", "run/parent"), training=True)
    state.step += 1
    save_checkpoint(state, home / "runs" / "autoencoder" / "parent")
    with pytest.raises(pg.WeightsError, match="have changed"):
        load_model(reg, resolve("code_prior", "run/c"))
    # Missing parent: says which weights it needs.
    shutil.rmtree(home / "runs" / "autoencoder" / "parent")
    with pytest.raises(pg.WeightsError, match="run/parent.*which are missing"):
        load_model(reg, resolve("code_prior", "run/c"))


def test_lr_schedules_and_a_resume_that_adds_steps(reg, tmp_path):
    assert lr_factor("constant", 50, 100) == 1.0
    assert lr_factor("linear_decay", 49, 100) == 1.0 and lr_factor("linear_decay", 75, 100) == pytest.approx(0.5)
    assert lr_factor("linear_decay", 100, 100) == 0.0 and lr_factor("linear_decay", 150, 100) == 0.0
    assert lr_factor("cosine", 0, 100) == 1.0 and lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    cfg = {"steps": 20, "batch_size": 16, "lr_schedule": "linear_decay", "log_every": 5}
    full = Trainer(reg, "pair", {**cfg, "steps": 30}, out_dir=tmp_path / "full", device="cpu")
    assert full.cfg.lr_horizon == 30
    a = Trainer(reg, "pair", cfg, out_dir=tmp_path / "a", device="cpu")
    a.run()
    assert read_metadata(tmp_path / "a")["config"]["lr_horizon"] == 20  # fixed at the start
    longer = Trainer(reg, "pair", {"steps": 30}, out_dir=tmp_path / "a", resume=tmp_path / "a", device="cpu")
    longer.run()
    lr = longer.state.optimizers["A"].param_groups[0]["lr"]
    assert lr == 0.0  # past the horizon of the original run: the schedule did not stretch to 30 steps


def test_gradient_clipping_bounds_the_update(reg, tmp_path):
    from playground.models import fresh_state
    from playground.params import build_params
    from playground.run import Run, run_step
    from playground.streams import draw_step, load_streams

    fam = reg.family("linear_ae")
    norms = {}
    for clip in (0.0, 1e-3):
        c = build_params(fam.config, {"grad_clip": clip, "lr": 0.1, "batch_size": 8})
        streams = load_streams(reg, fam, c, torch.device("cpu"))
        state = fresh_state(reg, fam, c, streams, torch.device("cpu"))
        opt = state.optimizers["main"] = torch.optim.SGD(state.modules.parameters(), lr=1.0)
        before = torch.cat([p.detach().flatten().clone() for p in state.modules.parameters()])
        run_step(Run(state), fam, draw_step(streams, c, state.data_generator))
        after = torch.cat([p.detach().flatten() for p in opt.param_groups[0]["params"]])
        norms[clip] = float((after - before).norm())
    assert norms[1e-3] == pytest.approx(1e-3, rel=1e-3) and norms[0.0] > 10 * norms[1e-3]


def test_fp16_with_a_grad_scaler_trains_and_resumes(reg, tmp_path):
    cfg = {"steps": 6, "batch_size": 16, "precision": "fp16", "log_every": 2, "checkpoint_every": 3}
    t = Trainer(reg, "linear_ae", cfg, out_dir=tmp_path / "f", device="cpu")
    assert t.run().status == "finished"
    assert "_grad_scaler" in t.state.stash and float(t.state.stash["_grad_scaler"][0]) > 0


def test_batch_that_does_not_split_is_a_clear_config_error(reg, tmp_path):
    with pytest.raises(pg.ConfigError, match="does not split into 3 micro-batch"):
        Trainer(reg, "linear_ae", {"batch_size": 32, "grad_accum": 3}, out_dir=tmp_path / "x")


def test_conditional_samples_through_the_evaluation_kit(reg, home, tmp_path):
    Trainer(reg, "pair", {"steps": 150, "batch_size": 64}, out_dir=home / "runs" / "pair" / "p").run()
    x = sample_classes(reg, "pair", "run/p", [3, 7], 4)
    assert x.shape == (8, 1, 32, 32) and torch.equal(x[0], x[3]) and not torch.equal(x[0], x[4])
    from playground.metrics.evaluator import load_evaluator

    _, logits = load_evaluator("digits").embed(x)
    assert logits.argmax(1).tolist() == [3] * 4 + [7] * 4  # the evaluator reads the asked-for class
    with pytest.raises(pg.DataError, match="not among this model's 10 classes"):
        sample_classes(reg, "pair", "run/p", [12], 1)
    with pytest.raises(pg.PluginError, match="unconditional"):
        sample_classes(reg, "autoencoder", "digits", [1], 1)


def test_typed_image_inputs_reach_the_family_as_tensors(reg, home, digit_png):
    res = run_task(reg, "code_prior", _prior_ref(reg), "encode",
                   {"image": pg.UserImage(str(digit_png)), "image_invert": "no"})
    assert res.images[0][1].shape == (1, 32, 32) and "nll" in res.values
    with pytest.raises(pg.InputError, match="No image given"):
        run_task(reg, "code_prior", _prior_ref(reg), "encode", {})


def _prior_ref(reg):
    """A code_prior run on the shipped autoencoder, in this test's PLAYGROUND_HOME."""
    from playground.weights import runs_dir

    Trainer(reg, "code_prior", {"steps": 5}, out_dir=runs_dir("code_prior") / "typed").run()
    return "run/typed"


@pytest.mark.parametrize("ref", ["/etc", "..", "run/../../etc", "run/a/b", "import/../x", "./digits", "~",
                                 "digits/../../gan/digits", "C:\\x"])
def test_resolve_refuses_every_path_like_reference(home, ref):
    with pytest.raises(pg.WeightsError, match="paths are not accepted|outside the weights folders"):
        resolve("autoencoder", ref)


def test_resolve_refuses_a_symlink_that_leads_out(home, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "weights" / "autoencoder" / "digits", outside)
    (home / "runs" / "autoencoder").mkdir(parents=True)
    (home / "runs" / "autoencoder" / "sneaky").symlink_to(outside)
    with pytest.raises(pg.WeightsError, match="outside the weights folders"):
        resolve("autoencoder", "run/sneaky")


def test_a_card_survives_a_resume_into_its_folder(reg, home):
    folder = home / "runs" / "autoencoder" / "carded"
    Trainer(reg, "autoencoder", {"steps": 2, "width": 4, "batch_size": 4}, out_dir=folder).run()
    (folder / "README.md").write_text("# my card\n")
    (folder / "samples.png").write_bytes(b"png")
    Trainer(reg, "autoencoder", {"steps": 4}, out_dir=folder, resume=folder).run()
    assert (folder / "README.md").read_text() == "# my card\n" and (folder / "samples.png").exists()
    assert read_metadata(folder)["step"] == 4


def test_an_interrupted_save_is_detected_on_resume(reg, home, tmp_path):
    folder = tmp_path / "ck"
    Trainer(reg, "linear_ae", {"steps": 2, "batch_size": 8}, out_dir=folder).run()
    stale = (folder / "training_state.safetensors").read_bytes()
    Trainer(reg, "linear_ae", {"steps": 4}, out_dir=folder, resume=folder).run()
    (folder / "training_state.safetensors").write_bytes(stale)  # as if the second save died between renames
    with pytest.raises(pg.WeightsError, match="another save"):
        load_model(reg, folder, training=True)


def test_building_a_model_leaves_the_global_rng_alone(reg):
    from playground.lab import LabRun

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LabRun.create(reg, "gan2d", {"hidden": 8})
    LabRun.create(reg, "gan2d", weights="ring8-nonsaturating")
    assert torch.equal(torch.rand(3), expected)


# -- several processes ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(nproc: int, args: list[str], home: Path, plugins: Path = EXAMPLES, *,
            check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(_free_port()), "-m", "playground.cli", "--plugins-dir", str(plugins),
           *args]
    env = {**os.environ, "PLAYGROUND_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0 or not check, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_an_optimiser_free_family_is_refused_under_several_processes(home):
    """EM's own updates are not averaged across processes: two processes would fit two different mixtures and
    save one. Refused with the reason before a step, and nothing is saved."""
    res = _launch(2, ["train", "em_gmm", "--steps", "3", "--name", "two"], home, CONTRACT, check=False)
    assert res.returncode != 0
    assert "updates its own state without an optimiser" in res.stdout + res.stderr
    assert not (home / "runs" / "em_gmm" / "two" / "model.safetensors").exists()


# The linear AE of examples/plugins in float64. Two processes average their gradients in another order of float
# additions than one process; in float32 that rounding noise (~1e-7 of a gradient) is near Adam's ε (1e-8) on the
# pixels whose gradient is ~0 (always-black borders), where Adam turns it into full-size steps, so how far the runs
# drift apart depends on the CPU's kernels (1.09 % of the weights' movement on an AVX-512 Xeon). In float64 the
# noise is ~1e-16 of a gradient, eight orders under ε: the runs then agree to 3.6e-16 of the movement (measured
# on AVX-512 and on AVX2 kernels alike), and a real difference moves them by far more (batch 16 instead of 32: 0.32).
FLOAT64_AE = """
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg


@dataclass
class Config(pg.TrainConfig):
    components: int = pg.param(8, min=1, max=64, help="Code size.")


class LinearAE64(pg.ModelFamily):
    name, title, config = "linear_ae64", "Linear AE (float64)", Config
    description = "The example linear autoencoder in float64, for exact comparisons."
    tasks = ()

    def build(self, cfg, info):
        d = info.channels * info.size * info.size
        return nn.ModuleDict({"enc": nn.Linear(d, cfg.components), "dec": nn.Linear(cfg.components, d)}).double()

    def train_step(self, run, batch):
        x = batch.x.double().flatten(1)
        loss = ((run.state.modules["dec"](run.state.modules["enc"](x)) - x) ** 2).mean()
        run.backward(loss)
        run.step()
        return {"loss": loss}


@pg.hookimpl
def register_models(register):
    register(LinearAE64())
"""
SAME_RUN_BOUND = 1e-6  # of the weights' movement; measured 3.6e-16 (see FLOAT64_AE), a real difference 0.32


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["default", "avx2"])
def test_two_processes_match_one_and_checkpoints_move_between_them(home, tmp_path, monkeypatch, kernels):
    """torchrun (what `accelerate launch` runs) with 2 CPU processes on gloo: the same weights as 1 process at
    the same global batch (compared in float64: see FLOAT64_AE), also when the 2 processes run torch's AVX2
    kernels and this one its default (AVX-512 where the CPU has it); a 2-process checkpoint resumes in 1 process
    and the other way round."""
    if kernels != "default":
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", kernels)  # read by the launched processes at start
    plugins = write_plugin(tmp_path / "plugins", "linear_ae64", FLOAT64_AE).parent
    reg = Registry([plugins])
    assert not reg.failures, reg.failures
    flags = ["--steps", "20", "--batch-size", "32", "--lr", "0.01", "--log-every", "5"]
    res = _launch(2, ["train", "linear_ae64", *flags, "--name", "two"], home, plugins)
    assert res.stdout.count("Finished 20 steps") == 1  # only the main process reports
    one = Trainer(reg, "linear_ae64", {"steps": 20, "batch_size": 32, "lr": 0.01, "log_every": 5},
                  out_dir=home / "runs" / "linear_ae64" / "one", device="cpu")
    one.run()
    two = load_model(reg, resolve("linear_ae64", "run/two"))
    start = untrained_like(reg, one.state).modules.state_dict()
    moved = diff = 0.0
    for k, v in one.state.modules.state_dict().items():
        assert v.dtype == torch.float64
        moved += float((v - start[k]).norm() ** 2)
        diff += float((two.modules.state_dict()[k] - v).norm() ** 2)
    assert diff ** 0.5 < SAME_RUN_BOUND * moved ** 0.5, (diff ** 0.5, moved ** 0.5)
    # 2 → 1 and 1 → 2 processes
    p = Trainer(reg, "linear_ae64", {"steps": 25}, out_dir=resolve("linear_ae64", "run/two"),
                resume=resolve("linear_ae64", "run/two"), device="cpu").run()
    assert p.step == 25
    res = _launch(2, ["train", "linear_ae64", "--resume", "run/one", "--steps", "25"], home, plugins)
    assert "Finished 25 steps" in res.stdout and read_metadata(resolve("linear_ae64", "run/one"))["step"] == 25

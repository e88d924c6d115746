"""CycleGAN beyond the conformance suite: the objective against its formulas, the image pool's rule, the schedule
across a resume, two streams from the right datasets, the trainA/trainB folder layout, a learning test on label
preservation, and the shipped weights' targets."""

import warnings

import pytest
import torch
from PIL import Image

import playground as pg
from playground.data import DataSpec, load_dataset
from playground.engine import Trainer
from playground.inference import Loader, model_cache, run_evaluate, run_task
from playground.models import untrained_like
from playground.run import lr_factor
from plugins.cyclegan import evaluation, pool
from plugins.cyclegan.family import translate
from plugins.cyclegan.losses import ADVERSARIAL, cycle_loss, identity_loss
from plugins.cyclegan.nets import PatchDiscriminator, ResnetGenerator, patch_grid

TINY = {"width": 8, "blocks": 1, "d_width": 8, "batch_size": 8, "lr": 1e-3, "pool_size": 8, "log_every": 5,
        "checkpoint_every": 10_000}


# -- the objective ------------------------------------------------------------------------------------------
def test_losses_match_their_formulas():
    r, f = torch.tensor([0.8, 1.2, -0.5]), torch.tensor([0.1, -0.3, 0.9])
    ls = ADVERSARIAL["least_squares"]
    expected_d = 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())
    torch.testing.assert_close(ls.d_loss(r, f), expected_d)
    torch.testing.assert_close(ls.g_loss(f), ((f - 1) ** 2).mean())
    assert float(ls.d_loss(torch.ones(4), torch.zeros(4))) == 0 and float(ls.g_loss(torch.ones(4))) == 0
    ce = ADVERSARIAL["nonsaturating"]
    sig = torch.sigmoid
    torch.testing.assert_close(ce.d_loss(r, f), 0.5 * (-torch.log(sig(r)).mean() - torch.log(1 - sig(f)).mean()))
    torch.testing.assert_close(ce.g_loss(f), -torch.log(sig(f)).mean())
    a, b = torch.rand(2, 1, 4, 4) * 2 - 1, torch.rand(2, 1, 4, 4) * 2 - 1
    torch.testing.assert_close(cycle_loss(a, b), (a - b).abs().sum() / a.numel())
    torch.testing.assert_close(identity_loss(a, b), (a - b).abs().mean())
    assert float(cycle_loss(a, a)) == 0


@pytest.mark.parametrize("a_weight", [1.0, 0.1])
def test_generator_loss_weights_the_terms_as_the_paper(registry, tmp_path, a_weight):
    """G's logged loss = adversarial A→B + B→A + λ_cyc·(w_A·cycle A + cycle B) + λ_idt·λ_cyc·identity, where w_A
    (cycle_a_weight, the reference code's λ_A / λ_B split) is 1 in the paper."""
    p = Trainer(registry, "cyclegan", {**TINY, "steps": 1, "log_every": 1, "lambda_cycle": 7.0, "lambda_identity": 0.3,
                                       "cycle_a_weight": a_weight}, out_dir=tmp_path, device="cpu").run()
    v = {name: val for _, name, val in p.losses}
    expected = (v["adversarial A→B"] + v["adversarial B→A"]
                + 7.0 * (a_weight * v["cycle A (L1)"] + v["cycle B (L1)"]) + 7.0 * 0.3 * v["identity (L1)"])
    assert v["G loss"] == pytest.approx(expected, rel=1e-5)
    assert v["cycle A (L1)"] > 0.01  # the A term is there to weigh


def test_networks_fit_the_image_sizes():
    g = ResnetGenerator(1, 3, width=8, blocks=2)
    for size in (32, 64):
        assert g(torch.zeros(2, 1, size, size)).shape == (2, 3, size, size)
        for layers in (1, 2, 3):
            d = PatchDiscriminator(3, 8, layers)
            assert d(torch.zeros(2, 3, size, size)).shape == (2, 1, patch_grid(size, layers), patch_grid(size, layers))
    out = g(torch.randn(2, 1, 32, 32) * 10)
    assert out.abs().max() <= 1  # tanh


# -- the image pool -------------------------------------------------------------------------------------------
def test_pool_fills_then_returns_new_or_swaps_with_probability_half():
    stash, gen = {}, torch.Generator().manual_seed(0)
    first = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 1, 2, 2)
    out = pool.query(stash, "p", first, 5, gen)
    assert torch.equal(out, first) and int(stash["p_count"]) == 5  # filling: every new image comes straight back
    assert torch.equal(stash["p_images"], first)
    swapped, n = 0, 400
    for i in range(n):
        before = stash["p_images"].clone()
        new = torch.full((1, 1, 2, 2), 100.0 + i)
        got = pool.query(stash, "p", new, 5, gen)
        assert stash["p_images"].shape[0] == 5 and int(stash["p_count"]) == 5  # never grows
        if torch.equal(got, new):
            assert torch.equal(stash["p_images"], before)  # kept the new one out of the pool
        else:
            swapped += 1
            j = [k for k in range(5) if torch.equal(before[k], got[0])]
            assert len(j) == 1 and torch.equal(stash["p_images"][j[0]], new[0])  # the new one took its place
    assert 0.4 < swapped / n < 0.6
    assert torch.equal(pool.query({}, "p", first, 0, gen), first)  # size 0: no pool


def test_pools_draw_the_same_for_one_batch_or_two_halves():
    """Two micro-batches interleave the two domains' pools (A, B, A, B) where one batch does not (A, B): each pool
    keeps its own generator, so both give the same images and leave the same pools."""
    one, two = {}, {}
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for step in range(6):
        xa, xb = (torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(10 * step + k)) for k in (0, 1))
        whole = [pool.query(one, "A", xa, 10, g1), pool.query(one, "B", xb, 10, g1)]
        halves = [[pool.query(two, "A", xa[:4], 10, g2), pool.query(two, "B", xb[:4], 10, g2)],
                  [pool.query(two, "A", xa[4:], 10, g2), pool.query(two, "B", xb[4:], 10, g2)]]
        assert torch.equal(whole[0], torch.cat([halves[0][0], halves[1][0]]))
        assert torch.equal(whole[1], torch.cat([halves[0][1], halves[1][1]]))
    for k in one:
        assert torch.equal(one[k], two[k]), k


def test_two_micro_batches_step_with_one_batchs_gradients(registry, tmp_path, monkeypatch):
    """grad_accum = 2 gives each optimiser the gradients of one batch of twice the size (pools filling and swapping
    within the step); after several adversarial steps instance norm's float sensitivity takes over (see
    conformance.has_instance_norm), so the first step is where they must agree."""
    from playground.run import Run

    seen: dict[int, dict[str, list[torch.Tensor]]] = {}
    real = Run.step

    def recording(self, name=None):
        if self.last_micro_batch:
            for n in self._names(name):
                seen.setdefault(self.accum, {})[n] = [p.grad.clone() for p in self._params[n] if p.grad is not None]
        return real(self, name)

    monkeypatch.setattr(Run, "step", recording)
    cfg = {**TINY, "steps": 1, "batch_size": 32}  # 16 per micro-batch through pools of 8: fills, then swaps
    Trainer(registry, "cyclegan", cfg, out_dir=tmp_path / "one", device="cpu").run()
    Trainer(registry, "cyclegan", {**cfg, "grad_accum": 2}, out_dir=tmp_path / "two", device="cpu").run()
    for name in ("G", "D"):
        assert len(seen[1][name]) == len(seen[2][name]) > 0
        for a, b in zip(seen[1][name], seen[2][name], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)  # float summation order only


# -- data and schedule -------------------------------------------------------------------------------------------
def test_two_streams_arrive_as_separate_batches_from_their_datasets(registry, monkeypatch, tmp_path):
    seen = []
    family_class = type(registry.family("cyclegan"))  # the registry's copy of the plugin, not this test's import
    real = family_class.train_step

    def spy(self, run, batch):
        seen.append((batch["A"].x.clone(), batch["B"].x.clone()))
        return real(self, run, batch)

    monkeypatch.setattr(family_class, "train_step", spy)
    Trainer(registry, "cyclegan", {**TINY, "steps": 3}, out_dir=tmp_path / "r", device="cpu").run()
    digits = load_dataset(registry.datasets, DataSpec("digits")).float_images().flatten(1)
    glyphs = load_dataset(registry.datasets, DataSpec("glyphs")).float_images().flatten(1)

    def found_in(x, data):  # every image of x is, exactly, one of data's
        return bool((x.flatten(1)[:, None] == data[None]).all(-1).any(1).all())

    assert len(seen) == 3
    for a, b in seen:
        assert a.shape == b.shape == (8, 1, 32, 32)
        assert found_in(a, digits) and not found_in(a, glyphs)
        assert found_in(b, glyphs) and not found_in(b, digits)


def test_one_dataset_for_both_domains_and_unusable_sizes_are_refused(registry, tmp_path):
    with pytest.raises(pg.ConfigError, match="Domains A and B are both 'digits'"):
        Trainer(registry, "cyclegan", {**TINY, "dataset_b": "digits"}, out_dir=tmp_path, device="cpu")
    with pytest.raises(pg.ConfigError, match="not a multiple of 4"):
        Trainer(registry, "cyclegan", {**TINY, "image_size": 30}, out_dir=tmp_path, device="cpu").run()
    with pytest.raises(pg.ConfigError, match="4 discriminator layers leave no patches at 32 px; use at most 3"):
        Trainer(registry, "cyclegan", {**TINY, "d_layers": 4}, out_dir=tmp_path, device="cpu").run()


def test_linear_decay_holds_across_a_resume_and_extending_keeps_its_horizon(registry, tmp_path):
    cfg = {**TINY, "steps": 20, "lr_schedule": "linear_decay", "log_every": 1}
    full = Trainer(registry, "cyclegan", cfg, out_dir=tmp_path / "full", device="cpu")
    full.run()

    def stop_at_7(p):
        if p.step >= 7:
            part.stop()

    part = Trainer(registry, "cyclegan", {**cfg, "steps": 12, "lr_horizon": 20}, out_dir=tmp_path / "part",
                   device="cpu", on_progress=stop_at_7)
    assert part.run().step == 7
    resumed = Trainer(registry, "cyclegan", {"steps": 20}, out_dir=tmp_path / "part", resume=tmp_path / "part",
                      device="cpu")
    resumed.run()
    for k, v in full.state.modules.state_dict().items():
        assert torch.equal(v, resumed.state.modules.state_dict()[k]), k
    lr = resumed.state.optimizers["G"].param_groups[0]["lr"]
    assert lr == pytest.approx(1e-3 * lr_factor("linear_decay", 19, 20)) and lr == pytest.approx(1e-4)
    assert lr_factor("linear_decay", 9, 20) == 1.0 and lr_factor("linear_decay", 15, 20) == pytest.approx(0.5)
    # Extending a finished linear-decay run past its horizon: the schedule stays fixed (lr 0), and the run says so.
    more = Trainer(registry, "cyclegan", {"steps": 24}, out_dir=tmp_path / "part", resume=tmp_path / "part",
                   device="cpu")
    p = more.run()
    assert any("steps 21–24 train at learning rate 0" in n for n in p.notes), p.notes
    for k, v in resumed.state.modules.state_dict().items():
        assert torch.equal(v, more.state.modules.state_dict()[k]), k


# -- the semantic term ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_semantic_term_fits_frozen_classifiers_first_and_trains_only_the_generators(registry, tmp_path, monkeypatch):
    """λ_semantic > 0: a classifier per domain is fitted before the first step (accurate on its training labels),
    no optimiser holds it and training leaves it unchanged; the term enters G's loss with its weight and its
    gradient reaches the generators, not the discriminators or the classifiers."""
    from plugins.cyclegan.semantic import semantic_loss

    family_class = type(registry.family("cyclegan"))
    prepared = {}
    real_prepare = family_class.prepare

    def spy(self, state, data, generator):
        real_prepare(self, state, data, generator)
        prepared.update({k: v.clone() for k, v in state.modules.state_dict().items() if k.startswith("C_")})

    monkeypatch.setattr(family_class, "prepare", spy)
    t = Trainer(registry, "cyclegan", {**TINY, "steps": 3, "log_every": 1, "lambda_semantic": 2.5}, out_dir=tmp_path,
                device="cpu")
    p = t.run()
    state = t.state
    for stream in "AB":
        assert state.metrics[f"semantic classifier {stream} (train accuracy)"] >= 0.95, state.metrics
    held = {id(q) for opt in state.optimizers.values() for g in opt.param_groups for q in g["params"]}
    assert prepared and not any(id(q) in held for k in ("C_A", "C_B") for q in state.modules[k].parameters())
    for k, v in prepared.items():
        assert torch.equal(v, state.modules.state_dict()[k]), k  # frozen through training
    v = {name: val for step, name, val in p.losses if step == 3}
    expected = (v["adversarial A→B"] + v["adversarial B→A"] + 10 * (v["cycle A (L1)"] + v["cycle B (L1)"])
                + 10 * 0.5 * v["identity (L1)"] + 2.5 * v["semantic (CE)"])
    assert v["G loss"] == pytest.approx(expected, rel=1e-5) and v["semantic (CE)"] > 0

    digits = load_dataset(registry.datasets, DataSpec("digits"))
    glyphs = load_dataset(registry.datasets, DataSpec("glyphs"))
    m = state.modules
    m.zero_grad(set_to_none=True)
    a, b = digits.float_images()[:16], glyphs.float_images()[:16]
    semantic_loss(m["C_A"], m["C_B"], m["G_AB"](a), digits.labels[:16], m["G_BA"](b), glyphs.labels[:16]).backward()
    for name in ("G_AB", "G_BA"):
        assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in m[name].parameters()), name
    for name in ("D_A", "D_B", "C_A", "C_B"):
        assert all(q.grad is None for q in m[name].parameters()), name


@pytest.mark.slow
def test_semantic_term_resumes_exactly_without_refitting(registry, tmp_path):
    cfg = {**TINY, "steps": 4, "lr_horizon": 4, "lambda_semantic": 1.0}  # one schedule for both runs
    full = Trainer(registry, "cyclegan", cfg, out_dir=tmp_path / "full", device="cpu")
    full.run()
    part = Trainer(registry, "cyclegan", {**cfg, "steps": 2}, out_dir=tmp_path / "part", device="cpu")
    part.run()
    resumed = Trainer(registry, "cyclegan", {"steps": 4}, out_dir=tmp_path / "part", resume=tmp_path / "part",
                      device="cpu")
    resumed.run()
    for k, v in full.state.modules.state_dict().items():
        assert torch.equal(v, resumed.state.modules.state_dict()[k]), k


def test_semantic_term_needs_both_domains_labelled_alike(registry, tmp_path):
    _write_domains(tmp_path / "data")
    folder = {"dataset": f"folder:{tmp_path / 'data' / 'trainA'}", "lambda_identity": 0.0, "lambda_semantic": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(pg.DataError, match="needs labelled data for 'dataset'.*has no labels"):
            Trainer(registry, "cyclegan", {**TINY, **folder}, out_dir=tmp_path / "r", device="cpu").run()
    with pytest.raises(pg.ConfigError, match="domain A has 10 class.* domain B 3.*Set λ semantic to 0"):
        Trainer(registry, "cyclegan", {**TINY, "dataset_b": "shapes", "lambda_semantic": 1.0, "lambda_identity": 0.0},
                out_dir=tmp_path / "s", device="cpu").run()


# -- your own folders ----------------------------------------------------------------------------------------------
def _write_domains(root):
    """A CycleGAN tree: trainA of grey squares of mixed sizes, trainB of RGBA discs, test splits, one broken file."""
    from PIL import ImageDraw

    for split, n in (("train", 12), ("test", 4)):
        (root / f"{split}A").mkdir(parents=True)
        (root / f"{split}B").mkdir(parents=True)
        for i in range(n):
            side = (20, 48, 33)[i % 3]
            im = Image.new("L", (side, side + i % 2 * 10), 0)
            ImageDraw.Draw(im).rectangle((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=230)
            im.save(root / f"{split}A" / f"{i}.png")
            disc = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
            ImageDraw.Draw(disc).ellipse((8, 8, 32, 32), fill=(255, 255, 255, 255))
            disc.save(root / f"{split}B" / f"{i}.png")
    (root / "trainA" / "broken.png").write_bytes(b"\x89PNG not really")


def test_folder_domains_load_with_their_test_splits_and_skip_a_broken_file(registry, tmp_path):
    _write_domains(tmp_path)
    with pytest.warns(UserWarning, match="Skipped 1 unreadable file.*broken.png"):
        a = load_dataset(registry.datasets, DataSpec(f"folder:{tmp_path / 'trainA'}"))
    assert a.images.shape == (12, 1, 32, 32) and a.labels is None and "broken.png" in a.meta["skipped"][0]
    test_a = load_dataset(registry.datasets, DataSpec(f"folder:{tmp_path / 'trainA'}", split="test"))
    assert len(test_a) == 4  # testA beside trainA
    b = load_dataset(registry.datasets, DataSpec(f"folder:{tmp_path / 'trainB'}", size=16))
    assert b.images.shape == (12, 3, 16, 16)  # RGBA: colour, transparent parts composited on black
    assert b.images[0, :, 0, 0].tolist() == [0, 0, 0] and b.images[0, :, 8, 8].tolist() == [255, 255, 255]
    with pytest.raises(pg.DataError, match="two domains in CycleGAN's layout.*trainA.*trainB"):
        load_dataset(registry.datasets, DataSpec(f"folder:{tmp_path}"))


def test_trains_on_two_folders_and_translates_their_test_images(registry, tmp_path, home):
    _write_domains(tmp_path / "data")
    cfg = {**TINY, "steps": 4, "dataset": f"folder:{tmp_path / 'data' / 'trainA'}",
           "dataset_b": f"folder:{tmp_path / 'data' / 'trainB'}"}
    out = home / "runs" / "cyclegan" / "folders"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(pg.ConfigError, match="1 channel.* and domain B 3.*set λ identity to 0"):
            Trainer(registry, "cyclegan", cfg, out_dir=out, device="cpu").run()  # grey squares vs colour discs
        p = Trainer(registry, "cyclegan", {**cfg, "lambda_identity": 0.0}, out_dir=out, device="cpu").run()
    assert p.status == "finished" and any("broken.png" in n for n in p.notes), p.notes
    res = run_task(registry, "cyclegan", "run/folders", "batch_translate", {"direction": "BtoA", "count": 8})
    assert res.values["images"] == 4 and "label preserved" not in res.values  # folders have no labels
    out = run_evaluate(registry, "cyclegan", "run/folders", {"n": 10, "compare": ""})
    rows = out.values["scores"]
    assert len(rows) == 2 and all("cycle L1" in r and "FID" not in r for r in rows)  # no evaluator for folders


# -- learning -------------------------------------------------------------------------------------------------------
def label_preservation(registry, state, direction="AtoB", n=200):
    src, dst = ("A", "B") if direction == "AtoB" else ("B", "A")
    load = Loader(registry, registry.family("cyclegan"), state.device)
    x, y = evaluation._test(state, load, src, n)
    found = evaluation.classify(state, dst, translate(state, x, "G_AB" if direction == "AtoB" else "G_BA"))
    return float((found[0] == y).float().mean())


def test_a_short_run_preserves_labels_far_better_than_an_untrained_model(registry, smoke_runs):
    """The shared smoke run (300 steps of the tiny smoke config, ~20 s) against its untrained twin."""
    state = smoke_runs("cyclegan").state
    before = {d: label_preservation(registry, untrained_like(registry, state), d) for d in ("AtoB", "BtoA")}
    after = {d: label_preservation(registry, state, d) for d in ("AtoB", "BtoA")}
    for d in before:
        assert after[d] > before[d] + 0.3 and after[d] > 0.5, (before, after)


# -- shipped weights: the targets their cards state ----------------------------------------------------------------
@pytest.mark.slow
def test_shipped_weights_and_what_the_cycle_loss_buys(registry):
    """The cards, on the 360 digits and 360 glyphs test images. The paper's recipe keeps the label 66 % (digits →
    glyphs) and 74 % (glyphs → digits) of the time, its λ_cycle = 0 twin (same seed and steps) 60 % and 62 %; round
    trips come back at 25–26 dB with the cycle loss and 11–12 dB without. The shipped default adds the semantic term
    and weighs the handwritten round trip 0.1 (8,000 steps): it meets the issue's ≥ 90 % in both directions (97.5 %
    and 99.7 %) and its ≤ 3× the real-vs-real FID for digits → glyphs (2.85×, the paper's recipe 11.8×); its printed
    round trips are as good as the paper's, its handwritten ones (19.3 dB) still far above no cycle at all."""
    from playground.metrics.scores import psnr

    cpu = torch.device("cpu")
    default = model_cache().get(registry, "cyclegan", "digits-glyphs", cpu)
    recipe = model_cache().get(registry, "cyclegan", "digits-glyphs-paper", cpu)
    ablation = model_cache().get(registry, "cyclegan", "digits-glyphs-no-cycle", cpu)
    assert ablation.config.lambda_cycle == 0 and recipe.config.lambda_cycle == 10
    assert (ablation.config.seed, ablation.config.steps) == (recipe.config.seed, recipe.config.steps)
    assert default.config.lambda_semantic == 1 and recipe.config.lambda_semantic == 0
    load = Loader(registry, registry.family("cyclegan"), cpu)
    for d, margin in (("AtoB", 0.04), ("BtoA", 0.08)):
        kept = label_preservation(registry, recipe, d, n=360)
        lost = label_preservation(registry, ablation, d, n=360)
        assert kept >= 0.6 and kept - lost >= margin, (d, kept, lost)
        assert label_preservation(registry, default, d, n=360) >= 0.9, d
        there, back = ("G_AB", "G_BA") if d == "AtoB" else ("G_BA", "G_AB")
        x, _ = evaluation._test(recipe, load, "A" if d == "AtoB" else "B", 360)
        round_trip = {name: float(psnr(translate(s, translate(s, x, there), back), x).mean())
                      for name, s in (("recipe", recipe), ("ablation", ablation), ("default", default))}
        assert round_trip["recipe"] > round_trip["ablation"] + 8, round_trip
        if d == "AtoB":  # weighed 0.1: the handwritten round trip gives way, but stays a round trip
            assert round_trip["default"] > round_trip["ablation"] + 5, round_trip
        else:
            assert round_trip["default"] > round_trip["recipe"] - 1, round_trip
    x, y = evaluation._test(recipe, load, "A", 360)
    real_b, _ = evaluation._test(recipe, load, "B", 360)
    fid = {name: evaluation.direction_scores(s, load, "AtoB", x, y, real_b)[0]["FID / baseline"]
           for name, s in (("recipe", recipe), ("default", default))}
    assert fid["default"] <= 3 and fid["recipe"] > 3, fid


def test_examples_are_the_first_domains_images(registry):
    """The Translate tab's examples feed its default direction (A → B): handwritten digits only, not the shapes a
    one-stream family gets as anomalies."""
    from pathlib import Path

    from playground.ui.examples import example_files

    files = example_files(registry, "cyclegan")
    assert len(files) == 8 and {Path(f).parent.name for f in files} == {"digits"}
    assert {Path(f).parent.name for f in example_files(registry, "autoencoder")} == {"digits", "shapes"}

"""The plugin author's kit: new-plugin, check-plugin, the CLI's rough edges, evaluators for any dataset, quality
views, 2-D overlays, loss charts, API parameter names. Each test fails on the code before the kit."""

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

import playground as pg
from playground import conformance
from playground import registry as registry_module
from playground.cli import COMMANDS, FAMILY_COMMANDS, main
from playground.registry import Registry
from playground.templates import write_plugin as write_template

from conftest import write_plugin
from plugin_samples import GOOD

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"


@pytest.fixture(autouse=True)
def fresh_registry():
    """The CLI builds the process-wide registry once; each test starts from its own plugins folders."""
    registry_module.set_registry(None)
    yield
    registry_module.set_registry(None)

BROKEN_BUILD = '''
import torch
from torch import nn
import playground as pg

class Broken(pg.ModelFamily):
    name, title = "broken_build", "Broken build"
    def build(self, cfg, info):
        raise RuntimeError("no network for you")
    def train_step(self, run, batch):
        return {}

@pg.hookimpl
def register_models(register):
    register(Broken())
'''

# A family with a sample() but no "generate" task, whose only task answers with images of different sizes.
ODD = '''
from dataclasses import dataclass
import torch
from torch import nn
import playground as pg

@dataclass
class NoIn:
    pass

class Odd(pg.ModelFamily):
    name, title = "odd", "Odd"
    tasks = (pg.Task("show", "Show", NoIn),)
    checks = pg.Checks(smoke_config={"batch_size": 16})
    def build(self, cfg, info):
        return nn.ModuleDict({"mean": nn.ParameterDict({"x": nn.Parameter(torch.zeros(info.channels, info.size,
                                                                                     info.size))})})
    def train_step(self, run, batch):
        loss = ((run.modules["mean"]["x"] - batch.x) ** 2).mean()
        run.backward(loss)
        run.step()
        return {"loss": loss}
    @torch.no_grad()
    def sample(self, state, n, generator, labels=None):
        return state.modules["mean"]["x"].tanh().expand(n, -1, -1, -1) * 0 + torch.rand(n, 1, 32, 32,
            generator=generator) * 2 - 1
    @torch.no_grad()
    def show(self, state, inp):
        if state.config.lr > 0.5:
            raise ValueError("deliberate failure for --traceback")
        return pg.TaskResult(images=[("small", torch.zeros(1, 16, 16)), ("big", torch.zeros(3, 40, 24))])

@pg.hookimpl
def register_models(register):
    register(Odd())
'''


def test_new_plugin_output_passes_check_plugin(tmp_path, capsys, home):
    folder = tmp_path / "mine"
    assert main(["new-plugin", "my_points", "--kind", "points", "--dir", str(folder)]) == 0
    assert main(["new-plugin", "my_images", "--dir", str(folder)]) == 0
    assert (folder / "my_points.py").exists() and (folder / "tests" / "test_my_images.py").exists()
    assert main(["new-plugin", "my_points", "--dir", str(folder)]) == 2  # never overwrites by surprise
    assert "already exist" in capsys.readouterr().err
    assert main(["check-plugin", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "my_points: PASS" in out and "my_images: PASS" in out
    assert "autoencoder" not in out  # built-ins are loaded, not checked


def test_check_plugin_gives_one_verdict_per_family_and_fails_on_load_errors(tmp_path, capsys, home):
    folder = tmp_path / "mixed"
    write_template("good_points", "points", folder)
    write_plugin(folder, "broken_build", BROKEN_BUILD)
    write_plugin(folder, "cannot_import", "raise ImportError('missing dependency xyz')\n")
    assert main(["check-plugin", str(folder), "--check", "learns", "--check", "tasks"]) == 1
    out = capsys.readouterr().out
    assert "good_points: PASS" in out
    assert "broken_build: FAIL" in out and "no network for you" in out  # its reason, not a shared-fixture error
    assert "cannot_import: FAIL" in out and "missing dependency xyz" in out
    report = conformance.check_plugin_folder(folder, ["good_points"], ["tasks"])
    assert not report.ok  # the folder's load failure counts even when checking one family


def test_learning_rule_is_sign_safe():
    # A negative log-likelihood that stays near -1 passed the old rule (final < 0.5 × untrained); it must not.
    assert -1.2 < 0.5 * -1.0 and not conformance.improved(-1.0, -1.2, conformance.LOSS_MARGIN)
    assert conformance.improved(-1.0, -1.6, conformance.LOSS_MARGIN)
    assert conformance.improved(2.4, 0.4, conformance.LOSS_MARGIN) and not conformance.improved(2.4, 1.5, 0.5)


def test_help_everywhere(capsys):
    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        out = capsys.readouterr().out
        assert "usage" in out.lower(), (name, out[:200])
        if name in FAMILY_COMMANDS:
            assert "autoencoder" in out  # lists the families to choose from
    assert main(["sample", "autoencoder", "--help"]) == 0 and "--label" in capsys.readouterr().out
    assert main(["plugins", "--help"]) == 0 and "--strict" in capsys.readouterr().out


def test_sample_mixed_sizes_traceback_and_out_folders(tmp_path, capsys, home):
    plugins = tmp_path / "p"
    write_plugin(plugins, "oddplugin", ODD)
    base = ["--plugins-dir", str(plugins)]
    # A run written with --out elsewhere says how to use it by name; import makes it import/NAME.
    assert main([*base, "train", "odd", "--steps", "3", "--batch-size", "8", "--out", str(tmp_path / "x")]) == 0
    said = capsys.readouterr().out
    assert f"playground import odd {tmp_path / 'x'}" in said
    assert main([*base, "import", "odd", str(tmp_path / "x"), "--name", "mine"]) == 0
    assert "import/mine" in capsys.readouterr().out
    # sample() without a generate task: a grid.
    assert main([*base, "sample", "odd", "--weights", "import/mine", "--n", "9", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 3 * 32
    # Task images of different sizes and channels side by side.
    assert main([*base, "run", "odd", "show", "--weights", "import/mine", "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size[0] > 2 * 24
    # A plugin failure: a hint without --traceback, the plugin's own frame with it.
    assert main([*base, "train", "odd", "--steps", "2", "--batch-size", "8", "--lr", "0.9", "--name", "hot"]) == 0
    capsys.readouterr()
    assert main([*base, "run", "odd", "show", "--weights", "run/hot"]) == 2
    err = capsys.readouterr().err
    assert "deliberate failure" in err and "--traceback" in err and "Traceback (most recent" not in err
    assert main([*base, "run", "odd", "show", "--weights", "run/hot", "--traceback"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent" in err and "oddplugin.py" in err
    # plugins --strict fails when a plugin failed (here: at run time).
    assert main([*base, "plugins"]) == 0
    capsys.readouterr()


def test_sample_a_conditional_class_and_refuse_an_unconditional_one(capsys, tmp_path):
    assert main(["sample", "vae", "--weights", "digits-conditional", "--label", "7", "--n", "4",
                 "--out", str(tmp_path / "7.png")]) == 0
    assert main(["sample", "autoencoder", "--weights", "digits", "--label", "3"]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert main(["sample", "cyclegan", "--weights", "digits-glyphs"]) == 2
    assert "implements no sample()" in capsys.readouterr().err


def test_plugins_strict_exits_nonzero_on_failures(tmp_path, capsys):
    write_plugin(tmp_path / "p", "cannot_import", "raise ImportError('gone')\n")
    assert main(["--plugins-dir", str(tmp_path / "p"), "plugins"]) == 0
    assert main(["--plugins-dir", str(tmp_path / "p"), "plugins", "--strict"]) == 1


def test_evaluator_for_any_dataset_lives_in_home_and_views_compare_like_with_like(home, tmp_path):
    from playground.metrics.evaluator import evaluators_dir, known_evaluators, load_evaluator, train_evaluator
    from playground.metrics.report import quality_report

    reg = Registry()

    def load_odd_digits(spec):  # a "new" labelled dataset: the digits, renamed
        d = reg.datasets["digits"].load(spec)
        return pg.ImageData(d.images, d.labels, d.class_names)

    class Plugin:
        @pg.hookimpl
        def register_datasets(self, register):
            register(pg.DatasetInfo("odd_digits", "Odd digits", load_odd_digits, num_classes=10))

    reg.register_plugin(Plugin(), "odd_digits")
    meta = train_evaluator(reg, "odd_digits", epochs=2)
    assert (home / "evaluators" / "odd_digits" / "model.safetensors").exists()
    assert not (evaluators_dir() / "odd_digits").exists()  # the repository's weights/ untouched
    assert "odd_digits" in known_evaluators() and load_evaluator("odd_digits").accuracy == meta["accuracy"]
    # Binarised real digits against the grey reference look like another dataset; through the view, like digits.
    test = reg.datasets["digits"].load(pg.DataSpec("digits", split="test")).float_images()[:300]
    binary = pg.BINARISED.apply(test)
    plain = quality_report(reg, binary, "digits", neighbours=0)
    viewed = quality_report(reg, binary, "digits", neighbours=0, view=pg.BINARISED)
    assert viewed.scores["FID"] < 0.25 * plain.scores["FID"], (viewed.scores["FID"], plain.scores["FID"])
    assert viewed.protocol.view == "binarised at 0" and plain.protocol.key() != viewed.protocol.key()


def test_overlays_are_drawn_where_the_data_says():
    blank = pg.plot(real=torch.tensor([[-3.0, -3.0], [3.0, 3.0]]))
    ring = pg.plot(real=torch.tensor([[-3.0, -3.0], [3.0, 3.0]]),
                   overlays=[pg.Ellipse(torch.zeros(2), torch.eye(2), sigmas=(1,))])
    changed = (ring != blank).any(0).nonzero().float()
    centre = torch.tensor([180.0, 180.0])
    radius = (changed - centre).norm(dim=1)
    # A 1σ circle of radius 1 in a view about 7.5 units wide at 360 px: ~48 px from the centre, nothing at the centre.
    assert len(changed) > 100 and radius.min() > 35 and radius.max() < 60, (radius.min(), radius.max())


def test_each_loss_gets_its_own_scale():
    from playground.ui.loss_chart import Y, loss_frame

    rows = [(s, "free energy gap", -35.0 + s) for s in range(5)] + [(s, "recon", 0.03 - 0.005 * s) for s in range(5)]
    frame = loss_frame(rows)
    for name, part in frame.groupby("series"):
        assert part[Y].min() == 0 and part[Y].max() == 1, name  # both span the chart, not one a flat line
    assert set(frame["series"]) == {"free energy gap", "recon"}  # stable names: the plot's colours are fixed by them
    assert frame.loc[frame["series"] == "recon", "value"].max() == 0.03  # raw values kept for the tooltip


def test_kmeans_example_fits_without_gradients(home, tmp_path):
    from playground.engine import Trainer

    reg = Registry([EXAMPLES])
    t = Trainer(reg, "kmeans2d", {"dataset": "ring8", "clusters": 8, "steps": 15}, out_dir=tmp_path / "km",
                device="cpu")
    p = t.run()
    assert not t.state.optimizers and p.status == "finished"
    inertia = [v for _, n, v in p.losses if n == "inertia"]
    assert all(b <= a + 1e-6 for a, b in zip(inertia, inertia[1:], strict=False))  # Lloyd never raises it
    fam = reg.family("kmeans2d")
    test = reg.datasets["ring8"].load(pg.DataSpec("ring8", split="test")).points
    assert fam.learning_score(t.state, test) < 0  # held-out NLL below zero: the sign-safe rule matters here
    assert len(fam.overlays(t.state)) == 8


@pytest.mark.slow
def test_api_parameters_are_named_like_the_inputs(home):
    from playground.ui.app import build_app

    demo = build_app(Registry([EXAMPLES]))
    endpoints = demo.get_api_info()["named_endpoints"]
    params = {k: [(p["parameter_name"], p["type"].get("type")) for p in v["parameters"]] for k, v in endpoints.items()}
    assert params["/autoencoder_denoise"][:4] == [("weights", "string"), ("image", "object"),
                                                  ("image_sketch", "object"), ("image_invert", "string")]
    assert ("seed", "integer") in params["/autoencoder_denoise"]
    assert [n for n, _ in params["/autoencoder_train_start"][:3]] == ["dataset", "resume", "steps"]
    assert ("batch_size", "integer") in params["/autoencoder_train_start"]  # an int slider is an integer
    assert [n for n, _ in params["/kmeans2d_lab_reset"][:5]] == ["dataset", "init_a", "init_b", "weights_a",
                                                                  "weights_b"]
    assert not any(n.startswith("param_") for ps in params.values() for n, _ in ps), \
        [k for k, ps in params.items() if any(n.startswith("param_") for n, _ in ps)]
    json.dumps(params)


# The one built-in plugin that is not a model family: it registers the data layer's own loaders.
DATA_LAYER_PLUGIN = "builtin_datasets.py"


def test_built_in_families_use_only_the_public_kit():
    """A built-in family imports ``playground`` only as ``pg``: whatever it needs, an outside author has too."""
    import ast

    deep = []
    for path in sorted((Path(__file__).resolve().parents[1] / "plugins").rglob("*.py")):
        if path.name == DATA_LAYER_PLUGIN:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            deep += [f"{path.name}:{node.lineno} {n}" for n in names if n.startswith("playground.")]
            if isinstance(node, ast.ImportFrom) and node.module == "playground":
                deep += [f"{path.name}:{node.lineno} from playground import {a.name}" for a in node.names]
    assert deep == []
    assert all(hasattr(pg, name) for name in pg.__all__)


def test_check_plugin_builds_each_family_tab_and_fails_where_the_ui_cannot(tmp_path, capsys, home, monkeypatch):
    """A declaration the UI cannot draw is a check-plugin failure, not a tab that vanishes at app start."""
    from playground.ui.family_tab import FamilyTab

    write_plugin(tmp_path / "p", "tinyplugin", GOOD)
    assert main(["check-plugin", str(tmp_path / "p"), "--check", "ui"]) == 0
    assert re.search(r"tiny +ui +PASS", capsys.readouterr().out)
    real = FamilyTab.build

    def broken(self, tab):
        if self.family.name == "tiny":
            raise TypeError("'NoneType' object is not iterable")
        return real(self, tab)

    monkeypatch.setattr(FamilyTab, "build", broken)
    assert main(["check-plugin", str(tmp_path / "p"), "--check", "ui"]) == 1
    assert re.search(r"tiny +ui +FAIL .*'NoneType' object is not iterable", capsys.readouterr().out)

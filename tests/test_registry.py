import pytest

import playground as pg
from playground.engine import Trainer
from playground.registry import Registry

from conftest import write_plugin
from plugin_samples import BAD_SIGNATURE, BROKEN_IMPORT, DUPLICATE, GOOD, PACKAGE_FAMILY, PACKAGE_INIT, RAISES_IN_TRAIN


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    write_plugin(d, "good", GOOD)
    write_plugin(d, "broken", BROKEN_IMPORT)
    write_plugin(d, "badsig", BAD_SIGNATURE)
    write_plugin(d, "dupe", DUPLICATE)
    pkg = d / "pkgplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PACKAGE_INIT)
    (pkg / "family.py").write_text(PACKAGE_FAMILY)
    return d


def test_builtins_load_through_the_directory_loader(registry):
    assert registry.plugins["autoencoder"].origin == "built-in"
    assert "autoencoder" in registry.families
    assert {"digits", "glyphs", "shapes", "ring8"} <= set(registry.datasets)


def test_good_broken_badsig_duplicate_and_package(plugin_dir):
    reg = Registry([plugin_dir])
    # Good single file and package (relative import) plugins load and register their families.
    assert "tiny" in reg.families and "packaged" in reg.families
    # The built-in autoencoder keeps its name; the impostor is recorded.
    assert type(reg.families["autoencoder"]).__name__ == "Autoencoder"
    by_plugin = {f.plugin: f for f in reg.failures}
    assert by_plugin["broken"].stage == "import"
    assert "broken on purpose" in by_plugin["broken"].message
    assert "broken.py" in by_plugin["broken"].file and "RuntimeError" in by_plugin["broken"].traceback
    assert by_plugin["badsig"].stage == "validate"
    assert "unexpected_argument" in by_plugin["badsig"].message
    assert by_plugin["dupe"].stage == "register"
    assert "already registered by plugin 'autoencoder'" in by_plugin["dupe"].message
    statuses = {r["plugin"]: r["status"] for r in reg.status_rows()}
    assert statuses["good"] == "loaded" and statuses["pkgplugin"] == "loaded"
    assert statuses["broken"] == statuses["badsig"] == statuses["dupe"] == "failed"


def test_kill_switches(plugin_dir, monkeypatch):
    (plugin_dir / "broken.py").rename(plugin_dir / "broken.py.disabled")
    monkeypatch.setenv("PLAYGROUND_DISABLE_PLUGINS", "good,badsig")
    reg = Registry([plugin_dir])
    statuses = {r["plugin"]: r["status"] for r in reg.status_rows()}
    assert statuses["broken"] == statuses["good"] == statuses["badsig"] == "disabled"
    assert "tiny" not in reg.families
    assert not any(f.plugin in ("broken", "good", "badsig") for f in reg.failures)


def test_missing_plugins_folder_is_reported_not_fatal(tmp_path):
    reg = Registry([tmp_path / "nope"])
    assert "autoencoder" in reg.families
    assert any("does not exist" in f.message for f in reg.failures)


def test_register_and_unregister_in_process(registry):
    class Observer:
        seen = []

        @pg.hookimpl
        def on_train_step(self, family, step, losses):
            self.seen.append((family, step, dict(losses)))

    obs = Observer()
    reg = Registry()
    assert reg.register_plugin(obs, "observer")
    try:
        reg.emit("on_train_step", family="x", step=3, losses={"loss": 1.0})
        assert obs.seen == [("x", 3, {"loss": 1.0})]
    finally:
        reg.unregister_plugin("observer")
    reg.emit("on_train_step", family="x", step=4, losses={"loss": 1.0})
    assert len(obs.seen) == 1 and "observer" not in reg.plugins


def test_plugin_raising_in_train_is_recorded_and_others_keep_working(tmp_path, home):
    d = tmp_path / "p"
    write_plugin(d, "explodes", RAISES_IN_TRAIN)
    write_plugin(d, "good", GOOD)
    reg = Registry([d])
    with pytest.raises(pg.PluginError, match="boom in train_step"):
        Trainer(reg, "explodes", {"steps": 3, "batch_size": 4}, out_dir=tmp_path / "run").run()
    fail = [f for f in reg.failures if f.plugin == "explodes"]
    assert fail and fail[0].stage == "train" and "ZeroDivisionError" in fail[0].traceback
    # Another plugin still trains in the same registry.
    prog = Trainer(reg, "tiny", {"steps": 3, "batch_size": 4, "log_every": 1}, out_dir=tmp_path / "ok").run()
    assert prog.status == "finished"


def test_failing_observer_does_not_stop_training(tmp_path, home):
    class Bad:
        @pg.hookimpl
        def on_train_step(self, family, step, losses):
            raise ValueError("observer bug")

    reg = Registry()
    reg.register_plugin(Bad(), "badobserver")
    prog = Trainer(reg, "autoencoder", {"steps": 4, "batch_size": 4, "width": 4, "log_every": 2},
                   out_dir=tmp_path / "r").run()
    assert prog.status == "finished"
    assert any(f.plugin == "badobserver" and f.stage == "event" for f in reg.failures)


ANCHOR = "    checks = pg.Checks("


@pytest.mark.parametrize("change, message", [
    (('tasks = (pg.Task("generate", "Generate", GenIn),)',
      'tasks = (pg.Task("generate", "Generate", GenIn), pg.Task("denoise", "Denoise", GenIn))'),
     "task 'denoise' is declared but the family has no method denoise(state, inputs)"),
    ((ANCHOR, "    evaluate_inputs = GenIn\n" + ANCHOR),
     "evaluate_inputs is declared but the family has no evaluate(state, inputs, load)"),
    ((ANCHOR, "    lab = pg.Lab(parts=('D', 'G'))\n" + ANCHOR),
     "lab is declared, but the Lab is for 2-D families and this one trains on images"),
    ((ANCHOR, "    scores = pg.Scores(chart='pie')\n" + ANCHOR), "scores chart 'pie' must be 'line' or 'bar'"),
    (('"lr": 0.01}', '"lr": 0.01, "hiden": 4}'), "checks smoke_config sets hiden, which Cfg does not have"),
    ((ANCHOR, "    lab_parts = ('D', 'G')\n" + ANCHOR), "lab_parts is now lab = pg.Lab(parts=...)"),
    ((ANCHOR, "    smoke_config = {}\n" + ANCHOR), "smoke_config is now checks = pg.Checks(smoke_config=...)"),
])
def test_a_half_declared_family_is_refused_at_registration_with_the_reason(tmp_path, change, message):
    """Found when the plugin registers (a failure like any other, shown in the Plugins tab and by check-plugin),
    not when the app builds its tab or a visitor calls the missing piece."""
    old, new = change
    assert old in GOOD
    write_plugin(tmp_path / "p", "halfplugin", GOOD.replace(old, new, 1))
    reg = Registry([tmp_path / "p"])
    assert "tiny" not in reg.families and "autoencoder" in reg.families
    (failure,) = [f for f in reg.failures if f.plugin == "halfplugin"]
    assert failure.stage == "register" and "model family 'tiny' is not registered" in failure.message
    assert message in failure.message


@pytest.mark.parametrize("lab, message", [
    ("pg.Lab(compare=('components', 3))", "lab compare names 'components', which has no choices"),
    ("pg.Lab(compare=('dataset_x', 3))", "'dataset_x' is not a field of"),
    ("pg.Lab(parts=('E', 'M'))", "lab parts ('E', 'M') need train_part(run, batch, part)"),
])
def test_a_2d_family_with_a_lab_it_cannot_run_is_refused_with_the_field(tmp_path, lab, message):
    """The outside author's case: a comparison over an int field without choices passed check-plugin, then the whole
    tab vanished at app start (`'NoneType' object is not iterable`)."""
    from playground.templates import write_plugin as write_template

    (path, *_) = write_template("my_points", "points", tmp_path / "p")
    text = path.read_text()
    assert "    checks = pg.Checks(" in text
    path.write_text(text.replace("    checks = pg.Checks(", f"    lab = {lab}\n    checks = pg.Checks(", 1))
    reg = Registry([tmp_path / "p"])
    assert "my_points" not in reg.families
    assert any(message in f.message for f in reg.failures), [f.message for f in reg.failures]

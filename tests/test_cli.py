import json
import re
from pathlib import Path

import pytest
from PIL import Image

from playground import registry as registry_module
from playground.cli import main

from conftest import write_plugin
from plugin_samples import GOOD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_registry():
    registry_module.set_registry(None)
    yield
    registry_module.set_registry(None)


def test_plugins_lists_loaded_and_failed(capsys, tmp_path):
    write_plugin(tmp_path, "tinyplugin", GOOD)
    write_plugin(tmp_path, "oops", "raise ImportError('missing dependency xyz')\n")
    assert main(["--plugins-dir", str(tmp_path), "plugins"]) == 0
    out = capsys.readouterr().out
    assert "autoencoder" in out and "tinyplugin" in out and "models: tiny" in out
    assert "oops" in out and "missing dependency xyz" in out


def test_train_sample_run_eval_round_trip(capsys, tmp_path, home, digit_png):
    out = home / "runs" / "autoencoder" / "cli"
    assert main(["train", "autoencoder", "--steps", "6", "--width", "4", "--batch-size", "4", "--log-every", "3",
                 "--name", "cli"]) == 0
    assert "Finished 6 steps" in capsys.readouterr().out
    assert (out / "model.safetensors").exists() and (out / "preview.png").exists()
    assert main(["sample", "autoencoder", "--weights", "run/cli", "--n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 64
    assert main(["run", "autoencoder", "denoise", "--weights", "run/cli", "--image", str(digit_png),
                 "--level", "0.2", "--image-invert", "no", "--out", str(tmp_path / "d.png")]) == 0
    assert "psnr_denoised_db" in capsys.readouterr().out
    assert main(["eval", "autoencoder", "--weights", "run/cli", "--n", "20", "--json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    r = result["results"]["run/cli"]
    assert "ROC-AUC digits vs shapes" in r["values"] and r["chart"]
    assert main(["train", "autoencoder", "--resume", "run/cli", "--steps", "9", "--log-every", "3"]) == 0
    assert "Finished 9 steps" in capsys.readouterr().out
    assert (out / "preview.png").exists()  # files the checkpoint does not own survive its re-saves


@pytest.mark.parametrize("ref", ["/tmp", "../autoencoder/digits", "run/../../x", "run/..", "import/a/b", "~/x"])
def test_cli_refuses_path_like_weights_on_every_command(capsys, home, ref, digit_png):
    commands = [["sample", "autoencoder", "--weights", ref],
                ["run", "autoencoder", "reconstruct", "--weights", ref, "--image", str(digit_png)],
                ["eval", "autoencoder", "--weights", ref, "--n", "10"],
                ["train", "autoencoder", "--resume", ref, "--steps", "2"],
                ["card", "autoencoder", "--weights", ref, "--command", "x"],
                ["hub", "push", "autoencoder", ref, "someone/x"]]
    for cmd in commands:
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert "paths are not accepted" in err or "outside the weights folders" in err, (cmd, err)


def test_cli_saves_images_of_different_sizes_side_by_side(tmp_path):
    import torch

    import playground as pg
    from playground.cli import _print_result

    res = pg.TaskResult(images=[("a", torch.zeros(1, 32, 32)), ("b", torch.zeros(3, 48, 40))])
    _print_result(res, str(tmp_path / "x.png"))
    assert Image.open(tmp_path / "x.png").size[0] > 2 * 40


def test_bad_values_exit_2_with_a_message(capsys, tmp_path):
    assert main(["train", "autoencoder", "--lr", "nan", "--out", str(tmp_path / "x")]) == 2
    assert re.search("'lr'.*must be a finite number", capsys.readouterr().err)
    assert main(["sample", "autoencoder", "--weights", "nope"]) == 2
    assert "No weights 'nope'" in capsys.readouterr().err
    assert main(["train", "nosuchfamily"]) == 2
    assert "Unknown model family 'nosuchfamily'" in capsys.readouterr().err


def test_plugin_family_trains_from_the_cli(capsys, tmp_path, home):
    write_plugin(tmp_path / "p", "tinyplugin", GOOD)
    assert main(["--plugins-dir", str(tmp_path / "p"), "train", "tiny", "--steps", "3", "--hidden", "4",
                 "--out", str(tmp_path / "r")]) == 0  # --out: any folder, e.g. to ship weights
    assert "Finished 3 steps" in capsys.readouterr().out


def test_eval_quality_writes_json_and_markdown(capsys, tmp_path):
    assert main(["eval", "autoencoder", "--weights", "digits", "--quality", "--samples", "100", "--n", "20",
                 "--json", str(tmp_path / "q.json"), "--markdown", str(tmp_path / "q.md")]) == 0
    report = json.loads((tmp_path / "q.json").read_text())
    q = report["quality"]["digits"]
    assert q["protocol"]["n_generated"] == 100 and q["scores"]["FID"] > 0 and q["baseline"]["FID"] > 0
    md = (tmp_path / "q.md").read_text()
    assert "| weights | protocol | FID | FID (real baseline)" in md and "Protocol A" in md


def test_inception_fid_is_refused_clearly_offline(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_INCEPTION_WEIGHTS", str(tmp_path / "none.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["eval", "autoencoder", "--weights", "digits", "--quality", "--samples", "50", "--n", "20",
                 "--inception"]) == 2
    assert "Inception FID needs the TF-FID Inception weights" in capsys.readouterr().err


def test_hub_pull_offline_says_so(capsys, home, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["hub", "pull", "autoencoder", "someone/absent"]) == 2
    assert "not in the local Hub cache" in capsys.readouterr().err


def test_evaluation_input_named_like_a_cli_flag_is_a_clear_plugin_error(capsys, tmp_path):
    clash = GOOD.replace("class Tiny(pg.ModelFamily):", '''@dataclass
class EvalIn:
    samples: int = pg.param(10, min=1, max=100)


class Tiny(pg.ModelFamily):
    evaluate_inputs = EvalIn

    def evaluate(self, state, inputs, load):
        return pg.TaskResult(values={"samples": inputs.samples})
''')
    write_plugin(tmp_path / "p", "clashplugin", clash)
    assert main(["--plugins-dir", str(tmp_path / "p"), "eval", "tiny", "--weights", "x"]) == 2
    assert "EvalIn.samples is also a flag of `playground eval tiny` (--samples)" in capsys.readouterr().err


def test_sample_on_a_family_that_does_not_sample_names_its_tasks(capsys):
    assert main(["sample", "vqvae", "--weights", "digits", "--n", "4"]) == 2
    err = capsys.readouterr().err
    assert "implements no sample()" in err and "reconstruct, codebook, edit, decode" in err and "Traceback" not in err


def test_resuming_shipped_weights_says_how_to_resume_instead(capsys, home):
    """Shipped weights are inference files only and read-only: continuing in their folder is refused by the one
    resume rule (weights.resume_in_place, as in the app), a continuation under a new name says the folder holds no
    training state; nothing is written into weights/ or left in runs/."""
    before = sorted(p.name for p in (ROOT / "weights" / "autoencoder" / "digits").iterdir())
    assert main(["train", "autoencoder", "--resume", "digits", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "'digits' is not one of your runs" in err and "--name NEW" in err and "Traceback" not in err
    assert main(["train", "autoencoder", "--resume", "digits", "--name", "more", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "holds weights only" in err and "Resume one of your own runs (run/NAME)" in err and "Traceback" not in err
    assert sorted(p.name for p in (ROOT / "weights" / "autoencoder" / "digits").iterdir()) == before
    assert not (home / "runs" / "autoencoder" / "more").exists()


def test_run_writes_many_images_as_rows_of_eight(capsys, home, tmp_path):
    """17 images are a 3-row grid, not a 17-image strip (each 32-pixel image ×4 with 2-pixel gaps)."""
    plugins = ["--plugins-dir", str(ROOT / "examples" / "plugins")]
    assert main([*plugins, "train", "linear_ae", "--steps", "3", "--batch-size", "16", "--name", "tiny"]) == 0
    out = tmp_path / "many.png"
    assert main([*plugins, "run", "linear_ae", "generate", "--weights", "run/tiny", "--n", "17",
                 "--out", str(out)]) == 0
    assert Image.open(out).size == ((8 * (32 + 2) + 2) * 4, (3 * (32 + 2) + 2) * 4)

import json

import pytest
from PIL import Image

from playground import registry as registry_module
from playground.cli import main

from conftest import write_plugin
from plugin_samples import GOOD


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
    out = tmp_path / "run"
    assert main(["train", "autoencoder", "--steps", "6", "--width", "4", "--batch-size", "4", "--log-every", "3",
                 "--out", str(out)]) == 0
    assert "Finished 6 steps" in capsys.readouterr().out
    assert (out / "model.safetensors").exists() and (out / "preview.png").exists()
    assert main(["sample", "autoencoder", "--weights", str(out), "--n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 64
    assert main(["run", "autoencoder", "denoise", "--weights", str(out), "--image", str(digit_png),
                 "--level", "0.2"]) == 0
    assert "psnr_denoised_db" in capsys.readouterr().out
    assert main(["eval", "autoencoder", "--weights", str(out), "--n", "20", "--json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    r = result["results"][str(out)]
    assert "ROC-AUC digits vs shapes" in r["values"] and r["chart"]
    assert main(["train", "autoencoder", "--resume", str(out), "--steps", "9", "--log-every", "3"]) == 0
    assert "Finished 9 steps" in capsys.readouterr().out


def test_bad_values_exit_2_with_a_message(capsys, tmp_path):
    assert main(["train", "autoencoder", "--lr", "nan", "--out", str(tmp_path / "x")]) == 2
    assert "'lr' must be a finite number" in capsys.readouterr().err
    assert main(["sample", "autoencoder", "--weights", "nope"]) == 2
    assert "No weights 'nope'" in capsys.readouterr().err
    assert main(["train", "nosuchfamily"]) == 2
    assert "Unknown model family 'nosuchfamily'" in capsys.readouterr().err


def test_plugin_family_trains_from_the_cli(capsys, tmp_path, home):
    write_plugin(tmp_path / "p", "tinyplugin", GOOD)
    assert main(["--plugins-dir", str(tmp_path / "p"), "train", "tiny", "--steps", "3", "--hidden", "4",
                 "--out", str(tmp_path / "r")]) == 0
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

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

import playground as pg
from playground.checkpoint import MODEL_FILE, read_metadata, save_checkpoint
from playground.engine import Trainer
from playground.hub import pull
from playground.models import import_file, load_model
from playground.paths import SHIPPED_DIR
from playground.weights import list_weights, resolve


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from playground.registry import Registry

    folder = tmp_path_factory.mktemp("w") / "ae"
    Trainer(Registry(), "autoencoder", {"steps": 3, "width": 4, "batch_size": 4}, out_dir=folder).run()
    return folder


def test_checkpoint_layout_is_safetensors_and_json(ckpt):
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "model.safetensors", "training_state.safetensors"]
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["family"] == "autoencoder" and meta["step"] == 3 and meta["config"]["width"] == 4
    assert read_metadata(ckpt) == meta


def test_missing_file(registry, tmp_path):
    with pytest.raises(pg.WeightsError, match="no such weights file"):
        load_model(registry, tmp_path / "nothing")


def test_corrupt_file_names_the_file(registry, tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(os.urandom(2048))
    with pytest.raises(pg.WeightsError, match=r"model\.safetensors: not a readable safetensors file"):
        load_model(registry, bad)


def test_truncated_file(registry, ckpt, tmp_path):
    data = (ckpt / MODEL_FILE).read_bytes()
    cut = tmp_path / "model.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(pg.WeightsError, match="corrupt or truncated"):
        load_model(registry, cut)


def test_foreign_safetensors_file(registry, tmp_path):
    f = tmp_path / "model.safetensors"
    save_file({"weight": torch.zeros(3)}, str(f))
    with pytest.raises(pg.WeightsError, match="not a Generative Model Playground checkpoint"):
        load_model(registry, f)


def test_wrong_family(registry, ckpt):
    with pytest.raises(pg.WeightsError, match="holds a 'autoencoder' model, not 'vae'"):
        load_model(registry, ckpt, family="vae")


def test_shape_mismatch_names_the_tensor(registry, ckpt, tmp_path):
    from safetensors import safe_open

    with safe_open(str(ckpt / MODEL_FILE), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    key = "model.encoder.net.0.weight"
    tensors[key] = torch.zeros(5, 1, 3, 3)
    save_file(tensors, str(tmp_path / MODEL_FILE), metadata=meta)
    expected = r"tensor 'encoder.net.0.weight' has shape \(5, 1, 3, 3\).*\(4, 1, 3, 3\)"
    with pytest.raises(pg.WeightsError, match=expected):
        load_model(registry, tmp_path)


def test_nan_weights_are_refused(registry, ckpt, tmp_path):
    from safetensors import safe_open

    with safe_open(str(ckpt / MODEL_FILE), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    tensors["model.decoder.fc.bias"][0] = float("nan")
    save_file(tensors, str(tmp_path / MODEL_FILE), metadata=meta)
    with pytest.raises(pg.WeightsError, match="NaN or Inf"):
        load_model(registry, tmp_path)


def test_atomic_overwrite_leaves_no_temp_and_replaces(registry, ckpt, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(ckpt, dst)
    state = load_model(registry, dst, training=True)
    state.step = 99
    save_checkpoint(state, dst)
    assert read_metadata(dst)["step"] == 99
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]


def test_shipped_weights_load_have_cards_and_are_small(registry):
    entries = list_weights("autoencoder")
    shipped = [e for e in entries if e.source == "shipped"]
    assert {"digits", "digits-holdout-9"} <= {e.ref for e in shipped}
    for e in shipped:
        for f in e.path.iterdir():
            assert f.stat().st_size < 10 * 1024 * 1024, f
        assert "playground train autoencoder" in e.card  # the reproducing command
        state = load_model(registry, e.path, family="autoencoder")
        assert state.step > 0 and "latent_mean" in state.stats
    assert resolve("autoencoder", "digits") == SHIPPED_DIR / "autoencoder" / "digits"


def test_unknown_weights_lists_the_available_ones(home):
    with pytest.raises(pg.WeightsError, match="No weights 'nope' for 'autoencoder'. Available: digits"):
        resolve("autoencoder", "nope")


def test_import_validates_then_lists(registry, ckpt, home, tmp_path):
    entry = import_file(registry, "autoencoder", ckpt / MODEL_FILE, "my-model")
    assert entry.ref == "import/my-model" and entry.step == 3
    assert "import/my-model" in [e.ref for e in list_weights("autoencoder")]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(pg.WeightsError, match="junk.safetensors"):
        import_file(registry, "autoencoder", junk)
    assert "import/junk" not in [e.ref for e in list_weights("autoencoder")]


def test_pull_from_a_local_hub_cache_offline(registry, ckpt, home, tmp_path):
    """The Hub loader is real: here it reads a Hub cache laid out by the test (HF_HUB_OFFLINE=1)."""
    cache = tmp_path / "hub"
    commit = "a" * 40
    snap = cache / "models--someone--ae-digits" / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in ("model.safetensors", "config.json"):
        shutil.copyfile(ckpt / f, snap / f)
    (snap / "README.md").write_text("# card\n")
    refs = cache / "models--someone--ae-digits" / "refs"
    refs.mkdir()
    (refs / "main").write_text(commit)
    entry = pull(registry, "autoencoder", "someone/ae-digits", cache_dir=cache)
    assert entry.ref == "import/someone--ae-digits" and entry.card == "# card\n"
    with pytest.raises(pg.WeightsError, match="not in the local Hub cache"):
        pull(registry, "autoencoder", "someone/absent", cache_dir=cache)
    with pytest.raises(pg.WeightsError, match="import/someone--ae-digits already exists"):
        pull(registry, "autoencoder", "someone/ae-digits", cache_dir=cache)
    assert pull(registry, "autoencoder", "someone/ae-digits", cache_dir=cache, overwrite=True).ref == entry.ref
    with pytest.raises(pg.WeightsError, match="Repository id '../../etc' is not a Hub repository id"):
        pull(registry, "autoencoder", "../../etc", cache_dir=cache)

import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import playground as pg
from playground.data import DataSpec, load_dataset


def load(registry, name, **kw):
    return load_dataset(registry.datasets, DataSpec(name, **kw))


@pytest.mark.parametrize("name, n_classes", [("digits", 10), ("glyphs", 10), ("shapes", 3)])
def test_builtin_images_shapes_ranges_and_labels(registry, name, n_classes):
    d = load(registry, name)
    x = d.float_images()
    assert x.shape[1:] == (1, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.2  # real content, not a blank canvas
    assert d.labels is not None and set(d.labels.tolist()) == set(range(n_classes))
    assert len(d.class_names) == n_classes


def test_builtins_are_deterministic_and_splits_disjoint(registry):
    a, b = load(registry, "glyphs"), load(registry, "glyphs")
    assert torch.equal(a.images, b.images)
    train, test = load(registry, "digits"), load(registry, "digits", split="test")
    assert len(train) + len(test) == 1797
    tr = {t.numpy().tobytes() for t in train.images}
    assert not any(t.numpy().tobytes() in tr for t in test.images)


def test_shapes_keep_their_factors(registry):
    d = load(registry, "shapes", limit=50)
    assert d.factors.shape == (50, 5) and d.meta["factor_names"][0] == "shape"
    assert torch.equal(d.factors[:, 0].long(), d.labels)


def test_class_filters(registry):
    d = load(registry, "digits", exclude_classes=(9,))
    assert 9 not in d.labels.tolist()
    only = load(registry, "digits", split="test", only_classes=(9,))
    assert set(only.labels.tolist()) == {9}


@pytest.mark.parametrize("name", ["ring8", "grid25", "moons", "spiral"])
def test_toy_points(registry, name):
    d = load(registry, name)
    assert d.points.shape == (20_000, 2) and torch.isfinite(d.points).all()
    if name == "ring8":
        assert len(d.modes) == 8
        angles = torch.atan2(d.modes[:, 1], d.modes[:, 0])
        assert len({round(float(a), 3) for a in angles}) == 8  # 2πk/8, not linspace(0, 2π, 8)


def test_unknown_dataset(registry):
    with pytest.raises(pg.DataError, match="Unknown dataset 'cifar100'"):
        load(registry, "cifar100")


def _idx(path, arr, magic):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("key, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_from_test_written_idx_files(registry, key, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 2051)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, 2049)
    d = load(registry, key, split="test")
    assert d.images.shape == (10, 1, 32, 32) and d.labels.tolist() == list(range(10))
    d28 = load(registry, key, size=28)
    assert d28.images.shape == (20, 1, 28, 28)


def test_cifar10_from_test_written_batches(registry, tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    # torchvision checks the official archive's md5 sums, which test-written files cannot match.
    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["a"] * 10}, f)
    d = load(registry, "cifar10")
    assert d.images.shape == (20, 3, 32, 32) and d.labels.tolist()[:4] == [0, 1, 2, 3]


def test_offline_download_gives_a_clear_message(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    with pytest.raises(pg.DataError, match=r"MNIST is not in .* downloads are off"):
        load(registry, "mnist")


def test_download_failure_gives_a_clear_message(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PLAYGROUND_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # The conftest socket guard makes any real download attempt fail, as it would offline.
    with pytest.raises(pg.DataError, match="could not be downloaded"):
        load(registry, "fashion_mnist")


def test_image_folder_with_classes_and_alpha(registry, tmp_path):
    for cls, value in (("cats", 200), ("dogs", 60)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (40, 30), value).save(tmp_path / cls / f"{i}.png")
    Image.new("RGBA", (20, 20), (255, 255, 255, 0)).save(tmp_path / "dogs" / "clear.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    d = load(registry, f"folder:{tmp_path}")
    assert d.images.shape == (7, 1, 32, 32)
    assert d.class_names == ("cats", "dogs") and d.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert int(d.images[0].float().mean()) == 200
    assert int(d.images[6].max()) == 0  # fully transparent → black background


def test_image_folder_errors(registry, tmp_path):
    with pytest.raises(pg.DataError, match="does not exist"):
        load(registry, f"folder:{tmp_path / 'missing'}")
    with pytest.raises(pg.DataError, match="No images"):
        load(registry, f"folder:{tmp_path}")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(pg.DataError, match="None of the 1 image files .* could be read: bad.png"):
        load(registry, f"folder:{tmp_path}")


def test_points_from_the_page_are_stored_by_content_and_a_drawing_becomes_its_ink(registry, tmp_path, monkeypatch):
    from playground.data import FolderAccess, points_from_drawing, store_points

    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    canvas = np.full((100, 200, 4), 255, np.uint8)  # wider than tall: the long side spans [-2, 2]
    canvas[10:30, 10:20, :3] = 0  # a block of ink at the top left
    canvas[60:70, 150:160, 3] = 0  # transparent (dark RGB, alpha 0): not ink
    pts = points_from_drawing(canvas)
    assert len(pts) == 200 and (pts[:, 0] < -1.5).all() and (pts[:, 1] > 0.4).all() and (pts[:, 1] < 0.8).all()
    name = store_points(pts)
    assert name == store_points(pts.clone()) and name.startswith("points:")  # the same points, the same name
    train, test = (load_dataset(registry.datasets, DataSpec(name, split=s)).points for s in ("train", "test"))
    assert len(train) == 160 and len(test) == 40
    assert torch.equal(torch.cat([train, test]).sort(0).values, pts.sort(0).values)
    web = FolderAccess()  # a server that reads no files for visitors still takes stored points
    assert web.check("Data", name, ["ring8"]) == name
    for bad, match in (("points:../../etc/passwd", "not a stored-points name"),
                       ("points:0123456789abcdef", "no such points")):
        with pytest.raises(pg.DataError, match=match):
            load_dataset(registry.datasets, DataSpec(bad))
    with pytest.raises(pg.DataError, match="draw more"):
        points_from_drawing(np.full((50, 50), 255, np.uint8))
    with pytest.raises(pg.DataError, match="NaN"):
        store_points(torch.full((20, 2), float("nan")))
    fit = pg.Trainer(registry, "gmm", {"dataset": name, "components": 2, "steps": 5}, out_dir=tmp_path / "gmm",
                     device="cpu")
    fit.run()
    assert fit.state.data["name"] == name

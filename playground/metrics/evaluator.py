"""Evaluator networks: small timm classifiers trained on one built-in dataset each and shipped in
``weights/evaluators/<dataset>/``. Penultimate features feed FID/KID/PRDC; logits feed the Inception-style
score and the class histogram."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..data import DataSpec, ImageData, load_dataset
from ..errors import DataError, WeightsError
from ..paths import home_dir, shipped_dir

ARCH = "test_resnet"  # timm; 0.37 M parameters, 96 features: d ≤ 128 keeps FID's small-n bias low
FORMAT = "playground-evaluator/1"


def create_network(in_chans: int, num_classes: int) -> nn.Module:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # pretrained=False never downloads; belt and braces
    import timm

    return timm.create_model(ARCH, pretrained=False, in_chans=in_chans, num_classes=num_classes)


def evaluators_dir() -> Path:
    """Shipped evaluators (the project's ``weights/evaluators``, or ``$PLAYGROUND_WEIGHTS_DIR/evaluators``)."""
    return shipped_dir() / "evaluators"


def user_evaluators_dir() -> Path:
    """Evaluators a user trained (``playground train-evaluator DATASET`` writes here by default)."""
    return home_dir() / "evaluators"


def evaluator_path(dataset: str) -> Path | None:
    """The evaluator file for ``dataset``: shipped first (so the project's published scores stay comparable),
    then the user's; None if neither has one."""
    for root in (evaluators_dir(), user_evaluators_dir()):
        path = root / dataset / "model.safetensors"
        if path.exists():
            return path
    return None


def known_evaluators() -> list[str]:
    return sorted({p.parent.name for root in (evaluators_dir(), user_evaluators_dir()) if root.is_dir()
                   for p in root.glob("*/model.safetensors")})


@dataclass
class Evaluator:
    dataset: str
    net: nn.Module
    accuracy: float
    num_features: int
    num_classes: int
    class_names: tuple[str, ...]
    in_chans: int

    @property
    def backbone(self) -> str:
        return f"{ARCH} trained on {self.dataset} (held-out accuracy {self.accuracy:.3f}, {self.num_features} features)"

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] → (penultimate features, logits), float64 features for stable statistics."""
        self.net.eval()
        dev = next(self.net.parameters()).device
        feats, logits = [], []
        for chunk in x.split(batch):
            h = self.net.forward_features(chunk.to(dev).float())
            f = self.net.forward_head(h, pre_logits=True)
            feats.append(f.double().cpu())
            logits.append(self.net.get_classifier()(f).float().cpu())
        return torch.cat(feats), torch.cat(logits)


def _image_data(registry: Any, spec: DataSpec) -> ImageData:
    data = load_dataset(registry.datasets, spec)
    if not isinstance(data, ImageData) or data.labels is None:
        raise DataError(f"{spec.name!r} is not a labelled image dataset; an evaluator needs class labels.")
    return data


def train_evaluator(registry: Any, dataset: str, *, epochs: int = 15, batch_size: int = 64, seed: int = 0,
                    out_dir: Path | None = None) -> dict[str, Any]:
    """Train on the train split (with light shift augmentation), measure accuracy on the test split, save."""
    torch.manual_seed(seed)
    train = _image_data(registry, DataSpec(dataset, split="train"))
    test = _image_data(registry, DataSpec(dataset, split="test"))
    net = create_network(train.channels, train.num_classes)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * max(1, len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    x_all, y_all = train.float_images(), train.labels
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x_all), (batch_size,), generator=g)
        x = x_all[idx]
        shift = torch.randint(-2, 3, (2,), generator=g).tolist()
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        loss = nn.functional.cross_entropy(net(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(test.float_images()).argmax(1) == test.labels).float().mean())
    meta = {"format": FORMAT, "arch": ARCH, "dataset": dataset, "in_chans": train.channels,
            "num_classes": train.num_classes, "class_names": list(train.class_names), "accuracy": acc,
            "epochs": epochs, "seed": seed, "n_train": len(train), "n_test": len(test),
            "train_seconds": round(time.time() - t0, 1)}
    out = out_dir or user_evaluators_dir() / dataset
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": FORMAT, "playground": json.dumps(meta)})
    (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "README.md").write_text(_card(meta))
    return meta


def _card(meta: dict[str, Any]) -> str:
    return f"""# Evaluator · {meta['dataset']}

A `timm` `{meta['arch']}` classifier (`pretrained=False`, `in_chans={meta['in_chans']}`,
{meta['num_classes']} classes) trained on the `{meta['dataset']}` train split ({meta['n_train']} images,
{meta['epochs']} epochs, AdamW + one-cycle, ±2 px shifts, seed {meta['seed']}).

- Held-out accuracy (test split, {meta['n_test']} images): **{meta['accuracy']:.4f}**
- Used for: FID/KID and precision/recall/density/coverage on its penultimate features; the
  Inception-style score and the class histogram on its logits. Scores from it compare only with scores
  from the same evaluator.
- Reproduce: `playground train-evaluator {meta['dataset']} --epochs {meta['epochs']} --seed {meta['seed']}`
"""


_cache: dict[tuple[str, str], Evaluator] = {}
_lock = threading.Lock()


def load_evaluator(dataset: str, device: str | torch.device = "cpu") -> Evaluator:
    key = (dataset, str(device))
    with _lock:
        if key in _cache:
            return _cache[key]
    path = evaluator_path(dataset)
    if path is None:
        raise WeightsError(f"No evaluator for {dataset!r} (looked in {evaluators_dir()} and {user_evaluators_dir()}). "
                           f"Available: {', '.join(known_evaluators()) or 'none'}; train one with "
                           f"`playground train-evaluator {dataset}`.")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["playground"])
            sd = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable evaluator file: {exc}") from None
    net = create_network(meta["in_chans"], meta["num_classes"])
    net.load_state_dict(sd)
    net.to(device).eval()
    ev = Evaluator(dataset, net, meta["accuracy"], net.num_features, meta["num_classes"], tuple(meta["class_names"]),
                   meta["in_chans"])
    with _lock:
        _cache[key] = ev
    return ev

"""Checkpoints: a folder with ``model.safetensors`` (weights + fitted stats, config in its metadata),
``training_state.safetensors`` (optimisers, RNG) and ``config.json``; written atomically; never pickle.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .contracts import DataInfo, ModelState
from .errors import WeightsError
from .params import build_params, params_to_dict

FORMAT = "playground-checkpoint/1"
MODEL_FILE = "model.safetensors"
TRAIN_FILE = "training_state.safetensors"
CONFIG_FILE = "config.json"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.state.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    meta[prefix] = {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + ".state."):
            idx, name = key[len(prefix) + 7:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for idx, sc in meta[prefix]["scalars"].items():
        state.setdefault(int(idx), {}).update(sc)
    return {"state": state, "param_groups": meta[prefix]["param_groups"]}


def checkpoint_metadata(state: ModelState) -> dict[str, Any]:
    return {"format": FORMAT, "family": state.family, "config": params_to_dict(state.config),
            "data": state.data, "info": dataclasses.asdict(state.info),
            "step": state.step, "metrics": state.metrics, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def save_checkpoint(state: ModelState, folder: str | Path, *, training_state: bool = True,
                    card: str | None = None) -> Path:
    """Write ``state`` to ``folder`` atomically: a reader sees the old checkpoint or the new one, whole."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        meta = checkpoint_metadata(state)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.modules.state_dict().items()}
        tensors.update({f"stats.{k}": v.detach().cpu().contiguous() for k, v in state.stats.items()})
        save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": FORMAT, "playground": json.dumps(meta)})
        if training_state:
            t_tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
            t_meta: dict[str, Any] = {}
            if state.generator is not None:
                t_tensors["rng.generator"] = state.generator.get_state()
                t_meta["generator_device"] = str(state.generator.device)
            if state.device.type == "cuda":
                t_tensors["rng.cuda"] = torch.cuda.get_rng_state(state.device)
            for name, opt in state.optimizers.items():
                _flatten_optimizer(f"optim.{name}", opt, t_tensors, t_meta)
            save_file(t_tensors, str(tmp / TRAIN_FILE),
                      metadata={"format": FORMAT, "playground": json.dumps(t_meta)})
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if card is not None:
            (tmp / "README.md").write_text(card)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _model_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.exists():
        raise WeightsError(f"{p}: no such weights file.")
    return p


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata (family, config, data, step, metrics), validated."""
    p = _model_file(path)
    try:
        with safe_open(str(p), "pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{p}: not a readable safetensors file (corrupt or truncated?): {exc}") from None
    if raw.get("format") != FORMAT or "playground" not in raw:
        raise WeightsError(f"{p}: a safetensors file, but not a Generative Model Playground checkpoint "
                           f"(metadata format {raw.get('format')!r}, expected {FORMAT!r}).")
    try:
        return json.loads(raw["playground"])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{p}: checkpoint metadata is not valid JSON: {exc}") from None


def _read_tensors(p: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(p), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{p}: cannot read tensors (corrupt or truncated?): {exc}") from None


def load_checkpoint(registry: Any, path: str | Path, *, device: torch.device | None = None,
                    family: str | None = None, training: bool = False) -> ModelState:
    """Rebuild the model from the checkpoint's own config and load its tensors.

    ``family`` (if given) must match; ``training=True`` also restores optimisers and RNG state.
    """
    p = _model_file(path)
    meta = read_metadata(p)
    if family is not None and meta["family"] != family:
        raise WeightsError(f"{p}: holds a {meta['family']!r} model, not {family!r}.")
    fam = registry.family(meta["family"])
    device = device or torch.device("cpu")
    try:
        cfg = build_params(fam.config, meta["config"])
    except Exception as exc:
        raise WeightsError(f"{p}: its config does not fit the {fam.name!r} family as installed: {exc}") from None
    info = DataInfo(**meta["info"])
    with torch.random.fork_rng(devices=[]):  # building seeds the global RNG; loading must not change it
        state = new_state(registry, fam, cfg, info, meta["data"], device)
    tensors = _read_tensors(p)
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = state.modules.state_dict()
    missing = sorted(set(expected) - set(model_sd))
    unexpected = sorted(set(model_sd) - set(expected))
    if missing or unexpected:
        raise WeightsError(f"{p}: does not match the {fam.name!r} model built from its config: "
                           f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                           f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}.")
    for k, v in model_sd.items():
        if v.shape != expected[k].shape:
            raise WeightsError(f"{p}: tensor {k!r} has shape {tuple(v.shape)} in the file but the model "
                               f"expects {tuple(expected[k].shape)}.")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise WeightsError(f"{p}: tensor {k!r} contains NaN or Inf values.")
    state.modules.load_state_dict(model_sd)
    state.stats = {k[6:]: v.to(device) for k, v in tensors.items() if k.startswith("stats.")}
    state.step = int(meta["step"])
    state.metrics = meta.get("metrics", {})
    if training:
        _restore_training_state(p.parent / TRAIN_FILE, state)
    state.modules.train(training)
    return state


def _restore_training_state(p: Path, state: ModelState) -> None:
    if not p.exists():
        raise WeightsError(f"{p}: missing, so this checkpoint cannot resume training (weights only).")
    with safe_open(str(p), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("playground", "{}"))
    tensors = _read_tensors(p)
    for name, opt in state.optimizers.items():
        prefix = f"optim.{name}"
        if prefix not in meta:
            raise WeightsError(f"{p}: has no state for optimiser {name!r}.")
        sd = _unflatten_optimizer(prefix, tensors, meta)
        try:
            opt.load_state_dict(sd)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise WeightsError(f"{p}: optimiser {name!r} state does not fit: {exc}") from None
    torch.set_rng_state(tensors["rng.torch"])
    if state.generator is not None and "rng.generator" in tensors:
        state.generator.set_state(tensors["rng.generator"])
    if "rng.cuda" in tensors and state.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], state.device)


def new_state(registry: Any, family: Any, cfg: Any, info: DataInfo, data: dict, device: torch.device) -> ModelState:
    """A freshly initialised model (seeded by ``cfg.seed``) with its optimisers."""
    torch.manual_seed(cfg.seed)
    with registry.guard(family.name, "build"):
        modules = family.build(cfg, info).to(device)
        optimizers = family.configure_optimizers(cfg, modules)
    gen = torch.Generator(device=device)
    gen.manual_seed(cfg.seed)
    return ModelState(family=family.name, config=cfg, data=data, info=info, modules=modules,
                      optimizers=optimizers, device=device, generator=gen)

"""The checkpoint format: a folder with ``model.safetensors`` (weights + fitted stats, config in its metadata),
``training_state.safetensors`` (optimisers, stash, RNG) and ``config.json``; each written atomically; never
pickle. Building a model from a checkpoint is ``models.load_model``'s job.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .contracts import ModelState
from .errors import PluginError, WeightsError
from .params import params_to_dict

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
    info = {k: getattr(state.info, k) for k in ("channels", "size", "num_classes", "kind")}
    info["streams"] = {name: dataclasses.asdict(i) for name, i in state.info.streams.items()}
    return {"format": FORMAT, "family": state.family, "config": params_to_dict(state.config),
            "data": state.data, "streams": state.streams, "info": info, "parents": state.parent_records,
            "step": state.step, "metrics": state.metrics, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "checkpoint_id": uuid.uuid4().hex}


def _write_atomic(*files: tuple[Path, Any]) -> None:
    """Write each ``(path, write)`` through a temporary file in its folder and fsync it; only when every one is
    written are they renamed over their paths. A write that fails (a full disk: ENOSPC) leaves every old file as it
    was, so a checkpoint is replaced whole or not at all (renames within a folder do not need space)."""
    tmps = [(path, path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}") for path, _ in files]
    try:
        for (_, write), (_, tmp) in zip(files, tmps, strict=True):
            write(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        for path, tmp in tmps:
            os.replace(tmp, path)
    except BaseException:
        for _, tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(state: ModelState, folder: str | Path, *, training_state: bool = True) -> Path:
    """Write ``state`` into ``folder``, all files or none (``_write_atomic``); files it does not own (a model card,
    sample grids, a preview) are kept. The training state carries the model file's checkpoint id, so a crash
    between the renames is detected on resume rather than resuming a mismatched pair."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = checkpoint_metadata(state)
    for k, v in state.stash.items():
        if not torch.is_tensor(v):
            raise PluginError(f"{state.family}: stash entry {k!r} is a {type(v).__name__}; the stash holds tensors.")
    files: list[tuple[Path, Any]] = []
    if training_state:
        t_tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        t_meta: dict[str, Any] = {"checkpoint_id": meta["checkpoint_id"]}
        for key, gen in (("generator", state.generator), ("data_generator", state.data_generator)):
            if gen is not None:
                t_tensors[f"rng.{key}"] = gen.get_state()
        if state.device.type == "cuda":
            t_tensors["rng.cuda"] = torch.cuda.get_rng_state(state.device)
        for name, opt in state.optimizers.items():
            _flatten_optimizer(f"optim.{name}", opt, t_tensors, t_meta)
        t_tensors.update({f"stash.{k}": v.detach().cpu().contiguous() for k, v in state.stash.items()})
        files.append((folder / TRAIN_FILE, lambda p: save_file(t_tensors, str(p), metadata={
            "format": FORMAT, "playground": json.dumps(t_meta)})))
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.modules.state_dict().items()}
    tensors.update({f"stats.{k}": v.detach().cpu().contiguous() for k, v in state.stats.items()})
    files.append((folder / CONFIG_FILE, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n")))
    files.append((folder / MODEL_FILE, lambda p: save_file(tensors, str(p), metadata={
        "format": FORMAT, "playground": json.dumps(meta)})))
    _write_atomic(*files)
    return folder


def model_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.exists():
        raise WeightsError(f"{p}: no such weights file.")
    return p


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata (family, config, data, step, metrics), validated."""
    p = model_file(path)
    try:
        with safe_open(str(p), "pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{p}: not a readable safetensors file (corrupt or truncated?): {exc}") from None
    if raw.get("format") != FORMAT or "playground" not in raw:
        raise WeightsError(f"{p}: a safetensors file, but not a Generative Model Playground checkpoint "
                           f"(metadata format {raw.get('format')!r}, expected {FORMAT!r}).")
    try:
        meta = json.loads(raw["playground"])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{p.name}: checkpoint metadata is not valid JSON: {exc}") from None
    problem = metadata_problem(meta)
    if problem:
        raise WeightsError(f"{p.name}: a playground checkpoint with broken metadata ({problem}); it was not "
                           "written by this tool or was edited. Export it again from where it was trained.")
    return meta


# What every reader relies on, with the type it must have: checked once here instead of failing in each reader.
REQUIRED_METADATA: dict[str, type] = {"family": str, "step": int, "config": dict, "data": dict, "info": dict}
REQUIRED_INFO: dict[str, type] = {"channels": int, "size": int, "num_classes": int}  # kind: older ones lack it


def metadata_problem(meta: Any) -> str:
    """What is wrong with a checkpoint's metadata, or "" when nothing is."""
    if not isinstance(meta, dict):
        return f"metadata is a {type(meta).__name__}, not an object"
    for section, fields in ((meta, REQUIRED_METADATA), (meta.get("info"), REQUIRED_INFO)):
        if section is None:
            continue
        for key, kind in fields.items():
            where = key if section is meta else f"info.{key}"
            if key not in section:
                return f"'{where}' is missing"
            value = section[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return f"'{where}' is {value!r}, not {'a number' if kind is int else 'an ' + kind.__name__}"
    if meta["step"] < 0:
        return f"'step' is {meta['step']}, not a step count"
    return ""


def module_tensors(path: str | Path, family: str) -> dict[str, torch.Tensor]:
    """A ``family`` checkpoint's module tensors, named as in its modules' state_dict (no model is built)."""
    p = model_file(path)
    meta = read_metadata(p)
    if meta["family"] != family:
        raise WeightsError(f"{p}: holds a {meta['family']!r} model, not {family!r}.")
    return {k[len("model."):]: v for k, v in read_tensors(p).items() if k.startswith("model.")}


def read_tensors(p: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(p), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{p}: cannot read tensors (corrupt or truncated?): {exc}") from None


def restore_training_state(p: Path, state: ModelState, checkpoint_id: str | None = None, *,
                           global_rng: bool = True) -> None:
    """Optimisers, stash and RNG states into ``state`` (whose model was loaded from the matching model file);
    ``global_rng=False`` leaves the process-wide RNG alone (the lab: other users' runs share it)."""
    if not p.exists():
        raise WeightsError(f"{p.parent} holds weights only (no {p.name}), so it cannot resume training: shipped "
                           "weights are for inference. Resume one of your own runs (run/NAME), or train anew with "
                           "the command on its model card.")
    with safe_open(str(p), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("playground", "{}"))
    if checkpoint_id is not None and meta.get("checkpoint_id") not in (None, checkpoint_id):
        raise WeightsError(f"{p}: belongs to another save than the model file beside it (a save was interrupted); "
                           f"it cannot resume exactly. Resume from an earlier copy, or load the weights only.")
    tensors = read_tensors(p)
    for name, opt in state.optimizers.items():
        prefix = f"optim.{name}"
        if prefix not in meta:
            raise WeightsError(f"{p}: has no state for optimiser {name!r}.")
        sd = _unflatten_optimizer(prefix, tensors, meta)
        try:
            opt.load_state_dict(sd)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise WeightsError(f"{p}: optimiser {name!r} state does not fit: {exc}") from None
    state.stash = {k[6:]: v.to(state.device) for k, v in tensors.items() if k.startswith("stash.")}
    if global_rng:
        torch.set_rng_state(tensors["rng.torch"])
    if state.generator is not None and "rng.generator" in tensors:
        state.generator.set_state(tensors["rng.generator"])
    data_rng = tensors.get("rng.data_generator", tensors.get("rng.generator"))  # before contract 2: one generator
    if state.data_generator is not None and data_rng is not None:
        state.data_generator.set_state(data_rng)
    if global_rng and "rng.cuda" in tensors and state.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], state.device)

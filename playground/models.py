"""Model construction, in one place: a fresh model for data, a model rebuilt from a checkpoint, and the frozen
parent models a family is trained on top of. (``checkpoint`` only reads and writes files.)"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    TRAIN_FILE,
    model_file,
    read_metadata,
    read_tensors,
    restore_training_state,
)
from .contracts import Batch, BuildInfo, DataInfo, ModelFamily, ModelState, TrainConfig
from .errors import WeightsError
from .params import build_params
from .streams import StreamData
from .weights import MAX_IMPORT_BYTES, WeightsEntry, import_target, list_weights, resolve

_sha_cache: dict[tuple, str] = {}
_sha_lock = threading.Lock()


def weights_sha256(folder: Path) -> str:
    """sha256 of a checkpoint's ``model.safetensors`` (cached per file version)."""
    f = Path(folder) / MODEL_FILE
    st = f.stat()
    key = (str(f.resolve()), st.st_mtime_ns, st.st_size)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    with _sha_lock:
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def load_parents(registry: Any, family: ModelFamily, cfg: TrainConfig, device: torch.device,
                 expected: dict[str, dict[str, str]] | None = None) -> tuple[dict[str, ModelState], dict]:
    """The family's declared parents, frozen and in eval mode, with their records (family, ref, sha256).

    ``expected`` (from a child's checkpoint) must match: a parent that is missing or whose weights changed since
    the child was trained is a clear error, never a silent mismatch."""
    parents, records = {}, {}
    for p in family.parents:
        ref = str(getattr(cfg, p.field, "") or "")
        want = (expected or {}).get(p.name)
        try:
            folder = resolve(p.family, ref)
        except WeightsError as exc:
            if want:
                raise WeightsError(f"This {family.name!r} model was trained on {p.family!r} weights {ref!r} "
                                   f"(sha256 {want['sha256'][:12]}…), which are missing: {exc}") from None
            raise WeightsError(f"{family.title} is trained on a {p.family!r} model ({p.field!r}): {exc}") from None
        sha = weights_sha256(folder)
        if want and want.get("sha256") != sha:
            raise WeightsError(f"This {family.name!r} model was trained on {p.family!r} weights {ref!r} with sha256 "
                               f"{want['sha256'][:12]}…, but those weights have changed (now {sha[:12]}…). Retrain it "
                               f"on the current parent, or restore the parent's weights.")
        parent = load_model(registry, folder, device=device, family=p.family)
        parent.modules.eval().requires_grad_(False)
        parents[p.name] = parent
        records[p.name] = {"family": p.family, "ref": ref, "sha256": sha}
    return parents, records


def new_state(registry: Any, family: ModelFamily, cfg: TrainConfig, streams: dict[str, DataInfo],
              data: dict[str, dict[str, Any]], device: torch.device, *,
              parents: dict[str, ModelState] | None = None, parent_records: dict | None = None) -> ModelState:
    """A freshly initialised model (seeded by ``cfg.seed``) with its optimisers.

    Built under a forked global RNG: building never changes the process's random state (another user's run may
    be drawing from it)."""
    first = next(iter(streams.values()))
    info = BuildInfo(first.channels, first.size, first.num_classes, first.kind, dict(streams), dict(parents or {}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        with registry.guard(family.name, "build"):
            modules = family.build(cfg, info).to(device)
            optimizers = family.configure_optimizers(cfg, modules)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    data_gen = torch.Generator(device=device).manual_seed(cfg.seed)
    return ModelState(family=family.name, config=cfg, data=next(iter(data.values())), info=info, modules=modules,
                      optimizers=optimizers, device=device, generator=gen, data_generator=data_gen,
                      streams=dict(data), parents=dict(parents or {}), parent_records=dict(parent_records or {}))


def fresh_state(registry: Any, family: ModelFamily, cfg: TrainConfig, streams: dict[str, StreamData],
                device: torch.device, *, prepare: bool = True) -> ModelState:
    """A newly built model for loaded ``streams`` (their shapes, stored descriptions and the family's parents),
    prepared on them (``ModelFamily.prepare``) unless ``prepare`` is False (a throwaway probe)."""
    parents, records = load_parents(registry, family, cfg, device)
    state = new_state(registry, family, cfg, {n: s.info for n, s in streams.items()},
                      {n: s.describe() for n, s in streams.items()}, device, parents=parents, parent_records=records)
    if prepare and type(family).prepare is not ModelFamily.prepare:
        data = Batch.of({n: Batch(*s.items()) for n, s in streams.items()})
        with torch.random.fork_rng(devices=[]), registry.guard(family.name, "train"):
            family.prepare(state, data, torch.Generator(device=device).manual_seed(cfg.seed))
    return state


def stream_infos(meta: dict[str, Any]) -> dict[str, DataInfo]:
    """Every stream's DataInfo from checkpoint metadata (checkpoints before contract 2 had one stream, "x")."""
    raw = meta["info"]
    streams = raw.get("streams") or {"x": {k: raw[k] for k in ("channels", "size", "num_classes", "kind") if k in raw}}
    return {name: DataInfo(**d) for name, d in streams.items()}


def load_model(registry: Any, path: str | Path, *, device: torch.device | None = None, family: str | None = None,
               training: bool = False, global_rng: bool = True) -> ModelState:
    """Rebuild the model from the checkpoint's own config and load its tensors.

    ``family`` (if given) must match; ``training=True`` also restores optimisers, stash and RNG state (the
    process-wide RNG only with ``global_rng``)."""
    p = model_file(path)
    meta = read_metadata(p)
    if family is not None and meta["family"] != family:
        raise WeightsError(f"{p}: holds a {meta['family']!r} model, not {family!r}.")
    fam = registry.family(meta["family"])
    device = device or torch.device("cpu")
    try:
        cfg = build_params(fam.config, {**fam.config.legacy, **meta["config"]})
    except Exception as exc:
        raise WeightsError(f"{p}: its config does not fit the {fam.name!r} family as installed: {exc}") from None
    infos = stream_infos(meta)
    data = meta.get("streams") or {next(iter(infos)): meta["data"]}
    parents, records = load_parents(registry, fam, cfg, device, expected=meta.get("parents") or {})
    state = new_state(registry, fam, cfg, infos, data, device, parents=parents, parent_records=records)
    tensors = read_tensors(p)
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
        restore_training_state(p.parent / TRAIN_FILE, state, meta.get("checkpoint_id"), global_rng=global_rng)
    state.modules.train(training)
    return state


def untrained_like(registry: Any, state: ModelState) -> ModelState:
    """A freshly initialised model with the same config, data description and parents as ``state``."""
    return new_state(registry, registry.family(state.family), state.config, dict(state.info.streams),
                     dict(state.streams), state.device, parents=state.parents, parent_records=state.parent_records)


def import_file(registry: Any, family: str, file: str | Path | None, name: str | None = None, *,
                overwrite: bool = False) -> WeightsEntry:
    """Validate an uploaded ``model.safetensors`` (by loading it) and keep a copy under imports. The typed name is
    checked first, so it is refused clearly even before a file is chosen."""
    src = Path(file or "")
    dest = import_target(family, name, src.stem or "import", overwrite=overwrite)
    if not file:
        raise WeightsError("Choose a .safetensors file to import first.")
    if not src.is_file():
        raise WeightsError(f"{src.name}: no such file to import.")
    if src.stat().st_size > MAX_IMPORT_BYTES:
        raise WeightsError(f"{src.name}: {src.stat().st_size / 1e6:.0f} MB is over the "
                           f"{MAX_IMPORT_BYTES // 10**6} MB limit.")
    load_model(registry, src, family=family)  # raises a WeightsError that names the mismatch
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest / MODEL_FILE)
    meta = read_metadata(dest)

    (dest / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (dest / "README.md").unlink(missing_ok=True)  # a replaced import's card described the old file
    return next(e for e in list_weights(family) if e.path == dest)

"""Where checkpoints live and how they are found: shipped ``weights/``, the user's runs and imports.

A weights reference is ``NAME`` (shipped), ``run/NAME`` (trained here) or ``import/NAME`` (imported); never a
path. ``resolve`` is the one place that turns a reference into a folder, for every caller (inference, resume,
cards, Hub, lab, CLI), and it refuses anything that would leave those three folders.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import MODEL_FILE, module_tensors, read_metadata
from .errors import WeightsError
from .paths import home_dir, imports_dir, runs_dir, shipped_dir

MAX_IMPORT_BYTES = 200 * 1024 * 1024


def check_home() -> Path:
    """The home folder (runs, imports, evaluators) exists or can be made, and takes files: checked when the app
    or a training starts, so a bad PLAYGROUND_HOME is one clear error with its path, not a failure later."""
    home = home_dir()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise WeightsError(f"The playground's home folder {home} is not usable ({exc.strerror or exc}): set "
                           "PLAYGROUND_HOME to a folder you can write, or fix that one's permissions.") from None
    return home



@dataclass(frozen=True)
class WeightsEntry:
    ref: str
    path: Path
    source: str  # shipped | run | import
    step: int
    dataset: str
    card: str  # model card markdown ("" if none)


_header_cache: dict[tuple, tuple[dict[str, Any] | None, str]] = {}
_header_lock = threading.Lock()


def _header_and_card(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """A checkpoint's metadata and model card, read once per version of its files (listings run per request)."""
    files = [folder / MODEL_FILE, folder / "README.md"]
    key = (str(folder),) + tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)
    with _header_lock:
        if key in _header_cache:
            return _header_cache[key]
    try:
        meta: dict[str, Any] | None = read_metadata(folder)
    except WeightsError:
        meta = None  # listed nowhere rather than breaking the list; loading it by name says why
    card = files[1].read_text() if files[1].exists() else ""
    with _header_lock:
        _header_cache[key] = (meta, card)
    return meta, card


def _entries(folder: Path, family: str, source: str, prefix: str) -> list[WeightsEntry]:
    out = []
    if not folder.is_dir():
        return out
    for d in sorted(folder.iterdir()):
        if d.name.startswith(".") or not (d / MODEL_FILE).exists():
            continue
        meta, card = _header_and_card(d)
        if meta is None or meta["family"] != family:
            continue
        out.append(WeightsEntry(prefix + d.name, d, source, int(meta["step"]), meta["data"].get("name", "?"), card))
    return out


def list_weights(family: str) -> list[WeightsEntry]:
    """Shipped first, then runs and imports (newest names sort last)."""
    return (_entries(shipped_dir() / family, family, "shipped", "")
            + _entries(runs_dir(family), family, "run", "run/")
            + _entries(imports_dir(family), family, "import", "import/"))


NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _refuse(family: str, ref: str, why: str) -> WeightsError:
    known = ", ".join(e.ref for e in list_weights(family)) or "none"
    return WeightsError(f"Weights {ref!r} for {family!r}: {why}. Use a listed name (NAME, run/NAME or import/NAME); "
                        f"available: {known}.")


def reference_of(family: str, folder: Path) -> str | None:
    """The weights name a checkpoint folder answers to (``NAME``, ``run/NAME`` or ``import/NAME``), or None when
    it lies outside the shipped, runs and imports folders (import it to use it by name)."""
    folder = Path(folder).resolve()
    for prefix, root in (("run/", runs_dir(family)), ("import/", imports_dir(family)), ("", shipped_dir() / family)):
        if folder.parent == root.resolve() and NAME_PATTERN.fullmatch(folder.name):
            return prefix + folder.name
    return None


def resolve(family: str, ref: str) -> Path:
    """The checkpoint folder for a reference; refuses paths, ``..`` and anything outside the shipped, runs and
    imports folders (symbolic links that lead out included); errors list what exists."""
    if ref is None or not str(ref).strip():
        raise WeightsError(f"No weights chosen for {family!r}.")
    ref = str(ref).strip()
    roots = (("run/", runs_dir(family)), ("import/", imports_dir(family)), ("", shipped_dir() / family))
    prefix, root = next((p, r) for p, r in roots if ref.startswith(p))
    name = ref[len(prefix):]
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise _refuse(family, ref, "not a weights name (paths are not accepted)")
    cand = root / name
    try:
        inside = cand.resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if not inside:
        raise _refuse(family, ref, "it leads outside the weights folders")
    if cand.is_dir() and (cand / MODEL_FILE).exists():
        return cand
    known = ", ".join(e.ref for e in list_weights(family)) or "none"
    raise WeightsError(f"No weights {ref!r} for {family!r}. Available: {known}.")


def run_folder(family: str, ref: str) -> Path:
    """Where a new run named ``ref`` (``run/NAME`` or ``NAME``) is written: always inside the runs folder."""
    name = str(ref).strip().removeprefix("run/")
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise WeightsError(f"{ref!r} is not usable as a run name: letters, digits, '_', '.' and '-' only.")
    return runs_dir(family) / name


def _make_run_folder(family: str, name: str) -> Path | None:
    """Create run/NAME's folder; None if it already exists (mkdir is atomic: only one caller gets it)."""
    out = run_folder(family, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        out.mkdir()
    except FileExistsError:
        return None
    return out


def claim_run_folder(family: str, name: str | None = None) -> tuple[str, Path]:
    """A new run's folder, created here so no other run can have it: two runs started in the same second (two
    web visitors, two terminals) get ``STAMP`` and ``STAMP-2``; a name given that is already a run is refused
    (resume it, or pick another name) rather than written over."""
    if name is not None:
        out = _make_run_folder(family, name) or run_folder(family, name)
        if any(out.iterdir()):
            raise WeightsError(f"run/{out.name} already exists for {family!r}; give the new run another name, "
                               f"or continue that one (--resume run/{out.name}).")
        return out.name, out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for candidate in (stamp, *(f"{stamp}-{i}" for i in range(2, 1001))):
        out = _make_run_folder(family, candidate)
        if out is not None:
            return candidate, out
    raise WeightsError(f"Could not find a free run name for {stamp}.")


def resume_in_place(family: str, ref: str) -> Path:
    """The folder a resumed run goes on writing to when no other is named: its own, and only for your runs
    (``run/NAME``). Shipped weights and imports are read-only: the one rule for the app and the CLI."""
    folder = resolve(family, ref)
    if not str(ref).strip().startswith("run/"):
        raise WeightsError(f"{ref!r} is not one of your runs: shipped weights and imports are read-only, so training "
                           f"cannot continue in their folder. Continue one of your runs (run/NAME), or in the CLI "
                           f"write the continuation elsewhere: --name NEW (a new run) or --out FOLDER.")
    return folder


def release_run_folder(folder: Path) -> None:
    """Give back a claimed run folder that never got a file (a refused start leaves no empty run behind)."""
    with contextlib.suppress(OSError):  # not empty, or already gone: nothing to give back
        folder.rmdir()


def safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:64]
    if not name:
        raise WeightsError(f"{text!r} is not usable as a weights name.")
    return name


def import_target(family: str, name: str | None, default: str, *, overwrite: bool = False) -> Path:
    """The imports folder a new import goes to. A name the user typed is used as typed or refused (never quietly
    rewritten); without one, ``default`` (a file or repo name) is made safe. A taken name is refused unless
    ``overwrite``: an import never silently replaces another."""
    if name is not None and str(name).strip():
        name = str(name).strip().removeprefix("import/")
        if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
            raise WeightsError(f"Name for the import {name[:60]!r} is not usable: letters, digits, '_', '.' and "
                               "'-' only (up to 128), e.g. my-model.")
    else:
        name = safe_name(default)
    dest = imports_dir(family) / name
    if (dest / MODEL_FILE).exists() and not overwrite:
        raise WeightsError(f"import/{name} already exists for {family!r}. Give the import another name, or ask to "
                           "replace it (the Replace box; --overwrite in the CLI).")
    return dest


def fitted_tensors(family: str, ref: str) -> dict[str, torch.Tensor]:
    """The module tensors of ``family``'s weights ``ref`` (shipped, run/NAME or import/NAME), named as in the
    modules' state_dict: for a plugin that builds something from its own family's fitted model without the
    registry (a dataset drawn from a fitted mixture)."""
    return module_tensors(resolve(family, ref), family)

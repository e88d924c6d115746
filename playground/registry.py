"""The plugin registry: discovers plugin files and folders, registers them with pluggy, collects the
model families and datasets they register, and records every failure without letting it spread.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .contracts import ModelFamily, declaration_problems
from .data import DatasetInfo
from .errors import PluginError

BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"
ENV_PLUGINS_DIR = "PLAYGROUND_PLUGINS_DIR"
ENV_DISABLE = "PLAYGROUND_DISABLE_PLUGINS"
DISABLED_SUFFIX = ".disabled"
STAGES = ("import", "validate", "register", "build", "train", "infer", "evaluate", "ui", "event")


@dataclass
class Failure:
    plugin: str
    file: str
    stage: str
    message: str
    traceback: str


@dataclass
class PluginRecord:
    name: str
    file: str
    origin: str  # "built-in" or the plugins folder it came from
    status: str = "loaded"  # loaded | failed | disabled
    provides: list[str] = field(default_factory=list)


def _disabled_names() -> set[str]:
    raw = os.environ.get(ENV_DISABLE, "")
    return {n.strip() for n in raw.replace(os.pathsep, ",").split(",") if n.strip()}


def plugin_dirs_from_env() -> list[Path]:
    raw = os.environ.get(ENV_PLUGINS_DIR, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def _candidates(folder: Path) -> Iterator[tuple[str, Path, bool]]:
    """(plugin name, path, disabled?) for each plugin file or package in ``folder``, sorted by name."""
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith((".", "_")):
            continue
        disabled = name.endswith(DISABLED_SUFFIX)
        base = name[: -len(DISABLED_SUFFIX)] if disabled else name
        if path.is_dir() and (path / "__init__.py").exists():
            yield base, path, disabled
        elif path.is_file() and base.endswith(".py"):
            yield base[:-3], path, disabled


class Registry:
    """One plugin manager plus what its plugins registered; failures are data, not crashes."""

    def __init__(self, plugin_dirs: Iterable[str | Path] = (), *, builtin: bool = True,
                 disabled: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("playground")
        self.pm.add_hookspecs(hookspecs)
        self.families: dict[str, ModelFamily] = {}
        self.datasets: dict[str, DatasetInfo] = {}
        self.plugins: dict[str, PluginRecord] = {}
        self.failures: list[Failure] = []
        self.owner: dict[str, str] = {}  # "model:<name>" / "dataset:<name>" -> plugin name
        self._lock = threading.Lock()
        self._disabled = set(disabled) if disabled is not None else _disabled_names()
        self.plugin_dirs = [Path(d) for d in plugin_dirs]  # the folders beside the built-in one (a child process's)
        dirs = ([BUILTIN_PLUGINS_DIR] if builtin else []) + self.plugin_dirs
        for i, folder in enumerate(dirs):
            self._load_folder(folder, "built-in" if builtin and i == 0 else str(folder), i)
        self._collect()

    # -- discovery ---------------------------------------------------------------------------------
    def _load_folder(self, folder: Path, origin: str, index: int) -> None:
        if not folder.is_dir():
            self._fail(f"<{folder}>", str(folder), "import", f"Plugins folder {folder} does not exist.", "")
            return
        for name, path, disabled in _candidates(folder):
            if name in self.plugins:
                self._fail(name, str(path), "import",
                           f"A plugin named {name!r} is already loaded from {self.plugins[name].file}.", "")
                continue
            record = PluginRecord(name, str(path), origin)
            self.plugins[name] = record
            if disabled or name in self._disabled:
                record.status = "disabled"
                continue
            try:
                module = self._import(name, path, index)
            except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt in a plugin body too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(name, str(path), "import", f"{type(exc).__name__}: {exc}", traceback.format_exc())
                continue
            self.register_plugin(module, name, _record=record)

    @staticmethod
    def _import(name: str, path: Path, index: int) -> ModuleType:
        parent = f"playground_plugins_{index}"
        if parent not in sys.modules:  # an empty namespace package so `from . import x` can resolve
            ns = ModuleType(parent)
            ns.__path__ = []
            sys.modules[parent] = ns
        modname = f"{parent}.{name}"
        init = path / "__init__.py" if path.is_dir() else path
        locations = [str(path)] if path.is_dir() else None
        spec = importlib.util.spec_from_file_location(modname, init, submodule_search_locations=locations)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module  # before exec: relative imports inside a package need it
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(modname, None)
            raise
        return module

    # -- registration ------------------------------------------------------------------------------
    def register_plugin(self, plugin: object, name: str, *, _record: PluginRecord | None = None) -> bool:
        """Register an object (module or instance) as a plugin; usable from tests and notebooks."""
        record = _record or self.plugins.setdefault(name, PluginRecord(name, getattr(plugin, "__file__", "") or
                                                                      "<in-process>", "in-process"))
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # PluginValidationError (bad hook signature), duplicate registration
            self._fail(name, record.file, "validate", f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return False
        if _record is None:
            self._collect(only=name)
        return True

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and everything it registered."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        for key, owner in list(self.owner.items()):
            if owner == name:
                kind, item = key.split(":", 1)
                (self.families if kind == "model" else self.datasets).pop(item, None)
                del self.owner[key]
        self.plugins.pop(name, None)
        self.failures = [f for f in self.failures if f.plugin != name]

    def _collect(self, only: str | None = None) -> None:
        for hook, kind, cls, table in (("register_models", "model", ModelFamily, self.families),
                                       ("register_datasets", "dataset", DatasetInfo, self.datasets)):
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if only is not None and impl.plugin_name != only:
                    continue
                self._call_register(impl, kind, cls, table)

    def _call_register(self, impl: Any, kind: str, cls: type, table: dict[str, Any]) -> None:
        plugin = impl.plugin_name
        record = self.plugins.get(plugin)
        added: list[str] = []

        def register(item: Any) -> None:
            if not isinstance(item, cls):
                raise TypeError(f"register() expects a {cls.__name__} instance, got {type(item).__name__}")
            name = item.name
            # a dataset named "PREFIX:" is parametrised (DatasetInfo); folder: is the image-folder loader's
            stem = name[:-1] if kind == "dataset" and str(name).endswith(":") and name != "folder:" else name
            if not stem or not str(stem).replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"{kind} name {name!r} must be letters, digits, '_' or '-'"
                                 + (" (a parametrised dataset: those and one final ':')" if kind == "dataset" else ""))
            if name in table:
                raise ValueError(f"{kind} name {name!r} is already registered by plugin "
                                 f"{self.owner.get(f'{kind}:{name}', '?')!r}")
            problems = declaration_problems(item) if kind == "model" else []
            if problems:
                raise ValueError(f"model family {name!r} is not registered: " + "; ".join(problems) + ".")
            table[name] = item
            self.owner[f"{kind}:{name}"] = plugin
            added.append(name)

        try:
            impl.function(register=register)
        except Exception as exc:  # a plugin's own code: record, keep whatever it registered before
            self._fail(plugin, record.file if record else "?", "register", f"{type(exc).__name__}: {exc}",
                       traceback.format_exc())
        if record is not None:
            record.provides.extend(f"{kind}:{n}" for n in added)

    # -- failures ----------------------------------------------------------------------------------
    def _fail(self, plugin: str, file: str, stage: str, message: str, tb: str) -> None:
        with self._lock:
            self.failures.append(Failure(plugin, file, stage, message, tb))
            record = self.plugins.get(plugin)
            if record is not None and stage in ("import", "validate", "register"):
                record.status = "failed"

    def owner_of(self, family: str) -> str:
        return self.owner.get(f"model:{family}", "?")

    @contextlib.contextmanager
    def guard(self, family: str, stage: str) -> Iterator[None]:
        """Run a family's own code; an unexpected exception is recorded and re-raised as PluginError.

        Errors that already carry a user message (PlaygroundError) and out-of-memory pass through unrecorded.
        """
        from .devices import is_oom
        from .errors import PlaygroundError

        try:
            yield
        except PlaygroundError:
            raise
        except Exception as exc:
            if is_oom(exc):  # a resource limit, not a plugin bug: the caller turns it into advice
                raise
            plugin = self.owner_of(family)
            record = self.plugins.get(plugin)
            self._fail(plugin, record.file if record else "?", stage, f"{type(exc).__name__}: {exc}",
                       traceback.format_exc())
            raise PluginError(f"The {family!r} plugin ({plugin}) failed during {stage}: "
                              f"{type(exc).__name__}: {exc}") from exc

    # -- lookups -----------------------------------------------------------------------------------
    def family(self, name: str) -> ModelFamily:
        try:
            return self.families[name]
        except KeyError:
            raise PluginError(f"Unknown model family {name!r}; registered: "
                              f"{', '.join(sorted(self.families)) or 'none'}.") from None

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of an event hook separately, so one failing observer stops none."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:
                record = self.plugins.get(impl.plugin_name)
                self._fail(impl.plugin_name, record.file if record else "?", "event",
                           f"{hook}: {type(exc).__name__}: {exc}", traceback.format_exc())

    def status_rows(self) -> list[dict[str, str]]:
        rows = []
        for rec in self.plugins.values():
            errs = [f for f in self.failures if f.plugin == rec.name]
            kinds: dict[str, list[str]] = {}
            for item in rec.provides:
                kind, name = item.split(":", 1)
                kinds.setdefault(kind, []).append(name)
            provides = " · ".join(f"{k}s: {', '.join(v)}" for k, v in kinds.items()) or "-"
            rows.append({"plugin": rec.name, "status": rec.status if not errs or rec.status != "loaded"
                         else "loaded (with errors)", "provides": provides,
                         "origin": rec.origin, "file": rec.file,
                         "last error": f"[{errs[-1].stage}] {errs[-1].message}" if errs else ""})
        for f in self.failures:
            if f.plugin not in self.plugins:
                rows.append({"plugin": f.plugin, "status": "failed", "provides": "-", "origin": "-",
                             "file": f.file, "last error": f"[{f.stage}] {f.message}"})
        return rows


_default: Registry | None = None
_default_lock = threading.Lock()


def get_registry(plugin_dirs: Iterable[str | Path] | None = None) -> Registry:
    """The process-wide registry (built once): built-ins, then ``plugin_dirs`` or $PLAYGROUND_PLUGINS_DIR."""
    global _default
    with _default_lock:
        if _default is None:
            dirs = list(plugin_dirs) if plugin_dirs is not None else plugin_dirs_from_env()
            _default = Registry(dirs)
        return _default


def set_registry(registry: Registry | None) -> None:
    global _default
    with _default_lock:
        _default = registry

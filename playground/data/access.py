"""Which datasets a caller may name: every registered one, and image folders (``folder:PATH``) only where the
person running the process allows them.

The CLI runs as its user and reads any folder. A web visitor of the app is someone else: a ``folder:`` value from
the page or the API would make the server read its own files (``folder:/usr`` walks the tree), so the app reads
none unless it was started with ``--allow-folders ROOT`` (or ``PLAYGROUND_ALLOW_FOLDERS``), and then only
folders inside those roots (symbolic links resolved, so a link cannot lead out).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .points_csv import CSV_PREFIX
from .stored_points import POINTS_PREFIX

FOLDER_PREFIX = "folder:"
SERVER_PATHS = {FOLDER_PREFIX: "folder", CSV_PREFIX: "file"}  # dataset names that read the server's disk
ENV_ALLOW = "PLAYGROUND_ALLOW_FOLDERS"


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "…"


@dataclass(frozen=True)
class FolderAccess:
    """``roots``: the folders (and everything under them) a caller may read; ``None`` means any folder."""

    roots: tuple[Path, ...] | None = ()

    @classmethod
    def anywhere(cls) -> FolderAccess:
        return cls(None)

    @classmethod
    def under(cls, roots: Iterable[str | Path]) -> FolderAccess:
        return cls(tuple(Path(r).expanduser().resolve() for r in roots if str(r).strip()))

    @classmethod
    def from_env(cls, extra: Sequence[str | Path] = ()) -> FolderAccess:
        """The app's rule: roots from ``--allow-folders`` plus ``PLAYGROUND_ALLOW_FOLDERS`` (os.pathsep-separated)."""
        env = [r for r in os.environ.get(ENV_ALLOW, "").split(os.pathsep) if r.strip()]
        return cls.under([*env, *extra])

    def describe(self) -> str:
        if self.roots is None:
            return "any folder"
        return ", ".join(str(r) for r in self.roots) if self.roots else "none"

    def check(self, what: str, name: str, registered: Iterable[str]) -> str:
        """``name`` if ``what`` (the field, as the form labels it) may use it; otherwise a DataError that says what
        may be used instead."""
        name = str(name or "").strip()
        known = sorted(registered)
        listed = ", ".join(known) or "none"
        if not name:
            raise DataError(f"{what}: choose a dataset ({listed}).")
        if name.startswith(POINTS_PREFIX):
            return name  # the playground's own store, by content hash: nothing of the server's disk (its loader checks)
        prefix = next((p for p in SERVER_PATHS if name.startswith(p)), None)
        if prefix is None:
            head, colon, _ = name.partition(":")
            if name in known or (colon and any(k.startswith(head + ":") for k in known)):
                return name  # a parametrised dataset's loader judges its own argument
            folders = "" if self.roots == () else f", or folder:PATH / csv:PATH ({self.describe()})"
            raise DataError(f"{what}: unknown dataset {_short(name)!r}; registered: {listed}{folders}.")
        thing = SERVER_PATHS[prefix]
        if self.roots == ():
            raise DataError(f"{what}: {_short(name)!r} names a {thing} on the server, and this server reads no files "
                            f"or folders for web visitors. Pick a registered dataset ({listed}); whoever runs the "
                            "server can allow folders with --allow-folders ROOT (or use the playground CLI, which "
                            "reads any).")
        path = Path(name[len(prefix):]).expanduser()
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            real = None
        if self.roots is not None and (real is None or not any(real.is_relative_to(r) for r in self.roots)):
            raise DataError(f"{what}: {_short(name)!r} is outside the folders this server allows "
                            f"({self.describe()}). Use a {thing} inside one of them, or a registered dataset "
                            f"({listed}).")
        if real is None or not (real.is_dir() if thing == "folder" else real.is_file()):
            raise DataError(f"{what}: {_short(name)!r} is not a {thing} on the server.")
        return name

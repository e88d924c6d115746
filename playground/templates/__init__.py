"""``playground new-plugin``: write a working, commented family plugin and its test from a template."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent
KINDS = {"image": "image.py.txt", "points": "points.py.txt"}
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def render(name: str, kind: str, folder: Path) -> dict[Path, str]:
    """The files ``write_plugin`` writes, by path: the family and its test."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a family name: use lower-case letters, digits and _, starting with a "
                          "letter (e.g. my_vae).")
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    words = {"__NAME__": name, "__CLASS__": "".join(w.capitalize() for w in name.split("_") if w),
             "__TITLE__": " ".join(w.capitalize() for w in name.split("_") if w), "__DIR__": str(folder)}

    def fill(template: str) -> str:
        text = (TEMPLATES / template).read_text()
        for key, value in words.items():
            text = text.replace(key, value)
        return text

    return {folder / f"{name}.py": fill(KINDS[kind]), folder / "tests" / f"test_{name}.py": fill("test.py.txt")}


def write_plugin(name: str, kind: str, folder: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the plugin file and its test into ``folder`` (a plugins folder); refuses to replace files unless
    ``overwrite``."""
    files = render(name, kind, Path(folder))
    taken = [str(p) for p in files if p.exists()]
    if taken and not overwrite:
        raise ConfigError(f"{', '.join(taken)} already exist(s); pass --overwrite to replace, or choose another name.")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)

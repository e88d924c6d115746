"""Example images for image inputs: a few test-split images of the data the default weights learned,
plus a few from other datasets (handy anomalies). Written once as PNGs to the temp dir, which Gradio serves."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..checkpoint import read_metadata
from ..data import DataSpec, load_dataset
from ..errors import PlaygroundError
from ..images import tensor_to_pil
from ..weights import list_weights

PRIMARY, OTHER = 6, 2
OTHER_PREFERENCE = ("shapes", "glyphs", "digits")  # one other built-in dataset: shapes make good anomalies


def _files(registry: Any, name: str, count: int) -> list[str]:
    folder = Path(tempfile.gettempdir()) / "playground-examples" / name
    paths = [folder / f"{i}.png" for i in range(count)]
    if not all(p.exists() for p in paths):  # cached across starts: built-in data is deterministic
        data = load_dataset(registry.datasets, DataSpec(name, split="test"))
        folder.mkdir(parents=True, exist_ok=True)
        step = max(1, len(data) // count)
        for i, path in enumerate(paths):
            tensor_to_pil(data.float_images()[i * step], scale=4).save(path)
    return [str(p) for p in paths]


def example_files(registry: Any, family: str) -> list[str]:
    """Example PNGs; empty when the family has no weights or its data is not built in. A model of two data streams
    (CycleGAN's domains) gets its first domain's images only: a third dataset's "anomaly" would only confuse."""
    entries = list_weights(family)
    if not entries:
        return []
    try:
        meta = read_metadata(entries[0].path)
        primary, channels = meta["data"]["name"], meta["info"]["channels"]  # the data (first stream) trained on

        def builtin(name: str) -> bool:
            d = registry.datasets.get(name)
            return d is not None and d.kind == "image" and d.source == "built-in" and d.channels == channels

        if len(meta.get("streams") or {}) > 1:  # the first domain's images: what the default direction takes
            return _files(registry, primary, PRIMARY + OTHER) if builtin(primary) else []
        files = _files(registry, primary, PRIMARY) if builtin(primary) else []
        other = next((n for n in OTHER_PREFERENCE if n != primary and builtin(n)), None)
        return files + (_files(registry, other, OTHER) if other else [])
    except (PlaygroundError, OSError, KeyError):
        return []  # examples are a convenience; the tab works without them

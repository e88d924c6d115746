"""2-D points a user gives in the page (a CSV upload or a drawing), kept in the playground's own store and named by
their content: ``points:<16 hex digits>``.

Unlike ``csv:PATH`` such a name never reaches outside the store (``PLAYGROUND_HOME/points``), so the app accepts it
from web visitors; a run trained on it is rebuilt from its name as long as the store keeps the file, and the same
points always get the same name. A drawing becomes points where its ink is: each inked pixel one point, jittered
inside its pixel, the canvas mapped onto [−2, 2]² (about the built-in 2-D sets' scale), y pointing up.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from ..paths import points_dir
from .core import DataSpec, PointData, split_indices
from .points_csv import MAX_POINTS, MIN_POINTS, read_points

POINTS_PREFIX = "points:"
NAME = re.compile(r"[0-9a-f]{16}")
DRAW_SPAN = 2.0  # a drawing fills [−DRAW_SPAN, DRAW_SPAN]² along its longer side
MAX_DRAWN = 4000  # points kept from a drawing (a seeded subset of its inked pixels)
INK = 0.5  # a pixel darker than this (0 black … 1 white), and not transparent, is ink


def store_dir() -> Path:
    return points_dir()


def _check(points: torch.Tensor, what: str) -> torch.Tensor:
    if points.ndim != 2 or points.shape[1] != 2:
        raise DataError(f"{what}: expected N×2 points, got shape {tuple(points.shape)}.")
    if len(points) < MIN_POINTS:
        raise DataError(f"{what}: {len(points)} points; a dataset needs at least {MIN_POINTS}.")
    if len(points) > MAX_POINTS:
        raise DataError(f"{what}: more than {MAX_POINTS:,} points.")
    if not torch.isfinite(points).all():
        raise DataError(f"{what}: contains NaN or infinite coordinates.")
    return points.float()


def store_points(points: torch.Tensor, what: str = "Your points") -> str:
    """Keep ``points`` (N×2) in the store; returns the dataset name ``points:<hash>`` (the same points, the same
    name)."""
    points = _check(points.detach().cpu(), what)
    text = "x,y\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in points.tolist())
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = store_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.csv"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a concurrent store of the same points writes the same bytes
    return POINTS_PREFIX + key


def points_from_drawing(image: Any, seed: int = 0) -> torch.Tensor:
    """A drawing (H×W grey, H×W×3 or H×W×4 array, 0..255, dark ink on a light or transparent background) → N×2
    points where the ink is."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise DataError(f"A drawing must be an H×W or H×W×C image, not shape {arr.shape}.")
    arr = arr / 255.0
    alpha = arr[..., 3] if arr.ndim == 3 and arr.shape[2] == 4 else np.ones(arr.shape[:2], np.float32)
    grey = arr[..., :3].mean(-1) if arr.ndim == 3 else arr
    ink = (grey < INK) & (alpha > 0.5)
    rows, cols = np.nonzero(ink)
    if len(rows) < MIN_POINTS:
        raise DataError(f"The drawing has {len(rows)} inked pixels; draw more (at least {MIN_POINTS}).")
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(rows), generator=g)[:MAX_DRAWN].numpy()
    jitter = torch.rand(len(pick), 2, generator=g).numpy()
    h, w = ink.shape
    scale = 2 * DRAW_SPAN / max(h, w)
    x = (cols[pick] + jitter[:, 0] - w / 2) * scale
    y = (h / 2 - rows[pick] - jitter[:, 1]) * scale  # image rows grow downwards, y upwards
    return torch.from_numpy(np.stack([x, y], 1).astype(np.float32))


def load_stored_points(spec: DataSpec) -> PointData:
    key = spec.name[len(POINTS_PREFIX):]
    if not NAME.fullmatch(key):
        raise DataError(f"{spec.name!r} is not a stored-points name (points: and 16 hex digits, as the page's "
                        "upload or drawing gives).")
    path = store_dir() / f"{key}.csv"
    if not path.is_file():
        raise DataError(f"{spec.name}: no such points in this playground's store ({store_dir()}); upload or draw "
                        "them again (the same points get the same name).")
    points = read_points(path)
    return PointData(points[split_indices(len(points), spec.split)])

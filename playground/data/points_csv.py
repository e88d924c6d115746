"""2-D points from a CSV file (``csv:PATH``): two numeric columns x, y, an optional header, one point per row;
a fixed, seeded 80/20 split as the built-in sets have. Drawn or exported points become a dataset every 2-D family
trains on."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import DataError
from .core import DataSpec, PointData, split_indices

CSV_PREFIX = "csv:"
MIN_POINTS = 10
MAX_POINTS = 1_000_000
MAX_BYTES = 64 * 2**20


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_points(path: str | Path) -> torch.Tensor:
    """N×2 float32 points; a DataError naming the file and line for anything else."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{str(path)!r} is not a file (csv:PATH wants a CSV of x,y rows).")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path.name}: larger than {MAX_BYTES // 2**20} MB; at most {MAX_POINTS:,} points.")
    rows: list[tuple[float, float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), 1):
                cells = [c.strip() for c in row if c.strip()]
                if not cells or cells[0].startswith("#"):
                    continue
                values = [_number(c) for c in cells[:2]]
                if len(cells) < 2 or None in values:
                    if not rows and line == 1:  # a header
                        continue
                    raise DataError(f"{path.name}, line {line}: expected two numbers x,y; got {','.join(row)[:60]!r}.")
                rows.append((values[0], values[1]))
                if len(rows) > MAX_POINTS:
                    raise DataError(f"{path.name}: more than {MAX_POINTS:,} points.")
    except (UnicodeDecodeError, csv.Error):  # binary bytes, NUL characters
        raise DataError(f"{path.name}: not a text CSV file of x,y rows.") from None
    points = torch.tensor(rows, dtype=torch.float32).reshape(-1, 2)
    if len(points) < MIN_POINTS:
        raise DataError(f"{path.name}: {len(points)} points; a dataset needs at least {MIN_POINTS}.")
    if not torch.isfinite(points).all():
        raise DataError(f"{path.name}: contains NaN or infinite coordinates.")
    if float(points.abs().max()) > 1e6:
        raise DataError(f"{path.name}: coordinates beyond ±1e6; rescale them.")
    return points


def load_points_csv(path: str, spec: DataSpec) -> PointData:
    points = read_points(path)
    return PointData(points[split_indices(len(points), spec.split)])

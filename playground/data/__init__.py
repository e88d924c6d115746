"""Data: the dataset contract, built-in datasets and loaders for external ones."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import DataError
from .access import FOLDER_PREFIX, FolderAccess
from .core import DatasetInfo, DataSpec, ImageData, MixtureDensity, PointData, convert_channels
from .external import load_image_folder
from .points_csv import CSV_PREFIX, load_points_csv
from .stored_points import POINTS_PREFIX, load_stored_points, points_from_drawing, store_points

__all__ = ["DataSpec", "DatasetInfo", "ImageData", "MixtureDensity", "PointData", "load_dataset", "find_dataset",
           "offered_names", "FOLDER_PREFIX", "POINTS_PREFIX", "points_from_drawing", "store_points",
           "CSV_PREFIX", "FolderAccess"]


def find_dataset(datasets: Mapping[str, DatasetInfo], name: str) -> DatasetInfo | None:
    """The registered dataset ``name`` loads through: its own entry, or the parametrised ``PREFIX:`` it starts
    with."""
    if name in datasets:
        return datasets[name]
    prefix, colon, _ = name.partition(":")
    info = datasets.get(prefix + ":") if colon else None
    return info if info is not None and info.parametrised else None


def offered_names(datasets: Mapping[str, DatasetInfo], kind: str | None = None, labelled: bool = False) -> list[str]:
    """What a picker lists for datasets of ``kind`` (labelled ones only when asked): parametrised datasets appear
    as their example."""
    return [d.offered for d in datasets.values()
            if (kind is None or d.kind == kind) and (not labelled or d.num_classes > 0)]


def load_dataset(datasets: Mapping[str, DatasetInfo], spec: DataSpec) -> ImageData | PointData:
    """Load ``spec`` from the registered datasets, an image folder given as ``folder:PATH``, 2-D points in a CSV
    file given as ``csv:PATH``, or points uploaded or drawn in the page (``points:HASH``, from the store)."""
    if spec.name.startswith(FOLDER_PREFIX):
        return convert_channels(load_image_folder(spec.name[len(FOLDER_PREFIX):], spec, spec.channels), spec.channels)
    if spec.name.startswith(CSV_PREFIX):
        return load_points_csv(spec.name[len(CSV_PREFIX):], spec)
    if spec.name.startswith(POINTS_PREFIX):
        return load_stored_points(spec)
    info = find_dataset(datasets, spec.name)
    if info is None:
        known = ", ".join(sorted(datasets)) or "none"
        raise DataError(f"Unknown dataset {spec.name!r}. Registered: {known}; or use folder:PATH (images), "
                        "csv:PATH (2-D points) or points uploaded or drawn in the Lab (points:…).")
    if spec.size < 8 or spec.size > 512:
        raise DataError(f"Image size {spec.size} is outside 8..512.")
    data = info.load(spec)
    return convert_channels(data, spec.channels) if isinstance(data, ImageData) else data

"""Data: the dataset contract, built-in datasets and loaders for external ones."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import DataError
from .access import FOLDER_PREFIX, FolderAccess
from .core import DatasetInfo, DataSpec, ImageData, PointData, convert_channels
from .external import load_image_folder

__all__ = ["DataSpec", "DatasetInfo", "ImageData", "PointData", "load_dataset", "FOLDER_PREFIX", "FolderAccess"]


def load_dataset(datasets: Mapping[str, DatasetInfo], spec: DataSpec) -> ImageData | PointData:
    """Load ``spec`` from the registered datasets, or from an image folder given as ``folder:PATH``."""
    if spec.name.startswith(FOLDER_PREFIX):
        return convert_channels(load_image_folder(spec.name[len(FOLDER_PREFIX):], spec, spec.channels), spec.channels)
    info = datasets.get(spec.name)
    if info is None:
        known = ", ".join(sorted(datasets)) or "none"
        raise DataError(f"Unknown dataset {spec.name!r}. Registered: {known}; or use folder:PATH.")
    if spec.size < 8 or spec.size > 512:
        raise DataError(f"Image size {spec.size} is outside 8..512.")
    data = info.load(spec)
    return convert_channels(data, spec.channels) if isinstance(data, ImageData) else data

"""Dataset contract: a registered DatasetInfo turns a DataSpec into ImageData (or PointData)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """Which data, exactly: JSON-able, stored in every checkpoint so a run can be rebuilt."""

    name: str
    split: str = "train"  # "train" or "test"
    size: int = 32
    limit: int | None = None  # at most this many items (the first ones after a seeded shuffle)
    exclude_classes: tuple[int, ...] = ()
    only_classes: tuple[int, ...] = ()
    channels: int | None = None  # 1 or 3: convert (luminance / repeat); None = the dataset's own

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["exclude_classes"] = list(self.exclude_classes)
        d["only_classes"] = list(self.only_classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["exclude_classes"] = tuple(d.get("exclude_classes", ()))
        d["only_classes"] = tuple(d.get("only_classes", ()))
        return cls(**d)


@dataclass
class ImageData:
    """Images stored as uint8 N×C×H×W (compact, device-resident); batches come out in [-1, 1]."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: tuple[str, ...] = ()
    factors: torch.Tensor | None = None  # per-image generative factors (e.g. shapes), if known
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(f"ImageData needs uint8 N×C×H×W images, got {self.images.dtype} {tuple(self.images.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device | str) -> ImageData:
        move = (lambda t: None if t is None else t.to(device))  # noqa: E731
        return dataclasses.replace(self, images=self.images.to(device), labels=move(self.labels),
                                   factors=move(self.factors))

    def float_images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        x = self.images if index is None else self.images[index]
        return x.float().div_(127.5).sub_(1.0)

    def subset(self, mask_or_index: torch.Tensor) -> ImageData:
        pick = (lambda t: None if t is None else t[mask_or_index])  # noqa: E731
        return dataclasses.replace(self, images=self.images[mask_or_index], labels=pick(self.labels),
                                   factors=pick(self.factors))


@dataclass(frozen=True)
class MixtureDensity:
    """A 2-D dataset's exact density when it is a Gaussian mixture, p(x) = Σ_k π_k N(x | μ_k, Σ_k): declared by
    the dataset, stored with a model's data description (JSON), so a family can use the density itself (an MCMC
    sampler targets it) rather than an estimate from the points. Float64."""

    weights: torch.Tensor  # K, summing to 1
    means: torch.Tensor  # K×2
    covariances: torch.Tensor  # K×2×2, positive definite

    def __post_init__(self) -> None:
        k = self.weights.shape[0] if self.weights.ndim == 1 else -1
        if k < 1 or self.means.shape != (k, 2) or self.covariances.shape != (k, 2, 2):
            raise DataError(f"A mixture density needs K weights, K×2 means and K×2×2 covariances; got "
                            f"{tuple(self.weights.shape)}, {tuple(self.means.shape)}, {tuple(self.covariances.shape)}.")
        if torch.linalg.cholesky_ex(self.covariances.double())[1].any():
            raise DataError("A mixture density's covariances must be positive definite.")

    @functools.cached_property
    def _precisions(self) -> torch.Tensor:
        return torch.linalg.inv(self.covariances.double())

    @functools.cached_property
    def _log_norms(self) -> torch.Tensor:
        """log π_k − ½ log|2π Σ_k|, per component."""
        return (self.weights.double().clamp_min(1e-300).log() - 0.5 * torch.logdet(self.covariances.double())
                - math.log(2 * math.pi))

    def log_prob(self, xy: torch.Tensor) -> torch.Tensor:
        """log p at points of shape …×2 (float64; differentiable in ``xy``, so samplers can take its gradient)."""
        xy = xy.double()
        d = xy[..., None, :] - self.means.double().to(xy.device)  # …×K×2
        mahalanobis = torch.einsum("...ki,kij,...kj->...k", d, self._precisions.to(xy.device), d)
        return torch.logsumexp(self._log_norms.to(xy.device) - mahalanobis / 2, dim=-1)

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.tolist(), "means": self.means.tolist(),
                "covariances": self.covariances.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MixtureDensity:
        return cls(*(torch.tensor(d[k], dtype=torch.float64) for k in ("weights", "means", "covariances")))


@dataclass
class PointData:
    """2-D points (toy distributions) with their mode centres and spread, and their exact density when known."""

    points: torch.Tensor  # N×2 float
    modes: torch.Tensor | None = None  # M×2 float
    sigma: float = 0.0
    density: MixtureDensity | None = None

    def __len__(self) -> int:
        return self.points.shape[0]

    def to(self, device: torch.device | str) -> PointData:
        modes = None if self.modes is None else self.modes.to(device)
        return dataclasses.replace(self, points=self.points.to(device), modes=modes)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset a plugin registers. ``load(spec)`` returns ImageData (kind "image") or PointData.

    A name ending in ``:`` registers a parametrised dataset: every name ``NAME:ARGUMENT`` loads through it (``load``
    reads the argument from ``spec.name`` and raises DataError when it is unusable); ``example`` is a full name
    pickers offer (e.g. ``energy:(x**2 + y**2 - 2)**2``)."""

    name: str
    title: str
    load: Callable[[DataSpec], ImageData | PointData]
    kind: str = "image"
    channels: int = 1
    num_classes: int = 0
    description: str = ""
    source: str = "built-in"  # "built-in" never touches the network; "download" may
    example: str = ""

    @property
    def parametrised(self) -> bool:
        return self.name.endswith(":")

    @property
    def offered(self) -> str:
        """The name pickers list: the dataset's own, or a parametrised one's example."""
        return self.example or self.name


def convert_channels(data: ImageData, channels: int | None) -> ImageData:
    """Grey → colour by repetition, colour → grey by ITU-R 601 luminance; unchanged when it already fits."""
    if channels is None or channels == data.channels:
        return data
    if channels not in (1, 3) or data.channels not in (1, 3):
        raise DataError(f"Cannot convert {data.channels}-channel images to {channels} channels.")
    if channels == 3:
        return dataclasses.replace(data, images=data.images.repeat(1, 3, 1, 1))
    w = torch.tensor([0.299, 0.587, 0.114], device=data.images.device).view(1, 3, 1, 1)
    grey = (data.images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return dataclasses.replace(data, images=grey)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float N×C×H×W in [0, 1] → size×size with antialiasing (downscale) or bilinear (upscale)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                           antialias=True).clamp(0, 1)


def split_indices(n: int, split: str, test_fraction: float = 0.2, seed: int = 1234) -> torch.Tensor:
    """A fixed, seeded train/test split of ``n`` items (the same on every machine)."""
    if split not in ("train", "test"):
        raise DataError(f"Unknown split {split!r}; use 'train' or 'test'.")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    return perm[n_test:] if split == "train" else perm[:n_test]


def apply_spec_filters(data: ImageData, spec: DataSpec) -> ImageData:
    """Class filters and the item limit, applied the same way for every dataset."""
    if (spec.exclude_classes or spec.only_classes) and data.labels is None:
        raise DataError(f"Dataset {spec.name!r} has no labels, so classes cannot be filtered.")
    if spec.exclude_classes:
        data = data.subset(~torch.isin(data.labels, torch.tensor(spec.exclude_classes)))
    if spec.only_classes:
        data = data.subset(torch.isin(data.labels, torch.tensor(spec.only_classes)))
    if spec.limit is not None:
        data = data.subset(torch.arange(min(spec.limit, len(data))))
    if len(data) == 0:
        raise DataError(f"Dataset {spec.name!r} is empty after filtering ({spec}).")
    return data

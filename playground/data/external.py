"""Datasets from outside the repository: torchvision's MNIST family and CIFAR-10, and image folders.

torchvision downloads only when the files are absent and downloads are allowed (they are not when
``PLAYGROUND_OFFLINE`` or ``HF_HUB_OFFLINE`` is set); otherwise the error says where to put the files.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .core import DataSpec, ImageData, apply_spec_filters, resize_images, to_uint8

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_FOLDER_IMAGES = 100_000


def data_root() -> Path:
    root = os.environ.get("PLAYGROUND_DATA_DIR")
    return Path(root) if root else Path.home() / ".cache" / "playground" / "datasets"


def downloads_allowed() -> bool:
    off = {"1", "true", "yes"}
    return not any(os.environ.get(v, "").lower() in off for v in ("PLAYGROUND_OFFLINE", "HF_HUB_OFFLINE"))


TORCHVISION_SETS = {
    "mnist": ("MNIST", 1, tuple(str(i) for i in range(10))),
    "fashion_mnist": ("FashionMNIST", 1, ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                          "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": ("CIFAR10", 3, ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                               "ship", "truck")),
}


def _open_torchvision(cls_name: str, root: Path, train: bool):  # noqa: ANN202
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not downloads_allowed():
            raise DataError(
                f"{cls_name} is not in {root} and downloads are off (PLAYGROUND_OFFLINE/HF_HUB_OFFLINE). "
                f"Unset them while online, or place torchvision's {cls_name} files under {root}."
            ) from None
    try:
        return cls(str(root), train=train, download=True)
    except Exception as exc:  # urllib/HTTP/socket errors differ by version; all mean "not reachable"
        raise DataError(
            f"{cls_name} is not in {root} and could not be downloaded ({type(exc).__name__}: {exc}). "
            f"Connect to the internet once, or place torchvision's {cls_name} files under {root}."
        ) from None


def load_torchvision(key: str, spec: DataSpec) -> ImageData:
    cls_name, _channels, names = TORCHVISION_SETS[key]
    if spec.split not in ("train", "test"):
        raise DataError(f"Unknown split {spec.split!r}; use 'train' or 'test'.")
    ds = _open_torchvision(cls_name, data_root(), spec.split == "train")
    arr = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()  # N×H×W or N×H×W×3, uint8
    x = torch.from_numpy(np.ascontiguousarray(arr))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    if x.shape[-1] != spec.size:
        x = to_uint8(resize_images(x.float() / 255.0, spec.size))
    return apply_spec_filters(ImageData(x.contiguous(), labels, names, meta={"source": f"torchvision {cls_name}"}),
                              spec)


DOMAIN_FOLDERS = {"trainA", "trainB", "testA", "testB", "valA", "valB"}  # the reference CycleGAN layout


def _split_folder(root: Path, split: str) -> Path:
    """The folder that holds ``split``: a ``trainX`` folder's test split is a ``testX`` beside it when there is one
    (the reference CycleGAN layout); any other folder serves both splits."""
    if split == "test" and root.name.startswith("train") and (root.parent / ("test" + root.name[5:])).is_dir():
        return root.parent / ("test" + root.name[5:])
    return root


def _read_images(files: list[tuple[int, Path]]) -> tuple[list[tuple[int, Image.Image]], list[str]]:
    """Each readable image with its label; unreadable files are skipped and described."""
    good, skipped = [], []
    for label, f in files:
        try:
            with Image.open(f) as im:
                im.load()
                good.append((label, im.copy()))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            skipped.append(f"{f.name} ({type(exc).__name__}: {str(exc)[:80]})")
    return good, skipped


def skipped_note(skipped: list[str], where: str | Path) -> str:
    """One sentence on the files a folder load skipped (the loader's warning and the training run's note)."""
    return f"Skipped {len(skipped)} unreadable file(s) in {where}: {'; '.join(skipped[:5])}" + \
        (" …" if len(skipped) > 5 else "")


def load_image_folder(path: str, spec: DataSpec, channels: int | None = None) -> ImageData:
    """A folder of images; sub-folders are classes (ImageFolder layout), or a flat folder without labels.

    Images are converted to the channel count most of them have (grey → 1, colour → 3), transparent parts composited
    on black, centre-cropped to a square and resized to ``spec.size``. Unreadable files are skipped with a warning
    (listed in ``meta["skipped"]``). A ``trainA`` folder's test split is ``testA`` beside it (CycleGAN's layout).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Image folder {root} does not exist or is not a folder.")
    root = _split_folder(root, spec.split)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs and {p.name for p in subdirs} <= DOMAIN_FOLDERS:
        raise DataError(f"{root} holds two domains in CycleGAN's layout ({', '.join(p.name for p in subdirs)}): give "
                        f"folder:{root / 'trainA'} for domain A and folder:{root / 'trainB'} for domain B.")
    if subdirs:
        groups = [(i, sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES))
                  for i, d in enumerate(subdirs)]
        class_names = tuple(d.name for d in subdirs)
    else:
        groups = [(-1, sorted(f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))]
        class_names = ()
    files = [(label, f) for label, fs in groups for f in fs]
    if not files:
        raise DataError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root}.")
    if len(files) > MAX_FOLDER_IMAGES:
        raise DataError(f"{root} has {len(files)} images; the limit is {MAX_FOLDER_IMAGES}.")
    images, skipped = _read_images(files)
    if not images:
        raise DataError(f"None of the {len(files)} image files in {root} could be read: {'; '.join(skipped[:3])}")
    if skipped:
        warnings.warn(skipped_note(skipped, root), stacklevel=2)
    if channels is None:
        colour = sum(im.mode not in ("L", "1", "LA", "I", "I;16", "F") for _, im in images)
        channels = 3 if colour * 2 > len(images) else 1
    mode = "RGB" if channels == 3 else "L"
    arrs = []
    for _, im in images:
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (0, 0, 0, 255))  # transparent → black, like the built-ins
            im = Image.alpha_composite(bg, im)
        im = im.convert(mode)
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((spec.size, spec.size), Image.Resampling.LANCZOS)
        a = np.asarray(im, dtype=np.uint8)
        arrs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    x = torch.from_numpy(np.stack(arrs))
    labels = torch.tensor([lab for lab, _ in images]) if class_names else None
    meta = {"source": str(root), "skipped": skipped}
    # A user's folder has no canonical split: both splits are the whole folder (or trainX / testX, above).
    return apply_spec_filters(ImageData(x, labels, class_names, meta=meta), spec)

"""Converting between what users supply or see (PIL/numpy images, sketches) and model tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .params import INVERT_CHOICES

MIN_SIDE, MAX_SIDE = 4, 4096


class EmptySketchError(InputError):
    """A sketchpad with nothing drawn on it (an optional image input takes it as no image)."""


@dataclass(frozen=True)
class UserImage:
    """An image as a user gave it (PIL, an array or a file path), before the framework converts it.

    ``sketch``: drawn on a sketchpad (white background, dark strokes): cropped to its ink and centred.
    ``invert``: "auto" (dark-on-light images are inverted to the datasets' light-on-dark), "yes" or "no"."""

    value: Any
    sketch: bool = False
    invert: str = "auto"


HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit integer pixels (PNG, TIFF); "I" holds them too


def _eight_bit(im: Image.Image) -> Image.Image:
    """High-bit-depth grey → 8-bit by scaling, not clipping: PIL's ``convert("L")`` clips 16-bit values at 255,
    which turns a 16-bit image white. 32-bit float images go through the array path (scaled by their range)."""
    if im.mode in HIGH_BIT_MODES:
        arr = np.asarray(im, dtype=np.float64)
        return Image.fromarray((np.clip(arr / 65535.0, 0, 1) * 255).round().astype(np.uint8))
    if im.mode == "F":
        return _to_pil(np.asarray(im, dtype=np.float32))
    return im


def _to_pil(value: Any) -> Image.Image:
    if isinstance(value, Image.Image):
        return _eight_bit(value)
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        name = Path(value).name if not isinstance(value, bytes) else "the image"
        try:
            with Image.open(value) as im:
                im.load()
                return _eight_bit(im.copy())
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"Cannot read {name!r} as an image: {exc}") from None
    arr = np.asarray(value)
    if arr.dtype == object or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InputError(f"Expected an H×W grey or H×W×3/4 colour image, got an array of shape {arr.shape}.")
    if arr.dtype != np.uint8:
        if not np.isfinite(arr).all():
            raise InputError("The image contains NaN or Inf values.")
        hi = 65535.0 if arr.dtype == np.uint16 else 1.0 if arr.max() <= 1.0 else 255.0
        arr = (np.clip(arr / hi, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr)


def _flatten_alpha(im: Image.Image, background: int) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (background,) * 3 + (255,))
        return Image.alpha_composite(bg, im)
    return im


def image_to_tensor(value: Any, *, channels: int, size: int, sketch: bool = False,
                    invert: str = "auto") -> torch.Tensor:
    """A user image → 1×C×size×size in [-1, 1], in the built-in datasets' convention (light ink on dark).

    RGBA is composited (onto white for sketches), colour becomes grey for 1-channel models, any size is
    fitted to a square. ``invert``: "auto" (dark-on-light images are inverted), "yes" or "no". For
    sketches the drawing is cropped to its ink and centred with a margin, like the training digits.
    """
    if value is None:
        raise InputError("No image given: upload one or draw one.")
    if invert not in INVERT_CHOICES:
        raise InputError(f"invert must be one of {', '.join(INVERT_CHOICES)}; got {invert!r}.")
    im = _to_pil(value)
    w, h = im.size
    if min(w, h) < MIN_SIDE or max(w, h) > MAX_SIDE:
        raise InputError(f"Image is {w}×{h}; each side must be between {MIN_SIDE} and {MAX_SIDE} pixels.")
    im = _flatten_alpha(im, 255 if sketch else 0).convert("RGB" if channels == 3 else "L")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    dark_on_light = arr.mean() > 0.5
    if invert == "yes" or (invert == "auto" and dark_on_light):
        arr = 1.0 - arr
    if sketch:
        arr = _crop_to_ink(arr)
    x = torch.from_numpy(np.ascontiguousarray(arr))
    x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
    x = _fit_square(x.unsqueeze(0), size)
    return x * 2 - 1


def to_model_input(image: UserImage | Any, *, channels: int, size: int) -> torch.Tensor:
    """What a task's image input becomes: C×size×size in [-1, 1] (a plain value counts as an upload)."""
    if not isinstance(image, UserImage):
        image = UserImage(image)
    return image_to_tensor(image.value, channels=channels, size=size, sketch=image.sketch, invert=image.invert)[0]


def _crop_to_ink(arr: np.ndarray) -> np.ndarray:
    ink = arr if arr.ndim == 2 else arr.max(axis=2)
    ys, xs = np.nonzero(ink > 0.1)
    if len(ys) == 0:
        raise EmptySketchError("The sketch is empty: draw something first.")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(max(y1 - y0, x1 - x0) * 1.25) + 1  # the digits dataset leaves roughly this margin
    out = np.zeros((side, side) + arr.shape[2:], dtype=arr.dtype)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    sy, sx = cy - side // 2, cx - side // 2
    src = arr[max(sy, 0):sy + side, max(sx, 0):sx + side]
    out[max(-sy, 0):max(-sy, 0) + src.shape[0], max(-sx, 0):max(-sx, 0) + src.shape[1]] = src
    return out


def _fit_square(x: torch.Tensor, size: int) -> torch.Tensor:
    _, _, h, w = x.shape
    if h != w:  # pad the short side with background rather than distort
        s = max(h, w)
        x = torch.nn.functional.pad(x, ((s - w) // 2, s - w - (s - w) // 2, (s - h) // 2, s - h - (s - h) // 2))
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                           antialias=True).clamp(0, 1)


def tensor_to_pil(x: torch.Tensor, scale: int = 1) -> Image.Image:
    """C×H×W in [-1, 1] → PIL (nearest-neighbour upscaled by ``scale`` so small images stay crisp)."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
    im = Image.fromarray(arr)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    return im


def save_gif(frames: list[torch.Tensor], path: str | Path, scale: int = 4, ms_per_frame: int = 120) -> Path:
    """Frames (C×H×W in [-1, 1]) → a looping animated GIF that plays forth and back."""
    pil = [tensor_to_pil(f, scale=scale).convert("P") for f in frames]
    pil = pil + pil[-2:0:-1]
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=ms_per_frame, loop=0)
    return Path(path)


def make_grid(x: torch.Tensor, nrow: int | None = None, pad: int = 2) -> torch.Tensor:
    """N×C×H×W → C×H'×W' grid with grey gaps."""
    n, c, h, w = x.shape
    nrow = min(nrow, n) if nrow else max(1, int(np.ceil(np.sqrt(n))))  # never more columns than images
    rows = int(np.ceil(n / nrow))
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.0)  # grey gaps between images
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = x[i]
    return grid

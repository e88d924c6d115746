"""How samples and real images are shown to the evaluator: a family whose samples are of another kind than the
dataset's images (binarised digits from an RBM) declares a view, applied to both sides alike, so FID compares
like with like (binarised real digits score FID ~171 against the grey digits they came from)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageView:
    """A named, deterministic map of N×C×H×W images in [-1, 1] to images in [-1, 1]; the name goes in the
    quality report's protocol."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        out = self.fn(images)
        if out.shape != images.shape:
            raise ValueError(f"Image view {self.name!r} changed the images' shape {tuple(images.shape)} to "
                             f"{tuple(out.shape)}.")
        return out


def _binarise(images: torch.Tensor) -> torch.Tensor:
    return torch.where(images > 0, 1.0, -1.0).to(images.dtype)


AS_GENERATED = ImageView("as generated", lambda images: images)  # the default: images as they are
BINARISED = ImageView("binarised at 0", _binarise)

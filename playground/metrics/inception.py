"""The Inception FID that papers quote: TF-FID Inception-v3 weights through torchmetrics/torch-fidelity.

Never a default: the weights are a download (~92 MB). It runs when ``torch-fidelity`` is installed and the
weights file is present: ``$PLAYGROUND_INCEPTION_WEIGHTS`` or torch-fidelity's file in the torch hub cache
(put there by one online run). Otherwise it says exactly what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import WeightsError

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"


def inception_weights() -> Path:
    env = os.environ.get("PLAYGROUND_INCEPTION_WEIGHTS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME)
    for c in candidates:
        if c.is_file():
            return c
    raise WeightsError(
        f"Inception FID needs the TF-FID Inception weights ({WEIGHTS_NAME}); none at "
        f"{', '.join(map(str, candidates))}. Online, run `python -c \"import torch_fidelity; "
        f"torch_fidelity.FeatureExtractorInceptionV3('inception-v3-compat', ['2048'])\"` once, or set "
        f"PLAYGROUND_INCEPTION_WEIGHTS to the file. Domain FID (the default) needs no download.")


def inception_fid(real: torch.Tensor, fake: torch.Tensor, batch: int = 100) -> float:
    """FID with 2048-d Inception pool features; images N×C×H×W in [-1, 1] (grey is repeated to RGB)."""
    weights = inception_weights()
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(feature=2048, normalize=True, feature_extractor_weights_path=str(weights))
    except ModuleNotFoundError as exc:
        raise WeightsError(f"Inception FID needs torch-fidelity: pip install torch-fidelity ({exc}).") from None
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch):
            x = (chunk.float() + 1) / 2
            metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, real=is_real)
    return float(metric.compute())

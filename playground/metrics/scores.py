"""Sample-quality scores on evaluator features: FID, KID and IS through torchmetrics; improved
precision/recall and density/coverage (Naeem et al. 2020, k = 5) hand-written because no well-kept
library offers density/coverage; the class histogram; 2-D toy metrics; codebook health."""

from __future__ import annotations

import math

import torch
from torch import nn


class _Identity(nn.Module):
    """Features already computed: torchmetrics sees them as its extractor's output."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # an int attribute: torchmetrics runs no dummy forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [-1, 1] (torchmetrics, data range 1 after mapping to [0, 1]).
    Capped at 100 dB: identical images would give inf, which JSON cannot carry."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    out = peak_signal_noise_ratio((a + 1) / 2, (b + 1) / 2, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return out.clamp(max=100.0)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=_Identity(real.shape[1]), normalize=False)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    return float(m.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50) -> tuple[float, float]:
    """Mean and std over subsets; the subset size is capped by the smaller set (KID is unbiased, may be < 0)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(1000, len(real), len(fake))
    m = KernelInceptionDistance(feature=_Identity(real.shape[1]), subsets=subsets, subset_size=size, normalize=False)
    m.update(real.float(), real=True)
    m.update(fake.float(), real=False)
    mean, std = m.compute()
    return float(mean), float(std)


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E KL(p(y|x) || p(y))); the maximum is the number of classes."""
    from torchmetrics.image.inception import InceptionScore

    splits = max(1, min(splits, len(logits) // 2))
    m = InceptionScore(feature=_Identity(logits.shape[1]), splits=splits, normalize=False)
    m.update(logits.float())
    mean, std = m.compute()
    return float(mean), float(std)


def _kth_radius(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    out = []
    for c in x.split(chunk):
        d = torch.cdist(c, x)
        # +1: the point itself is at distance 0. topk, not kthvalue: the same value, several times faster on CPU.
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5, chunk: int = 2048) -> dict[str, float]:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)."""
    real, fake = real.float(), fake.float()
    r_real = _kth_radius(real, k, chunk)
    r_fake = _kth_radius(fake, k, chunk)
    prec_hits = torch.zeros(len(fake), dtype=torch.bool)
    density_count = torch.zeros(len(fake))
    recall_hits = torch.zeros(len(real), dtype=torch.bool)
    for i, c in enumerate(fake.split(chunk)):
        d = torch.cdist(c, real)  # fake chunk × real
        inside = d < r_real.unsqueeze(0)
        sl = slice(i * chunk, i * chunk + len(c))
        prec_hits[sl] = inside.any(1)
        density_count[sl] = inside.sum(1).float()
        recall_hits |= (d < r_fake[sl].unsqueeze(1)).any(0)
    # Row-wise minima (real × fake) rather than a column reduction of the above: several times faster.
    nearest_fake_to_real = torch.cat([torch.cdist(c, fake).min(1).values for c in real.split(chunk)])
    return {"precision": float(prec_hits.float().mean()), "recall": float(recall_hits.float().mean()),
            "density": float(density_count.sum() / (k * len(fake))),
            "coverage": float((nearest_fake_to_real < r_real).float().mean())}


def class_histogram(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fraction of samples the evaluator assigns to each class: flat is good; spikes and gaps are
    mode collapse and mode dropping."""
    counts = torch.bincount(logits.argmax(1), minlength=num_classes).float()
    return counts / counts.sum().clamp_min(1)


def kl_to_uniform(freq: torch.Tensor) -> float:
    p = freq[freq > 0]
    return float((p * (p * len(freq)).log()).sum())


def mode_counts(samples: torch.Tensor, modes: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """High-quality samples (within 3σ of their nearest mode) per mode, and the high-quality mask."""
    d = torch.cdist(samples.float(), modes.float())
    dist, nearest = d.min(1)
    hq = dist < 3 * sigma
    return torch.bincount(nearest[hq], minlength=len(modes)).float(), hq


def toy_mode_metrics(samples: torch.Tensor, modes: torch.Tensor, sigma: float) -> dict[str, float]:
    """VEEGAN/PacGAN protocol: a sample is high quality within 3σ of its nearest mode; a mode is covered when
    a high-quality sample is nearest to it; KL of the high-quality samples' mode histogram to uniform."""
    counts, hq = mode_counts(samples, modes, sigma)
    freq = counts / counts.sum() if counts.sum() > 0 else counts
    return {"modes_covered": int((counts > 0).sum()), "modes_total": len(modes),
            "high_quality_pct": float(hq.float().mean() * 100),
            "kl_to_uniform": kl_to_uniform(freq) if counts.sum() > 0 else math.inf}


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of a histogram of code assignments: the number of equally used codes it is worth (K when all
    K are used equally, 1 when one code takes everything)."""
    p = counts.float() / counts.sum().clamp(min=1e-12)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())


def codebook_health(codes: torch.Tensor, codebook_size: int) -> dict[str, float]:
    """Usage (fraction of codes used), perplexity (effective number of codes) and codes never used."""
    counts = torch.bincount(codes.flatten().long(), minlength=codebook_size).float()
    return {"usage": float((counts > 0).float().mean()), "perplexity": float(perplexity(counts)),
            "dead_codes": int((counts == 0).sum())}


def point_metrics(fake: torch.Tensor, real: torch.Tensor, modes: torch.Tensor | None = None,
                  sigma: float = 0.0, k: int = 5) -> dict[str, float]:
    """2-D samples vs real points: precision/recall/density/coverage, plus the mode protocol when modes are known.
    Non-finite samples count as misses."""
    fake = fake.float().cpu()
    finite = torch.isfinite(fake).all(1)
    out: dict[str, float] = {"finite_pct": float(finite.float().mean() * 100)}
    fake = fake[finite]
    if len(fake) <= k:
        return {**out, "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0,
                **({"modes_covered": 0, "modes_total": len(modes), "high_quality_pct": 0.0,
                    "kl_to_uniform": math.inf} if modes is not None else {})}
    out.update(prdc(real.float().cpu(), fake, k=k))
    if modes is not None:
        out.update(toy_mode_metrics(fake, modes.float().cpu(), sigma))
        out["high_quality_pct"] *= float(finite.float().mean())
    return out

"""The VQ-VAE as a compressor beside JPEG and WebP (Pillow), at equal size.

How bytes are counted:

- **VQ-VAE, fixed length**: log2 K bits per cell, cells × log2 K / 8 bytes, no header (the decoder and codebook are
  shared, as a codec's tables are). **VQ-VAE + prior**: the ideal code length −log2 p(codes) under the prior, what
  an arithmetic coder driven by the prior reaches within a few bits.
- **JPEG**: the whole file (what you store), and its *scan only*: the entropy-coded bytes after the SOS header, i.e.
  JPEG with its ~300 bytes of quantisation and Huffman tables shared between images (abbreviated JPEG). At 32×32
  the tables outweigh the picture, so both are shown.
- **WebP** (lossy VP8): the whole file; its RIFF and frame headers are about 30 bytes.

"At equal size" means, per image, the highest quality whose bytes are ≤ the target; if even quality 1 is larger,
the codec cannot reach that size (reported, not hidden).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

QUALITIES = tuple(range(1, 101))


def _pil(x: torch.Tensor) -> Image.Image:
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return Image.fromarray(arr[0]) if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0))


def jpeg_scan_bytes(data: bytes) -> int:
    """Bytes of a baseline JPEG's entropy-coded scan: after the SOS segment, before EOI."""
    sos = data.find(b"\xff\xda")
    if sos < 0:
        raise ValueError("Not a JPEG: no start-of-scan marker.")
    header = int.from_bytes(data[sos + 2: sos + 4], "big")
    return len(data) - (sos + 2 + header) - 2


def encode(codec: str, img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    if codec == "JPEG":
        img.save(buf, "JPEG", quality=quality, optimize=True)
    elif codec == "WebP":
        img.save(buf, "WEBP", quality=quality, method=6)
    else:
        raise ValueError(f"Unknown codec {codec!r}; JPEG or WebP.")
    return buf.getvalue()


def decode(data: bytes, mode: str) -> torch.Tensor:
    arr = np.asarray(Image.open(io.BytesIO(data)).convert(mode), dtype=np.float32)
    t = torch.from_numpy(arr)
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t / 127.5 - 1


@dataclass
class Coded:
    """One image through a codec at one quality."""

    quality: int
    bytes: int  # what is counted (whole file, or scan only)
    image: torch.Tensor  # decoded, C×H×W in [-1, 1]


def at_most(rungs: list[Coded], target: float) -> Coded | None:
    """The highest-quality rung within ``target`` bytes (None when even the smallest is larger)."""
    fits = [r for r in rungs if r.bytes <= target]
    return max(fits, key=lambda r: r.quality) if fits else None


CODECS = ("JPEG", "JPEG (scan only)", "WebP")


def ladders(images: torch.Tensor) -> dict[str, list[list[Coded]]]:
    """Per codec (as counted: see CODECS) and image, every quality's rung. JPEG is encoded once for both counts."""
    out: dict[str, list[list[Coded]]] = {name: [] for name in CODECS}
    for x in images:
        img = _pil(x)
        full, scan, webp = [], [], []
        for q in QUALITIES:
            data = encode("JPEG", img, q)
            pic = decode(data, img.mode)
            full.append(Coded(q, len(data), pic))
            scan.append(Coded(q, jpeg_scan_bytes(data), pic))
            data = encode("WebP", img, q)
            webp.append(Coded(q, len(data), decode(data, img.mode)))
        for name, rungs in zip(CODECS, (full, scan, webp), strict=True):
            out[name].append(rungs)
    return out


def curves(rungs: dict[str, list[list[Coded]]], images: torch.Tensor, score: Callable,
           qualities: tuple[int, ...] = (2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)) -> dict[str, list[tuple]]:
    """Mean bytes and mean ``score`` (e.g. PSNR) over the images at each of ``qualities``, per codec."""
    out = {}
    for name, per_image in rungs.items():
        pts = []
        for q in qualities:
            decoded = torch.stack([r[q - 1].image for r in per_image])
            pts.append((float(np.mean([r[q - 1].bytes for r in per_image])), float(score(decoded, images).mean())))
        out[name] = pts
    return out


def equal_size(rungs: list[list[Coded]], targets: torch.Tensor) -> tuple[list[Coded | None], int]:
    """Per image, the best rung within its target bytes; and how many images could not be brought that small."""
    picked = [at_most(r, float(t)) for r, t in zip(rungs, targets, strict=True)]
    return picked, sum(p is None for p in picked)

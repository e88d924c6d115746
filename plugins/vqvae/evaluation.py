"""The VQ-VAE's evaluation: reconstruction PSNR/SSIM on the test split, codebook use on it, and the compression
comparison with JPEG and WebP (``codec_report``, which the prior's evaluation reuses with its shorter codes).
A mixin of ``VQVAE`` (``family.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import playground as pg
from playground.data import DataSpec

from . import compression, pictures
from .quantiser import bits_per_image


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=10_000, help="Test images (at most what the split holds).")
    codec_n: int = pg.param(200, min=0, max=2000, help="Test images compressed with JPEG and WebP at every "
                            "quality for the rate–distortion comparison (0 = skip).", label="codec images")


def test_images(state: pg.ModelState, load, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:  # noqa: ANN001
    """Up to n images (on the model's device) and labels of the test split of the data the model trained on."""
    data = load(DataSpec.from_dict({**state.data, "split": "test", "exclude_classes": []}))
    y = None if data.labels is None else data.labels[:n]
    return data.float_images()[:n].to(state.device), y


def codec_report(images: torch.Tensor, learned: dict[str, tuple[torch.Tensor, torch.Tensor]], values: dict
                 ) -> tuple[list[tuple[str, torch.Tensor]], pg.Chart]:
    """Compare learned codes with JPEG and WebP on ``images`` (N×C×H×W). ``learned``: name → (bytes per image (N),
    decoded images). Adds figures to ``values``; returns the pictures (rate–distortion plot, equal-size strip) and
    the rate–distortion chart."""
    from playground.metrics.scores import psnr

    images = images.cpu()
    rungs = compression.ladders(images)
    curves = compression.curves(rungs, images, psnr)
    points: dict[str, list[tuple[float, float, str]]] = {}
    strip_rows = [("original", images[:8])]
    for name, (rate, decoded) in learned.items():
        rate, decoded = rate.cpu(), decoded.cpu()
        q = psnr(decoded, images)
        mean_bytes, mean_q = float(rate.mean()), float(q.mean())
        points[name] = [(mean_bytes, mean_q, f"{mean_bytes:.0f} B, {mean_q:.1f} dB")]
        values[f"{name}: bytes per image"] = round(mean_bytes, 1)
        values[f"{name}: PSNR (dB)"] = round(mean_q, 2)
        strip_rows.append((f"{name} ({mean_bytes:.0f} B)", decoded[:8]))
        for codec in compression.CODECS:
            picked, missed = compression.equal_size(rungs[codec], rate)
            key = f"{codec} at ≤ {name}'s bytes"
            if missed == len(picked):
                least = min(r[0].bytes for r in rungs[codec])
                values[key] = f"cannot: even quality 1 takes ≥ {least} bytes"
                continue
            got = [(p.image, x) for p, x in zip(picked, images, strict=True) if p is not None]
            q_codec = psnr(torch.stack([a for a, _ in got]), torch.stack([b for _, b in got]))
            q_ours = q[[p is not None for p in picked]]
            values[key] = (f"{float(q_codec.mean()):.2f} dB vs {float(q_ours.mean()):.2f} dB for {name}"
                           + (f" ({missed} of {len(picked)} images cannot be made that small)" if missed else ""))
            if name == next(iter(learned)):
                strip_rows.append((f"{codec} (≤ {mean_bytes:.0f} B)", torch.stack(
                    [p.image if p is not None else torch.zeros_like(x) for p, x in zip(picked[:8], images[:8],
                                                                                   strict=True)])))
        for codec, pts in curves.items():  # the bytes a codec needs for the same quality
            better = [b for b, s in sorted(pts) if s >= mean_q]
            values[f"{codec}: bytes for {name}'s PSNR"] = (f"{better[0]:.0f}" if better else
                                                           "not reached at any quality")
    chart_rows = [{"bytes per image": b, "PSNR (dB)": s, "codec": c} for c, pts in curves.items() for b, s in pts]
    chart_rows += [{"bytes per image": b, "PSNR (dB)": s, "codec": c} for c, pts in points.items() for b, s, _ in pts]
    plot = pictures.rate_distortion(curves, points, title=f"rate–distortion on {len(images)} test images")
    strip = pictures.stack([pg.make_grid(x, nrow=8) for _, x in strip_rows], gap=4)
    caption = "same images at equal bytes, top to bottom: " + "; ".join(name for name, _ in strip_rows) + \
        " (black: the codec cannot get that small)"
    return ([("rate–distortion: PSNR against bytes per image", plot), (caption, strip)],
            pg.Chart(chart_rows, x="bytes per image", y="PSNR (dB)", color="codec", title="rate–distortion"))


class Evaluation:
    """``evaluate``; ``self`` is the VQVAE family."""

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        from playground.metrics.scores import codebook_health, psnr

        from .family import decode_codes, encode_codes

        x, _ = test_images(state, load, inp.n)
        codes = encode_codes(state, x)
        recon = decode_codes(state, codes)
        vq = state.modules["quantiser"]
        k = vq.codes
        health = codebook_health(codes, k)
        bits = bits_per_image(k, codes[0].numel())
        values: dict = {"n test images": len(x), "grid": f"{codes.shape[1]}×{codes.shape[2]}, K = {k}",
                        "reconstruction PSNR (dB)": round(float(psnr(recon, x).mean()), 2),
                        "reconstruction SSIM": round(float(ssim((recon + 1) / 2, (x + 1) / 2, data_range=1.0)), 4),
                        "codes used on the test split": f"{k - health['dead_codes']} of {k} ({health['usage']:.1%})",
                        "perplexity on the test split": round(health["perplexity"], 1),
                        "dead codes (training EMA)": int(vq.dead(state.config.dead_threshold).sum()),
                        "bits per image (fixed length)": round(bits, 1)}
        images = [("first test images, code maps and reconstructions", self.preview(
            state, pg.Batch(x[:8]), torch.Generator(state.device))[0])]
        chart = None
        if inp.codec_n:
            m = min(inp.codec_n, len(x))
            rate = torch.full((m,), bits / 8)
            pics, chart = codec_report(x[:m], {"VQ-VAE": (rate, recon[:m])}, values)
            images += pics
        return pg.TaskResult(images=images, values=values, chart=chart)

"""The VQ-VAE's evaluation: reconstruction PSNR/SSIM on the test split, codebook use on it, and the compression
comparison with JPEG and WebP (``codec_report``, which the prior's evaluation reuses with its shorter codes).
A mixin of ``VQVAE`` (``family.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import playground as pg

from . import compression, pictures
from .quantiser import bits_per_image


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=10_000, help="Test images (at most what the split holds).")
    codec_n: int = pg.param(200, min=0, max=2000, help="Test images compressed with JPEG and WebP at every "
                            "quality for the rate–distortion comparison (0 = skip).", label="codec images")
    compare: str = pg.param("", help="Other VQ-VAE weights to put on the same rate–distortion plot, comma-separated "
                            "(e.g. digits-k32, digits-k8: other codebook sizes).", label="compare with")
    unseen_dataset: str = pg.param("glyphs", dataset=True,
                                   help="Images of a dataset the model never saw, compressed the same way "
                                   "(a learned code is only good on what it learned; JPEG is not); empty = skip.")


def test_images(state: pg.ModelState, load, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:  # noqa: ANN001
    """Up to n images (on the model's device) and labels of the test split of the data the model trained on."""
    data = load(pg.DataSpec.from_dict({**state.data, "split": "test", "exclude_classes": []}))
    y = None if data.labels is None else data.labels[:n]
    return data.float_images()[:n].to(state.device), y


def equal_size_values(rungs: dict, images: torch.Tensor, rate: torch.Tensor, decoded: torch.Tensor, name: str,
                      values: dict) -> dict[str, list]:
    """Each codec's PSNR and SSIM at ≤ the learned code's bytes, image by image, beside the learned code's
    (``decoded``) on the same images; returns the picked rungs of the codecs that reach that size."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(structural_similarity_index_measure((a + 1) / 2, (b + 1) / 2, data_range=1.0))

    picks = {}
    for codec in compression.CODECS:
        picked, missed = compression.equal_size(rungs[codec], rate)
        key = f"{codec} at ≤ {name}'s bytes"
        if missed == len(picked):
            values[key] = f"cannot: even quality 1 takes ≥ {min(r[0].bytes for r in rungs[codec])} bytes"
            continue
        fits = torch.tensor([p is not None for p in picked])
        theirs, ref, ours = torch.stack([p.image for p in picked if p is not None]), images[fits], decoded[fits]
        values[key] = (f"PSNR {float(pg.psnr(theirs, ref).mean()):.2f} dB, SSIM {ssim(theirs, ref):.3f} vs "
                       f"{float(pg.psnr(ours, ref).mean()):.2f} dB, {ssim(ours, ref):.3f} for {name}"
                       + (f" ({missed} of {len(picked)} images cannot be made that small)" if missed else ""))
        picks[codec] = picked
    return picks


def codec_report(images: torch.Tensor, learned: dict[str, tuple[torch.Tensor, torch.Tensor]], values: dict
                 ) -> tuple[list[tuple[str, torch.Tensor]], pg.Chart]:
    """Compare learned codes with JPEG and WebP on ``images`` (N×C×H×W). ``learned``: name → (bytes per image (N),
    decoded images). Adds figures to ``values``; returns the pictures (rate–distortion plot, equal-size strip) and
    the rate–distortion chart."""

    images = images.cpu()
    rungs = compression.ladders(images)
    curves = compression.curves(rungs, images, pg.psnr)
    points: dict[str, list[tuple[float, float, str]]] = {}
    strip_rows = [("original", images[:8])]
    for name, (rate, decoded) in learned.items():
        rate, decoded = rate.cpu(), decoded.cpu()
        q = pg.psnr(decoded, images)
        mean_bytes, mean_q = float(rate.mean()), float(q.mean())
        points[name] = [(mean_bytes, mean_q, f"{mean_bytes:.0f} B, {mean_q:.1f} dB")]
        values[f"{name}: bytes per image"] = round(mean_bytes, 1)
        values[f"{name}: PSNR (dB)"] = round(mean_q, 2)
        strip_rows.append((f"{name} ({mean_bytes:.0f} B)", decoded[:8]))
        picks = equal_size_values(rungs, images, rate, decoded, name, values)
        if name == next(iter(learned)):
            for codec, picked in picks.items():  # black where the codec cannot get that small
                tiles = [p.image if p is not None else torch.zeros_like(x)
                         for p, x in zip(picked[:8], images[:8], strict=True)]
                strip_rows.append((f"{codec} (≤ {mean_bytes:.0f} B)", torch.stack(tiles)))
        for codec, pts in curves.items():  # the bytes a codec needs for the same quality
            better = [b for b, s in sorted(pts) if s >= mean_q]
            values[f"{codec}: bytes for {name}'s PSNR"] = (f"{better[0]:.0f}" if better else
                                                           "not reached at any quality")
    chart_rows = [{"bytes per image": b, "PSNR (dB)": s, "codec": c} for c, pts in curves.items() for b, s in pts]
    chart_rows += [{"bytes per image": b, "PSNR (dB)": s, "codec": c} for c, pts in points.items() for b, s, _ in pts]
    plot = pictures.rate_distortion(curves, points, title=f"rate-distortion on {len(images)} test images")
    strip = pictures.stack([pg.make_grid(x, nrow=8) for _, x in strip_rows], gap=4)
    caption = "same images at equal bytes, top to bottom: " + "; ".join(name for name, _ in strip_rows) + \
        " (black: the codec cannot get that small)"
    return ([("rate–distortion: PSNR against bytes per image", plot), (caption, strip)],
            pg.Chart(chart_rows, x="bytes per image", y="PSNR (dB)", color="codec", title="rate–distortion"))


class Evaluation:
    """``evaluate``; ``self`` is the VQVAE family."""

    def _compared(self, state: pg.ModelState, refs: str, x: torch.Tensor, load, values: dict  # noqa: ANN001
                  ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Rate and reconstructions of other VQ-VAEs (trained on the same data) on the same images."""
        from .family import decode_codes, encode_codes

        out = {}
        for ref in (r.strip() for r in refs.split(",") if r.strip()):
            other = load.model(self.name, ref)
            if other.data.get("name") != state.data.get("name") or other.info.size != state.info.size:
                values[f"compare with {ref}"] = (f"skipped: trained on {other.data.get('name')} at {other.info.size} "
                                                 f"px, this model on {state.data.get('name')} at {state.info.size} px")
                continue
            codes = encode_codes(other, x)
            k = other.modules["quantiser"].codes
            rate = torch.full((len(x),), bits_per_image(k, codes[0].numel()) / 8)
            out[f"VQ-VAE {ref} (K = {k})"] = (rate, decode_codes(other, codes))
        return out

    def _unseen(self, state: pg.ModelState, load, dataset: str, n: int, nbytes: float,  # noqa: ANN001
                values: dict) -> None:

        from .family import decode_codes, encode_codes

        data = load(pg.DataSpec(name=dataset, split="test", size=state.info.size))
        if data.channels != state.info.channels:
            values[f"{dataset} (never seen)"] = "n/a: its channel count differs from the model's"
            return
        x = data.float_images()[:n].to(state.device)
        recon = decode_codes(state, encode_codes(state, x)).cpu()
        x = x.cpu()
        q = pg.psnr(recon, x)
        values[f"{dataset} (never seen): VQ-VAE PSNR (dB)"] = round(float(q.mean()), 2)
        equal_size_values(compression.ladders(x), x, torch.full((len(x),), nbytes), recon,
                          f"VQ-VAE on {dataset}", values)

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        from .family import decode_codes, encode_codes

        x, _ = test_images(state, load, inp.n)
        codes = encode_codes(state, x)
        recon = decode_codes(state, codes)
        vq = state.modules["quantiser"]
        k = vq.codes
        health = pg.codebook_health(codes, k)
        bits = bits_per_image(k, codes[0].numel())
        values: dict = {"n test images": len(x), "grid": f"{codes.shape[1]}×{codes.shape[2]}, K = {k}",
                        "reconstruction PSNR (dB)": round(float(pg.psnr(recon, x).mean()), 2),
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
            learned = {"VQ-VAE": (rate, recon[:m]), **self._compared(state, inp.compare, x[:m], load, values)}
            pics, chart = codec_report(x[:m], learned, values)
            images += pics
            if inp.unseen_dataset.strip():
                self._unseen(state, load, inp.unseen_dataset.strip(), m, bits / 8, values)
        return pg.TaskResult(images=images, values=values, chart=chart)

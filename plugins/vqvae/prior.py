"""The VQ-VAE prior (stage 2): a causal transformer over a frozen VQ-VAE's code grids, trained on the codes of the
training images through the parent-model mechanism (the checkpoint names its VQ-VAE; the engine loads it frozen
and refuses a removed or changed one). Sampling writes a grid code by code (temperature, top-k), then the VQ-VAE
decodes it; Evaluate reports bits per code and per image, sample quality, and the compression picture with the
prior's ideal code length."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import playground as pg

from . import pictures
from .evaluation import codec_report, test_images
from .family import background_code, decode_codes, encode_codes, grid_side
from .quantiser import bits_per_image
from .transformer import CodeTransformer

LN2 = math.log(2)
ALL_CODES = 8192  # top-k at (or above) the codebook size keeps every code


@dataclass
class PriorConfig(pg.TrainConfig):
    vqvae: str = pg.param("digits-4x4", help="The VQ-VAE (stage 1) whose code grids this prior learns: its weights "
                          "name or run/NAME. Frozen while the prior trains.", label="VQ-VAE")
    steps: int = pg.param(9000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = pg.param(64, min=1, max=65_536, help="Code grids per step.")
    lr: float = pg.param(5e-4, min=1e-8, max=1.0, help="Adam's step size.", label="learning rate")
    dim: int = pg.param(128, min=8, max=2048, help="Transformer width (divisible by heads).")
    layers: int = pg.param(3, min=1, max=48, help="Transformer blocks.")
    heads: int = pg.param(4, min=1, max=64, help="Attention heads per block.")
    dropout: float = pg.param(0.2, min=0.0, max=0.9, help="Dropout after attention, MLP and embeddings.")
    conditional: bool = pg.param(False, help="A class token starts each grid (needs labelled data); Generate can "
                                 "then ask for a class.")
    shift: int = pg.param(2, min=0, max=8, help="Shift each training image by up to this many pixels before it is "
                          "encoded: new code maps from the same images, against memorising a small dataset.",
                          label="augment: shift")


@dataclass
class GenerateIn:
    n: int = pg.param(16, min=1, max=256, help="Samples.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the sampled codes.")
    temperature: float = pg.param(1.0, min=0.05, max=5.0, help="Divides the logits: < 1 sharper and safer, "
                                  "> 1 more varied.")
    top_k: int = pg.param(ALL_CODES, min=1, max=ALL_CODES, help="Sample among the k likeliest codes at each "
                          "position (≥ the codebook size = all).", label="top-k")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional priors: the class; -1 = one row per class.",
                          label="class")
    animate: bool = pg.param(True, help="Also return the grid being written code by code (first 16 samples).")


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=10_000, help="Test (and training) images whose codes are scored.")
    quality_n: int = pg.param(1000, min=0, max=10_000, help="Samples for the sample-quality scores (0 = skip).")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the samples.")
    temperature: float = pg.param(1.0, min=0.05, max=5.0, help="Sampling temperature for the quality scores.")
    codec_n: int = pg.param(200, min=0, max=2000, help="Test images for the JPEG/WebP comparison (0 = skip).",
                            label="codec images")


def shifted(x: torch.Tensor, most: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by a random whole number of pixels in [−most, most] per axis; background (−1) fills in."""
    n, _, h, w = x.shape
    pad = torch.nn.functional.pad(x, (most, most, most, most), value=-1.0)
    off = torch.randint(0, 2 * most + 1, (n, 2), generator=generator, device=generator.device).tolist()
    return torch.stack([pad[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(off)])


class VQPrior(pg.ModelFamily):
    name = "vq_prior"
    title = "VQ-VAE prior"
    description = ("Stage 2 of the VQ-VAE: a small causal transformer that writes code maps one code at a time, "
                   "trained on a frozen VQ-VAE's codes of the training images; the VQ-VAE decodes what it writes. "
                   "Its log-likelihood is also a code length: how small an entropy coder would make the images.")
    config = PriorConfig
    parents = (pg.Parent("vqvae", "vqvae", "vqvae"),)
    evaluate_inputs = EvaluateIn
    # The 8×8 K = 512 VQ-VAE: a tiny prior learns its codes fast enough for the conformance suite's margin.
    scores = pg.Scores(
        headline=("NLL on test codes (bits per image)", "conditional samples classified as the asked class"),
        chart="line",  # rate–distortion with the prior's ideal code length
    )
    checks = pg.Checks(
        learning_loss="loss (nats per code)",
        smoke_config={"vqvae": "digits", "dim": 32, "layers": 1, "heads": 2, "batch_size": 32, "lr": 2e-3,
                      "dropout": 0.0, "shift": 0},
    )
    tasks = (pg.Task("generate", "Generate", GenerateIn,
                     "Write code maps with the prior (temperature, top-k) and decode them with the VQ-VAE; watch "
                     "a grid being filled.", animation=True),)

    # -- training -----------------------------------------------------------------------------------------
    def streams(self, cfg: PriorConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(labels=cfg.conditional),)

    def build(self, cfg: PriorConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        vq = info.parents["vqvae"]
        if (vq.info.channels, vq.info.size) != (info.channels, info.size):
            raise pg.ConfigError(f"The VQ-VAE {cfg.vqvae!r} takes {vq.info.channels}-channel {vq.info.size}-pixel "
                                 f"images; the dataset {cfg.dataset!r} gives {info.channels}-channel {info.size}-pixel "
                                 f"ones. Train the prior on the VQ-VAE's data ({vq.data.get('name')}).")
        if cfg.dim % cfg.heads:
            raise pg.ConfigError(f"The width ({cfg.dim}) must be divisible by the number of heads ({cfg.heads}).")
        side = grid_side(vq)
        classes = info.num_classes if cfg.conditional else 0
        return nn.ModuleDict({"prior": CodeTransformer(vq.config.codebook_size, side * side, classes, cfg.dim,
                                                       cfg.layers, cfg.heads, cfg.dropout)})

    def _labels(self, state: pg.ModelState, y: torch.Tensor | None) -> torch.Tensor | None:
        return y if state.config.conditional else None

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        x = shifted(batch.x, run.config.shift, run.generator) if run.config.shift else batch.x
        codes = encode_codes(run.parents["vqvae"], x).flatten(1)
        logits = run.modules["prior"](codes, self._labels(run.state, batch.y), run.generator)
        nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), codes.reshape(-1))
        run.backward(nll)
        run.step()
        nll = nll.detach()
        return {"loss (nats per code)": nll, "bits per code": nll / LN2, "bits per image": nll / LN2 * codes.shape[1]}

    @torch.no_grad()
    def code_bits(self, state: pg.ModelState, codes: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """−log2 p(codes) per grid (N×L codes → N), in chunks."""
        prior = state.modules["prior"]
        out = []
        for i in range(0, len(codes), 256):
            c = codes[i:i + 256]
            y = None if labels is None else labels[i:i + 256].to(state.device)
            logits = prior(c, y).float()
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), c.reshape(-1), reduction="none")
            out.append(nll.view(len(c), -1).sum(1) / LN2)
        return torch.cat(out)

    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Bits per code of up to 512 training images' codes (lower is better)."""
        codes = encode_codes(state.parents["vqvae"], images[:512].to(state.device)).flatten(1)
        labels = (torch.arange(len(codes), device=state.device) % state.info.num_classes
                  if state.config.conditional else None)
        return float(self.code_bits(state, codes, labels).mean()) / codes.shape[1]

    # -- sampling -----------------------------------------------------------------------------------------
    def _sample_codes(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None,
                      temperature: float = 1.0, top_k: int = 0, on_code=None) -> torch.Tensor:  # noqa: ANN001
        if not (temperature > 0 and math.isfinite(temperature)):
            raise pg.InputError(f"Temperature must be a positive number, not {temperature}.")
        if top_k < 0:
            raise pg.InputError(f"top-k must be at least 1 (or the codebook size for all codes), not {top_k}.")
        if state.config.conditional and labels is None:
            labels = torch.arange(n, device=state.device) % state.info.num_classes  # every class equally
        was_training = state.modules.training
        state.modules.eval()
        vq = state.parents["vqvae"]
        side = grid_side(vq)
        codes = state.modules["prior"].sample(n, generator, self._labels(state, labels), temperature, top_k,
                                              state.device, on_code)
        state.modules.train(was_training)
        return codes.view(n, side, side)

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               temperature: float = 1.0, top_k: int = 0) -> torch.Tensor:
        codes = self._sample_codes(state, n, generator, labels, temperature, top_k)
        return decode_codes(state.parents["vqvae"], codes)

    def sample_classes(self, state: pg.ModelState) -> tuple[str, ...]:
        return tuple(str(i) for i in range(state.info.num_classes)) if state.config.conditional else ()

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        return self.sample(state, 16, generator)

    # -- the task -----------------------------------------------------------------------------------------
    def _labels_for(self, state: pg.ModelState, n: int, label: int) -> torch.Tensor | None:
        classes = state.info.num_classes
        if not state.config.conditional:
            if label >= 0:
                raise pg.InputError(f"This prior is unconditional: it cannot be given class {label}; leave the class "
                                    "at -1 (train with conditional = true for a class-conditional prior).")
            return None
        if label >= classes:
            raise pg.InputError(f"Class {label} is not among this prior's {classes} classes (0–{classes - 1}).")
        if label < 0:
            return torch.arange(classes, device=state.device).repeat_interleave(max(1, n // classes))
        return torch.full((n,), label, device=state.device, dtype=torch.long)

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:
        vq = state.parents["vqvae"]
        k, side = vq.config.codebook_size, grid_side(vq)
        labels = self._labels_for(state, inp.n, inp.label)
        n = inp.n if labels is None else len(labels)
        gen = torch.Generator(state.device).manual_seed(inp.seed)
        shown = min(n, 16)
        frames: list[torch.Tensor] = []
        bg = background_code(vq)
        every = max(1, side * side // 32)

        def on_code(so_far: torch.Tensor) -> None:
            t = so_far.shape[1]
            if t % every and t != side * side:
                return
            grid = torch.full((shown, side * side), bg, dtype=torch.long, device=state.device)
            grid[:, :t] = so_far[:shown]
            mask = torch.zeros(side * side, dtype=torch.bool)
            mask[:t] = True
            decoded = decode_codes(vq, grid.view(shown, side, side)).cpu()
            tiles = [pictures.stack([pictures.upscale(decoded[i], 64),
                                     pictures.code_map(grid[i].view(side, side), k, max(4, 64 // side), False,
                                                       mask.view(side, side))], gap=2) for i in range(shown)]
            frames.append(pg.make_grid(torch.stack(tiles), nrow=min(shown, 8)))

        top_k = 0 if inp.top_k >= k else inp.top_k
        codes = self._sample_codes(state, n, gen, labels, inp.temperature, top_k, on_code if inp.animate else None)
        images = decode_codes(vq, codes)
        bits = self.code_bits(state, codes.flatten(1), self._labels(state, labels))
        values = {"samples": n, "temperature": inp.temperature,
                  "top-k": "all codes" if top_k == 0 else top_k,
                  "−log2 p(codes) per sample (bits, mean)": round(float(bits.mean()), 1),
                  "fixed-length code (bits)": round(bits_per_image(k, side * side), 1),
                  "distinct codes used": int(codes.unique().numel())}
        if labels is not None:
            values["classes"] = labels.tolist() if n <= 32 else f"{n // state.info.num_classes} per class"
        nrow = max(1, n // state.info.num_classes) if labels is not None and inp.label < 0 else None
        return pg.TaskResult(images=[("samples", pg.make_grid(images.cpu(), nrow=nrow)),
                                     ("their code maps", pg.make_grid(torch.stack(
                                         [pictures.code_map(c, k, 8, False) for c in codes[:shown]]), nrow=8))],
                             values=values, animation=frames or None)

    # -- evaluation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001

        vq = state.parents["vqvae"]
        k, side = vq.config.codebook_size, grid_side(vq)
        cells = side * side
        values: dict = {"VQ-VAE": f"{state.config.vqvae} ({side}×{side} codes, K = {k})",
                        "uniform code (bits per image)": round(bits_per_image(k, cells), 1)}
        x, y = test_images(state, load, inp.n)
        labels = self._labels(state, None if y is None else y.to(state.device))
        train = load(pg.DataSpec.from_dict({**state.data, "split": "train"}))
        xt = train.float_images()[: inp.n].to(state.device)
        yt = self._labels(state, None if train.labels is None else train.labels[: inp.n].to(state.device))
        test_codes = encode_codes(vq, x)
        test_bits = self.code_bits(state, test_codes.flatten(1), labels)
        train_bits = self.code_bits(state, encode_codes(vq, xt).flatten(1), yt)
        for split, bits in (("test", test_bits), ("train", train_bits)):
            values[f"NLL on {split} codes (bits per code)"] = round(float(bits.mean()) / cells, 4)
            values[f"NLL on {split} codes (bits per image)"] = round(float(bits.mean()), 1)
        values["uniform code (bits per code)"] = round(math.log2(k), 4)
        images: list[tuple[str, torch.Tensor]] = []
        chart = None
        if inp.quality_n:
            gen = torch.Generator(state.device).manual_seed(inp.seed)
            samples = self.sample(state, inp.quality_n, gen, temperature=inp.temperature)
            images.append(("samples", pg.make_grid(samples[:64].cpu(), nrow=8)))
            try:
                rep = pg.quality_report(load, samples.cpu(), state.data["name"], seed=inp.seed, neighbours=0)
                s, b = rep.scores, rep.baseline
                values[f"FID (n={inp.quality_n}; real baseline)"] = f"{s['FID']:.3f} ({b['FID']:.3f})"
                for key in ("KID", "precision", "recall", "density", "coverage"):
                    if key in s:
                        values[key] = round(s[key], 4)
                values["smallest class %"] = round(s["smallest class %"], 1)
                values["class histogram of samples (%)"] = {name: round(100 * float(f), 1) for name, f in
                                                            zip(rep.class_names, rep.class_freq, strict=True)}
            except pg.WeightsError as e:
                values["sample quality"] = f"n/a: {e}"
            if state.config.conditional:
                self._class_accuracy(state, inp, values)
        if inp.codec_n:
            m = min(inp.codec_n, len(x))
            recon = decode_codes(vq, test_codes[:m])
            learned = {"VQ-VAE": (torch.full((m,), bits_per_image(k, cells) / 8), recon),
                       "VQ-VAE + prior": (test_bits[:m].cpu() / 8, recon)}
            pics, chart = codec_report(x[:m], learned, values)
            images += pics
        return pg.TaskResult(images=images, values=values, chart=chart)

    def _class_accuracy(self, state: pg.ModelState, inp: EvaluateIn, values: dict) -> None:

        ev = pg.load_evaluator(state.data["name"])
        classes = state.info.num_classes
        labels = torch.arange(classes, device=state.device).repeat_interleave(max(1, inp.quality_n // classes))
        images = self.sample(state, len(labels), torch.Generator(state.device).manual_seed(inp.seed), labels=labels,
                             temperature=inp.temperature)
        _, logits = ev.embed(images.cpu())
        hit = (logits.argmax(1) == labels.cpu()).float()
        values["conditional samples classified as the asked class"] = f"{float(hit.mean()):.1%}"
        values["… per class"] = {str(c): f"{float(hit[labels.cpu() == c].mean()):.0%}" for c in range(classes)}

"""The VQ-VAE family (stage 1): an autoencoder whose code is a grid of symbols from a learned codebook. Training,
codebook health (logged every step, drawn live) and the encode/decode functions the prior (stage 2) uses. Tasks are
in ``tasks.py``, evaluation in ``evaluation.py``, the quantiser's maths in ``quantiser.py``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from . import pictures
from .evaluation import EvaluateIn, Evaluation
from .nets import Decoder, Encoder
from .quantiser import BETA, DECAY, VectorQuantiser
from .tasks import CodebookIn, DecodeIn, EditIn, ReconstructIn, Tasks

CHUNK = 512
_ACC = ("_vq_counts", "_vq_sums", "_vq_outputs")  # a step's statistics over its micro-batches (never checkpointed)


@dataclass
class VQVAEConfig(pg.TrainConfig):
    steps: int = pg.param(4000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = pg.param(64, min=1, max=65_536, help="Images per step.")
    lr: float = pg.param(1e-3, min=1e-8, max=1.0, help="Adam's step size (encoder and decoder; the codebook "
                         "learns by EMA).", label="learning rate")
    codebook_size: int = pg.param(512, min=2, max=8192, help="Codes in the codebook (K): log2 K bits per cell.",
                                  label="codebook size K")
    code_dim: int = pg.param(32, min=1, max=512, help="Dimensions of each code vector (D).")
    width: int = pg.param(32, min=4, max=256, help="Channels of the first conv layer (doubles once).")
    downsample: int = pg.param(2, min=1, max=4, help="Halvings from image to code grid: 2 → 8×8 cells for "
                               "32×32 images, 3 → 4×4.")
    restarts: bool = pg.param(True, help="Re-seed dead codes from this step's encoder outputs (off = watch the "
                              "codebook collapse).", label="dead-code restarts")
    dead_threshold: float = pg.param(1.0, min=0.0, max=1e6, help="A code is dead when its EMA assignments per step "
                                     "fall under this.", label="dead-code threshold")
    commitment: float = pg.param(BETA, min=0.0, max=100.0, help="β of the commitment loss ‖z_e − sg(z_q)‖².",
                                 label="commitment β")
    decay: float = pg.param(DECAY, min=0.0, max=0.9999, help="EMA decay γ of the codebook.", label="EMA decay",
                            advanced=True)


def _chunks(t: torch.Tensor) -> list[torch.Tensor]:
    return [t[i:i + CHUNK] for i in range(0, len(t), CHUNK)]


@torch.no_grad()
def encode_codes(state: pg.ModelState, x: torch.Tensor) -> torch.Tensor:
    """Code grids (N×H×W long) of images ``x`` in [-1, 1]."""
    m = state.modules
    return torch.cat([m["quantiser"](m["encoder"](c)).codes for c in _chunks(x)])


@torch.no_grad()
def decode_codes(state: pg.ModelState, codes: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] that code grids (N×H×W) decode to."""
    m = state.modules
    return torch.cat([m["decoder"](m["quantiser"].lookup(c)).float().clamp(-1, 1) for c in _chunks(codes)])


def grid_side(state: pg.ModelState) -> int:
    return state.info.size // 2 ** state.config.downsample


def background_code(state: pg.ModelState) -> int:
    """The most used code (for digits: blank paper), which fills cells not yet sampled or edited."""
    return int(state.modules["quantiser"].cluster_size.argmax())


class VQVAE(Tasks, Evaluation, pg.ModelFamily):
    name = "vqvae"
    title = "VQ-VAE"
    description = ("An autoencoder whose code is a grid of symbols from a learned codebook (vector quantisation, "
                   "EMA codebook, dead-code restarts). Watch the codebook's health while it trains, read an image's "
                   "code map, edit codes, and compare it as a compressor with JPEG and WebP. Stage 1 of a two-stage "
                   "generator: the VQ-VAE prior learns to write code maps.")
    config = VQVAEConfig
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(
        headline=("reconstruction PSNR (dB)", "bits per image (fixed length)", "perplexity on the test split"),
        chart="line",  # rate–distortion: PSNR against bytes per image
    )
    checks = pg.Checks(smoke_config={"width": 8, "code_dim": 8, "codebook_size": 32, "batch_size": 32, "lr": 2e-3})
    tasks = (
        pg.Task("reconstruct", "Reconstruct", ReconstructIn,
                "Encode an image (or a drawing) to its code map and decode it back."),
        pg.Task("codebook", "Codebook", CodebookIn,
                "What each code paints: decoded alone on the background code, or tiled over the whole grid.",
                chart="bar"),
        pg.Task("edit", "Edit by codes", EditIn,
                "Replace one code, or a rectangle of codes, of an image's map and decode: what a code means."),
        pg.Task("decode", "Decode a code map", DecodeIn, "Type a code map (one row per line) and decode it."),
    )

    # -- training -----------------------------------------------------------------------------------------
    def build(self, cfg: VQVAEConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        if info.size % 2**cfg.downsample or info.size // 2**cfg.downsample < 1:
            raise pg.ConfigError(f"{info.size}-pixel images cannot be halved {cfg.downsample} times into a code grid; "
                                 f"use downsample ≤ {max(1, info.size.bit_length() - 2)}.")
        return nn.ModuleDict({
            "encoder": Encoder(info.channels, cfg.width, cfg.code_dim, cfg.downsample),
            "quantiser": VectorQuantiser(cfg.codebook_size, cfg.code_dim, cfg.decay),
            "decoder": Decoder(info.channels, cfg.width, cfg.code_dim, cfg.downsample),
        })

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg, m = run.config, run.modules
        x = batch.x
        z_e = m["encoder"](x)
        q = m["quantiser"](z_e)
        out = m["decoder"](q.z_q)
        mse = (out.float() - x.float()).pow(2).mean()
        loss = mse + cfg.commitment * q.commitment
        run.backward(loss)
        run.step()
        vq = m["quantiser"]
        counts, sums = vq.statistics(z_e, q.codes)
        step = (counts, sums, z_e.detach().permute(0, 2, 3, 1).reshape(-1, vq.dim).float())
        logs = {"loss": loss.detach(), "reconstruction MSE": mse.detach(), "commitment": q.commitment.detach(),
                "PSNR (dB)": 10 * torch.log10(4.0 / mse.detach().clamp(min=1e-10))}
        # The codebook moves once per step: sum the step's statistics (and pool its encoder outputs, the restart
        # candidates) over its micro-batches, so accumulation gives the codebook one batch would.
        if _ACC[0] in run.stash:  # earlier micro-batches of this step
            held = [run.stash.pop(key) for key in _ACC]
            step = (step[0] + held[0], step[1] + held[1], torch.cat([held[2], step[2]]))
        if not run.last_micro_batch:
            run.stash.update(zip(_ACC, step, strict=True))
            return logs
        logs.update(self._update_codebook(run, *step))
        return logs

    def _update_codebook(self, run: pg.Run, counts: torch.Tensor, sums: torch.Tensor, outputs: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
        """The step's EMA update (statistics summed over processes) and restarts; the health figures to log."""
        cfg, vq, dist = run.config, run.modules["quantiser"], run.dist
        dist.mean_([counts, sums])
        counts, sums = counts * dist.world, sums * dist.world  # sums over processes, as one batch would give
        vq.ema_update(counts, sums)
        dead = vq.dead(cfg.dead_threshold)
        n_dead = int(dead.sum())
        restarted = 0
        if cfg.restarts and n_dead:
            pick = torch.randint(len(outputs), (n_dead,), generator=run.generator, device=run.generator.device)
            candidates = outputs[pick.to(outputs.device)]
            if dist.world > 1:  # every process must write the same vectors: the first process's draw
                candidates = candidates * float(dist.rank == 0)
                dist.mean_([candidates])
                candidates = candidates * dist.world
            vq.restart(dead, candidates, cfg.dead_threshold)
            restarted, n_dead = n_dead, 0
        k = vq.codes
        return {"perplexity": pg.perplexity(counts), "codes in use (%)": torch.tensor(100.0 * (k - n_dead) / k),
                "dead codes": torch.tensor(float(n_dead)), "restarted codes": torch.tensor(float(restarted))}

    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Reconstruction MSE on up to 512 training images (lower is better)."""
        x = images[:512].to(state.device)
        return float((decode_codes(state, encode_codes(state, x)) - x).pow(2).mean())

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        """Eight inputs, their code maps and reconstructions, over the codebook's usage histogram."""
        was_training = state.modules.training
        state.modules.eval()
        x = batch.x[:8]
        codes = encode_codes(state, x)
        recon = decode_codes(state, codes)
        vq, cfg = state.modules["quantiser"], state.config
        side = codes.shape[-1]
        cell = max(4, 64 // side)
        row = []
        for i in range(len(x)):
            row.append(pictures.stack([pictures.upscale(x[i].cpu(), 64), pictures.code_map(codes[i], vq.codes, cell,
                                       numbers=False), pictures.upscale(recon[i].cpu(), 64)], gap=2))
        dead = int(vq.dead(cfg.dead_threshold).sum())
        title = (f"step {state.step}: {vq.codes - dead} of {vq.codes} codes in use, {dead} dead "
                 f"(input, code map, reconstruction above)")
        hist = pictures.usage_histogram(vq.cluster_size, cfg.dead_threshold, width=8 * 66, title=title)
        state.modules.train(was_training)
        return pictures.stack([pictures.stack(row, gap=2, vertical=False), hist])[None]

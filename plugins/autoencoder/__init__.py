"""Convolutional autoencoder with denoising training, anomaly scoring and decoder sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import playground as pg

from .nets import Decoder, Encoder
from .noise import NOISE_KINDS, corrupt, corrupt_mixed

EVAL_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
HIST_BINS = 30


@dataclass
class AEConfig(pg.TrainConfig):
    steps: int = pg.param(4000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = pg.param(64, min=1, max=65_536, help="Images per step.")
    latent_dim: int = pg.param(32, min=1, max=1024, help="Size of the code (the bottleneck).")
    width: int = pg.param(16, min=4, max=256, help="Channels of the first conv layer (doubles twice).")
    noise: str = pg.param("mixed", choices=("none", "gaussian", "masking", "mixed"),
                          help="Corruption applied to inputs while training (denoising AE); 'none' = plain AE.")
    noise_level: float = pg.param(0.5, min=0.0, max=1.0,
                                  help="Largest noise level; each image gets a level uniform in [0, this].")
    holdout_class: int = pg.param(-1, min=-1, max=1000,
                                  help="Leave this class out of training (for anomaly evaluation); -1 = none.")


@dataclass
class ImageIn:
    image: pg.ImageInput = pg.image_param("An image (upload) or a drawing (sketch).")


@dataclass
class DenoiseIn:
    image: pg.ImageInput = pg.image_param("The clean image to corrupt and denoise.")
    noise: str = pg.param("gaussian", choices=NOISE_KINDS, help="Kind of corruption.")
    level: float = pg.param(0.3, min=0.0, max=1.0, help="Noise level (σ for Gaussian, fraction for masking).")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the noise.")


@dataclass
class GenerateIn:
    n: int = pg.param(64, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the latent samples.")
    temperature: float = pg.param(1.0, min=0.0, max=3.0, help="Scale of the latent spread (0 = the mean code).")


@dataclass
class EvaluateIn:
    n: int = pg.param(300, min=10, max=10_000, help="Test images per set (at most what the split holds).")
    outlier_dataset: str = pg.param("shapes", dataset=True, help="Dataset whose images count as anomalies.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the evaluation noise.")


class Autoencoder(pg.ModelFamily):
    name = "autoencoder"
    title = "Autoencoder"
    description = ("A convolutional autoencoder trained to undo noise (denoising AE). It reconstructs and "
                   "denoises images, scores anomalies by reconstruction error, and generates by decoding "
                   "codes drawn from a Gaussian fitted to the training codes.")
    config = AEConfig
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(headline=("gaussian 0.3: noisy → denoised",))
    checks = pg.Checks(
        smoke_config={"width": 8, "latent_dim": 16, "batch_size": 32, "lr": 2e-3},
        accumulation_exact=False,  # the denoiser draws fresh corruption per item, so micro-batches differ
    )
    tasks = (
        pg.Task("reconstruct", "Reconstruct", ImageIn, "Encode and decode an image."),
        pg.Task("denoise", "Denoise", DenoiseIn, "Corrupt a clean image, then denoise it."),
        pg.Task("generate", "Generate", GenerateIn, "Decode codes sampled from the fitted Gaussian."),
        pg.Task("anomaly", "Anomaly score", ImageIn,
                "Reconstruction error of an image, placed on the training error histogram.", chart="bar"),
    )

    # -- training ----------------------------------------------------------------------------------
    def build(self, cfg: AEConfig, info: pg.DataInfo) -> nn.ModuleDict:
        return nn.ModuleDict({"encoder": Encoder(info.channels, cfg.width, cfg.latent_dim),
                              "decoder": Decoder(info.channels, cfg.width, cfg.latent_dim)})

    def streams(self, cfg: AEConfig) -> tuple[pg.Stream, ...]:
        held = (cfg.holdout_class,) if cfg.holdout_class >= 0 else ()
        return (pg.Stream(exclude_classes=held),)

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg, m = run.config, run.modules
        x = batch.x
        if cfg.noise == "none" or cfg.noise_level == 0:
            noisy = x
        else:
            kinds = NOISE_KINDS if cfg.noise == "mixed" else (cfg.noise,)
            noisy = corrupt_mixed(x, kinds, cfg.noise_level, run.generator)
        out = m["decoder"](m["encoder"](noisy))
        loss = nn.functional.mse_loss(out.float(), x)
        run.backward(loss)
        run.step()
        return {"loss": loss}

    @torch.no_grad()
    def _codes_and_errors(self, state: pg.ModelState, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes, errs = [], []
        for chunk in x.split(512):
            z = state.modules["encoder"](chunk)
            out = state.modules["decoder"](z)
            codes.append(z.float())
            errs.append(((out.float() - chunk) ** 2).flatten(1).mean(1))
        return torch.cat(codes), torch.cat(errs)

    def finalize(self, state: pg.ModelState, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        codes, errs = self._codes_and_errors(state, images)
        mean = codes.mean(0)
        cov = torch.cov(codes.T.double()).reshape(codes.shape[1], codes.shape[1])
        cov += 1e-5 * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
        state.stats = {"latent_mean": mean, "latent_chol": torch.linalg.cholesky(cov).float(),
                       "train_errors": errs.sort().values}

    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        x = batch.x[:32]
        out = state.modules["decoder"](state.modules["encoder"](x)).float()
        return torch.stack([x, out], 1).flatten(0, 1)  # input / reconstruction pairs

    # -- tasks (image inputs arrive as C×H×W tensors in [-1, 1] at the model's size) --------------------
    @torch.no_grad()
    def reconstruct(self, state: pg.ModelState, inp: ImageIn) -> pg.TaskResult:
        x = inp.image[None]
        z = state.modules["encoder"](x)
        out = state.modules["decoder"](z).float()
        pixels = x[0].numel()
        return pg.TaskResult(
            images=[("input", x[0]), ("reconstruction", out[0])],
            values={"psnr_db": round(float(pg.psnr(out, x)[0]), 2),
                    "mse": round(float(((out - x) ** 2).mean()), 5),
                    "code": f"{z.shape[1]} floats ({4 * z.shape[1]} bytes) for {pixels} pixels "
                            f"({pixels} bytes as 8-bit): {pixels / (4 * z.shape[1]):.1f}× smaller"})

    @torch.no_grad()
    def denoise(self, state: pg.ModelState, inp: DenoiseIn) -> pg.TaskResult:
        x = inp.image[None]
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        noisy = corrupt(x, inp.noise, inp.level, gen)
        out = state.modules["decoder"](state.modules["encoder"](noisy)).float()
        return pg.TaskResult(images=[("clean", x[0]), ("noisy", noisy[0]), ("denoised", out[0])],
                             values={"psnr_noisy_db": round(float(pg.psnr(noisy, x)[0]), 2),
                                     "psnr_denoised_db": round(float(pg.psnr(out, x)[0]), 2)})

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:

        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        imgs = self.sample(state, inp.n, gen, temperature=inp.temperature)
        return pg.TaskResult(images=[(f"{inp.n} samples, seed {inp.seed}", pg.make_grid(imgs.cpu()))],
                             values={"n": inp.n, "seed": inp.seed, "temperature": inp.temperature})

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        mean, chol = state.stats["latent_mean"], state.stats["latent_chol"]
        eps = torch.randn(n, mean.shape[0], generator=generator, device=state.device)
        out = []
        for z in (mean + temperature * eps @ chol.T).split(1024):
            out.append(state.modules["decoder"](z).float())
        return torch.cat(out)

    @torch.no_grad()
    def anomaly(self, state: pg.ModelState, inp: ImageIn) -> pg.TaskResult:
        x = inp.image[None]
        _, err = self._codes_and_errors(state, x)
        out = state.modules["decoder"](state.modules["encoder"](x)).float()
        train = state.stats["train_errors"].cpu()
        score = float(err[0])
        pct = float((train < score).float().mean() * 100)
        threshold = float(torch.quantile(train, 0.99))
        rows = _histogram_rows(train.numpy(), score)
        return pg.TaskResult(
            images=[("input", x[0]), ("reconstruction", out[0])],
            values={"score": round(score, 5), "percentile_of_training_errors": round(pct, 1),
                    "threshold_99pct": round(threshold, 5),
                    "verdict": "anomalous" if score > threshold else "typical"},
            chart=pg.Chart(rows, x="reconstruction error", y="training images", color="bin",
                           title="Training reconstruction errors; the input's bin is marked"))

    # -- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from sklearn.metrics import roc_auc_score
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        spec = pg.DataSpec.from_dict({**state.data, "split": "test"})
        inliers = load(spec).float_images()[: inp.n].to(state.device)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        rows, values = [], {"n_test_images": len(inliers)}
        for kind in NOISE_KINDS:
            for level in EVAL_LEVELS:
                noisy = corrupt(inliers, kind, level, gen)
                out = state.modules["decoder"](state.modules["encoder"](noisy)).float()
                scores = {}
                for series, img in (("noisy input", noisy), ("denoised", out)):
                    p = float(pg.psnr(img, inliers).mean())
                    scores[series] = (p, float(ssim((img + 1) / 2, (inliers + 1) / 2, data_range=1.0)))
                    rows.append({"noise level": level, "PSNR (dB)": round(p, 3), "series": f"{kind}: {series}"})
                (pn, sn), (pd, sd) = scores["noisy input"], scores["denoised"]
                values[f"{kind} {level}: noisy → denoised"] = f"PSNR {pn:.2f} → {pd:.2f} dB, SSIM {sn:.3f} → {sd:.3f}"
        _, in_err = self._codes_and_errors(state, inliers)
        out_spec = pg.DataSpec(name=inp.outlier_dataset, split="test", size=state.info.size)
        outliers = load(out_spec)
        if outliers.channels != state.info.channels:
            values[f"ROC-AUC {spec.name} vs {inp.outlier_dataset}"] = "n/a (channel counts differ)"
        else:
            _, out_err = self._codes_and_errors(state, outliers.float_images()[: inp.n].to(state.device))
            values[f"ROC-AUC {spec.name} vs {inp.outlier_dataset}"] = round(_auc(roc_auc_score, in_err, out_err), 4)
        if spec.exclude_classes:
            held = load(pg.DataSpec(name=spec.name, split="test", size=spec.size, only_classes=spec.exclude_classes))
            _, held_err = self._codes_and_errors(state, held.float_images()[: inp.n].to(state.device))
            key = f"ROC-AUC held-out class {list(spec.exclude_classes)} vs rest"
            values[key] = round(_auc(roc_auc_score, in_err, held_err), 4)
        else:
            values["ROC-AUC held-out class"] = "n/a: this model saw every class (train with --holdout-class K)"
        return pg.TaskResult(values=values, chart=pg.Chart(rows, x="noise level", y="PSNR (dB)", color="series",
                                                           title="PSNR against noise level (test split)"))


def _auc(roc_auc_score, inlier_err: torch.Tensor, outlier_err: torch.Tensor) -> float:  # noqa: ANN001
    scores = torch.cat([inlier_err, outlier_err]).cpu().numpy()
    labels = np.r_[np.zeros(len(inlier_err)), np.ones(len(outlier_err))]
    return float(roc_auc_score(labels, scores))


def _histogram_rows(train_errors: np.ndarray, score: float) -> list[dict]:
    hi = max(float(train_errors.max()), score) * 1.05
    counts, edges = np.histogram(train_errors, bins=HIST_BINS, range=(0.0, hi))
    mark = min(int(score / hi * HIST_BINS), HIST_BINS - 1)
    return [{"reconstruction error": round(float((edges[i] + edges[i + 1]) / 2), 5),
             "training images": int(counts[i]) if i != mark else max(int(counts[i]), 1),
             "bin": "this image" if i == mark else "training"} for i in range(HIST_BINS)]


@pg.hookimpl
def register_models(register):
    register(Autoencoder())

"""Variational autoencoder: β-VAE and conditional VAE with an honest ELBO, two samplers (the N(0, I) prior and
a Gaussian mixture fitted to the training posteriors), latent traversals, interpolation and a live latent map.
The maths is in ``elbo.py``; the pictures in ``latent_map.py``; the disentanglement score in ``disentangle.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import playground as pg
from playground.data import DataSpec

from . import latent_map as lm
from .disentangle import mutual_information_gap
from .elbo import (
    LIKELIHOODS,
    bits_per_dim,
    iwae_bound,
    kl_per_dim,
    kl_term,
    reparameterise,
    warmup_factor,
)
from .nets import Decoder, Encoder

SAMPLERS = ("auto", "prior", "mixture")
ACTIVE_THRESHOLD = 0.01  # Burda et al.: a unit is active when Cov_x(E_q[z_u]) exceeds this
MAP_POINTS = 2000  # training codes kept with the model for the latent map (no dataset needed at inference)
CHUNK = 512


@dataclass
class VAEConfig(pg.TrainConfig):
    steps: int = pg.param(5000, min=1, max=10_000_000, help="Optimisation steps in total.")
    batch_size: int = pg.param(64, min=1, max=65_536, help="Images per step.")
    latent_dim: int = pg.param(16, min=1, max=512, help="Dimensions of z (2 = a latent map without projection).")
    width: int = pg.param(32, min=4, max=256, help="Channels of the first conv layer (doubles twice).")
    likelihood: str = pg.param("bernoulli", choices=tuple(LIKELIHOODS),
                               help="The decoder's p(x|z): " + "; ".join(f"{k}: {v.use}"
                                                                        for k, v in LIKELIHOODS.items()))
    sigma: float = pg.param(0.0, min=0.0, max=1.0, help="Gaussian likelihood's σ in pixel units of [0, 1]; "
                            "0 = learned (σ-VAE).", label="σ (Gaussian)")
    beta: float = pg.param(1.0, min=0.0, max=1000.0, help="Weight of the KL term (β-VAE): > 1 presses for a "
                           "factorised code, < 1 for sharper reconstructions.", label="β")
    warmup_steps: int = pg.param(0, min=0, max=10_000_000, help="Ramp β linearly from 0 over these first steps "
                                 "(KL warm-up against posterior collapse); 0 = none.", label="KL warm-up steps")
    free_bits: float = pg.param(0.0, min=0.0, max=20.0, help="Nats per latent dimension the KL term does not "
                                "penalise (Kingma et al. 2016); 0 = off.")
    conditional: bool = pg.param(False, help="Conditional VAE: the class label goes into encoder and decoder "
                                 "(needs labelled data); Generate can then ask for a class.")
    holdout_class: int = pg.param(-1, min=-1, max=1000,
                                  help="Leave this class out of training (for anomaly evaluation); -1 = none.")
    mixture_components: int = pg.param(10, min=0, max=500, help="Components of the Gaussian mixture fitted to the "
                                       "training posteriors after training (ex-post sampler); 0 = prior only.")


@dataclass
class GenerateIn:
    n: int = pg.param(64, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")
    sampler: str = pg.param("auto", choices=SAMPLERS, help="prior: z ~ N(0, I); mixture: z from the Gaussian "
                            "mixture fitted to the training posteriors; auto: the mixture when the model has one.")
    temperature: float = pg.param(1.0, min=0.0, max=3.0, help="Scale of z's spread (0 = the centre only).")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class to generate; -1 = one row "
                          "per class.", label="class")


@dataclass
class ReconstructIn:
    image: pg.ImageInput = pg.image_param("An image (upload) or a drawing (sketch).")
    samples: int = pg.param(4, min=0, max=16, help="Decoded posterior samples z ~ q(z|x) to show.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the posterior samples.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class given with the image; -1 = "
                          "the class under which the ELBO is highest (the CVAE as a classifier).", label="class")


@dataclass
class InterpolateIn:
    image_a: pg.ImageInput = pg.image_param("Start image.")
    image_b: pg.ImageInput = pg.image_param("End image.")
    steps: int = pg.param(10, min=2, max=64, help="Images along the path, ends included.")
    path: str = pg.param("linear", choices=("linear", "spherical"),
                         help="Straight line between the codes, or the great circle (slerp).")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class along the path; -1 = each "
                          "end's best class (blended).", label="class")


@dataclass
class InterpolateSeedsIn:
    seed_a: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the start code.")
    seed_b: int = pg.param(1, min=0, max=2**31 - 1, help="Seed of the end code.")
    steps: int = pg.param(10, min=2, max=64, help="Images along the path, ends included.")
    path: str = pg.param("spherical", choices=("linear", "spherical"),
                         help="Spherical keeps |z| typical of the prior all the way (linear passes near 0).")
    sampler: str = pg.param("auto", choices=SAMPLERS, help="Where the two end codes come from.")
    label: int = pg.param(0, min=0, max=1000, help="Conditional models: the class along the path.", label="class")


@dataclass
class TraverseIn:
    image: pg.ImageInput = pg.image_param("The image whose code the traversal starts from.")
    dims: int = pg.param(10, min=1, max=64, help="Latent dimensions to sweep (the highest-KL first).")
    span: float = pg.param(3.0, min=0.1, max=10.0, help="Sweep each dimension from −span to +span.")
    steps: int = pg.param(9, min=2, max=21, help="Images per dimension.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class; -1 = the best class.",
                          label="class")


@dataclass
class LatentMapIn:
    grid: int = pg.param(15, min=2, max=30, help="Decoded images per side of the manifold mosaic.")
    label: int = pg.param(0, min=0, max=1000, help="Conditional models: the class the mosaic decodes with.",
                          label="class")


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=10_000, help="Test images (at most what the split holds).")
    iwae_k: int = pg.param(64, min=1, max=5000, help="Importance samples per image for the IWAE bound.",
                           label="IWAE K")
    quality_n: int = pg.param(1000, min=0, max=10_000, help="Generated images per sampler for the sample-quality "
                            "scores (0 = skip).")
    outlier_dataset: str = pg.param("shapes", help="Dataset whose images count as anomalies (scored by −ELBO).")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of posterior and prior samples.")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t (T) → T×L; linear when they are parallel."""
    na, nb = a.norm(), b.norm()
    cos = (a @ b / (na * nb).clamp(min=1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    t = t[:, None]
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class VAE(pg.ModelFamily):
    name = "vae"
    title = "VAE"
    description = ("A variational autoencoder: the encoder outputs a distribution over codes, trained on the ELBO "
                   "(reconstruction − KL). β-VAE and conditional VAE; samples from the prior or from a mixture "
                   "fitted to the training codes; traversals, interpolation and a latent map you watch organise "
                   "while it trains.")
    config = VAEConfig
    evaluate_inputs = EvaluateIn
    smoke_config = {"width": 8, "latent_dim": 8, "batch_size": 32, "lr": 2e-3, "mixture_components": 3}
    tasks = (
        pg.Task("generate", "Generate", GenerateIn, "Decode codes from the prior or the fitted mixture."),
        pg.Task("reconstruct", "Reconstruct", ReconstructIn,
                "Encode an image (or a drawing): the posterior mean's reconstruction, posterior samples, the KL of "
                "this input and where it lands in the latent map."),
        pg.Task("interpolate", "Interpolate", InterpolateIn, "Walk from one image's code to another's.",
                animation=True),
        pg.Task("interpolate_seeds", "Interpolate (seeds)", InterpolateSeedsIn,
                "Walk between two sampled codes.", animation=True),
        pg.Task("traverse", "Latent traversal", TraverseIn,
                "Sweep each latent dimension (highest KL first) while the others stay at an image's code."),
        pg.Task("latent_map", "Latent map", LatentMapIn,
                "Training codes coloured by class over the prior's contours, beside the decoder's manifold.",
                chart="bar"),
    )

    # -- training ----------------------------------------------------------------------------------
    def streams(self, cfg: VAEConfig) -> tuple[pg.Stream, ...]:
        held = (cfg.holdout_class,) if cfg.holdout_class >= 0 else ()
        return (pg.Stream(labels=cfg.conditional, exclude_classes=held),)

    def build(self, cfg: VAEConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        classes = info.num_classes if cfg.conditional else 0
        learn_sigma = cfg.likelihood == "gaussian" and cfg.sigma == 0
        return nn.ModuleDict({
            "encoder": Encoder(info.channels, cfg.width, cfg.latent_dim, classes),
            "decoder": Decoder(info.channels, cfg.width, cfg.latent_dim, classes, learn_sigma=learn_sigma),
        })

    def _labels(self, state: pg.ModelState, y: torch.Tensor | None) -> torch.Tensor | None:
        return y if state.config.conditional else None

    def log_px(self, state: pg.ModelState, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image for decoder outputs ``out`` and images ``x`` in [-1, 1]."""
        cfg = state.config
        dec = state.modules["decoder"]
        log_sigma = dec.log_sigma if dec.log_sigma is not None else (
            torch.tensor(math.log(cfg.sigma), device=out.device) if cfg.likelihood == "gaussian" else None)
        return LIKELIHOODS[cfg.likelihood].log_prob(out.float(), (x.float() + 1) / 2, log_sigma)

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg, m, state = run.config, run.modules, run.state
        x, y = batch.x, self._labels(state, batch.y)
        mu, logvar = m["encoder"](x, y)
        mu, logvar = mu.float(), logvar.float()
        z = reparameterise(mu, logvar, run.generator)
        log_px = self.log_px(state, m["decoder"](z, y), x)
        kl_dims = kl_per_dim(mu, logvar)
        kl = kl_dims.sum(1)
        beta = cfg.beta * warmup_factor(state.step, cfg.warmup_steps)
        loss = -log_px.mean() + beta * kl_term(kl_dims, cfg.free_bits)
        run.backward(loss)
        run.step()
        elbo = (log_px - kl).detach()
        dims = x[0].numel()
        out = {"loss": loss.detach(), "reconstruction (nats)": -log_px.mean().detach(), "KL (nats)": kl.mean().detach(),
               "ELBO (nats)": elbo.mean(),
               "bits/dim": bits_per_dim(-elbo.mean(), dims, LIKELIHOODS[cfg.likelihood].density),
               "active units": (mu.detach().var(0) > ACTIVE_THRESHOLD).sum().float() if len(mu) > 1
               else torch.zeros((), device=mu.device)}
        if m["decoder"].log_sigma is not None:
            out["decoder σ"] = m["decoder"].sigma().detach()
        return out

    # -- encoding and decoding ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, state: pg.ModelState, x: torch.Tensor, y: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior μ and log σ² (float) of images ``x`` in chunks."""
        y = self._labels(state, y)
        parts = [state.modules["encoder"](c, None if y is None else y[i:i + CHUNK])
                 for i, c in zip(range(0, len(x), CHUNK), x.split(CHUNK), strict=True)]
        return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()

    @torch.no_grad()
    def decode(self, state: pg.ModelState, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The images codes ``z`` decode to (the likelihood's mean), in [-1, 1]."""
        y = self._labels(state, y)
        mean = LIKELIHOODS[state.config.likelihood].mean
        out = [mean(state.modules["decoder"](c, None if y is None else y[i:i + CHUNK]).float()) * 2 - 1
               for i, c in zip(range(0, len(z), CHUNK), z.split(CHUNK), strict=True)]
        return torch.cat(out)

    def _class_labels(self, state: pg.ModelState, n: int, label: int) -> torch.Tensor | None:
        if not state.config.conditional:
            return None
        classes = state.info.num_classes
        if label >= classes:
            raise pg.InputError(f"Class {label} is not among this model's {classes} classes (0–{classes - 1}).")
        if label >= 0:
            return torch.full((n,), label, device=state.device, dtype=torch.long)
        return torch.arange(n, device=state.device) % classes

    @torch.no_grad()
    def best_labels(self, state: pg.ModelState, x: torch.Tensor) -> torch.Tensor:
        """For a conditional model: per image, the class whose (posterior-mean) ELBO is highest."""
        scores = []
        for k in range(state.info.num_classes):
            y = torch.full((len(x),), k, device=x.device, dtype=torch.long)
            mu, logvar = self.encode(state, x, y)
            out = state.modules["decoder"](mu, y)
            scores.append(self.log_px(state, out, x) - kl_per_dim(mu, logvar).sum(1))
        return torch.stack(scores, 1).argmax(1)

    def _given_or_best(self, state: pg.ModelState, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """The labels a conditional model uses for ``x``: ``y`` when known, else each image's best class."""
        if not state.config.conditional:
            return None
        return y if y is not None else self.best_labels(state, x)

    def _labels_for(self, state: pg.ModelState, x: torch.Tensor, label: int) -> torch.Tensor | None:
        if not state.config.conditional:
            return None
        return self.best_labels(state, x) if label < 0 else self._class_labels(state, len(x), label)

    # -- after training: what sampling and the pictures need ---------------------------------------------------
    def finalize(self, state: pg.ModelState, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        from sklearn.mixture import GaussianMixture

        cfg = state.config
        mu, logvar = self.encode(state, images, labels)
        kl = kl_per_dim(mu, logvar).mean(0)
        stats = {"kl_per_dim": kl, "code_variance": mu.var(0) if len(mu) > 1 else torch.zeros_like(kl)}
        keep = torch.randperm(len(mu), generator=torch.Generator().manual_seed(cfg.seed))[:MAP_POINTS]
        stats["map_codes"] = mu[keep.to(mu.device)]
        if labels is not None:
            stats["map_labels"] = labels[keep.to(labels.device)].long()
        k = min(cfg.mixture_components, len(mu))
        if k > 0:
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=cfg.seed, max_iter=300)
            gmm.fit(mu.double().cpu().numpy())
            stats["mixture_weights"] = torch.from_numpy(gmm.weights_).float()
            stats["mixture_means"] = torch.from_numpy(gmm.means_).float()
            stats["mixture_chol"] = torch.from_numpy(np.linalg.cholesky(gmm.covariances_)).float()
        state.stats = {key: v.to(state.device) for key, v in stats.items()}

    def active(self, state: pg.ModelState) -> torch.Tensor:
        return state.stats["code_variance"] > ACTIVE_THRESHOLD

    # -- sampling --------------------------------------------------------------------------------------------
    def resolve_sampler(self, state: pg.ModelState, sampler: str) -> str:
        has_mixture = "mixture_means" in state.stats
        if sampler == "mixture" and not has_mixture:
            raise pg.InputError("This model has no fitted mixture (trained with mixture_components = 0, or not "
                                "finalised yet); use the prior sampler.")
        if sampler not in SAMPLERS:
            raise pg.InputError(f"Unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
        return ("mixture" if has_mixture else "prior") if sampler == "auto" else sampler

    def latents(self, state: pg.ModelState, n: int, generator: torch.Generator, sampler: str = "auto",
                temperature: float = 1.0) -> torch.Tensor:
        """n codes from the prior or the fitted mixture (``temperature`` scales the spread around each centre)."""
        eps = torch.randn(n, state.config.latent_dim, generator=generator, device=state.device)
        if self.resolve_sampler(state, sampler) == "prior":
            return temperature * eps
        weights = state.stats["mixture_weights"]
        comp = torch.multinomial(weights.to(generator.device), n, replacement=True, generator=generator)
        comp = comp.to(state.device)
        chol = state.stats["mixture_chol"][comp]
        return state.stats["mixture_means"][comp] + temperature * (chol @ eps[:, :, None])[:, :, 0]

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               sampler: str = "auto", temperature: float = 1.0) -> torch.Tensor:
        was_training = state.modules.training
        state.modules.eval()
        z = self.latents(state, n, generator, sampler, temperature)
        if state.config.conditional and labels is None:
            labels = torch.arange(n, device=state.device) % state.info.num_classes  # every class equally
        out = self.decode(state, z, labels)
        state.modules.train(was_training)
        return out

    def sample_classes(self, state: pg.ModelState) -> tuple[str, ...]:
        return tuple(str(i) for i in range(state.info.num_classes)) if state.config.conditional else ()

    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Negative ELBO in nats per image on up to 512 training images (lower is better)."""
        x = images[:512].to(state.device)
        return -float(self.elbo(state, x, None, torch.Generator(state.device).manual_seed(0)).mean())

    @torch.no_grad()
    def elbo(self, state: pg.ModelState, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator
             ) -> torch.Tensor:
        """Single-sample ELBO estimate per image, nats (labels for a conditional model: ``y`` or the best class)."""
        y = self._given_or_best(state, x, y)
        mu, logvar = self.encode(state, x, y)
        z = reparameterise(mu, logvar, generator)
        out = torch.cat([state.modules["decoder"](c, None if y is None else y[i:i + CHUNK])
                         for i, c in zip(range(0, len(z), CHUNK), z.split(CHUNK), strict=True)])
        return self.log_px(state, out, x) - kl_per_dim(mu, logvar).sum(1)

    @torch.no_grad()
    def iwae(self, state: pg.ModelState, x: torch.Tensor, y: torch.Tensor | None, k: int,
             generator: torch.Generator) -> torch.Tensor:
        """The K-sample importance-weighted bound on log p(x) per image, nats."""
        y = self._given_or_best(state, x, y)
        out = []
        per = max(1, 4096 // max(k, 1))  # images per chunk: about 4096 decodes at once
        for i in range(0, len(x), per):
            xc = x[i:i + per]
            yc = None if y is None else y[i:i + per]
            mu, logvar = self.encode(state, xc, yc)
            z = mu + (0.5 * logvar).exp() * torch.randn((k, *mu.shape), generator=generator, device=mu.device)
            flat = z.reshape(-1, mu.shape[1])
            yk = None if yc is None else yc.repeat(k)
            dec = state.modules["decoder"](flat, yk)
            log_px = self.log_px(state, dec, xc.repeat(k, 1, 1, 1)).view(k, len(xc))
            out.append(iwae_bound(log_px, z, mu, logvar))
        return torch.cat(out)

    # -- pictures ------------------------------------------------------------------------------------------
    def kl_order(self, state: pg.ModelState) -> torch.Tensor:
        return torch.argsort(state.stats["kl_per_dim"], descending=True)

    def map_figure(self, state: pg.ModelState, codes: torch.Tensor, labels: torch.Tensor | None, *, grid: int = 15,
                   label: int = 0, marks: torch.Tensor | None = None, kl: torch.Tensor | None = None,
                   active: torch.Tensor | None = None, title: str = "") -> tuple[torch.Tensor, str]:
        """The latent map of ``codes`` (coloured by ``labels``) beside the decoded manifold; KL bars below when
        given. Returns the picture and a sentence on the projection."""
        centre, axes, share = lm.principal_axes(codes)
        pts = lm.project(codes, centre, axes)
        extent = lm.map_extent(pts)
        names = tuple(str(i) for i in range(state.info.num_classes))
        left = lm.scatter(pts, labels, names, extent, title=title,
                          marks=None if marks is None else lm.project(marks, centre, axes))
        y = self._class_labels(state, grid * grid, label)
        right = lm.mosaic(lambda z: self.decode(state, z.to(state.device), y), centre, axes, extent, grid)
        below = lm.kl_bars(kl, active, 2 * lm.PANEL + 8) if kl is not None else None
        latent = codes.shape[1]
        how = (f"axes z1, z2 of the {latent}-D latent" if latent <= 2 else
               f"the two principal directions of the {latent}-D codes ({share:.0%} of their variance); the mosaic "
               "decodes codes on that plane")
        return lm.side_by_side(left, right, below), how

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        """The live latent map of the preview batch, with KL per dimension (sorted) below."""
        was_training = state.modules.training
        state.modules.eval()
        mu, logvar = self.encode(state, batch.x, batch.y)
        kl = kl_per_dim(mu, logvar).mean(0)
        order = torch.argsort(kl, descending=True)
        active = (mu.var(0) > ACTIVE_THRESHOLD) if len(mu) > 1 else torch.ones_like(kl, dtype=torch.bool)
        label = int(batch.y[0]) if state.config.conditional and batch.y is not None else 0
        img, _ = self.map_figure(state, mu, batch.y, grid=12, label=label, kl=kl[order], active=active[order],
                                 title=f"step {state.step}: {len(mu)} training images")
        state.modules.train(was_training)
        return img[None]

    # -- tasks (image inputs arrive as C×H×W tensors in [-1, 1] at the model's size) --------------------
    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        used = self.resolve_sampler(state, inp.sampler)
        labels = self._class_labels(state, inp.n, inp.label)
        imgs = self.sample(state, inp.n, gen, labels=labels, sampler=used, temperature=inp.temperature)
        classes = state.info.num_classes
        nrow = classes if state.config.conditional and inp.label < 0 else None
        if nrow:  # one row per class: reorder so row k holds class k
            order = torch.argsort(labels.cpu() * inp.n + torch.arange(inp.n), stable=True)
            imgs = imgs[order.to(imgs.device)]
            nrow = math.ceil(inp.n / classes)
        what = ("N(0, I) prior" if used == "prior" else
                f"Gaussian mixture of {len(state.stats['mixture_weights'])} components fitted to the training "
                "posteriors")
        values = {"sampler": used, "sampler used": what, "n": inp.n, "seed": inp.seed,
                  "temperature": inp.temperature}
        if state.config.conditional:
            values["class"] = "one row per class" if inp.label < 0 else inp.label
        return pg.TaskResult(images=[(f"{inp.n} samples ({used}), seed {inp.seed}",
                                      pg.make_grid(imgs.cpu(), nrow=nrow))], values=values)

    def _image_map(self, state: pg.ModelState, marks: torch.Tensor, label: int) -> torch.Tensor:
        img, _ = self.map_figure(state, state.stats["map_codes"], state.stats.get("map_labels"), grid=10,
                                 label=max(label, 0), marks=marks, title="★ = this input; dots: training codes")
        return img

    @torch.no_grad()
    def reconstruct(self, state: pg.ModelState, inp: ReconstructIn) -> pg.TaskResult:
        from playground.metrics.scores import psnr

        x = inp.image[None]
        y = self._labels_for(state, x, inp.label)
        mu, logvar = self.encode(state, x, y)
        recon = self.decode(state, mu, y)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        images = [("input", x[0]), ("reconstruction (posterior mean)", recon[0])]
        if inp.samples:
            z = reparameterise(mu.expand(inp.samples, -1), logvar.expand(inp.samples, -1), gen)
            draws = self.decode(state, z, None if y is None else y.expand(inp.samples))
            images.append((f"{inp.samples} posterior samples z ~ q(z|x)", pg.make_grid(draws.cpu(), pad=1)))
        kl = kl_per_dim(mu, logvar)[0]
        elbo = self.elbo(state, x, y, torch.Generator(device=state.device).manual_seed(inp.seed))[0]
        images.append(("where it lands in the latent map", self._image_map(state, mu, inp.label)))
        values = {"KL of this input (nats)": round(float(kl.sum()), 3),
                  "ELBO (nats)": round(float(elbo), 2),
                  "bits/dim": round(float(bits_per_dim(-elbo, x[0].numel(),
                                                       LIKELIHOODS[state.config.likelihood].density)), 4),
                  "PSNR of the reconstruction (dB)": round(float(psnr(recon, x)[0]), 2),
                  "posterior mean μ": [round(float(v), 2) for v in mu[0]],
                  "posterior σ": [round(float(v), 3) for v in (0.5 * logvar[0]).exp()]}
        if y is not None:
            values["class"] = int(y[0]) if inp.label >= 0 else f"{int(y[0])} (highest ELBO)"
        return pg.TaskResult(images=images, values=values)

    def _path(self, a: torch.Tensor, b: torch.Tensor, steps: int, path: str) -> torch.Tensor:
        t = torch.linspace(0, 1, steps, device=a.device)
        if path == "spherical":
            return slerp(a, b, t)
        return a + t[:, None] * (b - a)

    def _strip(self, state: pg.ModelState, z: torch.Tensor, y: torch.Tensor | None, what: str,
               values: dict) -> pg.TaskResult:
        frames = self.decode(state, z, y).cpu()
        return pg.TaskResult(images=[(what, pg.make_grid(frames, nrow=len(frames)))], values=values,
                             animation=list(frames))

    @torch.no_grad()
    def interpolate(self, state: pg.ModelState, inp: InterpolateIn) -> pg.TaskResult:
        x = torch.stack([inp.image_a, inp.image_b])
        y = self._labels_for(state, x, inp.label)
        mu, _ = self.encode(state, x, y)
        z = self._path(mu[0], mu[1], inp.steps, inp.path)
        ys = None
        if y is not None:  # each end's class for its half of the path
            ys = torch.where(torch.arange(inp.steps, device=z.device) < inp.steps / 2, y[0], y[1])
        return self._strip(state, z, ys, f"{inp.path} path between the two codes ({inp.steps} steps)",
                           {"path": inp.path, "steps": inp.steps,
                            "distance between the codes": round(float((mu[0] - mu[1]).norm()), 3)})

    @torch.no_grad()
    def interpolate_seeds(self, state: pg.ModelState, inp: InterpolateSeedsIn) -> pg.TaskResult:
        used = self.resolve_sampler(state, inp.sampler)
        ends = [self.latents(state, 1, torch.Generator(device=state.device).manual_seed(s), used)[0]
                for s in (inp.seed_a, inp.seed_b)]
        z = self._path(ends[0], ends[1], inp.steps, inp.path)
        y = self._class_labels(state, inp.steps, inp.label)
        return self._strip(state, z, y, f"{inp.path} path from seed {inp.seed_a} to seed {inp.seed_b} ({used})",
                           {"path": inp.path, "sampler": used, "steps": inp.steps,
                            "|z| along the path": [round(float(v), 2) for v in z.norm(dim=1)]})

    @torch.no_grad()
    def traverse(self, state: pg.ModelState, inp: TraverseIn) -> pg.TaskResult:
        x = inp.image[None]
        y = self._labels_for(state, x, inp.label)
        mu, _ = self.encode(state, x, y)
        return self._traversal(state, mu[0], y, self.kl_order(state)[:inp.dims], inp.span, inp.steps)

    def _traversal(self, state: pg.ModelState, code: torch.Tensor, y: torch.Tensor | None, dims: torch.Tensor,
                   span: float, steps: int, names: dict[int, str] | None = None) -> pg.TaskResult:
        sweep = torch.linspace(-span, span, steps, device=code.device)
        z = code.repeat(len(dims) * steps, 1)
        for r, d in enumerate(dims.tolist()):
            z[r * steps:(r + 1) * steps, d] = sweep
        imgs = self.decode(state, z, None if y is None else y.expand(len(z)))
        kl, active = state.stats["kl_per_dim"], self.active(state)
        rows = {}
        for r, d in enumerate(dims.tolist()):
            tag = f"z{d}: KL {float(kl[d]):.2f} nats" + ("" if bool(active[d]) else " (inactive)")
            if names and d in names:
                tag += f", tracks {names[d]}"
            rows[f"row {r + 1}"] = tag
        caption = f"each row sweeps one dimension from −{span:g} to +{span:g}; rows by KL, highest first"
        return pg.TaskResult(images=[(caption, pg.make_grid(imgs.cpu(), nrow=steps, pad=1))],
                             values={**rows, "active units": f"{int(active.sum())} of {len(active)}"})

    @torch.no_grad()
    def latent_map(self, state: pg.ModelState, inp: LatentMapIn) -> pg.TaskResult:
        codes = state.stats["map_codes"]
        img, how = self.map_figure(state, codes, state.stats.get("map_labels"), grid=inp.grid, label=inp.label,
                                   title=f"{len(codes)} training codes (posterior means)")
        return pg.TaskResult(images=[("latent map and decoded manifold", img)], values={"view": how},
                             chart=self._kl_chart(state))

    def _kl_chart(self, state: pg.ModelState) -> pg.Chart:
        kl, active = state.stats["kl_per_dim"], self.active(state)
        rows = [{"dimension": f"z{int(d)}", "KL (nats)": round(float(kl[d]), 4),
                 "unit": "active" if bool(active[d]) else "inactive"} for d in self.kl_order(state)]
        return pg.Chart(rows, x="dimension", y="KL (nats)", color="unit",
                        title="KL per latent dimension on the training data (highest first)")

    # -- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from sklearn.metrics import roc_auc_score
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        from playground.metrics.scores import psnr

        cfg = state.config
        spec = DataSpec.from_dict({**state.data, "split": "test"})
        data = load(spec)
        x = data.float_images()[: inp.n].to(state.device)
        y = None if data.labels is None else data.labels[: inp.n].to(state.device)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        lik = LIKELIHOODS[cfg.likelihood]
        dims = x[0].numel()
        elbo = self.elbo(state, x, y, gen)
        iw = self.iwae(state, x, y, inp.iwae_k, gen)
        values: dict = {"n test images": len(x), "likelihood": lik.title}
        values["ELBO (nats per image)"] = round(float(elbo.mean()), 3)
        values[f"IWAE bound, K = {inp.iwae_k} (nats per image)"] = round(float(iw.mean()), 3)
        values["ELBO (bits/dim)"] = round(float(bits_per_dim(-elbo.mean(), dims, lik.density)), 4)
        values[f"IWAE K = {inp.iwae_k} (bits/dim)"] = round(float(bits_per_dim(-iw.mean(), dims, lik.density)), 4)
        if not lik.density:
            values["note on bits/dim"] = ("Bernoulli on grey levels is not a normalised density: a loss, not a code "
                                          "length")
        yy = self._given_or_best(state, x, y)
        mu, logvar = self.encode(state, x, yy)
        recon = self.decode(state, mu, yy)
        values["reconstruction PSNR (dB)"] = round(float(psnr(recon, x).mean()), 2)
        values["reconstruction SSIM"] = round(float(ssim((recon + 1) / 2, (x + 1) / 2, data_range=1.0)), 4)
        kl = kl_per_dim(mu, logvar).mean(0)
        values["KL (nats per image)"] = round(float(kl.sum()), 3)
        values["active units"] = f"{int((mu.var(0) > ACTIVE_THRESHOLD).sum())} of {len(kl)}"
        images = []
        fig, how = self.map_figure(state, mu, y, grid=12, title=f"{len(mu)} test codes")
        images.append((f"latent map of the test split ({how})", fig))
        self._anomaly(state, inp, load, spec, x, elbo, values, roc_auc_score)
        if data.factors is not None:
            images.append(self._disentanglement(state, data, mu, values))
        if inp.quality_n:
            self._sample_quality(state, inp, load, spec.name, values)
        return pg.TaskResult(images=images, values=values, chart=self._kl_chart(state))

    def _anomaly(self, state: pg.ModelState, inp: EvaluateIn, load, spec: DataSpec,  # noqa: ANN001
                 x: torch.Tensor, elbo: torch.Tensor, values: dict, roc_auc_score) -> None:  # noqa: ANN001
        def auc(outliers: torch.Tensor) -> float:
            out_elbo = self.elbo(state, outliers, None, torch.Generator(state.device).manual_seed(inp.seed))
            scores = torch.cat([-elbo, -out_elbo]).cpu().numpy()
            truth = np.r_[np.zeros(len(elbo)), np.ones(len(out_elbo))]
            return round(float(roc_auc_score(truth, scores)), 4)

        key = f"anomaly ROC-AUC by −ELBO, {spec.name} vs {inp.outlier_dataset}"
        outliers = load(DataSpec(name=inp.outlier_dataset, split="test", size=state.info.size))
        if outliers.channels != state.info.channels:
            values[key] = "n/a (channel counts differ)"
        else:
            values[key] = auc(outliers.float_images()[: inp.n].to(state.device))
        if spec.exclude_classes:
            held = load(DataSpec(name=spec.name, split="test", size=spec.size, only_classes=spec.exclude_classes))
            values[f"anomaly ROC-AUC by −ELBO, held-out class {list(spec.exclude_classes)} vs rest"] = auc(
                held.float_images()[: inp.n].to(state.device))
        else:
            values["anomaly ROC-AUC, held-out class"] = "n/a: this model saw every class (train with --holdout-class K)"

    def _disentanglement(self, state: pg.ModelState, data: pg.ImageData, mu: torch.Tensor,
                         values: dict) -> tuple[str, torch.Tensor]:
        names = tuple(data.meta.get("factor_names") or (f"factor {k}" for k in range(data.factors.shape[1])))
        res = mutual_information_gap(mu, data.factors[: len(mu)], names)
        values["MIG (mutual information gap)"] = round(res.mig, 4)
        for name in names:
            values[f"MIG gap: {name}"] = f"{res.gaps[name]:.3f} (best dimension z{res.best_dim[name]})"
        tracks: dict[int, str] = {}
        for name, d in res.best_dim.items():
            if res.gaps[name] > 0.05:
                tracks[d] = f"{tracks[d]} + {name}" if d in tracks else name
        dims = self.kl_order(state)[:10]
        trav = self._traversal(state, mu[0], None, dims, 3.0, 9, tracks)
        values.update({f"traversal {k}": v for k, v in trav.values.items() if k.startswith("row")})
        return ("traversals from the first test image, labelled with the factor each dimension tracks "
                "(its MIG gap > 0.05)", trav.images[0][1])

    def _sample_quality(self, state: pg.ModelState, inp: EvaluateIn, load, dataset: str,  # noqa: ANN001
                        values: dict) -> None:
        from playground.errors import WeightsError
        from playground.metrics.report import quality_report

        samplers = ["prior"] + (["mixture"] if "mixture_means" in state.stats else [])
        for sampler in samplers:
            images = self.sample(state, inp.quality_n, torch.Generator(state.device).manual_seed(inp.seed),
                                 sampler=sampler)
            try:
                rep = quality_report(load, images.cpu(), dataset, seed=inp.seed, neighbours=0)
            except WeightsError as e:
                values[f"sample quality ({sampler})"] = f"n/a: {e}"
                return
            s, b = rep.scores, rep.baseline
            values[f"{sampler} sampler: FID (n={inp.quality_n}; real baseline)"] = f"{s['FID']:.3f} ({b['FID']:.3f})"
            for key in ("precision", "recall", "coverage"):
                values[f"{sampler} sampler: {key}"] = round(s[key], 4)
            values[f"{sampler} sampler: smallest class %"] = round(s["smallest class %"], 1)
        if state.config.conditional:
            self._class_accuracy(state, inp, dataset, values)

    def _class_accuracy(self, state: pg.ModelState, inp: EvaluateIn, dataset: str, values: dict) -> None:
        from playground.metrics.evaluator import load_evaluator

        ev = load_evaluator(dataset)
        classes = state.info.num_classes
        per = max(1, inp.quality_n // classes)
        labels = torch.arange(classes, device=state.device).repeat_interleave(per)
        images = self.sample(state, len(labels), torch.Generator(state.device).manual_seed(inp.seed), labels=labels)
        _, logits = ev.embed(images.cpu())
        hit = (logits.argmax(1) == labels.cpu()).float()
        values["conditional samples classified as the asked class"] = f"{float(hit.mean()):.1%}"
        values["… per class"] = {str(k): f"{float(hit[labels.cpu() == k].mean()):.0%}" for k in range(classes)}


@pg.hookimpl
def register_models(register):
    register(VAE())

"""The VAE family: configuration, training on the ELBO, encoding/decoding, the fitted samplers and the latent-map
picture. Tasks are in ``tasks.py``, evaluation in ``evaluation.py``, the maths in ``elbo.py``, the pictures in
``latent_map.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import playground as pg

from . import latent_map as lm
from .elbo import (
    ACTIVE_THRESHOLD,
    LIKELIHOODS,
    active_units,
    bits_per_dim,
    iwae_bound,
    kl_per_dim,
    kl_term,
    reparameterise,
    warmup_factor,
)
from .evaluation import EvaluateIn, Evaluation
from .nets import Decoder, Encoder
from .tasks import (
    SAMPLERS,
    GenerateIn,
    InterpolateIn,
    InterpolateSeedsIn,
    LatentMapIn,
    ReconstructIn,
    Tasks,
    TraverseIn,
)

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



class VAE(Tasks, Evaluation, pg.ModelFamily):
    name = "vae"
    title = "VAE"
    description = ("A variational autoencoder: the encoder outputs a distribution over codes, trained on the ELBO "
                   "(reconstruction − KL). β-VAE and conditional VAE; samples from the prior or from a mixture "
                   "fitted to the training codes; traversals, interpolation and a latent map you watch organise "
                   "while it trains.")
    config = VAEConfig
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(
        headline=("reconstruction PSNR (dB)", "IWAE K = 64 (bits/dim)"),
        chart="bar",  # KL per latent dimension
    )
    checks = pg.Checks(
        smoke_config={"width": 8, "latent_dim": 8, "batch_size": 32, "lr": 2e-3, "mixture_components": 3},
    )
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
               "active units": active_units(mu.detach()).sum().float() * (len(mu) > 1)}
        if m["decoder"].log_sigma is not None:
            out["decoder σ"] = m["decoder"].sigma().detach()
        return out

    # -- encoding and decoding ------------------------------------------------------------------------------
    def _chunks(self, state: pg.ModelState, t: torch.Tensor, y: torch.Tensor | None
                ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """``t`` in CHUNK-sized pieces, each with its labels (None for an unconditional model)."""
        y = self._labels(state, y)
        return [(t[i:i + CHUNK], None if y is None else y[i:i + CHUNK]) for i in range(0, len(t), CHUNK)]

    @torch.no_grad()
    def encode(self, state: pg.ModelState, x: torch.Tensor, y: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior μ and log σ² (float) of images ``x`` in chunks."""
        parts = [state.modules["encoder"](c, yc) for c, yc in self._chunks(state, x, y)]
        return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()

    @torch.no_grad()
    def decode(self, state: pg.ModelState, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The images codes ``z`` decode to (the likelihood's mean), in [-1, 1]."""
        mean = LIKELIHOODS[state.config.likelihood].mean
        return torch.cat([mean(state.modules["decoder"](c, yc).float()) * 2 - 1
                          for c, yc in self._chunks(state, z, y)])

    def _class_labels(self, state: pg.ModelState, n: int, label: int) -> torch.Tensor | None:
        """The labels of n samples: None for an unconditional model (which refuses a class); class ``label`` for
        all (-1 = class 0)."""
        classes = state.info.num_classes
        if not state.config.conditional:
            if label >= 0:
                raise pg.InputError(f"This model is unconditional: it cannot be given class {label}; leave the "
                                    "class at -1 (train with conditional = true for a class-conditional model).")
            return None
        if label >= classes:
            raise pg.InputError(f"Class {label} is not among this model's {classes} classes (0–{classes - 1}).")
        return torch.full((n,), max(label, 0), device=state.device, dtype=torch.long)

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
        if not state.config.conditional or label >= 0:
            return self._class_labels(state, len(x), label)
        return self.best_labels(state, x)

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
        out = torch.cat([state.modules["decoder"](c, yc) for c, yc in self._chunks(state, z, y)])
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
                   label: int = -1, marks: torch.Tensor | None = None, kl: torch.Tensor | None = None,
                   active: torch.Tensor | None = None, title: str = "") -> tuple[torch.Tensor, str]:
        """The latent map of ``codes`` (coloured by ``labels``) beside the decoded manifold; KL bars below when
        given. Returns the picture and a sentence on the projection."""
        centre, axes, share = lm.principal_axes(codes)
        pts = lm.project(codes, centre, axes)
        extent, box = lm.map_extent(pts), lm.mosaic_extent(pts)
        names = tuple(str(i) for i in range(state.info.num_classes))
        left = lm.scatter(pts, labels, names, extent, title=title, box=box,
                          marks=None if marks is None else lm.project(marks, centre, axes))
        y = self._class_labels(state, grid * grid, label)
        right = lm.mosaic(lambda z: self.decode(state, z.to(state.device), y), centre, axes, box, grid)
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
        active = active_units(mu)
        label = int(batch.y[0]) if state.config.conditional and batch.y is not None else -1
        img, _ = self.map_figure(state, mu, batch.y, grid=12, label=label, kl=kl[order], active=active[order],
                                 title=f"step {state.step}: {len(mu)} training images")
        state.modules.train(was_training)
        return img[None]


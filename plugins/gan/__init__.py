"""GAN family: DCGAN-style networks for 32×32 images trained with any objective of ``objectives``
(original minimax, non-saturating, the f-GAN divergences, WGAN with clipping or gradient penalty, hinge,
least squares), with optional spectral normalisation on D; class-conditional (projection D) on request; sampling
from an exponential moving average of G's weights; differentiable augmentation (``augment``) for small datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

import playground as pg

from .adversarial import AdversarialConfig, adversarial_step, conditioning_strength, d_steps_of, latent, make_optimizers
from .augment import diff_augment, parse_policy
from .ema import EMA_MODULE, make_ema, update_ema
from .evaluation import EvaluateIn, GANEvaluation
from .nets import Discriminator, Generator
from .objectives import get_objective
from .toy import GAN2D

AUGMENT_CHOICES = ("none", "translation,cutout", "color,translation,cutout", "translation", "cutout", "color")


@dataclass
class GANConfig(AdversarialConfig):
    batch_size: int = pg.param(64, min=2, max=65_536, help="Images per step.")
    latent_dim: int = pg.param(64, min=1, max=1024, help="Size of the noise vector z.")
    width: int = pg.param(32, min=4, max=256, help="Base channels of G and D.")
    gp_weight: float = pg.param(0.0, min=0.0, max=1000.0, help="WGAN-GP's gradient-penalty weight λ; 0 = the "
                                "paper's 10.", label="gradient penalty weight", advanced=True)
    conditional: bool = pg.param(False, help="Class-conditional: G draws the class you ask for and D is a projection "
                                 "discriminator (needs a labelled dataset).")
    condition_start: int = pg.param(0, min=0, max=10_000_000, help="Transitional conditioning: train as an "
                                    "unconditional GAN for this many steps before the class fades in, which keeps a "
                                    "conditional GAN on little data from drawing one image per class.",
                                    label="unconditional steps first", advanced=True)
    condition_ramp: int = pg.param(0, min=0, max=10_000_000, help="Steps over which the class then fades into G and "
                                   "D (0 = at once).", label="conditioning ramp (steps)", advanced=True)
    mode_seeking: float = pg.param(0.0, min=0.0, max=100.0, help="Weight λ of the mode-seeking term (MSGAN): G's "
                                   "loss gets λ / (image distance / z distance) over pairs of samples of one class, "
                                   "against one image per class; 0 = off.", label="mode seeking λ", advanced=True)
    ema: float = pg.param(0.999, min=0.0, max=0.99999, help="Decay of the moving average of G's weights that "
                          "sampling uses (warmed up from 0 over the first steps); 0 = sample from G itself.",
                          label="EMA of G")
    augment: str = pg.param("none", choices=AUGMENT_CHOICES, help="Differentiable augmentation (DiffAugment) of "
                            "real and fake images before D, against a D that memorises a small dataset. Off by "
                            "default: on digits it slowed the unconditional GAN at every budget measured (up to "
                            "8000 steps); the conditional digits weights use translation,cutout.",
                            label="DiffAugment")

    # Checkpoints written before these settings existed trained without them.
    legacy: ClassVar[dict[str, Any]] = {"conditional": False, "ema": 0.0, "augment": "none", "mode_seeking": 0.0,
                                          "condition_start": 0, "condition_ramp": 0}


@dataclass
class GenerateIn:
    n: int = pg.param(64, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")
    truncation: float = pg.param(0.0, min=0.0, max=4.0,
                                 help="Resample z components beyond ±this (the truncation trick); 0 = off.")
    label: int = pg.param(-1, min=-1, max=9999, help="Class to draw (conditional models, e.g. the digit); -1 = one "
                          "row per class (conditional) or any.", label="class")


@dataclass
class InterpolateIn:
    seed_a: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the first z.")
    seed_b: int = pg.param(1, min=0, max=2**31 - 1, help="Seed of the second z.")
    frames: int = pg.param(10, min=2, max=64, help="Images along the path.")
    spherical: bool = pg.param(True, help="Spherical interpolation (stays on the Gaussian shell).")
    label: int = pg.param(-1, min=-1, max=9999, help="Class kept along the walk (conditional models); -1 = one "
                          "drawn from the first seed.", label="class")


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    cos = (a * b).sum() / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


class GAN(GANEvaluation, pg.ModelFamily):
    name = "gan"
    title = "GAN"
    description = ("A DCGAN-style generator and discriminator for 32×32 images, trained with the objective you "
                   "pick: original minimax, non-saturating, f-GAN (KL, reverse KL, Pearson χ², squared "
                   "Hellinger, JS), WGAN with weight clipping or gradient penalty, hinge or least squares; "
                   "spectral norm on D for any of them. Class-conditional on request (pick the digit); samples "
                   "come from a moving average of G's weights; differentiable augmentation and a mode-seeking term "
                   "are options. "
                   "Evaluate → Sample quality shows FID and the class histogram, where mode collapse is visible "
                   "at a glance; Evaluate shows per-class FID and, for a conditional model, whether each class "
                   "comes out as asked.")
    config = GANConfig
    tasks = (
        pg.Task("generate", "Generate", GenerateIn, "A grid of samples from a seed (a conditional model: of the "
                "class you pick, or one row per class)."),
        pg.Task("interpolate", "Interpolate", InterpolateIn, "A walk through latent space between two seeds.",
                animation=True),
    )
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(headline=("class accuracy of conditioned samples",), chart="bar")
    checks = pg.Checks(
        smoke_config={"width": 8, "latent_dim": 16, "batch_size": 32, "objective": "nonsaturating", "lr": 1e-3},
    )

    def build(self, cfg: GANConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        get_objective(cfg.objective)
        parse_policy(cfg.augment)
        classes = info.num_classes if cfg.conditional else 0
        if cfg.conditional and classes < 2:
            raise pg.ConfigError(f"A conditional GAN needs a labelled dataset with at least two classes; "
                                 f"{cfg.dataset!r} has {info.num_classes}. Untick 'conditional' or pick another.")
        modules = nn.ModuleDict({"G": Generator(cfg.latent_dim, info.channels, cfg.width, classes),
                                 "D": Discriminator(info.channels, cfg.width, cfg.spectral_norm, classes)})
        if cfg.ema > 0:
            modules[EMA_MODULE] = make_ema(modules["G"], cfg.ema)
        return modules

    def configure_optimizers(self, cfg: GANConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return make_optimizers(cfg, modules)

    def streams(self, cfg: GANConfig) -> tuple[pg.Stream, ...]:
        # fresh real data for each critic step; labelled when conditional
        return (pg.Stream(per_step=d_steps_of(cfg), labels=cfg.conditional),)

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg = run.config
        policy = parse_policy(cfg.augment)
        augment = (lambda x: diff_augment(x, policy, run.generator)) if policy else None
        losses = adversarial_step(run, batch.x, batch.y if cfg.conditional else None, augment)
        if EMA_MODULE in run.modules and run.last_micro_batch:  # G stepped: fold it into the average
            update_ema(run.modules[EMA_MODULE], run.modules["G"], run.state.step + 1)
        return losses

    @torch.no_grad()
    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Pixel mean/std mismatch between samples and data: lower is better; an untrained G is far off."""
        fake = self.sample(state, min(len(images), 512), torch.Generator(state.device).manual_seed(0))
        real = images[:512]
        return float((fake.mean(0) - real.mean(0)).abs().mean() + (fake.std(0) - real.std(0)).abs().mean())

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        return self.sample(state, 64, generator)

    def sample_classes(self, state: pg.ModelState) -> tuple[str, ...]:
        return tuple(str(k) for k in range(state.info.num_classes)) if state.config.conditional else ()

    def sampler(self, state: pg.ModelState) -> nn.Module:
        """The network samples come from: the moving average of G when kept, else G."""
        return state.modules[EMA_MODULE].module if EMA_MODULE in state.modules else state.modules["G"]

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               truncation: float = 0.0) -> torch.Tensor:
        was_training = state.modules.training
        state.modules.eval()
        z = latent(state, n, generator, truncation)
        g = self.sampler(state)
        if state.config.conditional:
            if labels is None:  # any class: uniformly, from the caller's generator
                labels = torch.randint(0, state.info.num_classes, (n,), generator=generator, device=state.device)
            labels = labels.to(state.device)
            lam = conditioning_strength(state.config, state.step)
            out = torch.cat([g(zc, yc, lam).float() for zc, yc in zip(z.split(1024), labels.split(1024), strict=True)])
        else:
            out = torch.cat([g(c).float() for c in z.split(1024)])
        state.modules.train(was_training)
        return out

    @staticmethod
    def _asked_class(state: pg.ModelState, label: int) -> int | None:
        """The class a task asks for (None: any, -1); a clear error for an unconditional model or a class it lacks."""
        if label < 0:
            return None
        if not state.config.conditional:
            raise pg.InputError("This GAN is unconditional: it cannot draw a chosen class. Leave 'class' at -1, "
                                "or load conditional weights (e.g. digits-conditional).")
        if label >= state.info.num_classes:
            raise pg.InputError(f"'class' must be one of this model's classes 0..{state.info.num_classes - 1} (or "
                                f"-1), not {label}.")
        return label

    def _labels(self, state: pg.ModelState, inp: GenerateIn) -> tuple[torch.Tensor | None, int, str]:
        """The classes a Generate request asks for, the grid's row length, and a caption."""
        k = self._asked_class(state, inp.label)
        if k is not None:
            return torch.full((inp.n,), k, dtype=torch.long), 8, f"{inp.n} samples of class {k}"
        if not state.config.conditional:
            return None, 8, f"{inp.n} samples"
        classes = state.info.num_classes
        per = max(1, inp.n // classes)
        return (torch.arange(classes).repeat_interleave(per), per,
                f"one row per class 0..{classes - 1}, {per} each")

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:

        labels, nrow, caption = self._labels(state, inp)
        n = inp.n if labels is None else len(labels)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        imgs = self.sample(state, n, gen, labels=labels, truncation=inp.truncation)
        return pg.TaskResult(images=[(f"{caption}, seed {inp.seed}", pg.make_grid(imgs.cpu(), nrow=nrow))],
                             values={"n": n, "seed": inp.seed, "truncation": inp.truncation,
                                     **({"class": inp.label} if state.config.conditional else {})})

    @torch.no_grad()
    def interpolate(self, state: pg.ModelState, inp: InterpolateIn) -> pg.TaskResult:

        za = latent(state, 1, torch.Generator(device=state.device).manual_seed(inp.seed_a))[0]
        zb = latent(state, 1, torch.Generator(device=state.device).manual_seed(inp.seed_b))[0]
        t = torch.linspace(0, 1, inp.frames, device=state.device)
        z = _slerp(za, zb, t) if inp.spherical else (1 - t)[:, None] * za + t[:, None] * zb
        state.modules.eval()
        g = self.sampler(state)
        k = self._asked_class(state, inp.label)
        if state.config.conditional:  # one class along the walk: the one asked for, or one drawn from seed_a
            if k is None:
                seeded = torch.Generator().manual_seed(inp.seed_a)
                k = int(torch.randint(0, state.info.num_classes, (1,), generator=seeded))
            lam = conditioning_strength(state.config, state.step)
            imgs = g(z, torch.full((inp.frames,), k, device=state.device), lam).float().cpu()
        else:
            imgs = g(z).float().cpu()
        return pg.TaskResult(images=[(f"seed {inp.seed_a} → seed {inp.seed_b}", pg.make_grid(imgs, nrow=inp.frames))],
                             values={"frames": inp.frames, "spherical": inp.spherical}, animation=list(imgs))


@pg.hookimpl
def register_models(register):
    register(GAN())
    register(GAN2D())

"""GAN family: DCGAN-style networks for 32×32 images trained with any objective of ``objectives``
(original minimax, non-saturating, the f-GAN divergences, WGAN with clipping or gradient penalty, hinge,
least squares), with optional spectral normalisation on D."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from .adversarial import AdversarialConfig, adversarial_step, d_steps_of, latent, make_optimizers
from .nets import Discriminator, Generator
from .objectives import get_objective
from .toy import GAN2D


@dataclass
class GANConfig(AdversarialConfig):
    batch_size: int = pg.param(64, min=2, max=65_536, help="Images per step.")
    latent_dim: int = pg.param(64, min=1, max=1024, help="Size of the noise vector z.")
    width: int = pg.param(32, min=4, max=256, help="Base channels of G and D.")
    gp_weight: float = pg.param(0.0, min=0.0, max=1000.0, help="WGAN-GP's gradient-penalty weight λ; 0 = the "
                                "paper's 10.", label="gradient penalty weight", advanced=True)


@dataclass
class GenerateIn:
    n: int = pg.param(64, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")
    truncation: float = pg.param(0.0, min=0.0, max=4.0,
                                 help="Resample z components beyond ±this (the truncation trick); 0 = off.")


@dataclass
class InterpolateIn:
    seed_a: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the first z.")
    seed_b: int = pg.param(1, min=0, max=2**31 - 1, help="Seed of the second z.")
    frames: int = pg.param(10, min=2, max=64, help="Images along the path.")
    spherical: bool = pg.param(True, help="Spherical interpolation (stays on the Gaussian shell).")


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    cos = (a * b).sum() / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


class GAN(pg.ModelFamily):
    name = "gan"
    title = "GAN"
    description = ("A DCGAN-style generator and discriminator for 32×32 images, trained with the objective you "
                   "pick: original minimax, non-saturating, f-GAN (KL, reverse KL, Pearson χ², squared "
                   "Hellinger, JS), WGAN with weight clipping or gradient penalty, hinge or least squares; "
                   "spectral norm on D for any of them. Evaluate → Sample quality shows FID and the class "
                   "histogram, where mode collapse is visible at a glance.")
    config = GANConfig
    tasks = (
        pg.Task("generate", "Generate", GenerateIn, "A grid of samples from a seed."),
        pg.Task("interpolate", "Interpolate", InterpolateIn, "A walk through latent space between two seeds.",
                animation=True),
    )
    smoke_config = {"width": 8, "latent_dim": 16, "batch_size": 32, "objective": "nonsaturating", "lr": 1e-3}

    def build(self, cfg: GANConfig, info: pg.DataInfo) -> nn.ModuleDict:
        get_objective(cfg.objective)
        return nn.ModuleDict({"G": Generator(cfg.latent_dim, info.channels, cfg.width),
                              "D": Discriminator(info.channels, cfg.width, cfg.spectral_norm)})

    def configure_optimizers(self, cfg: GANConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return make_optimizers(cfg, modules)

    def streams(self, cfg: GANConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(per_step=d_steps_of(cfg)),)  # fresh real data for each critic step

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        return adversarial_step(run, batch.x)

    @torch.no_grad()
    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Pixel mean/std mismatch between samples and data: lower is better; an untrained G is far off."""
        fake = self.sample(state, min(len(images), 512), torch.Generator(state.device).manual_seed(0))
        real = images[:512]
        return float((fake.mean(0) - real.mean(0)).abs().mean() + (fake.std(0) - real.std(0)).abs().mean())

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        return self.sample(state, 64, generator)

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               truncation: float = 0.0) -> torch.Tensor:
        was_training = state.modules.training
        state.modules.eval()
        z = latent(state, n, generator, truncation)
        out = torch.cat([state.modules["G"](c).float() for c in z.split(1024)])
        state.modules.train(was_training)
        return out

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:
        from playground.images import make_grid

        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        imgs = self.sample(state, inp.n, gen, truncation=inp.truncation)
        return pg.TaskResult(images=[(f"{inp.n} samples, seed {inp.seed}", make_grid(imgs.cpu()))],
                             values={"n": inp.n, "seed": inp.seed, "truncation": inp.truncation})

    @torch.no_grad()
    def interpolate(self, state: pg.ModelState, inp: InterpolateIn) -> pg.TaskResult:
        from playground.images import make_grid

        za = latent(state, 1, torch.Generator(device=state.device).manual_seed(inp.seed_a))[0]
        zb = latent(state, 1, torch.Generator(device=state.device).manual_seed(inp.seed_b))[0]
        t = torch.linspace(0, 1, inp.frames, device=state.device)
        z = _slerp(za, zb, t) if inp.spherical else (1 - t)[:, None] * za + t[:, None] * zb
        state.modules.eval()
        imgs = state.modules["G"](z).float().cpu()
        return pg.TaskResult(images=[(f"seed {inp.seed_a} → seed {inp.seed_b}", make_grid(imgs, nrow=inp.frames))],
                             values={"frames": inp.frames, "spherical": inp.spherical}, animation=list(imgs))


@pg.hookimpl
def register_models(register):
    register(GAN())
    register(GAN2D())

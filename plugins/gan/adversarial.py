"""The adversarial updates both GAN families share: D (critic) updates, G updates, and the usual step of
``d_steps`` D updates followed by one G update, for any objective of ``objectives``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import playground as pg

from .objectives import OBJECTIVES, Objective, clip_weights, get_objective, gradient_penalty


@dataclass
class AdversarialConfig(pg.TrainConfig):
    """The settings of the game itself, shared by the image and the 2-D GAN."""

    steps: int = pg.param(3000, min=1, max=10_000_000, help="Generator updates in total.")
    lr: float = pg.param(0.0, min=0.0, max=1.0, help="Learning rate; 0 = the objective's recommended rate.",
                         label="learning rate")
    objective: str = pg.param("nonsaturating", choices=tuple(OBJECTIVES), help="The GAN objective.")
    d_steps: int = pg.param(0, min=0, max=20, help="D updates per G update; 0 = the objective's recommendation.")
    spectral_norm: bool = pg.param(False, help="Spectral normalisation on every D layer.")


def latent(state: pg.ModelState, n: int, generator: torch.Generator, truncation: float = 0.0) -> torch.Tensor:
    """z ~ N(0, I); with ``truncation`` > 0, components beyond ±truncation are resampled (the truncation trick)."""
    z = torch.randn(n, state.config.latent_dim, generator=generator, device=state.device)
    if truncation > 0:
        for _ in range(100):  # resample the out-of-range components (converges fast for t ≳ 0.5)
            bad = z.abs() > truncation
            if not bad.any():
                break
            z = torch.where(bad, torch.randn(z.shape, generator=generator, device=state.device), z)
        z = z.clamp(-truncation, truncation)
    return z


def objective_of(state: pg.ModelState) -> Objective:
    return get_objective(state.config.objective)


Augment = Callable[[torch.Tensor], torch.Tensor]  # applied to real and fake alike before D sees them


def conditioning_strength(cfg: pg.TrainConfig, step: int) -> float:
    """λ_t of transitional conditioning (Shahbazi et al. 2022): how much of the class enters G and D at ``step``:
    0 (an unconditional GAN) until ``condition_start``, then rising linearly to 1 over ``condition_ramp`` steps
    (1 throughout when both are 0)."""
    start, ramp = getattr(cfg, "condition_start", 0), getattr(cfg, "condition_ramp", 0)
    if step < start:
        return 0.0
    return 1.0 if ramp <= 0 else min(1.0, (step - start) / ramp)


def _call(net: torch.nn.Module, a: torch.Tensor, y: torch.Tensor | None, strength: float = 1.0) -> torch.Tensor:
    """G(z) or D(x), with the class y (at ``strength``) beside it for a conditional model."""
    return net(a) if y is None else net(a, y, strength)


def d_update(run: pg.Run, real: torch.Tensor, y: torch.Tensor | None = None,
             augment: Augment | None = None) -> dict[str, torch.Tensor]:
    """One D update on ``real`` against fresh fakes (of the same classes ``y``, when conditional); both go through
    ``augment`` first; weight clipping and the gradient penalty as the objective says."""
    state = run.state
    m, o = state.modules, objective_of(state)
    lam = conditioning_strength(state.config, state.step)
    with torch.no_grad():
        fake = _call(m["G"], latent(state, real.shape[0], run.generator), y, lam)
    if augment is not None:
        real, fake = augment(real), augment(fake)
    d_loss = o.d_loss(_call(m["D"], real, y, lam).float(), _call(m["D"], fake, y, lam).float())
    out = {}
    if o.gp_weight:
        gp = gradient_penalty(lambda x: _call(m["D"], x, y, lam), real, fake, run.generator)
        out["gp"] = gp.detach()
        d_loss = d_loss + (getattr(state.config, "gp_weight", 0.0) or o.gp_weight) * gp
    run.backward(d_loss, "D")
    if run.step("D") and o.clip:
        clip_weights(m["D"], o.clip)
    return {"d": d_loss.detach(), **out}


def g_update(run: pg.Run, n: int, y: torch.Tensor | None = None,
             augment: Augment | None = None) -> dict[str, torch.Tensor]:
    """One G update with ``n`` samples (of classes ``y`` when conditional; through ``augment``, which is
    differentiable, when given). Its gradients reach G only, never D."""
    m, o = run.modules, objective_of(run.state)
    seeking = getattr(run.config, "mode_seeking", 0.0)
    half = n // 2
    if seeking and y is not None and half:  # pairs share a class, so their difference is z's doing alone
        y = torch.cat([y[:half], y[:half], y[2 * half:]])
    lam = conditioning_strength(run.config, run.state.step)
    z = latent(run.state, n, run.generator)
    fake = _call(m["G"], z, y, lam)
    seen = augment(fake) if augment is not None else fake
    g_loss = o.g_loss(_call(m["D"], seen, y, lam).float())
    out = {}
    if seeking and half:
        ratio = mode_seeking_ratio(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
        out["ms"] = ratio.detach()
        g_loss = g_loss + seeking / (ratio + 1e-5)
    run.backward(g_loss, "G")
    run.step("G")
    return {"g": g_loss.detach(), **out}


def mode_seeking_ratio(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """MSGAN's (Mao et al. 2019) ratio mean|G(z₁) − G(z₂)| / mean|z₁ − z₂| over pairs: G is rewarded (its loss gets
    λ / ratio) for images that move when z moves, which keeps a conditional G from drawing one image per class."""
    return (a - b).abs().flatten(1).mean(1).mean() / (za - zb).abs().mean(1).mean()


def d_steps_of(cfg: pg.TrainConfig) -> int:
    return cfg.d_steps or get_objective(cfg.objective).d_steps


def adversarial_step(run: pg.Run, real: torch.Tensor, y: torch.Tensor | None = None,
                     augment: Augment | None = None) -> dict[str, torch.Tensor]:
    """``d_steps`` D updates, each on its own slice of ``real`` (fresh data per critic step, as in the WGAN
    papers), then one G update with as many samples as one slice (a conditional G draws the first slice's
    classes, so generated classes follow the data's)."""
    losses: dict[str, torch.Tensor] = {}
    k = d_steps_of(run.config)
    chunks = real.chunk(k)
    labels = y.chunk(k) if y is not None else (None,) * len(chunks)
    for chunk, lab in zip(chunks, labels, strict=True):
        losses.update(d_update(run, chunk, lab, augment))
    return {**losses, **g_update(run, chunks[0].shape[0], labels[0], augment)}


def make_optimizers(cfg: pg.TrainConfig, modules: torch.nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
    """The objective's recommended optimiser for G and D; ``cfg.lr`` > 0 overrides its learning rate."""
    o = get_objective(cfg.objective)
    lr = cfg.lr or o.lr

    def make(params):  # noqa: ANN001, ANN202
        if o.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=o.betas)

    return {"G": make(modules["G"].parameters()), "D": make(modules["D"].parameters())}

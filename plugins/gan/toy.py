"""GAN 2-D: MLP generator and discriminator on 2-D toy data (ring of 8, 5×5 grid, moons, spiral), with every
objective of the image GAN. Small enough to train in seconds on a CPU, so the lab can show the game live:
where D says "real", where G puts its points, and which modes it covers or drops."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from .adversarial import AdversarialConfig, adversarial_step, d_steps_of, d_update, g_update, latent, make_optimizers
from .nets import MLPDiscriminator, MLPGenerator
from .objectives import get_objective

REFERENCE_POINTS = 1000  # real points kept with the model: plots and metrics need no dataset at inference


@dataclass
class GAN2DConfig(AdversarialConfig):
    dataset: str = pg.param("ring8", help="2-D data: ring8, grid25, moons, spiral (or a plugin's point dataset).")
    batch_size: int = pg.param(256, min=2, max=65_536, help="Points per step.")
    # 1e-3 rather than the image GAN's recommended rates: toy MLPs learn in seconds at it (see the model cards).
    lr: float = pg.param(1e-3, min=0.0, max=1.0, help="Learning rate; 0 = the objective's recommended rate.",
                         label="learning rate")
    latent_dim: int = pg.param(2, min=1, max=256, help="Size of the noise vector z.")
    hidden: int = pg.param(64, min=4, max=1024, help="Units per hidden layer of G and D.")
    depth: int = pg.param(3, min=1, max=8, help="Hidden layers of G and D.")
    # The WGAN-GP authors' toy code uses λ = 0.1 ("smaller lambda seems to help for toy tasks"); at the image
    # setting 10 the critic stays too flat on the ring and the game oscillates (see the Lab's notes).
    gp_weight: float = pg.param(0.1, min=0.0, max=1000.0, help="WGAN-GP's gradient-penalty weight λ; 0 = the "
                                "image paper's 10.", label="gradient penalty weight")
    log_every: int = pg.param(50, min=1, max=1_000_000, help="Steps between logged losses.", advanced=True)
    sample_every: int = pg.param(500, min=1, max=1_000_000, help="Steps between preview plots.", advanced=True)
    checkpoint_every: int = pg.param(1000, min=1, max=10_000_000, help="Steps between checkpoints.",
                                     advanced=True)


@dataclass
class GenerateIn:
    n: int = pg.param(1000, min=10, max=20_000, help="Number of points.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")
    show_field: bool = pg.param(True, help="Draw the discriminator's output under the points.")


@dataclass
class EvaluateIn:
    n: int = pg.param(5000, min=100, max=100_000, help="Generated points to score.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")


# f'(1) of each f-divergence: the value of T(x) = g_f(v) where p = q, drawn white in the field.
_F_NEUTRAL = {"fgan_kl": 1.0, "fgan_reverse_kl": -1.0, "fgan_pearson": 0.0, "fgan_hellinger": 0.0, "fgan_js": 0.0}


def field_of(objective: str, v: torch.Tensor) -> pg.Field:
    """What D's raw output v means under ``objective``, ready to colour."""
    if objective in ("minimax", "nonsaturating"):
        return pg.Field(torch.sigmoid(v), "D(x) = P(real)", 0.0, 1.0)
    if objective in _F_NEUTRAL:
        from .objectives import F_DIVERGENCES

        t = F_DIVERGENCES[objective.removeprefix("fgan_")].activation(v)
        return pg.Field(t, "T(x) = g_f(v)", centre=_F_NEUTRAL[objective])
    if objective == "least_squares":
        return pg.Field(v, "D(x) (real → 1, fake → 0)", 0.0, 1.0)
    if objective == "hinge":
        return pg.Field(v, "D(x) (margin ±1)", centre=0.0)
    return pg.Field(v, "critic f(x)", centre=None)  # Wasserstein critics are defined up to a constant


_OBJECTIVE_NOTES = (  # (objective, what D estimates = the field, what we measured on the ring)
    ("minimax (JS)", "P(real)", "8/8 from step 750, 88 %"),
    ("non-saturating", "P(real); G maximises log D instead of minimising log(1 − D), so it still learns when D is "
     "sure", "8/8 from step 500, 89 %"),
    ("f-GAN JS", "log 2p/(p+q)", "the same run as minimax, step for step: the same game up to constants"),
    ("f-GAN KL", "1 + log p/q", "1–3 modes, oscillating: f*(t) = e^(t−1) gives exploding gradients on generated "
     "points"),
    ("f-GAN reverse KL", "−q/p", "8/8 from step 250, 90 %"),
    ("f-GAN Pearson χ²", "2(p/q − 1)", "2–3 modes until step 1000, then 8/8, 52 %"),
    ("f-GAN squared Hellinger", "1 − √(q/p)", "8/8 from step 250, 90 %"),
    ("WGAN (clipping)", "a 1-Lipschitz critic (up to a constant)", "8/8 \"covered\" but only 11–16 % high quality: "
     "the clipped critic is too smooth to carve the gaps between modes, so mass spreads along the ring"),
    ("WGAN-GP", "a critic with gradient norm ≈ 1", "with λ = 0.1 (this tab's default, as in the authors' toy "
     "code): 8/8 from step 250, 90 %; with the image setting λ = 10 (set 0): 2–4 modes, ≤ 12 %, oscillating — "
     "the penalty flattens the critic until its slope no longer tells G where the modes are"),
    ("hinge", "a margin classifier", "1–3 modes until step 1000, then 8/8, 45 %"),
    ("least squares", "a regression to 1 (real) / 0 (fake)", "8/8 from step 500, 76 %"),
)
LAB_NOTES = (
    "Every objective is a game between D, which estimates how P (data) and Q (generator) differ, and G, which "
    "moves its points along D's slope to shrink that estimate. What differs is the estimate and its gradients. "
    "Measured on `ring8` with these defaults (MLPs 3×64, z of 2, lr 1e-3, batch 256, seed 0): modes covered and "
    "% high quality after 1500 steps; other seeds differ in detail.\n\n"
    "| objective | D estimates (field) | on the ring |\n|---|---|---|\n"
    + "".join(f"| {o} | {f} | {r} |\n" for o, f, r in _OBJECTIVE_NOTES)
    + "\nTry: *Step D* a few times alone and watch the field sharpen around the modes; then *Step G* and watch the "
    "purple points slide uphill. Put KL against reverse KL, or WGAN against WGAN-GP, on `grid25` (25 modes) to "
    "see the difference grow."
)


class GAN2D(pg.ModelFamily):
    name = "gan2d"
    title = "GAN 2-D lab"
    description = ("GANs on 2-D toy data, small enough to watch learn. **Lab**: real (green) and generated "
                   "(purple) points over the discriminator's output, live; run, pause or step D and G on their "
                   "own; put two objectives side by side on the same data and seed and watch one drop modes "
                   "while the other covers them. Same objectives as the image GAN.")
    config = GAN2DConfig
    tasks = (pg.Task("generate", "Generate", GenerateIn,
                     "Points from a seed over D's output, and how many fall on each mode.", chart="bar"),)
    evaluate_inputs = EvaluateIn
    # GAN dynamics wander for the first few hundred steps; by 1000 (about 10 s on a CPU) G sits on the ring.
    lab = pg.Lab(parts=("D", "G"), compare=("objective", "fgan_kl"), notes=LAB_NOTES)
    checks = pg.Checks(smoke_config={"dataset": "ring8", "batch_size": 128, "steps": 1000})

    def build(self, cfg: GAN2DConfig, info: pg.DataInfo) -> nn.ModuleDict:
        get_objective(cfg.objective)
        return nn.ModuleDict({"G": MLPGenerator(cfg.latent_dim, cfg.hidden, cfg.depth, info.channels),
                              "D": MLPDiscriminator(cfg.hidden, cfg.depth, cfg.spectral_norm, info.channels)})

    def configure_optimizers(self, cfg: GAN2DConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return make_optimizers(cfg, modules)

    def streams(self, cfg: GAN2DConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(kind="points", per_step=d_steps_of(cfg)),)

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        return adversarial_step(run, batch.x)

    def train_part(self, run: pg.Run, batch: pg.Batch, part: str) -> dict[str, torch.Tensor]:
        if part == "D":
            return d_update(run, batch.x)
        if part == "G":
            return g_update(run, batch.x.shape[0])
        raise ValueError(f"Unknown part {part!r}; use one of {self.lab.parts}.")

    def updates_per_step(self, cfg: GAN2DConfig) -> dict[str, int]:
        return {"D": d_steps_of(cfg), "G": 1}

    def finalize(self, state: pg.ModelState, points: torch.Tensor, labels: torch.Tensor | None) -> None:
        pick = torch.randperm(len(points), generator=torch.Generator().manual_seed(0))[:REFERENCE_POINTS]
        state.stats["real"] = points[pick.to(points.device)].float().clone()

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        was_training = state.modules.training
        state.modules.eval()
        out = torch.cat([state.modules["G"](z).float() for z in latent(state, n, generator).split(8192)])
        state.modules.train(was_training)
        return out

    @torch.no_grad()
    def field(self, state: pg.ModelState, xy: torch.Tensor) -> pg.Field:
        v = state.modules["D"](xy.to(state.device)).float().squeeze(1)
        return field_of(state.config.objective, v)

    # -- pictures and metrics --------------------------------------------------------------------------
    @staticmethod
    def modes(state: pg.ModelState) -> tuple[torch.Tensor | None, float]:
        m = state.data.get("modes")
        return (torch.tensor(m, dtype=torch.float32) if m else None), float(state.data.get("sigma", 0.0))

    def plot(self, state: pg.ModelState, fake: torch.Tensor, real: torch.Tensor, show_field: bool = True,
             title: str = "") -> torch.Tensor:
        modes, sigma = self.modes(state)
        extent = pg.Extent.around(real, modes)
        fld = self.field(state, extent.grid(96)) if show_field else None
        img = pg.render_2d(extent, field=fld, real=real, fake=fake, modes=modes, hq_radius=3 * sigma, title=title)
        return pg.plot_to_tensor(img)

    def _reference(self, state: pg.ModelState) -> torch.Tensor:
        if "real" not in state.stats:  # a model not yet finalised (straight after build)
            raise pg.PluginError("This 2-D model has no reference points yet; save it once through training.")
        return state.stats["real"].cpu()

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        fake = self.sample(state, len(batch.x), generator).cpu()
        return self.plot(state, fake, batch.x.cpu(), title=f"step {state.step}")[None]

    @torch.no_grad()
    def learning_score(self, state: pg.ModelState, points: torch.Tensor) -> float:
        """Symmetric Chamfer distance to held-out points (mean distance to the nearest point of the other set,
        both ways): it falls steadily as G spreads onto the data, before modes are resolved."""
        real = points[:REFERENCE_POINTS].float().cpu()
        fake = self.sample(state, len(real), torch.Generator(state.device).manual_seed(0)).cpu()
        d = torch.cdist(fake, real)
        return float(d.min(1).values.mean() + d.min(0).values.mean())

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:
        real = self._reference(state)
        fake = self.sample(state, inp.n, torch.Generator(state.device).manual_seed(inp.seed)).cpu()
        modes, sigma = self.modes(state)
        values = _rounded(pg.point_metrics(fake, real, modes, sigma))
        chart = None
        if modes is not None:
            counts, _ = pg.mode_counts(fake[torch.isfinite(fake).all(1)], modes, sigma)
            rows = [{"mode": str(i), "fraction": float(c / inp.n)} for i, c in enumerate(counts)]
            chart = pg.Chart(rows, "mode", "fraction", title="High-quality samples per mode (uniform = "
                             f"{(values.get('high_quality_pct', 0) / 100 / len(modes)):.3f})")
        image = self.plot(state, fake, real, inp.show_field, title=f"{inp.n} samples, seed {inp.seed}")
        return pg.TaskResult(images=[(f"{state.config.objective}, step {state.step}", image)], values=values,
                             chart=chart)

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        data = load(pg.DataSpec(state.data["name"], split="test"))
        if not isinstance(data, pg.PointData):
            raise pg.DataError(f"{state.data['name']!r} is not a 2-D dataset.")
        fake = self.sample(state, inp.n, torch.Generator(state.device).manual_seed(inp.seed)).cpu()
        real = data.points[torch.randperm(len(data), generator=torch.Generator().manual_seed(inp.seed))[:inp.n]]
        values = _rounded(pg.point_metrics(fake, real, data.modes, data.sigma))
        values.update(n=inp.n, reference=f"{len(real)} held-out points of {state.data['name']}")
        return pg.TaskResult(values=values)


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v if isinstance(v, int) else str(v))
            for k, v in d.items()}

"""Example plugin: a 2-D family fitted without gradients — k-means (Lloyd's algorithm) with a Gaussian per cluster.

What it shows a plugin author (docs/plugins.md):
- a points family: ``pg.Stream(kind="points", full=True)`` gives every point of a 2-D dataset each step;
- no optimiser: the state lives in buffers, updated under ``torch.no_grad()``; ``configure_optimizers`` is not
  needed (no trainable parameters → no optimiser);
- training randomness from ``run.generator`` (the k-means++ seeding), so resume is exact;
- the Lab for free: ``lab = pg.Lab(parts=("assign", "update"))`` gives *Step assign* / *Step update* buttons,
  ``field`` draws the mixture's log-density under the points, ``overlays`` draws each cluster's ellipses;
- a sign-safe learning score (held-out negative log-likelihood, which goes below zero).

Run it:  python app.py --plugins-dir examples/plugins        (a "k-means 2-D" tab with a Lab)
Train:   playground --plugins-dir examples/plugins train kmeans2d --dataset grid25 --clusters 25 --steps 30
Check:   playground check-plugin examples/plugins --family kmeans2d
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg


@dataclass
class KMeansConfig(pg.TrainConfig):
    dataset: str = pg.param("ring8", help="Training points (a 2-D dataset).")
    steps: int = pg.param(20, min=1, max=10_000, help="Lloyd iterations (assign, then update).")
    clusters: int = pg.param(8, min=1, max=256, help="Number of clusters (K).")
    init: str = pg.param("kmeans++", choices=("kmeans++", "random"), help="How the centres are seeded.")
    min_variance: float = pg.param(1e-4, min=1e-8, max=1.0, help="Floor of each cluster's variance (keeps a cluster "
                                   "of one point from collapsing to a spike).", label="variance floor")


@dataclass
class GenerateIn:
    n: int = pg.param(1000, min=10, max=20_000, help="Points to sample.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


class Clusters(nn.Module):
    """K centres, per-cluster (diagonal) variances and weights, as buffers: saved and resumed, never optimised."""

    def __init__(self, k: int):
        super().__init__()
        self.register_buffer("centres", torch.zeros(k, 2))
        self.register_buffer("variances", torch.ones(k, 2))
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("seeded", torch.tensor(False))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # N×2 → N, the mixture's log-density
        z = (x[:, None, :] - self.centres) ** 2 / self.variances
        per = -0.5 * (z + self.variances.log()).sum(-1) - math.log(2 * math.pi) + self.weights.clamp_min(1e-12).log()
        return torch.logsumexp(per, 1)


class KMeans2D(pg.ModelFamily):
    name = "kmeans2d"
    title = "k-means 2-D"
    description = ("k-means by Lloyd's algorithm on 2-D points, with a Gaussian fitted to each cluster so it can "
                   "sample. No gradients: each step assigns every point to its nearest centre, then moves each centre "
                   "to the mean of its points.")
    config = KMeansConfig
    tasks = (pg.Task("generate", "Generate", GenerateIn, "Sample the fitted mixture; clusters drawn as ellipses.",
                     data=True),)
    lab = pg.Lab(
        parts=("assign", "update"),
        compare=("init", "random"),
        notes=("Step *assign* and *update* by hand: each update moves every centre to the mean of its points, and "
               "the inertia never rises. Compare k-means++ with random seeding on `grid25` with 25 clusters: random "
               "seeding often leaves two centres in one cell and one cell empty (a local optimum)."),
    )
    checks = pg.Checks(smoke_config={"dataset": "ring8", "steps": 20})

    def streams(self, cfg):
        return (pg.Stream(kind="points", full=True),)

    def build(self, cfg, info):
        return nn.ModuleDict({"clusters": Clusters(cfg.clusters)})

    # -- training: buffers updated under no_grad, randomness from run.generator -----------------------------
    @staticmethod
    def _seed(c: Clusters, x: torch.Tensor, how: str, g: torch.Generator) -> None:
        k = len(c.centres)
        if how == "random":
            c.centres.copy_(x[torch.randperm(len(x), generator=g, device=x.device)[:k]])
        else:  # k-means++: each next centre drawn with probability ∝ squared distance to the nearest chosen one
            chosen = [x[torch.randint(len(x), (1,), generator=g, device=x.device)]]
            for _ in range(k - 1):
                d2 = torch.cdist(x, torch.cat(chosen)).min(1).values ** 2
                chosen.append(x[torch.multinomial(d2 + 1e-12, 1, generator=g)])
            c.centres.copy_(torch.cat(chosen))
        c.variances.fill_(float(x.var(0).mean()))
        c.seeded.fill_(True)

    @torch.no_grad()
    def _assign(self, run, x):
        c = run.modules["clusters"]
        if not bool(c.seeded):
            self._seed(c, x, run.config.init, run.generator)
        d2 = torch.cdist(x, c.centres) ** 2
        inertia, nearest = d2.min(1)
        run.stash["assignment"] = nearest  # kept for the "update" part (and checkpointed with the run)
        return {"inertia": inertia.mean()}

    @torch.no_grad()
    def _update(self, run, x):
        c = run.modules["clusters"]
        if "assignment" not in run.stash or len(run.stash["assignment"]) != len(x):
            self._assign(run, x)
        onehot = nn.functional.one_hot(run.stash["assignment"], len(c.centres)).float()  # N×K
        count = onehot.sum(0)
        live = count > 0  # an empty cluster keeps its centre
        mean = (onehot.T @ x) / count.clamp_min(1)[:, None]
        var = (onehot.T @ x ** 2) / count.clamp_min(1)[:, None] - mean ** 2
        c.centres[live] = mean[live]
        c.variances[live] = var[live].clamp_min(run.config.min_variance)
        c.weights.copy_(count / count.sum())
        return {"log-likelihood": c.log_prob(x).mean()}

    def train_step(self, run, batch):
        return {**self._assign(run, batch.x), **self._update(run, batch.x)}

    def train_part(self, run, batch, part):
        return self._assign(run, batch.x) if part == "assign" else self._update(run, batch.x)

    @torch.no_grad()
    def learning_score(self, state, points):
        """Held-out negative log-likelihood per point (lower is better; it goes below zero as the fit tightens)."""
        return float(-state.modules["clusters"].log_prob(points.to(state.device)).mean())

    # -- generating and drawing ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, state, n, generator, labels=None):
        c = state.modules["clusters"]
        k = torch.multinomial(c.weights, n, replacement=True, generator=generator)
        return c.centres[k] + torch.randn(n, 2, generator=generator, device=state.device) * c.variances[k].sqrt()

    @torch.no_grad()
    def field(self, state, xy):
        lp = state.modules["clusters"].log_prob(xy.to(state.device))
        return pg.Field(lp.clamp_min(-20), "log density", centre=None)

    def overlays(self, state):
        c = state.modules["clusters"]
        return [pg.Ellipse(c.centres[i], torch.diag(c.variances[i]), label=f"{float(c.weights[i]):.2f}")
                for i in range(len(c.centres)) if float(c.weights[i]) > 0]

    @torch.no_grad()
    def preview(self, state, batch, generator):
        return pg.plot(real=batch.x[:1000], overlays=self.overlays(state), title=f"step {state.step}")[None]

    @torch.no_grad()
    def generate(self, state, inp, load):
        test = load(pg.DataSpec(state.data["name"], split="test"))
        fake = self.sample(state, inp.n, torch.Generator(device=state.device).manual_seed(inp.seed)).cpu()
        scores = pg.point_metrics(fake, test.points, test.modes, test.sigma)
        values = {"held-out nll": round(self.learning_score(state, test.points), 4),
                  **{k: round(float(v), 4) if math.isfinite(v) else str(v) for k, v in scores.items()}}
        picture = pg.plot(real=test.points, fake=fake, overlays=self.overlays(state),
                          field=lambda xy: self.field(state, xy), title=f"{inp.n} samples, {len(self.overlays(state))} "
                          "clusters")
        return pg.TaskResult(images=[("samples over the fitted density", picture)], values=values)


@pg.hookimpl
def register_models(register):
    register(KMeans2D())

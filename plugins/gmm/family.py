"""Gaussian mixtures fitted by EM on 2-D points: the family (configuration, the E and M steps as training, the
Lab's pictures) and its tasks (Generate, Choose K) and evaluation. The maths is in ``mixture.py``."""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from .mixture import (
    COVARIANCE_TYPES,
    Mixture,
    e_step,
    information_criteria,
    initialise,
    m_step,
)

DROP = "LL drop (stays 0)"  # the logged check that EM never lowers the log-likelihood
LL = "log-likelihood"
SHOWN_POINTS = 1500  # points the Lab colours by responsibility (and the stash keeps for it)


@dataclass
class GMMConfig(pg.TrainConfig):
    dataset: str = pg.param("ring8", help="Training points (a 2-D dataset); EM sees all of them every step.")
    steps: int = pg.param(60, min=1, max=100_000, help="EM iterations (one E-step and one M-step each).",
                          label="EM iterations")
    components: int = pg.param(8, min=1, max=64, help="Number of Gaussian components (K).", label="components (K)")
    covariance: str = pg.param("full", choices=COVARIANCE_TYPES, help="full: any ellipse; diag: axis-aligned "
                               "ellipses; spherical: circles.", label="covariance type")
    init: str = pg.param("kmeans++", choices=("kmeans++", "random"), help="How the means are seeded (then one "
                         "M-step on each point's nearest mean).", label="initialisation")
    unused = pg.NO_OPTIMISER  # EM: no learning rate, no schedule; every point every step

    reg_covar: float = pg.param(1e-6, min=0.0, max=10.0, help="ε added to every covariance's diagonal. 0 lets a "
                                "component collapse onto a single point (its likelihood unbounded).",
                                label="covariance regularisation")


@dataclass
class GenerateIn:
    n: int = pg.param(2000, min=10, max=50_000, help="Points to sample from the fitted mixture.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


@dataclass
class ChooseKIn:
    max_components: int = pg.param(12, min=1, max=32, help="Fit K = 1 … this many, same covariance type and "
                                   "initialisation.", label="largest K")
    iterations: int = pg.param(60, min=1, max=1000, help="EM iterations per fit.")


@dataclass
class EvaluateIn:
    n: int = pg.param(5000, min=100, max=50_000, help="Points sampled for the sample-quality scores.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


def palette(k: int) -> torch.Tensor:
    """K distinct colours (K×3, 0–255): one per component."""
    return torch.tensor([colorsys.hsv_to_rgb(i / max(k, 1), 0.85, 0.8) for i in range(k)]) * 255


def _colour(c: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int(v) for v in c.round())


class GMM(pg.ModelFamily):
    name = "gmm"
    title = "GMM (EM)"
    logged_kind = ""  # statistics of the EM steps (log-likelihood, drops), not losses
    description = ("A mixture of Gaussians on 2-D points, fitted by expectation–maximisation: the E-step gives each "
                   "point its responsibilities (how much each component explains it), the M-step refits every "
                   "component to the points it is responsible for in closed form, and the log-likelihood never "
                   "decreases. No gradients, no optimiser.")
    config = GMMConfig
    evaluate_inputs = EvaluateIn
    lab = pg.Lab(
        parts=("E", "M"),
        compare=("init", "random"),
        steps_per_frame=1,  # one EM iteration per frame: each moves the components visibly
        notes=("Step **E** (responsibilities: each point takes the colours of the components that explain it) and "
               "**M** (each component refits to its points) by hand. The log-likelihood climbs and never falls "
               "(`LL drop` stays 0). Compare k-means++ seeding with random seeding on `grid25` with 25 components: "
               "random seeding can leave two components sharing one cluster and another cluster covered by none "
               "(a local optimum EM does not leave). Set the covariance regularisation to 0 and use many "
               "components: one can collapse onto a single point."),
    )
    scores = pg.Scores(headline=("held-out log-likelihood (per point)",))
    checks = pg.Checks(smoke_config={"dataset": "ring8", "steps": 15})
    tasks = (
        pg.Task("generate", "Generate", GenerateIn, "Samples from the fitted mixture over the held-out points, each "
                "component drawn at 1σ and 2σ with its weight.", data=True),
        pg.Task("choose_k", "Choose K", ChooseKIn, "Fit K = 1 … K_max on the training points and compare BIC, AIC and "
                "the held-out log-likelihood: the criteria trade fit against parameters.", chart="line", data=True),
    )

    def streams(self, cfg: GMMConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(kind="points", full=True),)

    def build(self, cfg: GMMConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        return nn.ModuleDict({"mixture": Mixture(cfg.components)})

    @torch.no_grad()
    def prepare(self, state: pg.ModelState, data: pg.Batch, generator: torch.Generator) -> None:
        cfg = state.config
        initialise(state.modules["mixture"], data.x, cfg.init, cfg.covariance, cfg.reg_covar, generator)

    # -- training: E and M ------------------------------------------------------------------------------------------
    @staticmethod
    def _track(run: pg.Run, ll: float) -> dict[str, torch.Tensor]:
        """Keep the latest log-likelihood and the largest fall of it seen so far (EM says it stays 0)."""
        prev = run.stash.get("log_likelihood")
        worst = run.stash.get("worst_drop", torch.zeros((), dtype=torch.float64, device=run.device))
        if prev is not None:
            worst = torch.maximum(worst, prev - ll)
        run.stash.update(log_likelihood=torch.tensor(ll, dtype=torch.float64, device=run.device), worst_drop=worst)
        return {LL: torch.tensor(ll), DROP: worst.float()}

    @torch.no_grad()
    def _e(self, run: pg.Run, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Responsibilities under the current parameters, stashed for the M-step and the picture's colours."""
        e = e_step(run.modules["mixture"], x)
        run.stash.update(responsibilities=e.responsibilities.float(), points=x[:SHOWN_POINTS].float(),
                         fresh=torch.tensor(True))
        return self._track(run, e.log_likelihood)

    @torch.no_grad()
    def _m(self, run: pg.Run, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Refit every component to the stashed responsibilities (the picture keeps their colours until the next
        E-step; a second M without an E changes nothing), then the new parameters' log-likelihood."""
        cfg, mix = run.config, run.modules["mixture"]
        if "responsibilities" not in run.stash or len(run.stash["responsibilities"]) != len(x):
            self._e(run, x)
        m_step(mix, x, run.stash["responsibilities"].double(), cfg.covariance, cfg.reg_covar)
        run.stash["fresh"] = torch.tensor(False)
        return self._track(run, float(mix.log_prob(x).mean()))

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        """E then M; logs the log-likelihood the iteration starts from (as gradient training logs the loss before
        its update)."""
        fresh = bool(run.stash.get("fresh", False)) and len(run.stash["responsibilities"]) == len(batch.x)
        start = self._e(run, batch.x) if not fresh else {LL: run.stash["log_likelihood"].float(),
                                                         DROP: run.stash["worst_drop"].float()}
        end = self._m(run, batch.x)
        return {LL: start[LL], DROP: end[DROP]}

    def train_part(self, run: pg.Run, batch: pg.Batch, part: str) -> dict[str, torch.Tensor]:
        return self._e(run, batch.x) if part == "E" else self._m(run, batch.x)

    @torch.no_grad()
    def learning_score(self, state: pg.ModelState, points: torch.Tensor) -> float:
        """Negative log-likelihood per held-out point (lower is better; below zero once the fit is tight)."""
        return -float(state.modules["mixture"].log_prob(points.to(state.device)).mean())

    # -- generating and drawing ------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        return state.modules["mixture"].sample(n, generator)

    @torch.no_grad()
    def field(self, state: pg.ModelState, xy: torch.Tensor) -> pg.Field:
        return _log_density(state.modules["mixture"], xy)

    def ellipses(self, state: pg.ModelState) -> list[pg.Ellipse]:
        return _ellipses(state.modules["mixture"])

    def overlays(self, state: pg.ModelState) -> list:
        """The points coloured by their responsibilities (a blend of the components' colours), then each
        component's 1σ and 2σ ellipse with its weight."""
        shapes: list = []
        resp, pts = state.stash.get("responsibilities"), state.stash.get("points")
        if resp is not None and pts is not None:
            shown = resp[:len(pts)].cpu()
            shapes.append(pg.Points(pts, shown @ palette(shown.shape[1])))
        return shapes + self.ellipses(state)

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        return pg.plot(real=batch.x[:1000], overlays=self.ellipses(state),
                       field=lambda xy: self.field(state, xy), title=f"EM iteration {state.step}")[None]

    # -- tasks -----------------------------------------------------------------------------------------------------
    @staticmethod
    def _test(state: pg.ModelState, load) -> pg.PointData:  # noqa: ANN001
        return load(pg.DataSpec(state.data["name"], split="test"))

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn, load) -> pg.TaskResult:  # noqa: ANN001
        test = self._test(state, load)
        fake = self.sample(state, inp.n, torch.Generator(device=state.device).manual_seed(inp.seed)).cpu()
        values = {"held-out log-likelihood (per point)": round(-self.learning_score(state, test.points), 4),
                  **_point_scores(fake, test)}
        picture = pg.plot(real=test.points, fake=fake, overlays=self.ellipses(state),
                          field=lambda xy: self.field(state, xy),
                          title=f"{inp.n} samples · {state.config.components} components")
        return pg.TaskResult(images=[("samples (purple) over held-out points (green) and the fitted density",
                                      picture)], values=values)

    @torch.no_grad()
    def choose_k(self, state: pg.ModelState, inp: ChooseKIn, load) -> pg.TaskResult:  # noqa: ANN001
        cfg = state.config
        train = load(pg.DataSpec(state.data["name"])).points.to(state.device)
        test = self._test(state, load).points.to(state.device)
        rows, table, fits = [], [], {}
        for k in range(1, inp.max_components + 1):
            mix = Mixture(k).to(state.device)
            try:
                initialise(mix, train, cfg.init, cfg.covariance, cfg.reg_covar,
                           torch.Generator(device=state.device).manual_seed(cfg.seed))
                for _ in range(inp.iterations):
                    m_step(mix, train, e_step(mix, train).responsibilities, cfg.covariance, cfg.reg_covar)
                ll = e_step(mix, train).log_likelihood
            except pg.TrainingError as exc:
                table.append({"K": k, "note": str(exc)})
                continue
            crit = information_criteria(ll, len(train), k, cfg.covariance)
            held = float(mix.log_prob(test).mean())
            fits[k] = mix
            table.append({"K": k, "train log-likelihood": round(ll, 4), "held-out log-likelihood": round(held, 4),
                          "BIC": round(crit["BIC"], 1), "AIC": round(crit["AIC"], 1), "parameters": crit["parameters"]})
            rows += [{"K": k, "criterion": name, "value per point": crit[name] / len(train)} for name in ("BIC", "AIC")]
        fitted = [r for r in table if "BIC" in r]
        values: dict = {"fits": table}
        images = []
        if fitted:
            values["best K by BIC"] = min(fitted, key=lambda r: r["BIC"])["K"]
            values["best K by AIC"] = min(fitted, key=lambda r: r["AIC"])["K"]
            values["best K by held-out log-likelihood"] = max(fitted, key=lambda r: r["held-out log-likelihood"])["K"]
            # the chosen fit beside the largest one: what the criteria's penalty saved the user from
            for k in dict.fromkeys((values["best K by BIC"], max(fits))):
                mix = fits[k]
                images.append((f"K = {k}" + (" (best by BIC)" if k == values["best K by BIC"] else ""),
                               pg.plot(real=test.cpu(), overlays=_ellipses(mix),
                                       field=lambda xy, mix=mix: _log_density(mix, xy), title=f"K = {k}")))
        chart = pg.Chart(rows, x="K", y="value per point", color="criterion", title="BIC and AIC per point (lower "
                         "is better)") if rows else None
        return pg.TaskResult(images=images, values=values, chart=chart)

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        cfg = state.config
        train = load(pg.DataSpec(state.data["name"])).points.to(state.device)
        test = self._test(state, load)
        ll_train = float(state.modules["mixture"].log_prob(train).mean())
        fake = self.sample(state, inp.n, torch.Generator(device=state.device).manual_seed(inp.seed)).cpu()
        values = {"train log-likelihood (per point)": round(ll_train, 4),
                  "held-out log-likelihood (per point)": round(-self.learning_score(state, test.points), 4),
                  **{k: round(v, 1) if isinstance(v, float) else v
                     for k, v in information_criteria(ll_train, len(train), cfg.components, cfg.covariance).items()},
                  **_point_scores(fake, test)}
        picture = pg.plot(real=test.points, fake=fake, overlays=self.ellipses(state),
                          field=lambda xy: self.field(state, xy), title=f"{inp.n} samples")
        return pg.TaskResult(images=[("samples over held-out points", picture)], values=values)


@torch.no_grad()
def _log_density(mix: Mixture, xy: torch.Tensor) -> pg.Field:
    return pg.Field(mix.log_prob(xy.to(mix.means.device)).float().cpu().clamp_min(-20), "log density", centre=None)


def _ellipses(mix: Mixture) -> list[pg.Ellipse]:
    """Each component's 1σ and 2σ ellipse in its own colour, labelled with its weight (empty components left out)."""
    colours = palette(mix.k)
    return [pg.Ellipse(mix.means[i].float().cpu(), mix.covariances[i].float().cpu(), colour=_colour(colours[i]),
                       label=f"{float(mix.weights[i]):.2f}") for i in range(mix.k) if float(mix.weights[i]) > 1e-4]


def _point_scores(fake: torch.Tensor, test: pg.PointData) -> dict:
    scores = pg.point_metrics(fake, test.points, test.modes, test.sigma)
    return {k: v if isinstance(v, int) else round(float(v), 4) if math.isfinite(v) else str(v)
            for k, v in scores.items()}

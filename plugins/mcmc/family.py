"""MCMC samplers as a family: the "model" is a population of Markov chains on a 2-D target density, a training step
is one transition of every chain, and the Lab shows them move. No parameters are learned and there is no
optimiser; what the checkpoint holds is the chains' positions (and, for a kernel density target, its points).

The maths is in ``samplers.py`` (transitions), ``diagnostics.py`` (ESS, KL on a grid) and ``targets.py``."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from .diagnostics import effective_sample_size, grid_kl, grid_probabilities
from .samplers import SAMPLERS, Sampler, Settings, Transition
from .targets import ENERGY_EXAMPLE, Target, target_for

HISTORY = 400  # transitions of every chain kept (training-only state) for the diagnostics and the picture
KDE_POINTS = 1000  # points of a dataset without an energy of its own kept for its kernel density estimate
TRAJECTORIES = 4  # chains whose latest HMC trajectory is drawn
MAX_DELTA_H = 1000.0  # |ΔH| logged for a diverged HMC trajectory
STARTS = ("corner", "centre", "spread")
ACCEPTANCE, KL, ESS, DELTA_H = "acceptance", "KL to target (grid)", "ESS (all chains)", "|ΔH| (HMC energy error)"


@dataclass
class MCMCConfig(pg.TrainConfig):
    dataset: str = pg.param("banana", help="The target density: banana, donut, mixture, energy:E(x, y) typed as "
                            "a formula, a fitted Gaussian mixture (gmm:ring8, gmm:moons, gmm:run/NAME), or any 2-D "
                            "dataset (sampled through a kernel density estimate of its points).", label="target")
    steps: int = pg.param(500, min=1, max=1_000_000, help="Transitions of every chain.", label="transitions")
    sampler: str = pg.param("metropolis", choices=tuple(SAMPLERS), help="metropolis: random walk; mala: Langevin "
                            "steps with a Metropolis correction; hmc: Hamiltonian Monte Carlo (leapfrog "
                            "trajectories).")
    step_size: float = pg.param(0.2, min=1e-4, max=10.0, help="Random-walk and Langevin proposal scale; HMC's "
                                "leapfrog step. Too large: acceptance collapses.", label="step size")
    leapfrog_steps: int = pg.param(10, min=1, max=200, help="HMC: leapfrog steps per proposal (trajectory length "
                                   "= steps × step size).", label="leapfrog steps")
    mass: float = pg.param(1.0, min=0.01, max=100.0, help="HMC: the momentum's mass (variance of ρ); heavier "
                           "= slower moves.", label="mass")
    chains: int = pg.param(32, min=1, max=1024, help="Independent chains run side by side.")
    start: str = pg.param("corner", choices=STARTS, help="Where the chains start: all near the view's lower-left "
                          "corner (watch them find the mass), at the data's mean, or spread uniformly.")
    unused = pg.NO_OPTIMISER  # transitions, not optimisation; the stream is the target's samples, all at once

    bandwidth: float = pg.param(0.1, min=0.005, max=5.0, help="Kernel width for datasets without an energy of "
                                "their own (ring8, moons …): their density is a Gaussian KDE of their points.",
                                label="KDE bandwidth")


@dataclass
class SampleIn:
    n: int = pg.param(2000, min=10, max=50_000, help="Points to return (the chains continue from where they are).")
    burn_in: int = pg.param(0, min=0, max=10_000, help="Transitions run and discarded first.", label="burn-in")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


@dataclass
class CompareIn:
    transitions: int = pg.param(300, min=10, max=5000, help="Transitions each sampler runs from the same start.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


@dataclass
class EvaluateIn:
    n: int = pg.param(4000, min=100, max=50_000, help="Samples drawn (continuing the chains) and scored.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


class Chains(nn.Module):
    """The chains' positions, the view's box (where they start and the grid KL is measured) and, for a target
    given by points, the points of its kernel density estimate. Buffers only: nothing here is optimised."""

    def __init__(self, chains: int) -> None:
        super().__init__()
        self.register_buffer("positions", torch.zeros(chains, 2, dtype=torch.float64))
        self.register_buffer("lo", torch.full((2,), -1.0, dtype=torch.float64))
        self.register_buffer("hi", torch.ones(2, dtype=torch.float64))
        self.register_buffer("kde", torch.zeros(KDE_POINTS, 2, dtype=torch.float64))


def _settings(cfg: MCMCConfig) -> Settings:
    return Settings(cfg.step_size, cfg.leapfrog_steps, cfg.mass)


def _colours(n: int) -> torch.Tensor:
    hues = torch.arange(n) / max(n, 1)
    return torch.stack([(hues * 6.28).sin() * 60 + 180, (hues * 6.28).cos() * 60 + 100, torch.full((n,), 40.0)], 1)


class MCMC(pg.ModelFamily):
    name = "mcmc"
    title = "MCMC"
    logged_kind = ""  # statistics of the chains (acceptance, ESS, KL), not losses
    description = ("Markov chains that sample a 2-D density known only up to a constant, p(x) ∝ exp(−E(x)): "
                   "random-walk Metropolis, Langevin (MALA) and Hamiltonian Monte Carlo, each with a Metropolis "
                   "correction that makes the target the chain's stationary distribution. A step moves every chain "
                   "once; watch them diffuse, drift or glide along leapfrog trajectories.")
    config = MCMCConfig
    evaluate_inputs = EvaluateIn
    lab = pg.Lab(
        compare=("sampler", "hmc"),
        notes=("Run A is random-walk Metropolis, run B Hamiltonian Monte Carlo, from the same corner. The dots "
               "are the chains now, the purple points their recent history, green the target's exact samples; "
               "HMC's latest leapfrog paths are drawn as lines. On **banana** the random walk creeps along the "
               "ridge while HMC sweeps it (compare *ESS* at equal transitions). On **mixture** the random walk "
               "stays in the mode it found. Raise the step size to 1.5: acceptance collapses for the random "
               "walk, and HMC's energy error |ΔH| grows (it is O(s²)). Type a target of your own as "
               f"`{ENERGY_EXAMPLE}`, or sample the Gaussian mixture EM fitted (GMM tab) with **gmm:ring8**: its "
               "components are narrow (σ ≈ 0.05), so try step size 0.05."),
    )
    scores = pg.Scores(headline=("acceptance", "ESS per second", "KL to target (grid)"))
    checks = pg.Checks(smoke_config={"dataset": "banana", "steps": 150, "sampler": "mala", "chains": 16})
    tasks = (
        pg.Task("generate", "Sample", SampleIn, "Continue the chains and collect points, over the target's density "
                "and its exact samples, with acceptance, effective sample size (per second) and the KL on a grid.",
                data=True),
        pg.Task("compare", "Compare samplers", CompareIn, "Every sampler from the same start for the same number "
                "of transitions: acceptance, ESS, ESS per second and KL to the target, side by side.", chart="line",
                data=True),
    )

    def streams(self, cfg: MCMCConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(kind="points", full=True),)

    def build(self, cfg: MCMCConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        return nn.ModuleDict({"chains": Chains(cfg.chains)})

    def configure_optimizers(self, cfg: MCMCConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return {}

    @torch.no_grad()
    def prepare(self, state: pg.ModelState, data: pg.Batch, generator: torch.Generator) -> None:
        """The view's box around the target's samples, the KDE's points and the chains' starting positions."""
        cfg, ch = state.config, state.modules["chains"]
        pts = data.x.double()
        box = pg.Extent.around(pts.cpu(), margin=0.15)
        ch.lo.copy_(torch.tensor([box.x0, box.y0]))
        ch.hi.copy_(torch.tensor([box.x1, box.y1]))
        pick = torch.randint(len(pts), (KDE_POINTS,), generator=generator, device=generator.device)
        ch.kde.copy_(pts[pick.to(pts.device)])
        width = ch.hi - ch.lo
        noise = torch.randn(cfg.chains, 2, generator=generator, dtype=torch.float64, device=generator.device)
        noise = noise.to(ch.positions.device)
        if cfg.start == "spread":
            u = torch.rand(cfg.chains, 2, generator=generator, dtype=torch.float64, device=generator.device)
            ch.positions.copy_(ch.lo + u.to(ch.lo.device) * width)
        else:
            anchor = ch.lo + 0.3 * width if cfg.start == "corner" else pts.mean(0)
            ch.positions.copy_(anchor + 0.02 * width * noise)

    def target(self, state: pg.ModelState) -> Target:
        return target_for(state.data["name"], state.modules["chains"].kde, state.config.bandwidth,
                          state.data.get("density"))

    def sampler(self, state: pg.ModelState) -> Sampler:
        return SAMPLERS[state.config.sampler]

    # -- a transition as a training step ------------------------------------------------------------------------
    @torch.no_grad()
    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        with torch.autocast(run.device.type, enabled=False):  # float64 maths; bf16 would break the acceptance test
            ch = run.modules["chains"]
            move = self.sampler(run.state).step(self.target(run.state), ch.positions, _settings(run.config),
                                                run.generator)
            ch.positions.copy_(move.positions)
            return self._record(run, move)

    def _record(self, run: pg.Run, move: Transition) -> dict[str, torch.Tensor]:
        """Append the transition to the stashed history and log the diagnostics over that window."""
        s = run.stash
        s["history"] = torch.cat([s.get("history", move.positions.new_zeros(0, *move.positions.shape)),
                                  move.positions[None]])[-HISTORY:]
        s["accepted"] = torch.cat([s.get("accepted", move.accepted.new_zeros(0, len(move.accepted))),
                                   move.accepted[None]])[-HISTORY:]
        logs = {ACCEPTANCE: s["accepted"].double().mean(), ESS: torch.tensor(effective_sample_size(s["history"]))}
        ch = run.modules["chains"]
        if "grid_p" not in s:  # the target's cell probabilities: fixed for the run, computed once
            s["grid_p"] = grid_probabilities(self.target(run.state), ch.lo, ch.hi)
        p = s["grid_p"]
        logs[KL] = torch.tensor(grid_kl(p, s["history"], ch.lo, ch.hi))
        if move.path is not None:
            s["path"] = move.path[:, :TRAJECTORIES]
            # a diverging trajectory has ΔH = inf or NaN (it is rejected); counted at the cap so the curve shows it
            logs[DELTA_H] = torch.nan_to_num(move.energy_error.abs(), nan=MAX_DELTA_H).clamp(max=MAX_DELTA_H).mean()
        return {k: v.float() for k, v in logs.items()}

    @torch.no_grad()
    def learning_score(self, state: pg.ModelState, points: torch.Tensor) -> float:
        """KL on a grid (around the held-out exact samples) between the target and where the chains have been:
        large while they sit where they started, small once they spread like the target."""
        box = pg.Extent.around(points.cpu(), margin=0.15)
        lo, hi = torch.tensor([box.x0, box.y0], dtype=torch.float64), torch.tensor([box.x1, box.y1],
                                                                                  dtype=torch.float64)
        visited = state.stash.get("history", state.modules["chains"].positions[None]).cpu()
        p = grid_probabilities(self.target(state), lo, hi)
        return grid_kl(p, visited, lo, hi)

    # -- sampling and drawing ----------------------------------------------------------------------------------
    def _continue(self, state: pg.ModelState, transitions: int, generator: torch.Generator,
                  start: torch.Tensor | None = None,
                  sampler: Sampler | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run copies of the chains ``transitions`` times (the state is untouched): positions T×C×2, accepts T×C."""
        x = (state.modules["chains"].positions if start is None else start).clone()
        target, settings, sampler = self.target(state), _settings(state.config), sampler or self.sampler(state)
        kept, acc = [], []
        for _ in range(transitions):
            move = sampler.step(target, x, settings, generator)
            x = move.positions
            kept.append(x)
            acc.append(move.accepted)
        if not kept:
            return x.new_zeros(0, *x.shape), torch.zeros(0, len(x), dtype=torch.bool)
        return torch.stack(kept), torch.stack(acc)

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """The latest ``n`` states the chains visited; when the run kept fewer, copies of the chains continue."""
        history = state.stash.get("history")
        have = history.reshape(-1, 2) if history is not None else torch.zeros(0, 2, dtype=torch.float64)
        if len(have) < n:
            chains = state.modules["chains"].positions.shape[0]
            more, _ = self._continue(state, math.ceil((n - len(have)) / chains),
                                     pg.generator_on(generator, state.device))
            have = torch.cat([have.to(more), more.reshape(-1, 2)])
        return have[-n:].float()

    @torch.no_grad()
    def field(self, state: pg.ModelState, xy: torch.Tensor) -> pg.Field:
        log_p = self.target(state).log_prob(xy.double().to(state.device)).float().cpu()
        top = float(log_p[torch.isfinite(log_p)].max()) if torch.isfinite(log_p).any() else 0.0
        return pg.Field(torch.nan_to_num(log_p, nan=top - 12).clamp(top - 12, top), "log p (target)", centre=None)

    def overlays(self, state: pg.ModelState) -> list:
        """The chains' current positions, and HMC's latest leapfrog trajectories."""
        shapes: list = []
        path = state.stash.get("path")
        if path is not None:
            shapes += [pg.Polyline(path[:, i].float().cpu(), colour=(200, 90, 20), width=2, dots=True)
                       for i in range(path.shape[1])]
        pos = state.modules["chains"].positions.float().cpu()
        return shapes + [pg.Points(pos, _colours(len(pos)), radius=3.5)]

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        visited = state.stash.get("history")
        return pg.plot(real=batch.x[:1000], fake=None if visited is None else visited.reshape(-1, 2)[-2000:],
                       overlays=self.overlays(state), field=lambda xy: self.field(state, xy),
                       extent=self._view(state),
                       title=f"{state.config.sampler} · transition {state.step}")[None]

    # -- tasks ---------------------------------------------------------------------------------------------------
    def _scores(self, state: pg.ModelState, points: torch.Tensor, accepted: torch.Tensor, seconds: float,
                reference: pg.PointData) -> dict:
        ch = state.modules["chains"]
        flat = points.reshape(-1, 2)
        ess = effective_sample_size(points)
        ref = reference.points.double()
        p = grid_probabilities(self.target(state), ch.lo, ch.hi)
        lo, hi = ch.lo.cpu(), ch.hi.cpu()
        scores = {"acceptance": round(float(accepted.double().mean()), 3) if accepted.numel() else None,
                  "ESS (all chains)": round(ess, 1), "ESS per second": round(ess / max(seconds, 1e-9), 1),
                  "KL to target (grid)": round(grid_kl(p, points.cpu(), lo, hi), 4),
                  # the same KL for as many exact samples: what a perfect sampler scores at this n (the grid's
                  # floor), so the line above reads against it
                  "KL of exact samples (same n)": round(grid_kl(p, ref[:len(flat)].cpu(), lo, hi), 4),
                  "mean (chains)": [round(float(v), 3) for v in flat.mean(0)],
                  "mean (exact samples)": [round(float(v), 3) for v in ref.mean(0)],
                  "std (chains)": [round(float(v), 3) for v in flat.std(0)],
                  "std (exact samples)": [round(float(v), 3) for v in ref.std(0)]}
        metrics = pg.point_metrics(flat.float().cpu(), reference.points, reference.modes, reference.sigma)
        scores.update({k: v if isinstance(v, int) else round(float(v), 4) for k, v in metrics.items()
                       if isinstance(v, int) or math.isfinite(v)})
        return scores

    def _view(self, state: pg.ModelState) -> pg.Extent:
        ch = state.modules["chains"]
        return pg.Extent(float(ch.lo[0]), float(ch.hi[0]), float(ch.lo[1]), float(ch.hi[1]))

    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: SampleIn, load) -> pg.TaskResult:  # noqa: ANN001
        reference = load(pg.DataSpec(state.data["name"], split="test"))
        g = torch.Generator(device=state.device).manual_seed(inp.seed)
        chains = state.modules["chains"].positions.shape[0]
        started = time.perf_counter()
        burnt, _ = self._continue(state, inp.burn_in, g)
        start = burnt[-1] if len(burnt) else None
        points, accepted = self._continue(state, math.ceil(inp.n / chains), g, start)
        seconds = time.perf_counter() - started
        flat = points.reshape(-1, 2)[:inp.n]
        values = self._scores(state, points, accepted, seconds, reference)
        values["seconds"] = round(seconds, 3)
        picture = pg.plot(real=reference.points[:2000], fake=flat.float().cpu(), extent=self._view(state),
                          field=lambda xy: self.field(state, xy),
                          title=f"{inp.n} points · {self.sampler(state).title}")
        return pg.TaskResult(images=[("chain samples (purple) over exact samples (green) and log p", picture)],
                             values=values, measured=("ESS per second", "seconds"))

    @torch.no_grad()
    def compare(self, state: pg.ModelState, inp: CompareIn, load) -> pg.TaskResult:  # noqa: ANN001
        """Every sampler from this run's chains' positions, same seed and settings."""
        reference = load(pg.DataSpec(state.data["name"], split="test"))
        ch, rows, curve, images, speed = state.modules["chains"], [], [], [], {}
        p = grid_probabilities(self.target(state), ch.lo, ch.hi)
        for name, sampler in SAMPLERS.items():
            g = torch.Generator(device=state.device).manual_seed(inp.seed)
            started = time.perf_counter()
            points, accepted = self._continue(state, inp.transitions, g, sampler=sampler)
            seconds = time.perf_counter() - started
            for t in range(max(1, inp.transitions // 10), inp.transitions + 1, max(1, inp.transitions // 10)):
                curve.append({"transition": t, "sampler": name, "KL to target": grid_kl(p, points[:t], ch.lo,
                                                                                          ch.hi)})
            scores = self._scores(state, points, accepted, seconds, reference)
            speed[sampler.title] = scores.pop("ESS per second")
            rows.append({"sampler": sampler.title, **{k: v for k, v in scores.items()
                                                      if not k.startswith(("mean", "std"))}})
            images.append((sampler.title, pg.plot(real=reference.points[:1000],
                                                  fake=points.reshape(-1, 2)[-2000:].float().cpu(),
                                                  extent=self._view(state), field=lambda xy: self.field(state, xy),
                                                  title=sampler.title)))
        chart = pg.Chart(curve, x="transition", y="KL to target", color="sampler",
                         title="KL to the target on a grid (lower is better)")
        return pg.TaskResult(images=images, values={"samplers": rows, "ESS per second": speed,
                                                    "step size": state.config.step_size,
                                                    "leapfrog steps (HMC)": state.config.leapfrog_steps},
                             chart=chart, measured=("ESS per second",))

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        return self.generate(state, SampleIn(n=inp.n, burn_in=0, seed=inp.seed), load)


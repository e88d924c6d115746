"""MCMC samplers beyond the conformance suite: each leaves its target invariant, HMC's leapfrog is reversible,
volume-preserving and second order, the accept/reject rules by hand, the energy-expression whitelist, the
``energy:`` dataset, the Lab's side by side and the tasks on shipped weights."""

import math

import pytest
import torch

from playground.data import DataSpec, FolderAccess, load_dataset, offered_names
from playground.engine import Trainer
from playground.errors import ConfigError, DataError, PlaygroundError
from playground.inference import run_task
from playground.lab import LabSession
from plugins.mcmc import samplers
from plugins.mcmc.diagnostics import effective_sample_size
from plugins.mcmc.expression import parse_energy
from plugins.mcmc.family import ACCEPTANCE, DELTA_H, ESS, KL
from plugins.mcmc.samplers import SAMPLERS, Settings, hamiltonian, leapfrog
from plugins.mcmc.targets import Target

COV = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
PRECISION = torch.linalg.inv(COV)
GAUSSIAN = Target("gaussian", lambda xy: 0.5 * ((xy @ PRECISION) * xy).sum(-1), True)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_leaves_a_gaussian_invariant(name):
    """Started *at* the target (exact draws), 300 transitions of 400 chains keep its mean and covariance."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(COV).T
    kept = []
    for _ in range(300):
        x = SAMPLERS[name].step(GAUSSIAN, x, Settings(0.5, 8, 1.0), g).positions
        kept.append(x)
    pts = torch.cat(kept[100:])
    assert pts.mean(0).abs().max() < 0.08, pts.mean(0)
    assert (torch.cov(pts.T) - COV).abs().max() < 0.08, torch.cov(pts.T)


def test_a_sampler_without_the_correction_would_be_caught():
    """The invariance test has teeth: an unadjusted Langevin step with a large step size visibly inflates the
    variance (what MALA's Metropolis correction prevents)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(COV).T
    s = 0.5
    for _ in range(300):
        _, grad = GAUSSIAN.energy_and_grad(x)
        x = x - s ** 2 / 2 * grad + s * torch.randn(x.shape, generator=g, dtype=torch.float64)
    assert (torch.cov(x.T) - COV).abs().max() > 0.08


def test_leapfrog_is_reversible_volume_preserving_and_second_order():
    target = Target("banana", lambda xy: xy[..., 0] ** 2 / 2 + (xy[..., 1] - xy[..., 0] ** 2 / 2 + 1) ** 2 / 0.18,
                    True)
    x0 = torch.tensor([[0.4, -0.8]], dtype=torch.float64)
    rho0 = torch.tensor([[0.7, -0.3]], dtype=torch.float64)
    x1, rho1, path = leapfrog(target, x0, rho0, 0.05, 20, 1.0)
    back, rho_back, _ = leapfrog(target, x1, -rho1, 0.05, 20, 1.0)  # flip the momentum and run again
    assert torch.allclose(back, x0, atol=1e-10) and torch.allclose(-rho_back, rho0, atol=1e-10)
    assert path.shape == (21, 1, 2) and torch.equal(path[-1], x1)

    def flow(z: torch.Tensor) -> torch.Tensor:
        x, rho, _ = leapfrog(target, z[None, :2], z[None, 2:], 0.05, 20, 1.0)
        return torch.cat([x, rho], 1)[0]

    jac = torch.autograd.functional.jacobian(flow, torch.cat([x0, rho0], 1)[0])
    assert abs(float(torch.linalg.det(jac)) - 1) < 1e-8
    # energy error over a fixed trajectory length shrinks as s² (global order 2 of the leapfrog)
    errors = []
    for step in (0.04, 0.02, 0.01):
        x, rho, _ = leapfrog(target, x0, rho0, step, round(0.8 / step), 1.0)
        errors.append(abs(float(hamiltonian(target, x, rho, 1.0) - hamiltonian(target, x0, rho0, 1.0))))
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 3.0 < coarse / fine < 5.0, errors


def test_acceptance_rules_by_hand():
    """Metropolis, MALA and HMC decisions reproduced from the proposals with formulas written out here."""
    x = torch.tensor([[0.0, 0.0], [1.5, -1.0], [3.0, 2.0], [-0.5, 0.7]], dtype=torch.float64)
    e = GAUSSIAN.energy
    for name in SAMPLERS:
        g = torch.Generator().manual_seed(3)
        move = SAMPLERS[name].step(GAUSSIAN, x, Settings(0.9, 5, 2.0), g)
        replay = torch.Generator().manual_seed(3)
        draw = torch.randn(x.shape, generator=replay, dtype=torch.float64)
        if name == "metropolis":
            assert torch.allclose(move.proposals, x + 0.9 * draw)
            log_alpha = e(x) - e(move.proposals)
        elif name == "mala":
            _, gx = GAUSSIAN.energy_and_grad(x)
            _, gp = GAUSSIAN.energy_and_grad(move.proposals)
            assert torch.allclose(move.proposals, x - 0.81 / 2 * gx + 0.9 * draw)
            fwd = torch.distributions.Normal(x - 0.81 / 2 * gx, 0.9).log_prob(move.proposals).sum(-1)
            rev = torch.distributions.Normal(move.proposals - 0.81 / 2 * gp, 0.9).log_prob(x).sum(-1)
            log_alpha = e(x) - e(move.proposals) + rev - fwd
        else:
            rho = math.sqrt(2.0) * draw
            end, rho_end, _ = leapfrog(GAUSSIAN, x, rho, 0.9, 5, 2.0)
            assert torch.allclose(move.proposals, end)
            log_alpha = (e(x) + (rho ** 2).sum(-1) / 4) - (e(end) + (rho_end ** 2).sum(-1) / 4)
        u = torch.rand(len(x), generator=replay, dtype=torch.float64)
        assert torch.equal(move.accepted, u < log_alpha.exp().clamp(max=1)), name
        assert torch.equal(move.positions, torch.where(move.accepted[:, None], move.proposals, x))


def test_accept_with_probability_alpha_and_never_on_nan():
    g = torch.Generator().manual_seed(0)
    assert samplers._accept(torch.zeros(1000, dtype=torch.float64), g).all()
    assert not samplers._accept(torch.full((1000,), float("nan"), dtype=torch.float64), g).any()
    assert not samplers._accept(torch.full((1000,), -math.inf, dtype=torch.float64), g).any()
    share = samplers._accept(torch.full((40_000,), math.log(0.3), dtype=torch.float64), g).double().mean()
    assert abs(float(share) - 0.3) < 0.01


def test_effective_sample_size_tells_independent_from_sticky_chains():
    g = torch.Generator().manual_seed(0)
    independent = torch.randn(400, 8, 2, generator=g, dtype=torch.float64)
    sticky = torch.zeros_like(independent)
    for t in range(1, 400):  # AR(1) with φ = 0.9: τ = (1 + φ)/(1 − φ) = 19
        sticky[t] = 0.9 * sticky[t - 1] + math.sqrt(1 - 0.81) * independent[t]
    assert 0.8 * 3200 < effective_sample_size(independent) <= 3200
    assert 3200 / 19 * 0.6 < effective_sample_size(sticky) < 3200 / 19 * 1.6
    assert effective_sample_size(torch.ones(50, 4, 2)) == 4  # stuck chains are worth one draw each


def test_energy_expressions_compute_and_the_whitelist_refuses_everything_else():
    xy = torch.tensor([[1.0, 2.0], [-0.5, 0.25]], dtype=torch.float64)
    f = parse_energy("(x**2 + y**2 - 2)**2 / 0.5 + exp(-x) * sqrt(abs(y)) - pi + e")
    expected = (xy.pow(2).sum(1) - 2) ** 2 / 0.5 + torch.exp(-xy[:, 0]) * xy[:, 1].abs().sqrt() - math.pi + math.e
    assert torch.allclose(f(xy), expected)
    assert torch.isinf(parse_energy("9**9**9 + x")(xy)).all()  # overflow is inf, not an exception or a hang
    for text, why in [("__import__('os').system('true')", "not allowed"), ("x.real", "not allowed"),
                      ("open('f')", "unknown function 'open'"), ("(lambda: 1)()", "not allowed"),
                      ("[x][0]", "not allowed"),
                      ("x if y else 1", "not allowed"), ("'a'", "not allowed"), ("exp(x, y)", "exactly one"),
                      ("exp(x=1)", "exactly one"), ("x < y", "not allowed"), ("z + 1", "unknown name 'z'"),
                      ("x +", "not a formula"), ("", "empty"), ("x" + "+x" * 300, "characters"),
                      ("True + x", "not allowed"), ("1j * x", "not allowed"), ("x @ y", "not allowed")]:
        with pytest.raises(ConfigError, match=why):
            parse_energy(text)


def test_the_energy_dataset_draws_exact_samples_and_refuses_non_densities(registry):
    pts = load_dataset(registry.datasets, DataSpec("energy:x**2 / 2 + (y - 1)**2 / (2 * 0.25)")).points
    assert abs(float(pts[:, 0].mean())) < 0.03 and abs(float(pts[:, 1].mean()) - 1) < 0.03
    assert abs(float(pts[:, 0].std()) - 1) < 0.03 and abs(float(pts[:, 1].std()) - 0.5) < 0.03
    for text, why in [("0 * x", "edge"), ("-(x**2)", "edge"), ("(x**2 + y**2) * 1e6", "too sharp"),
                      ("log(0 * x) + y**2", "infinite"), ("os", "unknown name")]:
        with pytest.raises(PlaygroundError, match=why):
            load_dataset(registry.datasets, DataSpec(f"energy:{text}"))
    offered = offered_names(registry.datasets, "points")
    assert any(n.startswith("energy:") for n in offered) and "energy:" not in offered
    assert FolderAccess().check("Data", "energy:x**2 + y**2", offered) == "energy:x**2 + y**2"
    with pytest.raises(DataError, match="reads no files or folders"):
        FolderAccess().check("Data", "folder:/etc", offered)
    with pytest.raises(DataError, match="unknown dataset"):
        FolderAccess().check("Data", "nope:x", offered)


def test_lab_side_by_side_hmc_mixes_far_better_than_a_random_walk(registry):
    session = LabSession.create(registry, "mcmc", {"dataset": "banana"}, ["metropolis", "hmc"], [None, None])
    errors = session.step("both", 100)
    session.step("both", 100)
    assert not errors
    walk, hmc = session.runs
    assert walk.state.config.sampler == "metropolis" and hmc.state.config.sampler == "hmc"
    assert hmc.last_losses[ESS] > 5 * walk.last_losses[ESS], (walk.last_losses, hmc.last_losses)
    assert hmc.last_losses[KL] < walk.last_losses[KL]
    assert 0.5 < hmc.last_losses[ACCEPTANCE] <= 1 and hmc.last_losses[DELTA_H] < 5 and DELTA_H not in walk.last_losses
    img, row = hmc.frame()
    assert img.size == (360, 360) and row["status"] == "ok"


def test_a_step_size_far_too_large_collapses_acceptance(registry, tmp_path):
    accept = {}
    for step in (0.2, 3.0):
        t = Trainer(registry, "mcmc", {"dataset": "banana", "sampler": "hmc", "step_size": step, "steps": 60,
                                       "log_every": 60}, out_dir=tmp_path / str(step), device="cpu")
        accept[step] = [v for _, k, v in t.run().losses if k == ACCEPTANCE][-1]
    assert accept[0.2] > 0.6 and accept[3.0] < 0.1, accept


def test_kde_target_for_a_dataset_without_an_energy(registry, tmp_path):
    t = Trainer(registry, "mcmc", {"dataset": "moons", "sampler": "mala", "step_size": 0.05, "steps": 300,
                                   "start": "spread", "log_every": 300}, out_dir=tmp_path, device="cpu")
    t.run()
    fam = registry.family("mcmc")
    assert not fam.target(t.state).exact
    held = load_dataset(registry.datasets, DataSpec("moons", split="test")).points
    assert fam.learning_score(t.state, held) < 0.5


def test_the_fitted_gmm_is_a_target_with_its_exact_density(registry, tmp_path):
    """gmm:ring8 (the shipped EM fit) is a dataset of its exact samples that declares the mixture as its density;
    the run stores that density with its data description, so the target is the GMM itself (not a KDE) and the
    checkpoint needs no GMM weights to be sampled later. HMC's chains then cover it like the exact samples do."""
    from playground.inference import model_cache
    from playground.models import load_model

    gmm = model_cache().get(registry, "gmm", "ring8", torch.device("cpu")).modules["mixture"]
    data = load_dataset(registry.datasets, DataSpec("gmm:ring8"))
    assert data.density is not None and len(data.points) == 20_000
    probe = torch.randn(50, 2, dtype=torch.float64) * 2
    assert torch.allclose(data.density.log_prob(probe), gmm.log_prob(probe), atol=1e-9)
    t = Trainer(registry, "mcmc", {"dataset": "gmm:ring8", "sampler": "hmc", "step_size": 0.05, "steps": 300,
                                   "start": "spread", "chains": 64, "log_every": 300}, out_dir=tmp_path, device="cpu")
    t.run()
    fam = registry.family("mcmc")
    target = fam.target(t.state)
    assert target.exact and torch.allclose(-target.energy(probe), gmm.log_prob(probe), atol=1e-9)
    held = load_dataset(registry.datasets, DataSpec("gmm:ring8", split="test")).points
    assert fam.learning_score(t.state, held) < 0.5
    again = load_model(registry, tmp_path)  # the density came back with the checkpoint's data description
    assert torch.allclose(-fam.target(again).energy(probe), gmm.log_prob(probe), atol=1e-9)
    with pytest.raises(DataError, match="Available: moons, ring8"):
        load_dataset(registry.datasets, DataSpec("gmm:nope"))
    assert "gmm:ring8" in offered_names(registry.datasets, "points")


def test_tasks_on_shipped_weights(registry):
    res = run_task(registry, "mcmc", "banana-hmc", "generate", {"n": 1000, "burn_in": 10})
    assert res.values["acceptance"] > 0.6
    assert res.values["KL to target (grid)"] < res.values["KL of exact samples (same n)"] + 0.15, res.values
    assert abs(res.values["mean (chains)"][1] - res.values["mean (exact samples)"][1]) < 0.25
    cmp = run_task(registry, "mcmc", "banana-hmc", "compare", {"transitions": 100})
    rows = {r["sampler"]: r for r in cmp.values["samplers"]}
    assert set(rows) == {s.title for s in SAMPLERS.values()} and len(cmp.images) == 3
    assert rows["Hamiltonian Monte Carlo"]["ESS (all chains)"] > 3 * rows["Random-walk Metropolis"]["ESS (all chains)"]
    assert {r["sampler"] for r in cmp.chart.rows} == set(SAMPLERS)


@pytest.mark.parametrize("family", ["mcmc", "gmm"])
def test_optimiser_settings_are_not_offered_where_nothing_is_optimised(registry, family, capsys):
    """EM and the samplers declare NO_OPTIMISER unused: no learning rate or batch size in the forms or the CLI,
    while their configs (and checkpoints) keep the defaults."""
    import playground as pg
    from playground.cli import main
    from playground.params import build_params, settable_specs

    cfg_cls = registry.family(family).config
    assert not {s.name for s in settable_specs(cfg_cls)} & set(pg.NO_OPTIMISER)
    assert build_params(cfg_cls, {}).lr == pg.TrainConfig.lr
    assert main(["train", family, "--lr", "0.1"]) != 0
    assert "unrecognized arguments: --lr" in capsys.readouterr().err

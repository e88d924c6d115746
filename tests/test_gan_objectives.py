"""GAN objectives against the formulas of DESIGN.md §11, computed independently with math at hand-picked points."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

PATH = Path(__file__).resolve().parents[1] / "plugins" / "gan" / "objectives.py"
spec = importlib.util.spec_from_file_location("gan_objectives_under_test", PATH)
obj = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = obj  # dataclasses look their module up while the class is created
spec.loader.exec_module(obj)

V_REAL, V_FAKE = [0.7, -0.2, 1.5], [-0.4, 0.3, -1.1]

# The f-GAN paper's table, written literally (not in the implementation's stable forms).
TABLE = {
    "kl": (lambda v: v, lambda t: math.exp(t - 1)),
    "reverse_kl": (lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "pearson": (lambda v: v, lambda t: t * t / 4 + t),
    "hellinger": (lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: math.log(2) - math.log(1 + math.exp(-v)), lambda t: -math.log(2 - math.exp(t))),
}


def mean(xs):
    return sum(xs) / len(xs)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_fgan_losses_match_the_table(name):
    g, fstar = TABLE[name]
    o = obj.get_objective(f"fgan_{name}")
    vr, vf = torch.tensor(V_REAL, dtype=torch.float64), torch.tensor(V_FAKE, dtype=torch.float64)
    expected_d = -(mean([g(v) for v in V_REAL]) - mean([fstar(g(v)) for v in V_FAKE]))
    expected_g = -mean([fstar(g(v)) for v in V_FAKE])
    assert float(o.d_loss(vr, vf)) == pytest.approx(expected_d, rel=1e-9)
    assert float(o.g_loss(vf)) == pytest.approx(expected_g, rel=1e-9)


def test_original_gan_is_the_f_gan_gan_row():
    """The minimax D loss equals −(E_P[g(v)] − E_Q[f*(g(v))]) for the table's GAN row."""
    g = lambda v: -math.log(1 + math.exp(-v))  # noqa: E731
    fstar = lambda t: -math.log(1 - math.exp(t))  # noqa: E731
    vr, vf = torch.tensor(V_REAL, dtype=torch.float64), torch.tensor(V_FAKE, dtype=torch.float64)
    expected = -(mean([g(v) for v in V_REAL]) - mean([fstar(g(v)) for v in V_FAKE]))
    assert float(obj.get_objective("minimax").d_loss(vr, vf)) == pytest.approx(expected, rel=1e-9)
    ns = obj.get_objective("nonsaturating").g_loss(vf)
    assert float(ns) == pytest.approx(mean([-math.log(1 / (1 + math.exp(-v))) for v in V_FAKE]), rel=1e-9)


@pytest.mark.parametrize("name, d, g", [
    ("wgan", -(mean(V_REAL) - mean(V_FAKE)), -mean(V_FAKE)),
    ("wgan_gp", -(mean(V_REAL) - mean(V_FAKE)), -mean(V_FAKE)),
    ("hinge", mean([max(0, 1 - v) for v in V_REAL]) + mean([max(0, 1 + v) for v in V_FAKE]), -mean(V_FAKE)),
    ("least_squares", 0.5 * mean([(v - 1) ** 2 for v in V_REAL]) + 0.5 * mean([v * v for v in V_FAKE]),
     0.5 * mean([(v - 1) ** 2 for v in V_FAKE])),
])
def test_other_objectives(name, d, g):
    o = obj.get_objective(name)
    vr, vf = torch.tensor(V_REAL, dtype=torch.float64), torch.tensor(V_FAKE, dtype=torch.float64)
    assert float(o.d_loss(vr, vf)) == pytest.approx(d, rel=1e-9)
    assert float(o.g_loss(vf)) == pytest.approx(g, rel=1e-9)


def test_recommended_defaults():
    assert obj.get_objective("wgan").clip == 0.01 and obj.get_objective("wgan").optimizer == "rmsprop"
    gp = obj.get_objective("wgan_gp")
    assert gp.gp_weight == 10 and gp.betas == (0.0, 0.9) and gp.d_steps == 5 and gp.lr == 1e-4
    with pytest.raises(ValueError, match="Unknown objective 'bogus'"):
        obj.get_objective("bogus")


def test_stable_forms_survive_large_critic_outputs():
    big = torch.tensor([80.0, -80.0])
    for name in ("minimax", "nonsaturating", "fgan_js"):
        o = obj.get_objective(name)
        assert torch.isfinite(o.d_loss(big, -big)) and torch.isfinite(o.g_loss(big))


def test_gradient_penalty_uses_interpolates_and_measures_the_norm():
    w = torch.tensor([[3.0, 0.0, 0.0, 0.0]])
    critic = nn.Linear(4, 1, bias=False)
    critic.weight.data = w.clone()
    real, fake = torch.randn(16, 4), torch.randn(16, 4)
    assert float(obj.gradient_penalty(critic, real, fake).detach()) == pytest.approx(4.0)  # (‖w‖ − 1)² = 2²
    critic.weight.data = torch.tensor([[0.6, 0.8, 0.0, 0.0]])  # unit norm: no penalty
    assert float(obj.gradient_penalty(critic, real, fake).detach()) == pytest.approx(0.0, abs=1e-10)
    seen = []
    probe = lambda x: seen.append(x.detach()) or x.sum(1, keepdim=True)  # noqa: E731
    obj.gradient_penalty(probe, torch.zeros(8, 4), torch.ones(8, 4))
    assert ((seen[0] >= 0) & (seen[0] <= 1)).all() and seen[0][:, 0].std() > 0  # random points between


def test_gradient_penalty_pulls_the_critic_norm_to_one():
    critic = nn.Linear(4, 1, bias=False)
    critic.weight.data = torch.tensor([[3.0, 0.0, 0.0, 0.0]])
    opt = torch.optim.SGD(critic.parameters(), lr=0.05)
    real, fake = torch.randn(64, 4), torch.randn(64, 4)
    for _ in range(100):
        opt.zero_grad()
        obj.gradient_penalty(critic, real, fake).backward()
        opt.step()
    assert critic.weight.norm().item() == pytest.approx(1.0, abs=0.05)


def test_weight_clipping_bounds_every_parameter():
    critic = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))
    for p in critic.parameters():
        p.data.normal_(0, 1)
    obj.clip_weights(critic, 0.01)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())


def test_spectral_norm_bounds_the_lipschitz_estimate():
    torch.manual_seed(0)
    sn = torch.nn.utils.parametrizations.spectral_norm
    plain = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    for p in plain.parameters():
        p.data.mul_(5)
    normed = nn.Sequential(sn(nn.Linear(2, 64)), nn.LeakyReLU(0.2), sn(nn.Linear(64, 64)), nn.LeakyReLU(0.2),
                           sn(nn.Linear(64, 1)))
    for p in normed.parameters():
        p.data.mul_(5)
    x = torch.randn(512, 2)
    for _ in range(20):  # power iteration converges in training-mode forwards
        normed(x)

    @torch.no_grad()
    def lipschitz(net):
        a, b = torch.randn(2000, 2), torch.randn(2000, 2)
        return float(((net(a) - net(b)).abs().squeeze(1) / (a - b).norm(dim=1)).max())

    assert lipschitz(normed) <= 1.05
    assert lipschitz(plain) > 5

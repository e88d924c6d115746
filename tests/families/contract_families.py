"""Small families that exercise what contract 2 added, written only against ``import playground as pg``:

- ``em_gmm``: a Gaussian mixture fitted by EM on 2-D points — no optimiser, full-batch steps, a stash entry;
- ``pair``: two labelled image streams (digits as A, glyphs as B) learning per-class means by gradient descent,
  with an EMA copy in the stash, a linear-decay LR schedule, and ``sample(labels=...)``;
- ``code_prior``: a Gaussian prior over the codes of a frozen parent autoencoder (a parent model).

The conformance suite runs every check on them like on the built-in families.
"""

from dataclasses import dataclass

import torch
from torch import nn

import playground as pg


@dataclass
class GMMConfig(pg.TrainConfig):
    dataset: str = pg.param("ring8", help="2-D points.")
    components: int = pg.param(8, min=1, max=64, help="K.")
    steps: int = pg.param(30, min=1, max=10_000)


@dataclass
class PointsIn:
    n: int = pg.param(500, min=10, max=5000)
    seed: int = pg.param(0, min=0, max=1000)


class EMGMM(pg.ModelFamily):
    """No optimiser: each step is one E-step and one M-step on the whole dataset (a full-batch stream)."""

    name, title = "em_gmm", "EM GMM (test)"
    config = GMMConfig
    tasks = (pg.Task("generate", "Generate", PointsIn),)
    checks = pg.Checks(learning_loss="nll", smoke_config={"dataset": "ring8", "steps": 40})

    def streams(self, cfg):
        return (pg.Stream(kind="points", full=True),)

    def build(self, cfg, info):
        m = nn.Module()
        # Far from the data on purpose (a tight blob at (3, 3)), so learning has somewhere to go.
        m.register_buffer("means", 3.0 + 0.1 * torch.randn(cfg.components, info.channels))
        m.register_buffer("log_var", torch.zeros(cfg.components, info.channels))
        m.register_buffer("log_weight", torch.full((cfg.components,), -float(torch.log(torch.tensor(cfg.components)))))
        return nn.ModuleDict({"gmm": m})

    @staticmethod
    def _log_joint(gmm, x):
        var = gmm.log_var.exp()
        ll = -0.5 * (((x[:, None] - gmm.means) ** 2) / var + gmm.log_var + torch.log(torch.tensor(2 * torch.pi)))
        return ll.sum(-1) + gmm.log_weight  # N×K

    @torch.no_grad()
    def train_step(self, run, batch):
        gmm, x = run.modules["gmm"], batch.x
        joint = self._log_joint(gmm, x)
        loglik = torch.logsumexp(joint, 1)
        resp = (joint - loglik[:, None]).exp()  # E-step
        nk = resp.sum(0) + 1e-6  # M-step, closed form
        gmm.means.copy_((resp.T @ x) / nk[:, None])
        var = (resp.T @ (x ** 2)) / nk[:, None] - gmm.means ** 2
        gmm.log_var.copy_(var.clamp_min(1e-4).log())
        gmm.log_weight.copy_((nk / nk.sum()).log())
        best = run.stash.get("best_loglik", torch.tensor(-float("inf"), device=x.device))
        run.stash["best_loglik"] = torch.maximum(best, loglik.mean())
        return {"nll": -loglik.mean()}

    @torch.no_grad()
    def sample(self, state, n, generator, labels=None):
        gmm = state.modules["gmm"]
        k = torch.multinomial(gmm.log_weight.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, gmm.means.shape[1], generator=generator, device=state.device)
        return gmm.means[k] + eps * (0.5 * gmm.log_var[k]).exp()

    @torch.no_grad()
    def learning_score(self, state, points):
        fake = self.sample(state, 1000, torch.Generator(state.device).manual_seed(0)).cpu()
        d = torch.cdist(fake, points[:1000].float().cpu())
        return float(d.min(1).values.mean() + d.min(0).values.mean())

    @torch.no_grad()
    def generate(self, state, inp):
        fake = self.sample(state, inp.n, torch.Generator(state.device).manual_seed(inp.seed)).cpu()
        extent = pg.Extent.around(fake)
        return pg.TaskResult(images=[("samples", pg.plot_to_tensor(pg.render_2d(extent, fake=fake)))],
                             values={"n": inp.n})


@dataclass
class PairConfig(pg.TrainConfig):
    dataset: str = pg.param("digits", help="Domain A (labelled).")
    dataset_b: str = pg.param("glyphs", help="Domain B (labelled).")
    batch_size: int = pg.param(32, min=1, max=4096)
    lr: float = pg.param(0.05, min=1e-8, max=1.0)
    ema: float = pg.param(0.9, min=0.0, max=0.9999, help="Decay of the stashed EMA copy.")
    lr_schedule: str = pg.param("linear_decay", choices=("constant", "linear_decay", "cosine"), advanced=True)


@dataclass
class ClassIn:
    digit: int = pg.param(7, min=0, max=9)


class Pair(pg.ModelFamily):
    """Two labelled streams: learns the mean image of each class in each domain."""

    name, title = "pair", "Pair (test)"
    config = PairConfig
    tasks = (pg.Task("class_means", "Class means", ClassIn),)
    checks = pg.Checks(smoke_config={"batch_size": 32})

    def streams(self, cfg):
        return (pg.Stream("A", "dataset", labels=True), pg.Stream("B", "dataset_b", labels=True))

    def build(self, cfg, info):
        a, b = info.streams["A"], info.streams["B"]
        return nn.ModuleDict({"A": nn.Embedding(a.num_classes, a.channels * a.size * a.size),
                              "B": nn.Embedding(b.num_classes, b.channels * b.size * b.size)})

    def configure_optimizers(self, cfg, modules):
        return {"A": torch.optim.Adam(modules["A"].parameters(), lr=cfg.lr),
                "B": torch.optim.Adam(modules["B"].parameters(), lr=cfg.lr)}

    def train_step(self, run, batch):
        losses = {}
        for name in ("A", "B"):
            part = batch[name]
            pred = run.modules[name](part.y).view_as(part.x)
            loss = ((pred - part.x) ** 2).mean()
            run.backward(loss, name)
            run.step(name)
            losses[f"loss_{name}"] = loss
        w = run.modules["A"].weight.detach()
        run.stash["ema_A"] = run.stash.get("ema_A", w.clone()).lerp(w, 1 - run.config.ema)
        return {**losses, "loss": losses["loss_A"] + losses["loss_B"]}

    def sample_classes(self, state):
        return tuple(str(i) for i in range(state.info.streams["A"].num_classes))

    @torch.no_grad()
    def sample(self, state, n, generator, labels=None):
        a = state.info.streams["A"]
        if labels is None:
            labels = torch.randint(a.num_classes, (n,), generator=generator, device=state.device)
        return state.modules["A"](labels).view(n, a.channels, a.size, a.size).clamp(-1, 1)

    @torch.no_grad()
    def class_means(self, state, inp):
        a, b = (self.sample(state, 1, None, torch.tensor([inp.digit], device=state.device))[0],
                state.modules["B"](torch.tensor([inp.digit], device=state.device)).view(1, 32, 32).clamp(-1, 1))
        return pg.TaskResult(images=[("A", a), ("B", b)], values={"digit": inp.digit})


@dataclass
class PriorConfig(pg.TrainConfig):
    parent: str = pg.param("digits", help="Autoencoder weights whose codes this prior models.")
    batch_size: int = pg.param(64, min=1, max=4096)
    lr: float = pg.param(0.05, min=1e-8, max=1.0)


@dataclass
class SampleIn:
    n: int = pg.param(16, min=1, max=64)
    seed: int = pg.param(0, min=0, max=1000)


@dataclass
class EncodeIn:
    image: pg.ImageInput = pg.image_param("An image to encode with the parent.")


class CodePrior(pg.ModelFamily):
    """A diagonal Gaussian over a frozen parent autoencoder's codes, fitted by maximum likelihood."""

    name, title = "code_prior", "Code prior (test)"
    config = PriorConfig
    parents = (pg.Parent("ae", "autoencoder", "parent"),)
    tasks = (pg.Task("generate", "Generate", SampleIn), pg.Task("encode", "Encode", EncodeIn))
    checks = pg.Checks(learning_loss="nll", smoke_config={"batch_size": 64})

    def build(self, cfg, info):
        latent = info.parents["ae"].config.latent_dim
        return nn.ModuleDict({"prior": nn.ParameterDict({"mean": nn.Parameter(torch.zeros(latent)),
                                                         "log_std": nn.Parameter(torch.zeros(latent))})})

    def train_step(self, run, batch):
        with torch.no_grad():
            z = run.parents["ae"].modules["encoder"](batch.x).float()
        p = run.modules["prior"]
        nll = (((z - p["mean"]) / p["log_std"].exp()) ** 2 / 2 + p["log_std"]).sum(1).mean()
        run.backward(nll)
        run.step()
        return {"nll": nll}

    @torch.no_grad()
    def sample(self, state, n, generator, labels=None):
        p = state.modules["prior"]
        z = p["mean"] + p["log_std"].exp() * torch.randn(n, p["mean"].shape[0], generator=generator,
                                                         device=state.device)
        return state.parents["ae"].modules["decoder"](z).float()

    @torch.no_grad()
    def learning_score(self, state, images):
        fake = self.sample(state, 512, torch.Generator(state.device).manual_seed(0))
        real = images[:512]
        return float((fake.mean(0) - real.mean(0)).abs().mean() + (fake.std(0) - real.std(0)).abs().mean())

    @torch.no_grad()
    def generate(self, state, inp):
        x = self.sample(state, inp.n, torch.Generator(state.device).manual_seed(inp.seed))
        return pg.TaskResult(images=[("samples", pg.make_grid(x.cpu()))], values={"n": inp.n})

    @torch.no_grad()
    def encode(self, state, inp):
        assert torch.is_tensor(inp.image) and inp.image.shape == (1, 32, 32)  # typed input, never a UI value
        z = state.parents["ae"].modules["encoder"](inp.image[None]).float()
        p = state.modules["prior"]
        nll = float((((z - p["mean"]) / p["log_std"].exp()) ** 2 / 2 + p["log_std"]).sum())
        return pg.TaskResult(images=[("input", inp.image)], values={"nll": round(nll, 3)})


@pg.hookimpl
def register_models(register):
    register(EMGMM())
    register(Pair())
    register(CodePrior())

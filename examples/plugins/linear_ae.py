"""Example plugin: a linear autoencoder (PCA learned by SGD) in one file.

Run it:  python app.py --plugins-dir examples/plugins     (a "Linear AE" tab appears)
Train:   playground --plugins-dir examples/plugins train linear_ae --steps 500
"""

from dataclasses import dataclass

import torch
from torch import nn

import playground as pg


@dataclass
class LinearAEConfig(pg.TrainConfig):
    components: int = pg.param(16, min=1, max=512, help="Number of linear components (the code size).")


@dataclass
class ReconstructIn:
    image: pg.ImageInput = pg.image_param("An image to project onto the learned components.")


@dataclass
class GenerateIn:
    n: int = pg.param(16, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


class LinearAE(pg.ModelFamily):
    name = "linear_ae"
    title = "Linear AE"
    description = "A linear encoder and decoder: what PCA learns, trained by gradient descent."
    config = LinearAEConfig
    tasks = (pg.Task("reconstruct", "Reconstruct", ReconstructIn),
             pg.Task("generate", "Generate", GenerateIn, "Decode Gaussian codes with the training codes' spread."))
    checks = pg.Checks(smoke_config={"batch_size": 32, "lr": 1e-2})

    def build(self, cfg, info):
        d = info.channels * info.size * info.size
        return nn.ModuleDict({"enc": nn.Linear(d, cfg.components), "dec": nn.Linear(cfg.components, d)})

    def _code(self, state, x):
        return state.modules["enc"](x.flatten(1))

    def _decode(self, state, z):
        i = state.info
        return state.modules["dec"](z).view(-1, i.channels, i.size, i.size).clamp(-1, 1)

    def train_step(self, run, batch):
        # The engine owns optimisation: backward and step go through the run (mixed precision, clipping,
        # accumulation, schedules and several processes then work without code here).
        loss = ((self._decode(run.state, self._code(run.state, batch.x)) - batch.x) ** 2).mean()
        run.backward(loss)
        run.step()
        return {"loss": loss}

    @torch.no_grad()
    def finalize(self, state, images, labels):
        z = self._code(state, images)
        state.stats = {"code_mean": z.mean(0), "code_std": z.std(0)}

    @torch.no_grad()
    def reconstruct(self, state, inp):
        x = inp.image[None]  # the framework hands over a C×H×W tensor in [-1, 1] at the model's size
        return pg.TaskResult(images=[("input", x[0]), ("reconstruction", self._decode(state, self._code(state, x))[0])])

    @torch.no_grad()
    def generate(self, state, inp):
        g = torch.Generator(device=state.device).manual_seed(inp.seed)
        eps = torch.randn(inp.n, state.stats["code_mean"].shape[0], generator=g, device=state.device)
        x = self._decode(state, state.stats["code_mean"] + eps * state.stats["code_std"])
        return pg.TaskResult(images=[(f"#{i}", x[i]) for i in range(inp.n)], values={"n": inp.n})


@pg.hookimpl
def register_models(register):
    register(LinearAE())

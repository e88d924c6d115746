"""Plugin sources the tests drop into temporary folders."""

GOOD = '''
from dataclasses import dataclass
import torch
from torch import nn
import playground as pg


@dataclass
class Cfg(pg.TrainConfig):
    hidden: int = pg.param(8, min=1, max=64)


@dataclass
class GenIn:
    n: int = pg.param(4, min=1, max=16)
    seed: int = pg.param(0, min=0, max=1000)


class Tiny(pg.ModelFamily):
    name = "tiny"
    title = "Tiny"
    config = Cfg
    tasks = (pg.Task("generate", "Generate", GenIn),)
    checks = pg.Checks(smoke_config={"batch_size": 16, "lr": 0.01})

    def build(self, cfg, info):
        return nn.ModuleDict({"g": nn.Linear(cfg.hidden, info.channels * info.size * info.size)})

    def train_step(self, run, batch):
        z = torch.zeros(batch.x.shape[0], run.config.hidden, device=batch.x.device)
        out = run.modules["g"](z).view_as(batch.x).tanh()
        loss = ((out - batch.x) ** 2).mean()
        run.backward(loss)
        run.step()
        return {"loss": loss}

    @torch.no_grad()
    def generate(self, state, inp):
        z = torch.zeros(inp.n, state.config.hidden, device=state.device)
        x = state.modules["g"](z).view(inp.n, state.info.channels, state.info.size, state.info.size).tanh()
        return pg.TaskResult(images=[(str(i), x[i]) for i in range(inp.n)], values={"n": inp.n})


@pg.hookimpl
def register_models(register):
    register(Tiny())
'''

BROKEN_IMPORT = '''
import playground as pg
raise RuntimeError("this plugin is broken on purpose")
'''

BAD_SIGNATURE = '''
import playground as pg


@pg.hookimpl
def register_models(register, unexpected_argument):
    pass
'''

DUPLICATE = '''
import playground as pg
from playground.contracts import ModelFamily


class Impostor(ModelFamily):
    name = "autoencoder"
    title = "Impostor"


@pg.hookimpl
def register_models(register):
    register(Impostor())
'''

RAISES_IN_TRAIN = GOOD.replace('name = "tiny"', 'name = "explodes"').replace(
    "        z = torch.zeros(batch.x.shape[0], run.config.hidden, device=batch.x.device)\n",
    "        raise ZeroDivisionError(\"boom in train_step\")\n")

PACKAGE_INIT = '''
from . import family  # a relative import: the loader must make the package importable


@family.pg.hookimpl
def register_models(register):
    register(family.Packaged())
'''

PACKAGE_FAMILY = GOOD.replace('name = "tiny"', 'name = "packaged"').replace('title = "Tiny"', 'title = "Packaged"')
PACKAGE_FAMILY = PACKAGE_FAMILY.replace("class Tiny(", "class Packaged(").split("@pg.hookimpl")[0]

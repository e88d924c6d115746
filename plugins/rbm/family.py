"""The RBM family: binarised images, CD-k or persistent CD as hand-written updates (no optimiser), Gibbs chains as
the sampler, and tasks that show the chain, the filters and a reconstruction. The maths is in ``machine.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from .machine import (
    RBM,
    ais_log_partition,
    apply_update,
    base_biases,
    cd_gradient,
    reconstruction_error,
)

RECON, GAP = "reconstruction error", "free energy gap (data − chains)"


@dataclass
class RBMConfig(pg.TrainConfig):
    dataset: str = pg.param("digits", help="Training images; binarised at mid-grey (ink = 1).")
    steps: int = pg.param(3000, min=1, max=10_000_000, help="Parameter updates.")
    batch_size: int = pg.param(64, min=1, max=4096, help="Images per update (and persistent chains for PCD).")
    lr: float = pg.param(0.05, min=1e-6, max=1.0, help="Step size of the hand-written gradient ascent.",
                         label="learning rate")
    image_size: int = pg.param(16, choices=(8, 16, 32), help="Images are resized to this before binarising "
                               "(16: 256 visible units).")
    hidden: int = pg.param(128, min=1, max=4096, help="Hidden units.", label="hidden units")
    k: int = pg.param(1, min=1, max=100, help="Gibbs steps per update (CD-k; PCD continues its chains k steps).",
                      label="Gibbs steps k")
    persistent: bool = pg.param(False, help="Persistent CD: the negative chains carry over between updates "
                                "(kept in the checkpoint) instead of restarting at the data.")
    weight_decay: float = pg.param(1e-4, min=0.0, max=1.0, help="L2 penalty on W.", label="weight decay")

    unused = ("grad_clip", "grad_accum")  # hand-written updates: nothing to clip or accumulate


@dataclass
class GibbsIn:
    start: str = pg.param("noise", choices=("noise", "test images"), help="Where the chains start: uniform noise, "
                          "or real test images (watch the chain forget them). An image given below overrides it.")
    image: pg.ImageInput = pg.image_param("Optional: your image (upload or draw a digit); every chain starts from "
                                          "it, binarised, and wanders off on its own draws.", optional=True)
    steps_per_frame: int = pg.param(5, min=1, max=200, help="Gibbs steps between frames.", label="steps per frame")
    frames: int = pg.param(40, min=2, max=200, help="Frames of the animation.")
    chains: int = pg.param(16, min=1, max=64, help="Chains run side by side.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


@dataclass
class ReconstructIn:
    image: pg.ImageInput = pg.image_param("An image or a drawing to binarise and reconstruct.")
    gibbs_steps: int = pg.param(0, min=0, max=1000, help="0: one mean-field pass; more: that many Gibbs steps "
                                "from it (denoising by the model's prior).", label="Gibbs steps")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")


@dataclass
class FiltersIn:
    count: int = pg.param(64, min=1, max=1024, help="Hidden units to show (the largest weight norms first).")


@dataclass
class EvaluateIn:
    ais_runs: int = pg.param(100, min=2, max=2000, help="Independent AIS runs.", label="AIS runs")
    ais_betas: int = pg.param(3000, min=100, max=100_000, help="Intermediate temperatures per run.",
                              label="AIS temperatures")
    n: int = pg.param(500, min=10, max=10_000, help="Test images scored.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed.")
    compare: str = pg.param("", help="Other RBM weights scored the same way (same AIS runs, temperatures and test "
                            "images), comma-separated, e.g. digits-pcd.", label="compare with")


SAMPLE_STEPS = 1000  # Gibbs steps from noise for sample()
VIEW_SIZE = 16  # the default image size; the quality view binarises both sides at it


def _binarised_small(images: torch.Tensor) -> torch.Tensor:
    """Area-resize to 16×16, threshold at mid-grey, back to the given size (nearest): what the RBM sees of a real
    digit, so FID compares its samples with real digits seen the same way (not with smooth 32 px ones)."""
    size = images.shape[-1]
    small = torch.nn.functional.interpolate(images.float(), size=VIEW_SIZE, mode="area") if size != VIEW_SIZE \
        else images.float()
    binary = torch.where(small > 0, 1.0, -1.0)
    out = torch.nn.functional.interpolate(binary, size=size, mode="nearest") if size != VIEW_SIZE else binary
    return out.to(images.dtype)


BINARISED_16 = pg.ImageView(f"binarised at {VIEW_SIZE}×{VIEW_SIZE}", _binarised_small)


def binarise(x: torch.Tensor) -> torch.Tensor:
    """Images in [−1, 1] (N×1×S×S) → binary rows N×S²."""
    return (x.flatten(1) > 0).float()


class RBMFamily(pg.ModelFamily):
    name = "rbm"
    title = "RBM"
    description = ("An energy-based model of binarised images: visible pixels and hidden units, no links within a "
                   "layer, trained by contrastive divergence (CD-k) or persistent CD with hand-written updates, "
                   "sampled by Gibbs sampling (a Markov chain that alternates the two layers). Its log-likelihood "
                   "is estimated by annealed importance sampling.")
    config = RBMConfig
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(headline=("test log-likelihood (nats per image)",), view=BINARISED_16)
    checks = pg.Checks(
        smoke_config={"steps": 500, "hidden": 64, "lr": 0.1},
        learning_loss=RECON,
        accumulation_exact=False,  # Bernoulli draws per item
    )
    tasks = (
        pg.Task("gibbs", "Gibbs chain", GibbsIn, "Watch Gibbs chains move, from noise or from your image, with the "
                "free energy along the way.", animation=True, chart="line", data=True),
        pg.Task("reconstruct", "Reconstruct", ReconstructIn, "Binarise an image, then one up-down pass (or a few "
                "Gibbs steps) through the hidden layer."),
        pg.Task("filters", "Filters", FiltersIn, "Each hidden unit's weights as an image: the strokes it detects."),
    )

    def streams(self, cfg: RBMConfig) -> tuple[pg.Stream, ...]:
        return (pg.Stream(size=cfg.image_size, channels=1),)

    def build(self, cfg: RBMConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        return nn.ModuleDict({"rbm": RBM(cfg.image_size ** 2, cfg.hidden)})

    def configure_optimizers(self, cfg: RBMConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        return {}

    @torch.no_grad()
    def prepare(self, state: pg.ModelState, data: pg.Batch, generator: torch.Generator) -> None:
        """W ~ N(0, 0.01²), hidden biases 0, visible biases the data's log-odds (Hinton's practical guide)."""
        rbm, v = state.modules["rbm"], binarise(data.x)
        rbm.W.copy_(0.01 * torch.randn(rbm.W.shape, generator=generator, device=generator.device).to(rbm.W))
        rbm.b.copy_(base_biases(v))
        rbm.c.zero_()

    @torch.no_grad()
    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg, rbm = run.config, run.modules["rbm"]
        with torch.autocast(run.device.type, enabled=False):  # Bernoulli draws from bf16 probabilities drift
            v0 = binarise(batch.x.float())
            if cfg.persistent:
                start = run.stash.get("chains")
                if start is None or len(start) != len(v0):
                    start = v0.clone()  # chains start at the first batch, then live on
            else:
                start = v0
            update = cd_gradient(rbm, v0, start, cfg.k, run.generator)
            if cfg.persistent:
                run.stash["chains"] = update.negatives
            gap = rbm.free_energy(v0).mean() - rbm.free_energy(update.negatives).mean()
            horizon = cfg.lr_horizon or cfg.steps
            apply_update(rbm, update, cfg.lr * pg.lr_factor(cfg.lr_schedule, run.state.step, horizon), cfg.weight_decay)
            return {RECON: reconstruction_error(rbm, v0), GAP: gap}

    # -- sampling ------------------------------------------------------------------------------------------------
    def _size(self, state: pg.ModelState) -> int:
        return state.config.image_size

    def _images(self, state: pg.ModelState, v: torch.Tensor) -> torch.Tensor:
        s = self._size(state)
        return v.reshape(-1, 1, s, s) * 2 - 1

    @torch.no_grad()
    def sample(self, state: pg.ModelState, n: int, generator: torch.Generator,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """``SAMPLE_STEPS`` Gibbs steps from uniform noise; the last visible probabilities (mean field)."""
        rbm = state.modules["rbm"]
        g = pg.generator_on(generator, rbm.W.device)
        v = torch.bernoulli(torch.full((n, rbm.W.shape[0]), 0.5, device=rbm.W.device), generator=g)
        v = rbm.gibbs(v, SAMPLE_STEPS, g)
        return self._images(state, rbm.visible_probs(rbm.hidden_probs(v)))

    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        rbm = state.modules["rbm"]
        v = binarise(batch.x[:8])
        recon = rbm.visible_probs(rbm.hidden_probs(v))
        chains = state.stash.get("chains")
        rows = [self._images(state, v), self._images(state, recon)]
        if chains is not None:
            rows.append(self._images(state, chains[:8]))
        return torch.cat(rows)

    # -- tasks ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def gibbs(self, state: pg.ModelState, inp: GibbsIn, load) -> pg.TaskResult:  # noqa: ANN001
        rbm = state.modules["rbm"]
        g = torch.Generator(device=rbm.W.device).manual_seed(inp.seed)
        if inp.image is not None:
            v = binarise(inp.image[None].to(rbm.W.device)).expand(inp.chains, -1).clone()
        elif inp.start == "test images":
            test = load(pg.DataSpec(state.data["name"], split="test", size=state.config.image_size))
            v = binarise(test.float_images()[:inp.chains].to(rbm.W.device))
        else:
            v = torch.bernoulli(torch.full((inp.chains, rbm.W.shape[0]), 0.5, device=rbm.W.device), generator=g)
        frames, rows = [pg.make_grid(self._images(state, v).cpu(), nrow=min(8, inp.chains))], []
        rows.append({"Gibbs step": 0, "free energy": float(rbm.free_energy(v).mean())})
        for i in range(1, inp.frames):
            v = rbm.gibbs(v, inp.steps_per_frame, g)
            frames.append(pg.make_grid(self._images(state, v).cpu(), nrow=min(8, inp.chains)))
            rows.append({"Gibbs step": i * inp.steps_per_frame, "free energy": float(rbm.free_energy(v).mean())})
        chart = pg.Chart(rows, x="Gibbs step", y="free energy", title="Mean free energy of the chains' states "
                         "(falls as they reach the model's modes)")
        return pg.TaskResult(images=[("start", frames[0]), (f"after {rows[-1]['Gibbs step']} Gibbs steps",
                                                             frames[-1])],
                             values={"free energy at the start": round(rows[0]["free energy"], 2),
                                     "free energy at the end": round(rows[-1]["free energy"], 2)},
                             chart=chart, animation=frames)

    @torch.no_grad()
    def reconstruct(self, state: pg.ModelState, inp: ReconstructIn) -> pg.TaskResult:
        rbm = state.modules["rbm"]
        v = binarise(inp.image[None].to(rbm.W.device))
        if inp.gibbs_steps:
            g = torch.Generator(device=rbm.W.device).manual_seed(inp.seed)
            out = rbm.visible_probs(rbm.hidden_probs(rbm.gibbs(v, inp.gibbs_steps, g)))
        else:
            out = rbm.visible_probs(rbm.hidden_probs(v))
        changed = float(((out > 0.5).float() != v).float().mean())
        return pg.TaskResult(images=[("binarised input", self._images(state, v)[0]),
                                     ("reconstruction", self._images(state, out)[0])],
                             values={"free energy of the input": round(float(rbm.free_energy(v)[0]), 2),
                                     "pixels changed (%)": round(100 * changed, 1)})

    @torch.no_grad()
    def filters(self, state: pg.ModelState, inp: FiltersIn) -> pg.TaskResult:
        W = state.modules["rbm"].W.T.cpu()  # H×V
        order = W.norm(dim=1).argsort(descending=True)[:inp.count]
        w = W[order]
        scale = w.abs().amax(1, keepdim=True).clamp_min(1e-8)
        tiles = self._images(state, (w / scale + 1) / 2)  # each unit on its own scale: −max black … +max white
        return pg.TaskResult(images=[(f"{len(order)} hidden units' weights (white +, black −)",
                                      pg.make_grid(tiles, nrow=min(16, len(order))))],
                             values={"hidden units": int(W.shape[0]), "largest |w|": round(float(W.abs().max()), 3)})

    @staticmethod
    def _scores(state: pg.ModelState, train: torch.Tensor, test: torch.Tensor, inp: EvaluateIn) -> dict:
        rbm = state.modules["rbm"]
        g = torch.Generator(device=rbm.W.device).manual_seed(inp.seed)
        log_z = ais_log_partition(rbm, base_biases(train), inp.ais_runs, inp.ais_betas, g)
        fe_test, fe_train = float(rbm.free_energy(test).mean()), float(rbm.free_energy(train[:inp.n]).mean())
        cfg = state.config
        return {"recipe": f"{'PCD' if cfg.persistent else 'CD'}-{cfg.k}, {cfg.hidden} hidden, {state.step} updates",
                "log Z (AIS)": round(log_z.estimate, 2),
                "log Z, ±3 s.e. over runs": [round(log_z.low, 2) if math.isfinite(log_z.low) else "-inf",
                                             round(log_z.high, 2)],
                "test log-likelihood (nats per image)": round(-fe_test - log_z.estimate, 2),
                "train log-likelihood (nats per image)": round(-fe_train - log_z.estimate, 2),
                "test reconstruction error": round(float(reconstruction_error(rbm, test)), 4)}

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        rbm, cfg = state.modules["rbm"], state.config
        name = state.data["name"]
        train = binarise(load(pg.DataSpec(name, size=cfg.image_size)).float_images().to(rbm.W.device))
        test = binarise(load(pg.DataSpec(name, split="test", size=cfg.image_size)).float_images()[:inp.n]
                        .to(rbm.W.device))
        values = {**self._scores(state, train, test, inp), "AIS runs × temperatures":
                  f"{inp.ais_runs} × {inp.ais_betas}", "test images": len(test)}
        rows = [{"weights": "this model", **{k: v for k, v in values.items() if k in ROW_KEYS}}]
        for ref in (r.strip() for r in inp.compare.split(",") if r.strip()):
            other = load.model(self.name, ref)
            if other.data.get("name") != name or other.config.image_size != cfg.image_size:
                values[f"compare with {ref}"] = (f"skipped: trained on {other.data.get('name')} at "
                                                 f"{other.config.image_size} px")
                continue
            scores = self._scores(other, train, test, inp)
            rows.append({"weights": ref, **{k: v for k, v in scores.items() if k in ROW_KEYS}})
        if len(rows) > 1:
            values["comparison"] = rows
        samples = self.sample(state, 64, torch.Generator(device=rbm.W.device).manual_seed(inp.seed))
        return pg.TaskResult(images=[(f"64 samples ({SAMPLE_STEPS} Gibbs steps from noise)",
                                      pg.make_grid(samples.cpu(), nrow=8))], values=values)


ROW_KEYS = ("recipe", "test log-likelihood (nats per image)", "train log-likelihood (nats per image)",
            "log Z (AIS)", "test reconstruction error")


"""The CycleGAN family: configuration, the two data streams, the four networks, the training step (generators,
then discriminators on pooled fakes) and the translation functions the tasks and the evaluation use. Tasks are in
``tasks.py``, evaluation in ``evaluation.py``, the objective in ``losses.py``, the image pool in ``pool.py``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import playground as pg

from . import pictures, pool, semantic
from .evaluation import HEADLINE_METRICS, EvaluateIn, Evaluation
from .losses import ADVERSARIAL, LAMBDA_CYCLE, LAMBDA_IDENTITY, cycle_loss, identity_loss
from .nets import PatchDiscriminator, ResnetGenerator, patch_grid
from .tasks import BatchTranslateIn, CycleDriftIn, Tasks, TranslateIn

CHUNK = 256
DIRECTIONS = ("AtoB", "BtoA")  # the reference repository's --direction names


@dataclass
class CycleGANConfig(pg.TrainConfig):
    dataset: str = pg.param("digits", label="domain A", help="Domain A's images: a registered dataset, or "
                            "folder:PATH (e.g. folder:~/horse2zebra/trainA; a testA beside it is its test split).")
    dataset_b: str = pg.param("glyphs", label="domain B", help="Domain B's images (unpaired with A's), as for "
                              "domain A: e.g. folder:~/horse2zebra/trainB.")
    steps: int = pg.param(5000, min=1, max=10_000_000, help="Optimisation steps in total (one generator and one "
                          "discriminator update each).")
    batch_size: int = pg.param(8, min=1, max=65_536, help="Images per domain per step (the paper uses 1; instance "
                               "norm makes each image's output independent of the others).")
    lr: float = pg.param(2e-4, min=1e-8, max=1.0, help="Adam's step size for generators and discriminators.",
                         label="learning rate")
    lr_schedule: str = pg.param("linear_decay", choices=pg.LR_SCHEDULES, help="The paper's: constant for the first "
                                "half, then linearly to 0 (linear_decay); constant or cosine.", label="LR schedule",
                                advanced=True)
    image_size: int = pg.param(32, min=16, max=128, help="Images are resized to this side (32 for digits; 64 "
                               "for your own photos costs 4× the compute).")
    width: int = pg.param(24, min=4, max=256, help="Channels of each generator's first layer (×4 at its "
                          "bottleneck).", label="generator width")
    blocks: int = pg.param(3, min=0, max=16, help="Residual blocks at each generator's bottleneck (the paper: 9 at "
                           "256 px, 6 at 128 px; a few at 32 px).", label="generator blocks")
    d_width: int = pg.param(32, min=4, max=256, help="Channels of each discriminator's first layer.",
                            label="discriminator width")
    d_layers: int = pg.param(2, min=1, max=5, help="Stride-2 layers of the PatchGAN discriminators: 2 judges "
                             "34×34 patches, 3 the paper's 70×70 (for 64 px and up).", label="discriminator layers")
    adversarial: str = pg.param("least_squares", choices=tuple(ADVERSARIAL), help="; ".join(
        f"{k}: {a.title}" for k, a in ADVERSARIAL.items()), label="adversarial loss")
    lambda_cycle: float = pg.param(LAMBDA_CYCLE, min=0.0, max=1000.0, help="Weight of the cycle loss ‖F(G(a)) − a‖₁"
                                   " + ‖G(F(b)) − b‖₁; 0 = no cycle (the ablation: nothing ties a translation to "
                                   "its input).", label="λ cycle")
    cycle_a_weight: float = pg.param(1.0, min=0.0, max=10.0, help="A's round trip ‖F(G(a)) − a‖₁ weighs λ cycle × "
                                     "this (the reference code's λ_A / λ_B split). Below 1 when A varies more than "
                                     "B (handwriting → print): a full weight makes G hide A's style in its output "
                                     "so that F can restore it.", label="A cycle weight", advanced=True)
    lambda_identity: float = pg.param(LAMBDA_IDENTITY, min=0.0, max=100.0, help="Weight of the identity loss "
                                      "‖G(b) − b‖₁ + ‖F(a) − a‖₁, relative to λ cycle (the paper's 0.5); needs both "
                                      "domains to have the same channels.", label="λ identity")
    lambda_semantic: float = pg.param(0.0, min=0.0, max=100.0, help="Weight of the semantic term CE(C_B(G(a)), "
                                      "y_a) + CE(C_A(F(b)), y_b): a classifier per domain, fitted on its labels "
                                      "before the first step and frozen, asks each translation to keep its "
                                      "source's class (CyCADA). Needs both domains labelled with the same classes "
                                      "(folders: one sub-folder per class, same names); 0 = the paper's recipe.",
                                      label="λ semantic")
    pool_size: int = pg.param(50, min=0, max=10_000, help="Earlier fakes kept per domain for the discriminators "
                              "(0 = only the latest).", label="image pool size")
    beta1: float = pg.param(0.5, min=0.0, max=0.999, help="Adam's β₁ (the paper's 0.5).", label="Adam β₁",
                            advanced=True)


def generators(direction: str) -> tuple[str, str]:
    """(the generator that translates, the one that maps back) for a direction."""
    if direction not in DIRECTIONS:
        raise pg.InputError(f"Unknown direction {direction!r}; use AtoB (domain A → B) or BtoA.")
    return ("G_AB", "G_BA") if direction == "AtoB" else ("G_BA", "G_AB")


def domains(direction: str) -> tuple[str, str]:
    """(source stream, target stream) of a direction."""
    generators(direction)
    return ("A", "B") if direction == "AtoB" else ("B", "A")


@torch.no_grad()
def translate(state: pg.ModelState, x: torch.Tensor, generator: str) -> torch.Tensor:
    """Images ``x`` (N×C×H×W in [-1, 1]) through generator ``G_AB`` or ``G_BA``, in chunks, in [-1, 1]."""
    net = state.modules[generator]  # no dropout, and instance norm keeps no running statistics: any mode will do
    return torch.cat([net(x[i:i + CHUNK].to(state.device)).float() for i in range(0, len(x), CHUNK)]).clamp(-1, 1)


def domain_name(state: pg.ModelState, stream: str) -> str:
    """The dataset a domain was trained on (a folder's last two path parts), for captions."""
    name = str(state.streams.get(stream, {}).get("name", stream))
    if name.startswith(pg.FOLDER_PREFIX):
        parts = name[len(pg.FOLDER_PREFIX):].rstrip("/").split("/")
        name = "/".join(parts[-2:])
    return name


class CycleGAN(Tasks, Evaluation, pg.ModelFamily):
    name = "cyclegan"
    title = "CycleGAN"
    description = ("Unpaired translation between two image domains (Zhu et al. 2017): G maps A → B, F maps B → A, "
                   "each judged by a PatchGAN discriminator, and the cycle loss ‖F(G(a)) − a‖ ties every "
                   "translation to its input. Built in: handwritten digits ↔ printed digits; draw a digit and see "
                   "it printed. Or train on two folders of your own images.")
    config = CycleGANConfig
    evaluate_inputs = EvaluateIn
    scores = pg.Scores(chart="bar", headline=HEADLINE_METRICS)
    checks = pg.Checks(
        smoke_config={"width": 8, "blocks": 1, "d_width": 8, "batch_size": 8, "lr": 1e-3, "pool_size": 8,
                      "lr_schedule": "constant"},
    )
    tasks = (
        pg.Task("translate", "Translate", TranslateIn,
                "Upload or draw an image of one domain: its translation into the other and the cycle "
                "reconstruction back, with the evaluator's class of each (built-in domains)."),
        pg.Task("batch_translate", "Batch translate", BatchTranslateIn,
                "Test images of one domain, their translations and cycle reconstructions, row by row.",
                data=True),
        pg.Task("cycle_drift", "Cycle drift", CycleDriftIn,
                "Translate there and back k times: what the round trips lose or invent, round by round.",
                chart="line", animation=True),
    )

    # -- what it trains on --------------------------------------------------------------------------------
    def streams(self, cfg: CycleGANConfig) -> tuple[pg.Stream, ...]:
        if cfg.dataset.strip() == cfg.dataset_b.strip():
            raise pg.ConfigError(f"Domains A and B are both {cfg.dataset!r}: CycleGAN translates between two "
                                 "different sets of images (e.g. digits and glyphs, or folder:…/trainA and "
                                 "folder:…/trainB).")
        labels = cfg.lambda_semantic > 0
        return (pg.Stream("A", "dataset", size=cfg.image_size, labels=labels),
                pg.Stream("B", "dataset_b", size=cfg.image_size, labels=labels))

    def build(self, cfg: CycleGANConfig, info: pg.BuildInfo) -> nn.ModuleDict:
        ca, cb = info.streams["A"].channels, info.streams["B"].channels
        if ca != cb and cfg.lambda_identity > 0 and cfg.lambda_cycle > 0:
            raise pg.ConfigError(f"Domain A has {ca} channel(s) and domain B {cb}: the identity loss compares an "
                                 "image with its own translation, so it needs equal channels; set λ identity to 0.")
        if cfg.image_size % 4:
            raise pg.ConfigError(f"Image size {cfg.image_size} is not a multiple of 4: the generators halve it twice "
                                 "and double it back; use e.g. 32 or 64.")
        if patch_grid(cfg.image_size, cfg.d_layers) < 1:
            raise pg.ConfigError(f"{cfg.d_layers} discriminator layers leave no patches at {cfg.image_size} px; use "
                                 f"at most {max(1, cfg.image_size.bit_length() - 3)}.")
        modules = nn.ModuleDict({
            "G_AB": ResnetGenerator(ca, cb, cfg.width, cfg.blocks),
            "G_BA": ResnetGenerator(cb, ca, cfg.width, cfg.blocks),
            "D_A": PatchDiscriminator(ca, cfg.d_width, cfg.d_layers),
            "D_B": PatchDiscriminator(cb, cfg.d_width, cfg.d_layers),
        })
        if cfg.lambda_semantic > 0:
            ka, kb = info.streams["A"].num_classes, info.streams["B"].num_classes
            if ka != kb or ka < 2:
                raise pg.ConfigError(f"The semantic term needs both domains labelled with the same classes; domain A "
                                     f"has {ka} class(es) and domain B {kb}. Set λ semantic to 0.")
            # Fitted in prepare and frozen: no optimiser holds them, and no gradient is kept for them.
            modules["C_A"] = semantic.classifier(ca, ka).requires_grad_(False)
            modules["C_B"] = semantic.classifier(cb, kb).requires_grad_(False)
        return modules

    def prepare(self, state: pg.ModelState, data: pg.Batch, generator: torch.Generator) -> None:
        """Fit the semantic term's classifiers, one per domain, on its training labels (λ semantic > 0 only)."""
        if state.config.lambda_semantic > 0:
            for stream in "AB":
                acc = semantic.fit(state.modules[f"C_{stream}"], data[stream].x, data[stream].y, generator)
                state.metrics[f"semantic classifier {stream} (train accuracy)"] = round(acc, 4)

    def configure_optimizers(self, cfg: CycleGANConfig, modules: nn.ModuleDict) -> dict[str, torch.optim.Optimizer]:
        betas = (cfg.beta1, 0.999)
        gens = [*modules["G_AB"].parameters(), *modules["G_BA"].parameters()]
        discs = [*modules["D_A"].parameters(), *modules["D_B"].parameters()]
        return {"G": torch.optim.Adam(gens, lr=cfg.lr, betas=betas),
                "D": torch.optim.Adam(discs, lr=cfg.lr, betas=betas)}

    def train_step(self, run: pg.Run, batch: pg.Batch) -> dict[str, torch.Tensor]:
        cfg, m = run.config, run.modules
        adv = ADVERSARIAL[cfg.adversarial]
        a, b = batch["A"].x, batch["B"].x
        # Generators: fool the discriminators, come back round the cycle, leave their own domain alone.
        fake_b, fake_a = m["G_AB"](a), m["G_BA"](b)
        rec_a, rec_b = m["G_BA"](fake_b), m["G_AB"](fake_a)
        adv_ab, adv_ba = adv.g_loss(m["D_B"](fake_b).float()), adv.g_loss(m["D_A"](fake_a).float())
        cyc_a, cyc_b = cycle_loss(rec_a, a), cycle_loss(rec_b, b)
        loss_g = adv_ab + adv_ba + cfg.lambda_cycle * (cfg.cycle_a_weight * cyc_a + cyc_b)
        idt = torch.zeros((), device=a.device)
        w_idt = cfg.lambda_cycle * cfg.lambda_identity
        if w_idt > 0:
            idt = identity_loss(m["G_AB"](b), b) + identity_loss(m["G_BA"](a), a)
            loss_g = loss_g + w_idt * idt
        sem = torch.zeros((), device=a.device)
        if cfg.lambda_semantic > 0:
            sem = semantic.semantic_loss(m["C_A"], m["C_B"], fake_b, batch["A"].y, fake_a, batch["B"].y)
            loss_g = loss_g + cfg.lambda_semantic * sem
        run.backward(loss_g, "G")  # into G_AB and G_BA only: the discriminators keep no gradient from it
        run.step("G")
        # Discriminators: real images against fakes drawn from the history pools.
        pool_a = pool.query(run.stash, "pool_A", fake_a, cfg.pool_size, run.generator)
        pool_b = pool.query(run.stash, "pool_B", fake_b, cfg.pool_size, run.generator)
        d_a = adv.d_loss(m["D_A"](a).float(), m["D_A"](pool_a).float())
        d_b = adv.d_loss(m["D_B"](b).float(), m["D_B"](pool_b).float())
        run.backward(d_a + d_b, "D")
        run.step("D")
        return {"G loss": loss_g.detach(), "D loss": (d_a + d_b).detach(), "adversarial A→B": adv_ab.detach(),
                "adversarial B→A": adv_ba.detach(), "cycle A (L1)": cyc_a.detach(), "cycle B (L1)": cyc_b.detach(),
                "identity (L1)": idt.detach(), "semantic (CE)": sem.detach(), "D_A": d_a.detach(), "D_B": d_b.detach()}

    # -- pictures and scores --------------------------------------------------------------------------------
    @torch.no_grad()
    def preview(self, state: pg.ModelState, batch: pg.Batch, generator: torch.Generator) -> torch.Tensor:
        """Eight fixed images of each domain, their translations and cycle reconstructions."""
        a, b = batch["A"].x[:8], batch["B"].x[:8]
        fake_b, fake_a = translate(state, a, "G_AB"), translate(state, b, "G_BA")
        na, nb = domain_name(state, "A"), domain_name(state, "B")
        rows = [(f"A: {na}", a), ("G(A) → B", fake_b), ("F(G(A)) → A", translate(state, fake_b, "G_BA")),
                (f"B: {nb}", b), ("F(B) → A", fake_a), ("G(F(B)) → B", translate(state, fake_a, "G_AB"))]
        return pictures.labelled_rows(rows, title=f"step {state.step}")[None]

    def learning_score(self, state: pg.ModelState, images: torch.Tensor) -> float:
        """Cycle L1 plus identity L1 on up to 256 domain-A images (lower is better): an untrained pair of generators
        returns neither the input nor anything near it."""
        a = images[:256].to(state.device)
        back = translate(state, translate(state, a, "G_AB"), "G_BA")
        score = float(cycle_loss(back, a))
        if state.info.streams["A"].channels == state.info.streams["B"].channels:
            score += float(identity_loss(translate(state, a, "G_BA"), a))
        return score

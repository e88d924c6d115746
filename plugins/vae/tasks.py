"""The VAE's tasks: generate, reconstruct (with posterior samples and the input's place in the latent map),
interpolate between images or seeds, latent traversals and the latent map. A mixin of ``VAE`` (``family.py``):
it uses the family's encode/decode/sample and knows nothing of the UI."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import playground as pg

from .elbo import LIKELIHOODS, bits_per_dim, kl_per_dim, reparameterise

SAMPLERS = ("auto", "prior", "mixture")


@dataclass
class GenerateIn:
    n: int = pg.param(64, min=1, max=256, help="Number of images.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of z.")
    sampler: str = pg.param("auto", choices=SAMPLERS, help="prior: z ~ N(0, I); mixture: z from the Gaussian "
                            "mixture fitted to the training posteriors; auto: the mixture when the model has one.")
    temperature: float = pg.param(1.0, min=0.0, max=3.0, help="Scale of z's spread (0 = the centre only).")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class to generate; -1 = one row "
                          "per class.", label="class")


@dataclass
class ReconstructIn:
    image: pg.ImageInput = pg.image_param("An image (upload) or a drawing (sketch).")
    samples: int = pg.param(4, min=0, max=16, help="Decoded posterior samples z ~ q(z|x) to show.")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the posterior samples.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class given with the image; -1 = "
                          "the class under which the ELBO is highest (the CVAE as a classifier).", label="class")


@dataclass
class InterpolateIn:
    image_a: pg.ImageInput = pg.image_param("Start image.")
    image_b: pg.ImageInput = pg.image_param("End image.")
    steps: int = pg.param(10, min=2, max=64, help="Images along the path, ends included.")
    path: str = pg.param("linear", choices=("linear", "spherical"),
                         help="Straight line between the codes, or the great circle (slerp).")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class along the path; -1 = each "
                          "end's best class (blended).", label="class")


@dataclass
class InterpolateSeedsIn:
    seed_a: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of the start code.")
    seed_b: int = pg.param(1, min=0, max=2**31 - 1, help="Seed of the end code.")
    steps: int = pg.param(10, min=2, max=64, help="Images along the path, ends included.")
    path: str = pg.param("spherical", choices=("linear", "spherical"),
                         help="Spherical keeps |z| typical of the prior all the way (linear passes near 0).")
    sampler: str = pg.param("auto", choices=SAMPLERS, help="Where the two end codes come from.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class along the path (-1 = class 0).",
                          label="class")


@dataclass
class TraverseIn:
    image: pg.ImageInput = pg.image_param("The image whose code the traversal starts from.")
    dims: int = pg.param(10, min=1, max=64, help="Latent dimensions to sweep (the highest-KL first).")
    span: float = pg.param(3.0, min=0.1, max=10.0, help="Sweep each dimension from −span to +span.")
    steps: int = pg.param(9, min=2, max=21, help="Images per dimension.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class; -1 = the best class.",
                          label="class")


@dataclass
class LatentMapIn:
    grid: int = pg.param(15, min=2, max=30, help="Decoded images per side of the manifold mosaic.")
    label: int = pg.param(-1, min=-1, max=1000, help="Conditional models: the class the mosaic decodes with "
                          "(-1 = class 0).", label="class")



def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t (T) → T×L; linear when they are parallel."""
    na, nb = a.norm(), b.norm()
    cos = (a @ b / (na * nb).clamp(min=1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    t = t[:, None]
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class Tasks:
    """Task methods of the VAE, named like its declared tasks."""

    # Image inputs arrive as C×H×W tensors in [-1, 1] at the model's size.
    @torch.no_grad()
    def generate(self, state: pg.ModelState, inp: GenerateIn) -> pg.TaskResult:
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        used = self.resolve_sampler(state, inp.sampler)
        n, nrow = inp.n, None
        labels = self._class_labels(state, n, inp.label)
        if state.config.conditional and inp.label < 0:  # one row per class, the same number in each
            classes = state.info.num_classes
            nrow = max(1, n // classes)
            n = nrow * classes
            labels = torch.arange(classes, device=state.device).repeat_interleave(nrow)
        imgs = self.sample(state, n, gen, labels=labels, sampler=used, temperature=inp.temperature)
        what = ("N(0, I) prior" if used == "prior" else
                f"Gaussian mixture of {len(state.stats['mixture_weights'])} components fitted to the training "
                "posteriors")
        values = {"sampler": used, "sampler used": what, "n": n, "seed": inp.seed,
                  "temperature": inp.temperature}
        if state.config.conditional:
            values["class"] = "one row per class" if inp.label < 0 else inp.label
        return pg.TaskResult(images=[(f"{n} samples ({used}), seed {inp.seed}",
                                      pg.make_grid(imgs.cpu(), nrow=nrow))], values=values)

    def _image_map(self, state: pg.ModelState, marks: torch.Tensor, label: int) -> torch.Tensor:
        img, _ = self.map_figure(state, state.stats["map_codes"], state.stats.get("map_labels"), grid=10,
                                 label=label, marks=marks, title="star: this input; dots: training codes")
        return img

    @torch.no_grad()
    def reconstruct(self, state: pg.ModelState, inp: ReconstructIn) -> pg.TaskResult:

        x = inp.image[None]
        y = self._labels_for(state, x, inp.label)
        mu, logvar = self.encode(state, x, y)
        recon = self.decode(state, mu, y)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        images = [("input", x[0]), ("reconstruction (posterior mean)", recon[0])]
        if inp.samples:
            z = reparameterise(mu.expand(inp.samples, -1), logvar.expand(inp.samples, -1), gen)
            draws = self.decode(state, z, None if y is None else y.expand(inp.samples))
            images.append((f"{inp.samples} posterior samples z ~ q(z|x)", pg.make_grid(draws.cpu(), pad=1)))
        kl = kl_per_dim(mu, logvar)[0]
        elbo = self.elbo(state, x, y, torch.Generator(device=state.device).manual_seed(inp.seed))[0]
        images.append(("where it lands in the latent map (the black star)",
                       self._image_map(state, mu, -1 if y is None else int(y[0]))))
        values = {"KL of this input (nats)": round(float(kl.sum()), 3),
                  "ELBO (nats)": round(float(elbo), 2),
                  "bits/dim": round(float(bits_per_dim(-elbo, x[0].numel(),
                                                       LIKELIHOODS[state.config.likelihood].density)), 4),
                  "PSNR of the reconstruction (dB)": round(float(pg.psnr(recon, x)[0]), 2),
                  "posterior mean μ": [round(float(v), 2) for v in mu[0]],
                  "posterior σ": [round(float(v), 3) for v in (0.5 * logvar[0]).exp()]}
        if y is not None:
            values["class"] = int(y[0]) if inp.label >= 0 else f"{int(y[0])} (highest ELBO)"
        return pg.TaskResult(images=images, values=values)

    def _path(self, a: torch.Tensor, b: torch.Tensor, steps: int, path: str) -> torch.Tensor:
        t = torch.linspace(0, 1, steps, device=a.device)
        if path == "spherical":
            return slerp(a, b, t)
        return a + t[:, None] * (b - a)

    def _strip(self, state: pg.ModelState, z: torch.Tensor, y: torch.Tensor | None, what: str,
               values: dict) -> pg.TaskResult:
        frames = self.decode(state, z, y).cpu()
        return pg.TaskResult(images=[(what, pg.make_grid(frames, nrow=len(frames)))], values=values,
                             animation=list(frames))

    @torch.no_grad()
    def interpolate(self, state: pg.ModelState, inp: InterpolateIn) -> pg.TaskResult:
        x = torch.stack([inp.image_a, inp.image_b])
        y = self._labels_for(state, x, inp.label)
        mu, _ = self.encode(state, x, y)
        z = self._path(mu[0], mu[1], inp.steps, inp.path)
        ys = None
        if y is not None:  # each end's class for its half of the path
            ys = torch.where(torch.arange(inp.steps, device=z.device) < inp.steps / 2, y[0], y[1])
        return self._strip(state, z, ys, f"{inp.path} path between the two codes ({inp.steps} steps)",
                           {"path": inp.path, "steps": inp.steps,
                            "distance between the codes": round(float((mu[0] - mu[1]).norm()), 3)})

    @torch.no_grad()
    def interpolate_seeds(self, state: pg.ModelState, inp: InterpolateSeedsIn) -> pg.TaskResult:
        used = self.resolve_sampler(state, inp.sampler)
        ends = [self.latents(state, 1, torch.Generator(device=state.device).manual_seed(s), used)[0]
                for s in (inp.seed_a, inp.seed_b)]
        z = self._path(ends[0], ends[1], inp.steps, inp.path)
        y = self._class_labels(state, inp.steps, inp.label)
        return self._strip(state, z, y, f"{inp.path} path from seed {inp.seed_a} to seed {inp.seed_b} ({used})",
                           {"path": inp.path, "sampler": used, "steps": inp.steps,
                            "|z| along the path": [round(float(v), 2) for v in z.norm(dim=1)]})

    @torch.no_grad()
    def traverse(self, state: pg.ModelState, inp: TraverseIn) -> pg.TaskResult:
        x = inp.image[None]
        y = self._labels_for(state, x, inp.label)
        mu, _ = self.encode(state, x, y)
        return self._traversal(state, mu[0], y, self.kl_order(state)[:inp.dims], inp.span, inp.steps)

    def _traversal(self, state: pg.ModelState, code: torch.Tensor, y: torch.Tensor | None, dims: torch.Tensor,
                   span: float, steps: int, names: dict[int, str] | None = None) -> pg.TaskResult:
        sweep = torch.linspace(-span, span, steps, device=code.device)
        z = code.repeat(len(dims) * steps, 1)
        for r, d in enumerate(dims.tolist()):
            z[r * steps:(r + 1) * steps, d] = sweep
        imgs = self.decode(state, z, None if y is None else y.expand(len(z)))
        kl, active = state.stats["kl_per_dim"], self.active(state)
        rows = {}
        for r, d in enumerate(dims.tolist()):
            tag = f"z{d}: KL {float(kl[d]):.2f} nats" + ("" if bool(active[d]) else " (inactive)")
            if names and d in names:
                tag += f", tracks {names[d]}"
            rows[f"row {r + 1}"] = tag
        caption = f"each row sweeps one dimension from −{span:g} to +{span:g}; rows by KL, highest first"
        return pg.TaskResult(images=[(caption, pg.make_grid(imgs.cpu(), nrow=steps, pad=1))],
                             values={**rows, "active units": f"{int(active.sum())} of {len(active)}"})

    @torch.no_grad()
    def latent_map(self, state: pg.ModelState, inp: LatentMapIn) -> pg.TaskResult:
        codes = state.stats["map_codes"]
        img, how = self.map_figure(state, codes, state.stats.get("map_labels"), grid=inp.grid, label=inp.label,
                                   title=f"{len(codes)} training codes (posterior means)")
        return pg.TaskResult(images=[("latent map and decoded manifold", img)], values={"view": how},
                             chart=self._kl_chart(state))

    def _kl_chart(self, state: pg.ModelState) -> pg.Chart:
        kl, active = state.stats["kl_per_dim"], self.active(state)
        rows = [{"dimension": f"z{int(d)}", "KL (nats)": round(float(kl[d]), 4),
                 "unit": "active" if bool(active[d]) else "inactive"} for d in self.kl_order(state)]
        return pg.Chart(rows, x="dimension", y="KL (nats)", color="unit",
                        title="KL per latent dimension on the training data (highest first)")


"""The VAE's evaluation: ELBO and IWAE bound in nats and bits/dim, reconstruction PSNR/SSIM, KL and active units,
anomaly ROC-AUC (by −ELBO and by reconstruction error), the test split's latent map, sample quality per sampler,
class accuracy of a conditional model's samples, and MIG with labelled traversals on data with known factors.
A mixin of ``VAE`` (``family.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import playground as pg

from .disentangle import mutual_information_gap
from .elbo import LIKELIHOODS, active_units, bits_per_dim, kl_per_dim


@dataclass
class EvaluateIn:
    n: int = pg.param(500, min=10, max=10_000, help="Test images (at most what the split holds).")
    iwae_k: int = pg.param(64, min=1, max=5000, help="Importance samples per image for the IWAE bound.",
                           label="IWAE K")
    quality_n: int = pg.param(1000, min=0, max=10_000, help="Generated images per sampler for the sample-quality "
                            "scores (0 = skip).")
    outlier_dataset: str = pg.param("shapes", dataset=True,
                                    help="Dataset whose images count as anomalies (scored by −ELBO).")
    seed: int = pg.param(0, min=0, max=2**31 - 1, help="Seed of posterior and prior samples.")



class Evaluation:
    """``evaluate`` and its parts."""

    @torch.no_grad()
    def evaluate(self, state: pg.ModelState, inp: EvaluateIn, load) -> pg.TaskResult:  # noqa: ANN001
        from sklearn.metrics import roc_auc_score
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        cfg = state.config
        spec = pg.DataSpec.from_dict({**state.data, "split": "test"})
        data = load(spec)
        x = data.float_images()[: inp.n].to(state.device)
        y = None if data.labels is None else data.labels[: inp.n].to(state.device)
        gen = torch.Generator(device=state.device).manual_seed(inp.seed)
        lik = LIKELIHOODS[cfg.likelihood]
        dims = x[0].numel()
        elbo = self.elbo(state, x, y, gen)
        iw = self.iwae(state, x, y, inp.iwae_k, gen)
        values: dict = {"n test images": len(x), "likelihood": lik.title}
        values["ELBO (nats per image)"] = round(float(elbo.mean()), 3)
        values[f"IWAE bound, K = {inp.iwae_k} (nats per image)"] = round(float(iw.mean()), 3)
        values["ELBO (bits/dim)"] = round(float(bits_per_dim(-elbo.mean(), dims, lik.density)), 4)
        values[f"IWAE K = {inp.iwae_k} (bits/dim)"] = round(float(bits_per_dim(-iw.mean(), dims, lik.density)), 4)
        if not lik.density:
            values["note on bits/dim"] = ("Bernoulli on grey levels is not a normalised density: a loss, not a code "
                                          "length")
        yy = self._given_or_best(state, x, y)
        mu, logvar = self.encode(state, x, yy)
        recon = self.decode(state, mu, yy)
        values["reconstruction PSNR (dB)"] = round(float(pg.psnr(recon, x).mean()), 2)
        values["reconstruction SSIM"] = round(float(ssim((recon + 1) / 2, (x + 1) / 2, data_range=1.0)), 4)
        kl = kl_per_dim(mu, logvar).mean(0)
        values["KL (nats per image)"] = round(float(kl.sum()), 3)
        values["active units"] = f"{int(active_units(mu).sum())} of {len(kl)}"
        images = []
        fig, how = self.map_figure(state, mu, y, grid=12, title=f"{len(mu)} test codes")
        images.append((f"latent map of the test split ({how})", fig))
        self._anomaly(state, inp, load, spec, x, elbo, values, roc_auc_score)
        if data.factors is not None:
            images.append(self._disentanglement(state, data, mu, values))
        if inp.quality_n:
            self._sample_quality(state, inp, load, spec.name, values)
        return pg.TaskResult(images=images, values=values, chart=self._kl_chart(state))

    def _anomaly(self, state: pg.ModelState, inp: EvaluateIn, load, spec: pg.DataSpec,  # noqa: ANN001
                 x: torch.Tensor, elbo: torch.Tensor, values: dict, roc_auc_score) -> None:  # noqa: ANN001
        """ROC-AUC of two anomaly scores: −ELBO (the likelihood's view) and the reconstruction error (the
        autoencoder's protocol, so the two families compare). Likelihoods can rank simple outliers as *more*
        likely than the data (Nalisnick et al. 2019); showing both makes that visible."""
        def recon_error(images: torch.Tensor) -> torch.Tensor:
            y = self._given_or_best(state, images, None)
            recon = self.decode(state, self.encode(state, images, y)[0], y)
            return ((recon - images) ** 2).flatten(1).mean(1)

        inliers = (-elbo, recon_error(x))  # the inliers' −ELBO is the one evaluate already has

        def aucs(name: str, outliers: torch.Tensor) -> None:
            nelbo = -self.elbo(state, outliers, None, torch.Generator(state.device).manual_seed(inp.seed))
            for how, a, b in zip(("−ELBO", "reconstruction error"), inliers, (nelbo, recon_error(outliers)),
                                 strict=True):
                truth = np.r_[np.zeros(len(a)), np.ones(len(b))]
                values[f"anomaly ROC-AUC by {how}, {name}"] = round(
                    float(roc_auc_score(truth, torch.cat([a, b]).cpu().numpy())), 4)

        outliers = load(pg.DataSpec(name=inp.outlier_dataset, split="test", size=state.info.size))
        if outliers.channels != state.info.channels:
            values[f"anomaly ROC-AUC, {spec.name} vs {inp.outlier_dataset}"] = "n/a (channel counts differ)"
        else:
            aucs(f"{spec.name} vs {inp.outlier_dataset}", outliers.float_images()[: inp.n].to(state.device))
        if spec.exclude_classes:
            held = load(pg.DataSpec(name=spec.name, split="test", size=spec.size, only_classes=spec.exclude_classes))
            aucs(f"held-out class {list(spec.exclude_classes)} vs rest", held.float_images()[: inp.n].to(state.device))
        else:
            values["anomaly ROC-AUC, held-out class"] = "n/a: this model saw every class (train with --holdout-class K)"

    def _disentanglement(self, state: pg.ModelState, data: pg.ImageData, mu: torch.Tensor,
                         values: dict) -> tuple[str, torch.Tensor]:
        names = tuple(data.meta.get("factor_names") or (f"factor {k}" for k in range(data.factors.shape[1])))
        res = mutual_information_gap(mu, data.factors[: len(mu)], names)
        values["MIG (mutual information gap)"] = round(res.mig, 4)
        for name in names:
            values[f"MIG gap: {name}"] = f"{res.gaps[name]:.3f} (best dimension z{res.best_dim[name]})"
        tracks: dict[int, str] = {}
        for name, d in res.best_dim.items():
            if res.gaps[name] > 0.05:
                tracks[d] = f"{tracks[d]} + {name}" if d in tracks else name
        dims = self.kl_order(state)[:10]
        trav = self._traversal(state, mu[0], None, dims, 3.0, 9, tracks)
        values.update({f"traversal {k}": v for k, v in trav.values.items() if k.startswith("row")})
        return ("traversals from the first test image, labelled with the factor each dimension tracks "
                "(its MIG gap > 0.05)", trav.images[0][1])

    def _sample_quality(self, state: pg.ModelState, inp: EvaluateIn, load, dataset: str,  # noqa: ANN001
                        values: dict) -> None:

        samplers = ["prior"] + (["mixture"] if "mixture_means" in state.stats else [])
        for sampler in samplers:
            images = self.sample(state, inp.quality_n, torch.Generator(state.device).manual_seed(inp.seed),
                                 sampler=sampler)
            try:
                rep = pg.quality_report(load, images.cpu(), dataset, seed=inp.seed, neighbours=0)
            except pg.WeightsError as e:
                values[f"sample quality ({sampler})"] = f"n/a: {e}"
                return
            s, b = rep.scores, rep.baseline
            values[f"{sampler} sampler: FID (n={inp.quality_n}; real baseline)"] = f"{s['FID']:.3f} ({b['FID']:.3f})"
            for key in ("precision", "recall", "coverage"):
                values[f"{sampler} sampler: {key}"] = round(s[key], 4)
            values[f"{sampler} sampler: smallest class %"] = round(s["smallest class %"], 1)
        if state.config.conditional:
            self._class_accuracy(state, inp, dataset, values)

    def _class_accuracy(self, state: pg.ModelState, inp: EvaluateIn, dataset: str, values: dict) -> None:

        ev = pg.load_evaluator(dataset)
        classes = state.info.num_classes
        per = max(1, inp.quality_n // classes)
        labels = torch.arange(classes, device=state.device).repeat_interleave(per)
        images = self.sample(state, len(labels), torch.Generator(state.device).manual_seed(inp.seed), labels=labels)
        _, logits = ev.embed(images.cpu())
        hit = (logits.argmax(1) == labels.cpu()).float()
        values["conditional samples classified as the asked class"] = f"{float(hit.mean()):.1%}"
        values["… per class"] = {str(k): f"{float(hit[labels.cpu() == k].mean()):.0%}" for k in range(classes)}


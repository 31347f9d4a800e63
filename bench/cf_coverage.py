"""Coverage of the counterfactual intervals on simulated truth, with a calibration plot (issue 25).

Three regimes of ``medl.datasets.simulate`` (3 batches, 4 cell types; 1500 cells x 300
genes unless ``--cells``, ``--genes``): batch effects independent of cell type, cell
types confounded with batch (0.8), and type-specific batch effects (interaction 1.0 over a
shared effect of 0.5); seeds 0-2; the default MEDL, fitted once per data set. For every
cell sent to every other batch, ``counterfactual(n_samples=100)`` gives ``mean`` (the point
counterfactual) and ``sd``; printed, one JSON line per fit, the share of cell x gene entries with
``|truth - centre| <= z sd`` at nominal 50/80/90/95%, and the RMS error of the centre:

- ``expected``: truth = the expected log-normalised profile in the target batch
  (``true_counterfactual(expected=True)``), the quantity the interval is for (the default:
  the decode corrected by the target batch's neighbours' residuals);
- ``uncorrected``: the same, with ``correct=False`` (the model's decode and the draws' SD);
- ``noise_free``: truth = ``log1p(1e4 p)`` (the truth layers), above ``expected`` where
  counts are few (Jensen's inequality), which no model of log-normalised X estimates;
- ``draws_mean``: against ``expected``, centred on the mean of the decoded draws instead
  (what ``counterfactual(n_samples=)`` returned before: the same SD, a worse centre);
- ``knn``: the trivial baseline, against ``expected``: the mean of the cell's 15 nearest
  cells of the target batch (in 50 PCs of X, the recipe of ``medl.model.baselines``'
  kNN matcher, which returns no spread) with their standard error, ``sd / sqrt(15)``, as
  the interval's SD.

``--plot PATH`` draws nominal against observed coverage (mean over seeds) per regime.
About 4 minutes on 2 CPU cores at the default size.

    python bench/cf_coverage.py [--seeds 0 1 2] [--cells 1500] [--genes 300] [--plot x.png]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import norm

import medl
from medl.datasets import true_counterfactual
from medl.model.intervals import interval_factor

REGIMES = {
    "independent": {"batch_effect": 1.0},
    "confounded": {"batch_effect": 1.0, "confounding": 0.8},
    "type-specific": {"batch_effect": 0.5, "interaction": 1.0},
}
LEVELS = (0.5, 0.8, 0.9, 0.95)
CURVE = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))
KINDS = ("expected", "uncorrected", "noise_free", "draws_mean", "knn")
K = 15


def draws_mean(model, X, batch, target, n: int = 100) -> np.ndarray:
    """The mean of ``n`` decoded posterior draws (the previous centre), from the modules."""
    fe, design = model.modules["fe"], model.design
    mat = model._input(X)
    own = model._codes(batch, mat.shape[0])
    dest = np.full(mat.shape[0], model.batch_categories.index(target))
    generator = torch.Generator(device=model.device).manual_seed(0)

    def run(x, o, d):
        move = design._code_and_move(model, x, o, d, "anchored")[1]
        return sum(model.scaler.inverse(draw) for draw in fe.sample(x, d, n, generator, move)) / n

    return model._map(mat, run, own, dest)


def pca_space(X, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X as float64 and its 50 principal components, the kNN matcher's search space."""
    from sklearn.decomposition import PCA

    dense = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    return dense, PCA(n_components=50, random_state=seed).fit_transform(dense)


def knn_interval(dense, space, batch, target: str) -> tuple[np.ndarray, np.ndarray]:
    """The kNN matcher's counterfactual and the standard error of its neighbours' mean."""
    from sklearn.neighbors import NearestNeighbors

    pool = np.flatnonzero(batch.astype(str).to_numpy() == target)
    nearest = NearestNeighbors(n_neighbors=K).fit(space[pool]).kneighbors(space)[1]
    values = dense[pool[nearest]]
    return values.mean(1), values.std(1, ddof=1) / np.sqrt(K)


def standardised_errors(model, a) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """``|truth - centre| / sd`` of every moved cell x gene entry by kind, and RMS errors."""
    X, batch = a.X, a.obs["batch"]
    own = batch.astype(str).to_numpy()
    out = {k: [] for k in KINDS}
    sq = {k: [] for k in KINDS}
    dense, space = pca_space(X, model.params["seed"])
    for target in batch.cat.categories:
        moved = own != target
        expected = true_counterfactual(a, target, expected=True)[moved]
        noise_free = true_counterfactual(a, target)[moved]
        mean, sd = model.counterfactual(X, batch, target, n_samples=100)
        raw, raw_sd = model.counterfactual(X, batch, target, n_samples=100, correct=False)
        knn_mean, knn_se = knn_interval(dense, space, batch, target)
        centres = {"expected": mean[moved], "uncorrected": raw[moved],
                   "noise_free": mean[moved],
                   "draws_mean": draws_mean(model, X, batch, target)[moved],
                   "knn": knn_mean[moved]}  # fmt: skip
        sds = {k: raw_sd[moved] for k in KINDS} | {"expected": sd[moved],
               "noise_free": sd[moved], "knn": knn_se[moved]}  # fmt: skip
        truths = {"expected": expected, "uncorrected": expected, "noise_free": noise_free,
                  "draws_mean": expected, "knn": expected}  # fmt: skip
        for k in KINDS:
            err = np.abs(truths[k] - centres[k])
            out[k].append(err / np.maximum(sds[k], 1e-12))
            sq[k].append(err**2)
    rms = {k: round(float(np.sqrt(np.concatenate(v).mean())), 3) for k, v in sq.items()}
    return out, rms


def coverage(errors: list[np.ndarray], levels=LEVELS, gaussian: bool = False) -> list[float]:
    """The share of ``|error| / sd`` inside each level's interval: medl's (a Student-t), or
    with ``gaussian`` ``+/- z sd``."""
    ratio = np.concatenate([e.ravel() for e in errors])
    half = [norm.ppf(0.5 + q / 2) if gaussian else interval_factor(q) for q in levels]
    return [round(float((ratio <= h).mean()), 3) for h in half]


def plot(curves: dict[str, dict[str, list[float]]], noise_free: list[float], knn: list[float],
         path: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"uncorrected": "the model's decode, the draws' SD (correct=False)",
              "expected": "corrected by the target batch's neighbours (default)"}  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    for ax, kind in zip(axes, titles):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        for regime, kinds in curves.items():
            ax.plot(CURVE, kinds[kind], marker="o", ms=3, label=regime)
        if kind == "expected":
            ax.plot(CURVE, noise_free, color="black", lw=1, ls=":",
                    label="vs log1p(1e4 p), all regimes")  # fmt: skip
            ax.plot(CURVE, knn, color="black", lw=1, ls="-.",
                    label="kNN matcher ± SE, all regimes")  # fmt: skip
        ax.set(title=titles[kind], xlabel="nominal coverage", xlim=(0, 1), ylim=(0, 1))
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("observed coverage of the expected profile")
    axes[1].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--cells", type=int, default=1500)
    parser.add_argument("--genes", type=int, default=300)
    parser.add_argument("--plot", help="write the calibration plot here (PNG)")
    args = parser.parse_args()
    curves: dict[str, dict[str, list]] = {}
    pooled = {"noise_free": [], "knn": []}
    for regime in args.regimes:
        per_seed = {k: [] for k in KINDS}
        for seed in args.seeds:
            a = medl.datasets.simulate(
                n_cells=args.cells, n_genes=args.genes, seed=seed, **REGIMES[regime]
            )
            t0 = time.perf_counter()
            model = medl.MEDL(seed=seed).fit(a.X, a.obs["batch"], progress=False)
            row = {"regime": regime, "seed": seed, "cells": args.cells, "genes": args.genes}
            row["fit_s"] = round(time.perf_counter() - t0, 1)
            errors, rms = standardised_errors(model, a)
            row.update({kind: coverage(e) for kind, e in errors.items()})
            row["expected_gaussian"] = coverage(errors["expected"], gaussian=True)
            row["rms_error"] = rms
            for kind in KINDS:
                per_seed[kind].append(coverage(errors[kind], CURVE))
            print(json.dumps(row), flush=True)
        for kind, runs in pooled.items():
            runs += per_seed[kind]
        curves[regime] = {k: np.mean(v, axis=0).round(3).tolist() for k, v in per_seed.items()}
    if args.plot:
        means = {k: np.mean(v, axis=0).tolist() for k, v in pooled.items()}
        plot(curves, means["noise_free"], means["knn"], args.plot)


if __name__ == "__main__":
    main()

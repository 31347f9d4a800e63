"""Counterfactual intervals and the batch-effect test against simulated truth (issue 25).

Three regimes of ``medl.datasets.simulate`` (1500 cells x 300 genes, 3 batches, 4 cell
types): batch effects independent of cell type, cell types confounded with batch (0.8),
and type-specific batch effects (interaction 1.0 over a shared effect of 0.5); seeds 0-2;
the default MEDL, fitted once per data set. Printed, one JSON line per fit:

- ``coverage``: the fraction of cell x gene entries of every cell moved to every other
  batch whose true profile lies in ``counterfactual(n_samples=100)``'s interval
  mean +- z SD, at nominal 50/80/90/95%;
- the batch-effect test ``batch_effects(target="batch1", reference="batch0",
  groups=cell_type)`` against the true per-type LFC (the mean of the truth layers'
  difference over the type's cells): ``auroc`` of ``prob_de`` for the genes with
  |true LFC| > 0.5 against the rest, per type (at the default delta 0.25, and at delta
  0.5, the threshold the truth is cut at); at ``prob_de > 0.95``, the false discovery
  proportion counting as false the calls with |true LFC| <= delta (``fdp``) or <= 0.5
  (``fdp_strict``) and the share of the > 0.5 genes found (``power``); and the coverage of
  the LFC interval at nominal 90%.

About 5 minutes on 2 CPU cores.

    python bench/batch_effects_sim.py [--seeds 0 1 2] [--regimes independent ...]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

import medl
from medl.datasets import true_counterfactual

REGIMES = {
    "independent": {"batch_effect": 1.0},
    "confounded": {"batch_effect": 1.0, "confounding": 0.8},
    "type-specific": {"batch_effect": 0.5, "interaction": 1.0},
}
LEVELS = (0.5, 0.8, 0.9, 0.95)


def interval_coverage(model, a) -> dict[str, float]:
    """Nominal level -> share of moved cell x gene entries inside mean +- z SD."""
    X, batch = a.X, a.obs["batch"]
    own = batch.astype(str).to_numpy()
    inside = {q: [] for q in LEVELS}
    for target in batch.cat.categories:
        moved = own != target
        truth = true_counterfactual(a, target)[moved]
        mean, sd = model.counterfactual(X, batch, target, n_samples=100)
        err = np.abs(truth - mean[moved]) / np.maximum(sd[moved], 1e-12)
        for q in LEVELS:
            inside[q].append(float((err <= norm.ppf(0.5 + q / 2)).mean()))
    return {str(q): round(float(np.mean(v)), 3) for q, v in inside.items()}


def true_lfc(a, target: str, reference: str) -> dict[str, np.ndarray]:
    diff = true_counterfactual(a, target) - true_counterfactual(a, reference)
    types = a.obs["cell_type"].astype(str).to_numpy()
    return {t: diff[types == t].mean(0) for t in np.unique(types)}


def test_scores(model, a, delta: float = 0.25) -> dict:
    table = model.batch_effects(
        a.X, a.obs["batch"], "batch1", "batch0", groups=a.obs["cell_type"], delta=delta
    )
    at_half = model.batch_effects(
        a.X, a.obs["batch"], "batch1", "batch0", groups=a.obs["cell_type"], delta=0.5
    )
    truth = true_lfc(a, "batch1", "batch0")
    auroc, auroc_half, fdp, strict, power, cover = {}, {}, [], [], [], []
    z90 = norm.ppf(0.95)
    for group, rows in table.groupby("group", sort=False):
        true = truth[group]
        big = np.abs(true) > 0.5
        if 0 < big.sum() < len(big):
            auroc[group] = round(float(roc_auc_score(big, rows["prob_de"])), 3)
            half = at_half[at_half["group"] == group]["prob_de"]
            auroc_half[group] = round(float(roc_auc_score(big, half)), 3)
        called = rows["prob_de"].to_numpy() > 0.95
        if called.any():
            fdp.append(float((np.abs(true[called]) <= delta).mean()))
            strict.append(float((~big[called]).mean()))
        power.append(float(called[big].mean()) if big.any() else np.nan)
        err = np.abs(rows["lfc_mean"].to_numpy() - true)
        cover.append(float((err <= z90 * rows["lfc_sd"].to_numpy()).mean()))
    return {
        "auroc": auroc,
        "auroc_delta_0.5": auroc_half,
        "fdp": round(float(np.mean(fdp)), 3) if fdp else None,
        "fdp_strict": round(float(np.mean(strict)), 3) if strict else None,
        "power": round(float(np.nanmean(power)), 3),
        "lfc_coverage_90": round(float(np.mean(cover)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    args = parser.parse_args()
    for regime in args.regimes:
        for seed in args.seeds:
            a = medl.datasets.simulate(n_cells=1500, n_genes=300, seed=seed, **REGIMES[regime])
            t0 = time.perf_counter()
            model = medl.MEDL(seed=seed).fit(a.X, a.obs["batch"], progress=False)
            fit_s = time.perf_counter() - t0
            row = {"regime": regime, "seed": seed, "fit_s": round(fit_s, 1)}
            row["coverage"] = interval_coverage(model, a)
            t0 = time.perf_counter()
            row.update(test_scores(model, a))
            row["test_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

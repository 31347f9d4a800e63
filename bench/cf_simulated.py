"""Counterfactuals on simulated truth, and the calibration of their spread (counterfactuals.md).

On ``simulate(1500 x 300, 3 batches, effect 1, interaction 0.5)``, seed 0, the default MEDL
next to the kNN matcher (k=15, 50 PCs) and the global batch-mean shift: MSE to the true
counterfactual and the correlation of the cell-type-specific part of the shift with the
truth (compare.py's scores). Then the interval mean +- 1.645 SD of ``n_samples=100`` draws
(nominal 90%): the fraction of cell x gene entries holding the true profile. About 1 min on
2 CPU cores.

    python bench/cf_simulated.py
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

import medl
from medl.baselines import knn_counterfactual, mean_shift_counterfactual
from medl.datasets import true_counterfactual
from medl.metrics import shift_scores


def main() -> None:
    data = medl.datasets.simulate(
        n_cells=1500, n_genes=300, n_batches=3, batch_effect=1.0, interaction=0.5, seed=0
    )
    X, batch = data.X, data.obs["batch"]
    own_batch = batch.astype(str).to_numpy()
    types = data.obs["cell_type"].astype(str).to_numpy()
    model = medl.MEDL(seed=0).fit(X, batch, progress=False)
    pcs = medl.PCA(latent_dim=50).fit_transform(X)
    own = {"MEDL": model.reconstruct_random(X, batch),
           "kNN matcher": knn_counterfactual(X, batch, batch, embedding=pcs),
           "global shift": X.toarray() if sp.issparse(X) else np.asarray(X)}  # fmt: skip
    truth_own = true_counterfactual(data, own_batch)
    scores: dict[str, dict[str, list]] = {k: {"mse": [], "specific_r": []} for k in own}
    inside, width = [], []
    for target in batch.cat.categories:
        moved = own_batch != target
        truth = true_counterfactual(data, target)
        mean, sd = model.counterfactual(X, batch, target, n_samples=100)
        cfs = {"MEDL": model.counterfactual(X, batch, target),
               "kNN matcher": knn_counterfactual(X, batch, target, embedding=pcs),
               "global shift": mean_shift_counterfactual(X, batch, target)}  # fmt: skip
        for name, cf in cfs.items():
            shift = cf - own[name]
            levels = np.unique(types)
            pred = np.stack([shift[moved & (types == t)].mean(0) for t in levels])
            true = np.stack([(truth - truth_own)[moved & (types == t)].mean(0) for t in levels])
            scores[name]["mse"].append(float(np.mean((cf - truth)[moved] ** 2)))
            scores[name]["specific_r"].append(shift_scores(pred, true)["specific_r"])
        hit = np.abs(truth - mean)[moved] <= 1.645 * sd[moved]
        inside.append(float(hit.mean()))
        width.append(float((2 * 1.645 * sd[moved]).mean()))
    for name, s in scores.items():
        row = {k: round(float(np.mean(v)), 3) for k, v in s.items()}
        print(json.dumps({"method": name, **row}))
    print(json.dumps({"nominal_90_coverage": [round(v, 3) for v in inside],
                      "mean": round(float(np.mean(inside)), 3),
                      "mean_width": round(float(np.mean(width)), 3),
                      "fit_seconds": model.fit_info["seconds"]}))  # fmt: skip


if __name__ == "__main__":
    main()

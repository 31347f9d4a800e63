"""Counterfactuals on simulated truth, and the calibration of their spread (counterfactuals.md).

On ``simulate(1500 x 300, 3 batches, effect 1, interaction 0.5)``, seed 0, the default MEDL
next to the kNN matcher (k=15, 50 PCs) and the global batch-mean shift, scored by
compare.py: MSE to the true counterfactual and the correlation of the cell-type-specific
part of the shift with the truth. Then the interval mean +- 1.645 SD of ``n_samples=100``
draws (nominal 90%): the fraction of cell x gene entries holding the true profile. About
1 min on 2 CPU cores.

    python bench/cf_simulated.py
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

import compare
import medl
from medl.datasets import true_counterfactual


def main() -> None:
    a = medl.datasets.simulate(
        n_cells=1500, n_genes=300, n_batches=3, batch_effect=1.0, interaction=0.5, seed=0
    )
    a.X = sp.csr_matrix(a.X, dtype=np.float32)
    data = compare.Dataset("simulated", compare.with_pca(a, 0), True, [])
    X, batch = a.X, a.obs["batch"]
    model = medl.MEDL(seed=0).fit(X, batch, progress=False)
    medl_cf = compare.Counterfactual(
        lambda t: model.counterfactual(X, batch, t), model.reconstruct_random(X, batch), 0.0
    )
    methods = {"MEDL": medl_cf, **compare.baseline_counterfactuals(data, None)}
    scores = compare.simulated_counterfactual_scores(data, methods)
    for name, s in scores.iterrows():
        print(json.dumps({"method": name, "mse": round(float(s["MSE to truth"]), 3),
                          "specific_r": round(float(s["type-specific shift r"]), 3)}))  # fmt: skip
    own_batch = batch.astype(str).to_numpy()
    inside, width = [], []
    for target in batch.cat.categories:
        moved = own_batch != target
        truth = true_counterfactual(a, target)
        mean, sd = model.counterfactual(X, batch, target, n_samples=100)
        inside.append(float((np.abs(truth - mean)[moved] <= 1.645 * sd[moved]).mean()))
        width.append(float((2 * 1.645 * sd[moved]).mean()))
    print(json.dumps({"nominal_90_coverage": [round(v, 3) for v in inside],
                      "mean": round(float(np.mean(inside)), 3),
                      "mean_width": round(float(np.mean(width)), 3),
                      "fit_seconds": model.fit_info["seconds"]}))  # fmt: skip


if __name__ == "__main__":
    main()

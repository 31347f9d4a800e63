"""Counterfactuals on simulated truth (counterfactuals.md).

On ``simulate(1500 x 300, 3 batches, effect 1, interaction 0.5)``, seed 0, the default MEDL
next to the kNN matcher (k=15, 50 PCs) and the global batch-mean shift, scored by
compare.py: MSE to the true counterfactual and the correlation of the cell-type-specific
part of the shift with the truth. The calibration of ``n_samples``' intervals is
bench/cf_coverage.py's. About 1 min on 2 CPU cores.

    python bench/cf_simulated.py
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

import compare
import medl


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


if __name__ == "__main__":
    main()

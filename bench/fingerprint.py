"""Hashes of every model output on fixed seeds: a refactor that moves code must not move these.

Run before and after a change that should not change results and compare the two files::

    MEDL_ADAPTIVE_THREADS=0 python bench/fingerprint.py > before.txt
    ... change ...
    MEDL_ADAPTIVE_THREADS=0 python bench/fingerprint.py | diff before.txt -

Only the public API is called, so the script runs unchanged across a reorganisation. One
thread, because a seeded fit repeats bit for bit only at one thread count.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile

import numpy as np
import torch

import medl


def digest(value) -> str:
    arrays = value if isinstance(value, tuple) else (value,)
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes())
    return h.hexdigest()[:16]


def line(name: str, value) -> None:
    print(f"{name:38s} {digest(value)}", flush=True)


def main() -> None:
    torch.set_num_threads(1)
    adata = medl.datasets.simulate(n_cells=600, n_genes=200, n_batches=3, seed=0)
    X, batch, cells = adata.X, adata.obs["batch"], adata.obs["cell_type"]
    fit = {"progress": False, "max_epochs": 12}

    m = medl.MEDL(seed=0).fit(X, batch, **fit)
    line("variational fe", m.fixed_effects(X))
    line("variational re", m.random_effects(X, batch))
    line("variational fe recon", m.reconstruct_fixed(X))
    line("variational cf anchored", m.counterfactual(X, batch, "batch1"))
    line("variational cf mixed", m.counterfactual(X, batch, "batch1", mode="mixed"))
    line("variational cf sampled", m.counterfactual(X, batch, "batch2", n_samples=4))
    line("variational predict_batch", m.predict_batch(X, batch))
    line("variational history", m.history.to_numpy())
    print("variational steps", m.fit_info["steps"], "epochs", m.fit_info["epochs"])
    with tempfile.TemporaryDirectory() as tmp:
        loaded = medl.load(m.save(tmp + "/m"))
        line("variational loaded cf", loaded.counterfactual(X, batch, "batch1"))

    fec = medl.MEDL(seed=1, anchor_pairs=1.0).fit(X, batch, cells, **fit)
    line("variational+labels fe", fec.fixed_effects(X))
    line("variational+labels cf", fec.counterfactual(X, batch, "batch0"))

    p = medl.MEDL(variant="paper", seed=0).fit(X, batch, **fit)
    line("paper fe", p.fixed_effects(X))
    line("paper re", p.random_effects(X, batch))
    line("paper cf full", p.counterfactual(X, batch, "batch1"))
    line("paper cf decoder", p.counterfactual(X, batch, "batch1", mode="decoder"))
    line("paper adversary", np.array([p.adversary_accuracy(X, batch)]))
    pc = medl.MEDL(variant="paper", seed=0).fit(X, batch, cells, **fit)
    line("paper+labels fe", pc.fixed_effects(X))

    ae = medl.AE(seed=0).fit(X, **fit)
    line("AE transform", ae.transform(X))
    aec = medl.AEC(seed=0).fit(X, cells, **fit)
    line("AEC reconstruct", aec.reconstruct(X))
    line("PCA", medl.PCA(latent_dim=5).fit_transform(X))

    ad = adata.copy()
    medl.run_medl(ad, "batch", counterfactual=["batch0"], seed=2, **fit)
    line("run_medl fe", ad.obsm["X_medl_fe"])
    line("run_medl cf", ad.layers["medl_cf_batch0"])
    r = medl.fit_medl(X, batch, counterfactual="batch2", fe_reconstruction=True, seed=3, **fit)
    line("fit_medl cf", r.counterfactuals["batch2"])
    line("fit_medl fe recon", r.fe_reconstruction)
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main()

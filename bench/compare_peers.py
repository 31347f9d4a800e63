"""The peers' side of ``bench/compare.py``: runs in its own environment (bench/.peers-venv).

scvi-tools and scib-metrics need numpy >= 2, which R's reticulate 1.28 (and so medl's own
environment) cannot load; data come in as .h5ad and results go back as .npz / .json.

    python compare_peers.py fit DATA.h5ad OUT.npz --seed 0
    python compare_peers.py score DATA.h5ad EMBEDDINGS.npz OUT.csv
    python compare_peers.py selfcheck

``fit`` runs Harmony, scVI, scANVI and Scanorama with their own defaults and writes their
embeddings, scVI's counterfactuals for every batch and the wall time of each. ``score``
computes the scIB metrics (scib-metrics' Benchmarker plus scIB's per-cell-type batch ASW)
for every embedding in the .npz. ``selfcheck`` runs the scoring on a perfectly mixed and a
perfectly separated embedding and fails unless the scores order them correctly.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import anndata as ad
import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def harmony(adata: ad.AnnData, seed: int) -> np.ndarray:
    import harmonypy

    out = harmonypy.run_harmony(
        adata.obsm["X_pca"], adata.obs, ["batch"], random_state=seed, verbose=False
    )
    z = np.asarray(out.Z_corr)
    return z.T if z.shape[0] != adata.n_obs else z


def scanorama_embedding(adata: ad.AnnData, seed: int) -> np.ndarray:
    import scanorama

    parts, order = [], []
    for b in adata.obs["batch"].cat.categories:
        rows = np.flatnonzero((adata.obs["batch"] == b).to_numpy())
        parts.append(adata[rows].copy())
        order.append(rows)
    np.random.seed(seed)  # noqa: NPY002  (scanorama draws from numpy's global RNG)
    scanorama.integrate_scanpy(parts, verbose=0)
    out = np.empty((adata.n_obs, parts[0].obsm["X_scanorama"].shape[1]))
    for rows, part in zip(order, parts):
        out[rows] = part.obsm["X_scanorama"]
    return out


def fit(args: argparse.Namespace) -> None:
    import scvi
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    adata = ad.read_h5ad(args.data)
    adata.obs["batch"] = adata.obs["batch"].astype("category")
    arrays, timing = {}, {}
    arrays["emb/Harmony"], timing["Harmony"] = _timed(harmony, adata, args.seed)
    timing["Harmony"] = {"seconds": timing["Harmony"], "epochs": None}
    arrays["emb/Scanorama"], seconds = _timed(scanorama_embedding, adata, args.seed)
    timing["Scanorama"] = {"seconds": seconds, "epochs": None}

    scvi.settings.seed = args.seed
    scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
    model = scvi.model.SCVI(adata)
    _, seconds = _timed(model.train, accelerator="cpu", enable_progress_bar=False)
    timing["scVI"] = {"seconds": seconds, "epochs": len(model.history["elbo_train"])}
    arrays["emb/scVI"] = model.get_latent_representation()
    # counterfactuals on medl's scale: log1p of expression per 1e4 counts
    for b in adata.obs["batch"].cat.categories:
        expr = model.get_normalized_expression(
            transform_batch=[b], library_size=1e4, return_numpy=True
        )
        arrays[f"cf/scVI/{b}"] = np.log1p(expr).astype(np.float32)

    scanvi = scvi.model.SCANVI.from_scvi_model(model, "Unknown", labels_key="cell_type")
    _, seconds = _timed(scanvi.train, accelerator="cpu", enable_progress_bar=False)
    timing["scANVI"] = {
        "seconds": seconds + timing["scVI"]["seconds"],  # it starts from the scVI model
        "epochs": len(scanvi.history["elbo_train"]),
    }
    arrays["emb/scANVI"] = scanvi.get_latent_representation()
    np.savez_compressed(args.out, **arrays)
    versions = {"scvi-tools": scvi.__version__, **_versions()}
    with open(args.out + ".json", "w") as fh:
        json.dump({"timing": timing, "versions": versions}, fh, indent=1)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ["harmonypy", "scanorama", "scib-metrics", "torch", "numpy", "jax"]
    return {n: version(n) for n in names}


def integration_scores(adata: ad.AnnData, keys: list[str], pre: str | None) -> pd.DataFrame:
    """scIB metrics of each embedding in ``adata.obsm[keys]`` (rows: embeddings)."""
    from scib_metrics import silhouette_batch
    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

    bio = BioConservation(nmi_ari_cluster_labels_leiden=True, nmi_ari_cluster_labels_kmeans=False)
    bench = Benchmarker(
        adata, batch_key="batch", label_key="cell_type", embedding_obsm_keys=keys,
        bio_conservation_metrics=bio, batch_correction_metrics=BatchCorrection(),
        pre_integrated_embedding_obsm_key=pre, progress_bar=False,
    )  # fmt: skip
    bench.benchmark()
    table = bench.get_results(min_max_scale=False)
    table = table.drop(index="Metric Type", errors="ignore").apply(pd.to_numeric)
    labels = adata.obs["cell_type"].to_numpy()
    batches = adata.obs["batch"].to_numpy()
    table["Batch ASW (scIB)"] = [
        float(silhouette_batch(adata.obsm[k], labels, batches)) for k in table.index
    ]
    return table


def score(args: argparse.Namespace) -> None:
    adata = ad.read_h5ad(args.data)
    embeddings = np.load(args.embeddings)
    keys = []
    for name in embeddings.files:
        key = name.replace(" ", "_").replace("/", "_")
        adata.obsm[key] = np.asarray(embeddings[name], dtype=np.float32)
        keys.append(key)
    table = integration_scores(adata, keys, "X_pca" if "X_pca" in adata.obsm else None)
    table.index = [embeddings.files[keys.index(k)] for k in table.index]
    table.to_csv(args.out)


def selfcheck(_: argparse.Namespace) -> None:
    """Known answers: mixed batches score high on batch metrics, separated ones low."""
    rng = np.random.default_rng(0)
    n, types = 600, np.repeat(["A", "B", "C"], 200)
    centres = {"A": (0, 0), "B": (20, 0), "C": (0, 20)}
    base = np.array([centres[t] for t in types], dtype=float) + rng.normal(0, 1, (n, 2))
    batch = np.tile(["b0", "b1"], n // 2)
    separated = base + np.where(batch == "b1", 10.0, 0.0)[:, None] * np.array([[1, 1]])
    adata = ad.AnnData(np.zeros((n, 1), dtype=np.float32))
    adata.obs["batch"] = pd.Categorical(batch)
    adata.obs["cell_type"] = pd.Categorical(types)
    adata.obsm["mixed"] = base.astype(np.float32)
    adata.obsm["separated"] = separated.astype(np.float32)
    adata.obsm["X_pca"] = separated.astype(np.float32)
    table = integration_scores(adata, ["mixed", "separated"], "X_pca")
    print(table.T.to_string())
    checks = {
        "iLISI": table.loc["mixed", "iLISI"] > table.loc["separated", "iLISI"] + 0.3,
        "KBET": table.loc["mixed", "KBET"] > table.loc["separated", "KBET"] + 0.3,
        "batch ASW": table.loc["mixed", "Batch ASW (scIB)"] > 0.9
        and table.loc["separated", "Batch ASW (scIB)"] < 0.6,
        "cell-type ASW": table.loc["mixed", "Silhouette label"] > 0.8,
        "NMI": table.loc["mixed", "Leiden NMI"] > 0.9,
        "total": table.loc["mixed", "Total"] > table.loc["separated", "Total"],
    }
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"scIB metric self-check failed for: {failed}")
    print("scIB metric self-check passed:", ", ".join(checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=fit)
    p = sub.add_parser("score")
    p.add_argument("data")
    p.add_argument("embeddings")
    p.add_argument("out")
    p.set_defaults(run=score)
    sub.add_parser("selfcheck").set_defaults(run=selfcheck)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()

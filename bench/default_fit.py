"""Wall time of a default fit, the way ``RunMEDL(obj, batch = "batch")`` runs it.

``fit_medl`` with every default (seed 42, device auto) on ``medl.datasets.simulate`` data
(2,000 genes, 3 batches, 4 cell types), timed from the call to the returned latents. The
FE kNN cell-type purity and batch entropy say whether the fit was worth its time.
``--scvi-python`` also times scVI with its defaults (``SCVI(adata)``, ``train()``) on the
same counts, in that Python (scvi-tools needs numpy 2; ``bench/.peers-venv`` has it).

    python bench/default_fit.py --cells 500 2000 10000 [--device cuda] [--json out.json]
    python bench/default_fit.py --cells 10000 --scvi-python bench/.peers-venv/bin/python
    (add --scvi-only to time scVI alone, e.g. next to bench/runmedl_time.R's R timings)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from scvi_compare import run_worker

SCVI_WORKER = """
import json, sys, time
import anndata as ad, scvi, torch
adata = ad.read_h5ad(sys.argv[1])
scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
t0 = time.perf_counter()
model = scvi.model.SCVI(adata)
model.train(accelerator=sys.argv[2], enable_progress_bar=False)
z = model.get_latent_representation()
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "epochs": len(model.history["elbo_train"])}))
"""


def one(n_cells: int, n_genes: int, device: str, scvi_python: str | None, medl_too: bool) -> dict:
    import medl

    adata = medl.datasets.simulate(n_cells=n_cells, n_genes=n_genes, n_batches=3, seed=0)
    scvi = run_scvi(adata, scvi_python, device) if scvi_python else {}
    row = {"cells": n_cells, "genes": n_genes}
    if scvi:
        row.update({"scvi_seconds": round(scvi["seconds"], 1), "scvi_epochs": scvi["epochs"]})
    return {**row, **time_medl(adata, device)} if medl_too else row


def time_medl(adata, device: str) -> dict:
    import torch

    import medl

    batch = adata.obs["batch"].to_numpy()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = medl.fit_medl(adata.X, batch, seed=42, device=device, progress=False)
    seconds = time.perf_counter() - t0
    info = result.model.fit_info
    fe = result.fixed_effects
    return {
        "device": str(result.model.device),
        "seconds": round(seconds, 1), "epochs": info["epochs"],
        "batch_size": info.get("batch_size"),
        "fe_purity": round(medl.metrics.knn_purity(fe, adata.obs["cell_type"]), 3),
        "fe_batch_entropy": round(medl.metrics.batch_entropy(fe, batch), 3),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3)
        if device == "cuda" else None,
    }  # fmt: skip


def run_scvi(adata, python: str, device: str) -> dict:
    """scVI with every default on the same counts, timed inside its own process."""
    accelerator = "gpu" if device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.h5ad"
        keep = adata.copy()
        keep.layers = {"counts": adata.layers["counts"]}
        keep.write_h5ad(path)
        return run_worker(python, SCVI_WORKER, str(path), accelerator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scvi-python", help="also time scVI's defaults in this Python")
    parser.add_argument("--scvi-only", action="store_true", help="time scVI alone")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for n in args.cells:
        rows.append(one(n, args.genes, args.device, args.scvi_python, not args.scvi_only))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

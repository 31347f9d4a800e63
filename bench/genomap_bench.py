"""Genomap gene-layout speed and objective: medl's assignment solver against genomap's own.

Both solvers get the same input: ``--cells`` random cells of an .h5ad, log1p of its
``--genes`` most variable genes. Prints seconds and genomap's Gromov-Wasserstein objective
(lower is better) per solver and writes JSON.

    python bench/genomap_bench.py --h5ad ../shared/data/kang_ifnb_pbmc_2k.h5ad --genes 1000 2916
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np

from medl.genomap import gene_layout


def layout_input(path: str, n_cells: int, n_genes: int, seed: int = 0) -> np.ndarray:
    adata = ad.read_h5ad(path)
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    rng = np.random.default_rng(seed)
    X = X[rng.choice(X.shape[0], min(n_cells, X.shape[0]), replace=False)]
    if n_genes > X.shape[1]:
        raise SystemExit(f"{path} has {X.shape[1]} genes, fewer than --genes {n_genes}")
    return np.log1p(X[:, np.argsort(-X.var(0), kind="stable")[:n_genes]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--h5ad", required=True)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--genes", type=int, nargs="+", default=[1000])
    parser.add_argument("--solvers", nargs="+", default=["assignment", "reference"])
    parser.add_argument("--num-iter", type=int, default=200)
    parser.add_argument("--json", default="bench/genomap_results.json")
    args = parser.parse_args()
    rows = []
    print("| genes | solver | seconds | objective |\n|---|---|---|---|")
    for n_genes in args.genes:
        X = layout_input(args.h5ad, args.cells, n_genes)
        for solver in args.solvers:
            start = time.perf_counter()
            layout = gene_layout(X, num_iter=args.num_iter, solver=solver)
            seconds = time.perf_counter() - start
            rows.append({"genes": n_genes, "cells": X.shape[0], "solver": solver,
                         "seconds": seconds, "objective": layout.objective})  # fmt: skip
            print(f"| {n_genes} | {solver} | {seconds:.1f} | {layout.objective:.6f} |", flush=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

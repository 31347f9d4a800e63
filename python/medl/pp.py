"""Preprocessing as in the paper (spec section 1), with scanpy."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp


def looks_like_counts(adata: ad.AnnData, layer: str | None = None, n_check: int = 1000) -> bool:
    """True when the matrix holds non-negative integers (raw UMI counts)."""
    X = adata.layers[layer] if layer else adata.X
    sample = X[: min(n_check, X.shape[0])]
    values = sample.data if sp.issparse(sample) else np.asarray(sample).ravel()
    return bool(values.size) and bool(np.all(values >= 0) and np.all(np.mod(values, 1) == 0))


def preprocess(
    adata: ad.AnnData,
    n_top_genes: int | None = 3000,
    min_genes: int = 10,
    min_cells: int = 3,
    target_sum: float = 1e4,
) -> ad.AnnData:
    """Filter, normalise, log1p and keep highly variable genes; returns a NEW AnnData.

    Raw counts are kept in ``layers["counts"]``. Cells expressing fewer than ``min_genes``
    genes and genes seen in fewer than ``min_cells`` cells are dropped, totals are
    normalised to ``target_sum``, log1p is applied, and the ``n_top_genes`` most variable
    genes (scanpy's Seurat flavour) are kept (``None`` keeps all).
    """
    out = adata.copy()
    sc.pp.filter_cells(out, min_genes=min_genes)
    sc.pp.filter_genes(out, min_cells=min_cells)
    out.layers["counts"] = out.X.copy()
    sc.pp.normalize_total(out, target_sum=target_sum)
    sc.pp.log1p(out)
    if n_top_genes is not None and n_top_genes < out.n_vars:
        sc.pp.highly_variable_genes(out, n_top_genes=n_top_genes)
        out = out[:, out.var["highly_variable"]].copy()
    return out

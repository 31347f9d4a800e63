"""Mutual nearest neighbours between batches: cross-batch anchors for the FE latent.

Two cells of different batches that are each among the other's ``k`` nearest neighbours
(in a PCA of the cosine-normalised expression) are likely the same cell type (Haghverdi et
al., 2018; Seurat's anchors rest on the same idea). Pulling such pairs together in the
fixed-effects code keeps cell types that a batch predicts from being folded into that
batch's random effects: without it, a batch dominated by one cell type can rebuild that
type from the batch alone, and the bottleneck drops the type from the code
(docs/method.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors


def mnn_pairs(
    X: Any,
    batch_codes: np.ndarray,
    cells: np.ndarray | None = None,
    k: int = 5,
    n_pcs: int = 50,
    max_per_batch: int = 5000,
    max_cells: int = 50_000,
    seed: int = 0,
) -> np.ndarray:
    """Mutual nearest-neighbour pairs between every two batches.

    Parameters
    ----------
    X
        Cells x genes log-normalised expression (dense or sparse).
    batch_codes
        Integer batch code per cell.
    cells
        The cells that may be paired (e.g. the training cells); all by default.
    k
        Neighbours searched in the other batch, each way.
    n_pcs
        Principal components of the cosine-normalised expression to search in.
    max_per_batch, max_cells
        At most this many cells per batch, and about this many in all, take part (a random
        subset of each batch), which bounds the cost on large data.
    seed
        Seed of the subset and of the PCA.

    Returns
    -------
    An ``(n_pairs, 2)`` integer array of row indices into ``X``, one row per mutual pair.
    """
    rng = np.random.default_rng(seed)
    cells = np.arange(X.shape[0]) if cells is None else np.asarray(cells)
    codes = np.asarray(batch_codes)[cells]
    levels = np.unique(codes)
    cap = min(max_per_batch, -(-max_cells // max(len(levels), 1)))
    chosen = []
    for b in levels:
        members = cells[codes == b]
        if len(members) > cap:
            members = np.sort(rng.choice(members, cap, replace=False))
        chosen.append(members)
    rows = np.concatenate(chosen)
    emb = _embedding(X, rows, n_pcs, seed)
    return rows[mutual_pairs(emb, np.asarray(batch_codes)[rows], k)]


def mutual_pairs(emb: np.ndarray, codes: np.ndarray, k: int = 5) -> np.ndarray:
    """Mutual ``k``-nearest-neighbour pairs (row indices of ``emb``) between every two of
    the groups ``codes``."""
    groups = [np.flatnonzero(codes == b) for b in np.unique(codes)]
    pairs = []
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            ga, gb = groups[a], groups[b]
            ea, eb = emb[ga], emb[gb]
            kk = min(k, len(ea), len(eb))
            ab = NearestNeighbors(n_neighbors=kk).fit(eb).kneighbors(ea, return_distance=False)
            ba = NearestNeighbors(n_neighbors=kk).fit(ea).kneighbors(eb, return_distance=False)
            i, j = np.repeat(np.arange(len(ea)), kk), ab.ravel()
            mutual = (ba[j] == i[:, None]).any(1)
            pairs.append(np.column_stack([ga[i[mutual]], gb[j[mutual]]]))
    return np.concatenate(pairs).astype(np.int64) if pairs else np.empty((0, 2), np.int64)


def _embedding(X: Any, rows: np.ndarray, n_pcs: int, seed: int) -> np.ndarray:
    """PCA of the L2-normalised rows (cosine distance, insensitive to depth).

    Dense input goes the sparse way too (scikit-learn centres sparse input implicitly), so
    that dense and sparse copies of the data give the same pairs.
    """
    sub = sp.csr_matrix(X[rows], dtype=np.float32)
    norms = np.sqrt(np.asarray(sub.multiply(sub).sum(1))).ravel()
    sub = sp.diags(1 / np.maximum(norms, 1e-12)) @ sub
    # arpack needs fewer components than the smaller side
    n_comp = max(1, min(n_pcs, sub.shape[0] - 1, sub.shape[1] - 1))
    return PCA(n_comp, svd_solver="arpack", random_state=seed).fit_transform(sub)

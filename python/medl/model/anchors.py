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
    rounds: int = 3,
    trim: float = 1.5,
    seed: int = 0,
    k_offsets: int = 3,
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
    rounds
        Times the search is repeated after removing each batch's average offset, estimated
        from the previous round's pairs. Without it, pairs across a strong batch effect
        favour the cells it affects least (Kang's stimulated cells that responded least).
    trim
        Pairs farther apart than ``trim`` x the median pair distance (after removing the
        offsets) are dropped, from the offsets' fit and from the result: where a batch is
        nearly all one cell type, some mutual neighbours join two types, and their
        distance gives them away.
    seed
        Seed of the subset and of the PCA.
    k_offsets
        Neighbours searched in the rounds whose pairs fit the offsets (the last search uses
        ``k``). Where a batch holds only three or four cells of a type, a cell of that type
        in another batch finds them and then, as its fourth or fifth neighbour, a cell of
        another type; fitted on such pairs, the offsets pull the batches' main types
        together and the rounds pair ever more of them wrongly (docs/method.md).

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
    row_codes = np.searchsorted(levels, np.asarray(batch_codes)[rows])
    fit_k = min(k, k_offsets) if rounds else k
    pairs = mutual_pairs(emb, row_codes, fit_k)
    for _ in range(rounds):
        if len(pairs) == 0:
            break
        emb = emb - batch_offsets(emb, row_codes, pairs, len(levels), trim)[row_codes]
        pairs = mutual_pairs(emb, row_codes, fit_k)
    if fit_k != k:
        pairs = mutual_pairs(emb, row_codes, k)
    return rows[pairs[_close(emb, pairs, trim)]]


def _close(emb: np.ndarray, pairs: np.ndarray, trim: float) -> np.ndarray:
    """Pairs no farther apart than ``trim`` x the median pair distance."""
    dist = np.linalg.norm(emb[pairs[:, 0]] - emb[pairs[:, 1]], axis=1)
    return dist <= trim * np.median(dist) if len(dist) else np.ones(0, bool)


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


def batch_offsets(
    emb: np.ndarray,
    codes: np.ndarray,
    pairs: np.ndarray,
    n_batches: int,
    trim: float = np.inf,
    refits: int = 3,
) -> np.ndarray:
    """Each batch's offset in ``emb`` (``n_batches`` x dims, summing to zero), fitted by
    least squares so that ``emb[i] - offset[batch i]`` matches ``emb[j] - offset[batch j]``
    over the ``pairs`` (i, j).

    Estimated from matched cells rather than batch means, so that batches of different
    cell-type composition do not bias it. With a finite ``trim``, the fit is repeated
    ``refits`` times without the pairs whose residual exceeds ``trim`` x the median
    residual: a few pairs that join two cell types would otherwise pull the batches' main
    types towards each other, and the next search would pair them more.
    """
    keep = np.ones(len(pairs), bool)
    for _ in range(refits if np.isfinite(trim) else 0):
        offsets = _least_squares_offsets(emb, codes, pairs[keep], n_batches)
        keep = _close(emb - offsets[codes], pairs, trim)
    return _least_squares_offsets(emb, codes, pairs[keep], n_batches)


def _least_squares_offsets(
    emb: np.ndarray, codes: np.ndarray, pairs: np.ndarray, n_batches: int
) -> np.ndarray:
    n = len(pairs)
    design = np.zeros((n + 1, n_batches))
    design[np.arange(n), codes[pairs[:, 0]]] += 1.0
    design[np.arange(n), codes[pairs[:, 1]]] -= 1.0
    design[n] = 1.0  # offsets sum to zero; batches without pairs stay near zero
    target = np.vstack([emb[pairs[:, 0]] - emb[pairs[:, 1]], np.zeros((1, emb.shape[1]))])
    return np.linalg.lstsq(design, target, rcond=None)[0]


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

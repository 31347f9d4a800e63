"""Scores of an embedding against batch or cell-type labels.

Clustering scores come from scikit-learn; the kNN mixing scores (batch entropy, LISI) use
scikit-learn's neighbour search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.neighbors import NearestNeighbors

from .validate import check_labels, check_positive_int


def _prepare(
    embedding: Any, labels: Any, max_cells: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(embedding, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embedding must be 2-dimensional (cells x dims), got {emb.ndim}.")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embedding contains NaN or infinite values.")
    lab = check_labels(labels, emb.shape[0], "labels")
    if len(np.unique(lab)) < 2:
        raise ValueError("labels need at least 2 distinct values to score clustering.")
    if max_cells is not None and emb.shape[0] > max_cells:
        keep = np.random.default_rng(seed).choice(emb.shape[0], max_cells, replace=False)
        emb, lab = emb[keep], lab[keep]
        if len(np.unique(lab)) < 2:
            raise ValueError("the sampled cells hold a single label; raise max_cells.")
    return emb, lab


def silhouette(embedding: Any, labels: Any, max_cells: int | None = 10_000, seed: int = 0) -> float:
    """Average silhouette width (ASW) in [-1, 1] on at most ``max_cells`` sampled cells."""
    emb, lab = _prepare(embedding, labels, max_cells, seed)
    return float(silhouette_score(emb, lab))


def calinski_harabasz(
    embedding: Any, labels: Any, max_cells: int | None = 10_000, seed: int = 0
) -> float:
    """Calinski-Harabasz score (higher = tighter, better separated groups)."""
    emb, lab = _prepare(embedding, labels, max_cells, seed)
    return float(calinski_harabasz_score(emb, lab))


def davies_bouldin_inverse(
    embedding: Any, labels: Any, max_cells: int | None = 10_000, seed: int = 0
) -> float:
    """1 / Davies-Bouldin (higher = better separated groups), as in the paper."""
    emb, lab = _prepare(embedding, labels, max_cells, seed)
    return float(1.0 / davies_bouldin_score(emb, lab))


def clustering_scores(
    embedding: Any, labels: Any, max_cells: int | None = 10_000, seed: int = 0
) -> dict[str, float]:
    """ASW, Calinski-Harabasz and 1/Davies-Bouldin of ``embedding`` against ``labels``."""
    emb, lab = _prepare(embedding, labels, max_cells, seed)
    return {
        "asw": float(silhouette_score(emb, lab)),
        "ch": float(calinski_harabasz_score(emb, lab)),
        "inv_db": float(1.0 / davies_bouldin_score(emb, lab)),
    }


def _neighbour_labels(
    embedding: Any, labels: Any, n_neighbors: int, max_cells: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Codes of each cell's ``n_neighbors`` nearest neighbours (self excluded), distances,
    the number of levels and each (sampled) cell's own code."""
    emb, lab = _prepare(embedding, labels, max_cells, seed)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    if n_neighbors >= emb.shape[0]:
        raise ValueError(
            f"n_neighbors ({n_neighbors}) must be below the cell count ({emb.shape[0]})."
        )
    _, codes = np.unique(lab, return_inverse=True)
    nn = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(emb)
    dist, idx = nn.kneighbors(emb)
    return codes[idx[:, 1:]], dist[:, 1:], int(codes.max()) + 1, codes


def batch_entropy(
    embedding: Any,
    labels: Any,
    n_neighbors: int = 50,
    max_cells: int | None = 10_000,
    seed: int = 0,
) -> float:
    """Mean entropy of the label mix in each cell's kNN, scaled to [0, 1] by log(levels).

    1 means every neighbourhood holds the levels in equal shares (well mixed), 0 that every
    neighbourhood holds a single level.
    """
    neigh, _, levels, _ = _neighbour_labels(embedding, labels, n_neighbors, max_cells, seed)
    share = _label_shares(neigh, np.full(neigh.shape, 1.0 / neigh.shape[1]), levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(share > 0, share * np.log(share), 0.0).sum(1)
    return float(entropy.mean() / np.log(levels))


def batch_entropy_ceiling(batch: Any, labels: Any) -> float:
    """The :func:`batch_entropy` of an ideal embedding: cell types kept apart, batches
    perfectly mixed within each type.

    It is the batch entropy of each cell type's batch composition (scaled by log of the
    number of batches), averaged over cells. When batches differ in cell-type composition it
    is below 1: an embedding whose batch entropy exceeds it must have merged cell types.
    """
    levels = check_labels(batch, len(batch), "batch")
    types = check_labels(labels, len(levels), "labels")
    n_levels = len(np.unique(levels))
    if n_levels < 2:
        raise ValueError("batch needs at least 2 distinct values.")
    total = 0.0
    for t in np.unique(types):
        _, counts = np.unique(levels[types == t], return_counts=True)
        share = counts / counts.sum()
        total += counts.sum() * float(-(share * np.log(share)).sum())
    return total / len(levels) / np.log(n_levels)


def lisi(
    embedding: Any,
    labels: Any,
    perplexity: float = 30.0,
    max_cells: int | None = 10_000,
    seed: int = 0,
) -> float:
    """Median local inverse Simpson's index (LISI, Korsunsky et al. 2019).

    Neighbour weights are Gaussian with a per-cell bandwidth calibrated to ``perplexity``
    over the ``3 * perplexity`` nearest neighbours. Ranges from 1 (one label per
    neighbourhood) to the number of levels (even mix): high for batch = well integrated,
    low for cell type = types kept apart.
    """
    if not perplexity > 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}.")
    neigh, dist, levels, _ = _neighbour_labels(
        embedding, labels, int(3 * perplexity), max_cells, seed
    )
    weights = _perplexity_weights(dist**2, perplexity)
    share = _label_shares(neigh, weights, levels)
    return float(np.median(1.0 / (share**2).sum(1)))


def _label_shares(neigh: np.ndarray, weights: np.ndarray, levels: int) -> np.ndarray:
    """Per cell, the summed neighbour weight of each label level (cells x levels)."""
    return np.stack([(weights * (neigh == k)).sum(1) for k in range(levels)], axis=1)


def _perplexity_weights(sq_dist: np.ndarray, perplexity: float, steps: int = 60) -> np.ndarray:
    """Row-normalised Gaussian weights whose entropy is log(perplexity), all rows at once."""
    target = np.log(perplexity)
    scaled = sq_dist - sq_dist[:, :1]  # numerically safe; does not change normalised weights
    lo = np.zeros(len(sq_dist))
    hi = np.full(len(sq_dist), np.inf)
    beta = np.ones(len(sq_dist))
    for _ in range(steps):  # bisection on the precision beta, vectorised over cells
        w = np.exp(-scaled * beta[:, None])
        w /= w.sum(1, keepdims=True)
        entropy = -(w * np.log(np.maximum(w, 1e-300))).sum(1)
        too_flat = entropy > target  # spread too wide: raise the precision
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    return w


def knn_purity(
    embedding: Any,
    labels: Any,
    n_neighbors: int = 15,
    max_cells: int | None = 10_000,
    seed: int = 0,
) -> float:
    """Mean share of each cell's ``n_neighbors`` nearest neighbours that carry its label.

    1 means every neighbourhood is pure; with balanced labels, chance is about 1 / levels.
    High for cell type = biology kept.
    """
    neigh, _, _, own = _neighbour_labels(embedding, labels, n_neighbors, max_cells, seed)
    return float((neigh == own[:, None]).mean())


# --------------------------------------------------------------------- counterfactuals
def _shift_matrix(shifts: Any, name: str) -> np.ndarray:
    arr = np.asarray(shifts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name} must be groups x genes with at least 2 groups, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def shift_scores(predicted: Any, observed: Any) -> dict[str, float]:
    """How well predicted per-group expression shifts match the observed (or true) ones.

    Parameters
    ----------
    predicted, observed
        Groups (cell populations) x genes: each population's mean shift from its own batch
        to the target batch, predicted by a counterfactual method and observed (or known).

    Returns
    -------
    ``r``: Pearson correlation over genes of the shift averaged over populations (the part
    a global batch-mean shift already captures); ``r_per_group``: the mean over
    populations of each population's correlation over genes; ``specific_r``/``specific_r2``:
    correlation (and its square, as scGen reports R^2) over all population x gene entries
    of the population-specific part, each population's shift minus the mean over
    populations. A global shift has no population-specific part, so its ``specific_r`` is 0.
    """
    pred = _shift_matrix(predicted, "predicted")
    obs = _shift_matrix(observed, "observed")
    if pred.shape != obs.shape:
        raise ValueError(f"predicted {pred.shape} and observed {obs.shape} shapes differ.")
    spread = pred - pred.mean(0)
    # a prediction that is the same for every group (up to float rounding) has no specific
    # part; correlating its rounding noise would give a random r
    flat = np.abs(spread).max() <= 1e-5 * max(np.abs(pred).max(), 1e-12)
    specific = 0.0 if flat else _pearson(spread, obs - obs.mean(0))
    return {
        "r": _pearson(pred.mean(0), obs.mean(0)),
        "r_per_group": float(np.mean([_pearson(p, o) for p, o in zip(pred, obs)])),
        "specific_r": specific,
        "specific_r2": specific**2 if specific > 0 else 0.0,
    }

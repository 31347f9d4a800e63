"""Clustering scores of an embedding against batch or cell-type labels (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from .validate import check_labels


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

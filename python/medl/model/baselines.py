"""Baselines in the same API as ``MEDL``: PCA, the tied autoencoder (AE) and AE + classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA as _SkPCA

from ..nn import TiedAutoencoder
from ..train.options import FitOptions, takes_fit_options
from ..validate import check_labels, check_matrix, check_positive_int, check_target
from .base import Estimator, NotFittedError


class AE(Estimator):
    """Tied-weight autoencoder (the paper's AE baseline); ignores batches.

    Takes the same constructor arguments as :class:`medl.MEDL`; the loss weight used is
    ``ae_recon``.
    """

    @takes_fit_options
    def fit(self, X: Any, *, options: FitOptions) -> AE:
        """Fit on cells x genes log-normalised expression.

        Parameters
        ----------
        X
            Cells x genes log-normalised expression (dense or sparse).
        {fit_options}

        Returns
        -------
        AE
            The fitted model (``self``).
        """
        return self._fit(X, None, None, options)

    def _build(self) -> dict[str, torch.nn.Module]:
        p = self.params
        return {
            "ae": TiedAutoencoder(
                self.n_genes, p["hidden"], p["latent_dim"], w_recon=self.weights.ae_recon
            )
        }

    def transform(self, X: Any) -> np.ndarray:
        """Latent code (cells x latent_dim)."""
        return self._map(self._input(X), self.modules["ae"].encode)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Reconstruction on the scale of X."""
        ae = self.modules["ae"]
        return self._map(self._input(X), lambda x: self.scaler.inverse(ae.reconstruct(x)))


class AEC(AE):
    """Tied autoencoder with a latent cell-type classifier (the paper's AEC baseline)."""

    needs_labels = True

    @takes_fit_options
    def fit(self, X: Any, labels: Any, *, options: FitOptions) -> AEC:  # type: ignore[override]
        """Fit on expression and one cell-type label per cell.

        Parameters
        ----------
        X
            Cells x genes log-normalised expression (dense or sparse).
        labels
            One cell-type label per cell; at least two types.
        {fit_options}

        Returns
        -------
        AEC
            The fitted model (``self``).
        """
        return self._fit(X, None, labels, options)

    def _build(self) -> dict[str, torch.nn.Module]:
        p, w = self.params, self.weights
        model = TiedAutoencoder(
            self.n_genes,
            p["hidden"],
            p["latent_dim"],
            n_labels=len(self.label_categories),
            w_recon=w.aec_recon,
            w_y=w.aec_y,
        )
        return {"ae": model}


class PCA:
    """PCA baseline (scikit-learn) with the same fit/transform shape as the other models."""

    def __init__(self, latent_dim: int = 2, seed: int = 0) -> None:
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.seed = seed
        self._pca: _SkPCA | None = None

    def fit(self, X: Any) -> PCA:
        mat = check_matrix(X)
        dense = mat.toarray() if hasattr(mat, "toarray") else mat
        if self.latent_dim > min(dense.shape):
            raise ValueError(
                f"latent_dim={self.latent_dim} exceeds min(cells, genes)={min(dense.shape)}."
            )
        self._pca = _SkPCA(self.latent_dim, random_state=self.seed).fit(dense)
        return self

    def transform(self, X: Any) -> np.ndarray:
        if self._pca is None:
            raise NotFittedError("This PCA is not fitted yet: call .fit(X) first.")
        mat = check_matrix(X, n_genes=self._pca.n_features_in_)
        dense = mat.toarray() if hasattr(mat, "toarray") else mat
        return self._pca.transform(dense).astype(np.float32)

    def fit_transform(self, X: Any) -> np.ndarray:
        return self.fit(X).transform(X)


# ---------------------------------------------------------- counterfactual baselines
def _dense(X: Any) -> np.ndarray:
    """A dense float32 copy of the checked matrix."""
    mat = check_matrix(X)
    return np.asarray(mat.todense() if hasattr(mat, "todense") else mat, np.float32)


def _targets_and_codes(
    batch: Any, target: Any, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    own = check_labels(batch, n, "batch")
    known = sorted(set(own.tolist()))
    dest = np.asarray(known, dtype=object)[check_target(target, n, known)]
    return own, dest.astype(str), np.asarray(known)


def mean_shift_counterfactual(X: Any, batch: Any, target: Any) -> np.ndarray:
    """Each cell plus the difference between the target batch's and its own batch's mean.

    The trivial counterfactual: one global shift per pair of batches, the same for every
    cell type. Any model has to beat it on the cell-type-specific part of a batch effect.
    """
    dense = _dense(X)
    own, dest, known = _targets_and_codes(batch, target, dense.shape[0])
    means = {b: dense[own == b].mean(0) for b in known}
    out = dense.copy()
    for b_own in known:
        for b_dest in known:
            rows = (own == b_own) & (dest == b_dest)
            if rows.any() and b_own != b_dest:
                out[rows] += means[b_dest] - means[b_own]
    return out


def knn_counterfactual(
    X: Any,
    batch: Any,
    target: Any,
    n_neighbors: int = 15,
    embedding: Any = None,
    n_components: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """Each cell replaced by the mean expression of its nearest cells in the target batch.

    Neighbours are searched in ``embedding`` (cells x dims; by default a PCA of ``X`` with
    ``n_components`` components). A cell whose target is its own batch gets the mean of its
    nearest cells of its own batch (itself included), so "own" and "target" outputs are
    smoothed alike.
    """
    from sklearn.neighbors import NearestNeighbors

    dense = _dense(X)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    own, dest, known = _targets_and_codes(batch, target, dense.shape[0])
    if embedding is None:
        k = min(n_components, *dense.shape) - 1
        space = _SkPCA(n_components=k, random_state=seed).fit_transform(dense)
    else:
        space = np.asarray(embedding, dtype=np.float64)
        if space.shape[0] != dense.shape[0]:
            raise ValueError(f"embedding has {space.shape[0]} rows for {dense.shape[0]} cells.")
    out = np.empty_like(dense)
    for b in known:
        rows = np.flatnonzero(dest == b)
        if not len(rows):
            continue
        pool = np.flatnonzero(own == b)
        k = min(n_neighbors, len(pool))
        index = NearestNeighbors(n_neighbors=k).fit(space[pool])
        _, nearest = index.kneighbors(space[rows])
        out[rows] = dense[pool[nearest]].mean(axis=1)
    return out

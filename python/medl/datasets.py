"""Datasets: a simulator with known batch effects and ground-truth counterfactuals, and
loaders for the paper's public datasets (see :mod:`medl.public_data`)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .public_data import aml_van_galen, asd_velmeshev, cache_dir, healthy_heart
from .validate import check_fraction, check_positive_int

__all__ = [
    "aml_van_galen",
    "asd_velmeshev",
    "cache_dir",
    "healthy_heart",
    "simulate",
    "true_counterfactual",
]

TRUTH_PREFIX = "truth_"


def simulate(
    n_cells: int = 2000,
    n_genes: int = 500,
    n_batches: int = 3,
    n_cell_types: int = 4,
    batch_effect: float | Sequence[float] = 1.0,
    interaction: float = 0.0,
    confounding: float = 0.0,
    library_size: float = 3000.0,
    seed: int = 0,
) -> ad.AnnData:
    """Simulate UMI counts with cell types, batch effects and known counterfactuals.

    Each cell has a log-rate profile ``eta = gene baseline + cell-type program + low-rank
    cell state``. Batch ``b`` adds a gene-wise log fold change (``batch_effect`` scales it;
    half of the genes are affected) plus, with ``interaction > 0``, a cell-type-specific
    part. Counts are Poisson draws around ``library size * softmax(eta + shift_b)``; X holds
    ``log1p(counts / total * 1e4)``, the usual log-normalisation.

    The ground truth of "cell i as if from batch b" is the noise-free expected profile
    ``log1p(1e4 * softmax(eta_i + shift_b))``, stored for every batch in
    ``layers["truth_<batch>"]``; the cell's own batch gives its denoised profile. The
    expected library size of each cell is ``obs["library_size"]``
    (:func:`true_counterfactual` with ``expected=True`` uses it).

    Parameters
    ----------
    n_cells, n_genes, n_batches, n_cell_types
        Sizes.
    batch_effect
        Standard deviation (log scale) of the per-batch gene shifts: one number, or one per
        batch (a batch with a larger effect than the rest).
    interaction
        Standard deviation of the cell-type x batch part of the shift.
    confounding
        0: cell types spread evenly over batches; towards 1: each batch is dominated by one
        cell type (as in the paper's AML data).
    library_size
        Median UMI count per cell.
    seed
        Random seed.

    Returns
    -------
    AnnData with ``X`` (log-normalised, CSR), ``layers["counts"]``, ``obs["batch"]``,
    ``obs["cell_type"]``, the truth layers and ``uns["simulation"]`` (the parameters).
    """
    n_cells = check_positive_int(n_cells, "n_cells")
    n_genes = check_positive_int(n_genes, "n_genes")
    n_batches = check_positive_int(n_batches, "n_batches")
    n_cell_types = check_positive_int(n_cell_types, "n_cell_types")
    confounding = check_fraction(confounding, "confounding", 0.0, 1.0)
    if np.ndim(batch_effect) == 1 and len(batch_effect) != n_batches:
        raise ValueError(
            f"batch_effect has {len(batch_effect)} values for {n_batches} batches: pass one "
            "number, or one per batch."
        )
    if np.ndim(batch_effect) > 1 or np.any(np.asarray(batch_effect) < 0):
        raise ValueError("batch_effect must be one number >= 0 or one per batch.")
    if interaction < 0 or library_size <= 0:
        raise ValueError("batch_effect and interaction must be >= 0, library_size > 0.")
    # one scale per batch row; a single number draws exactly what it always drew
    effect = batch_effect
    if np.ndim(batch_effect):
        effect = np.asarray(batch_effect, dtype=float)[:, None]
    rng = np.random.default_rng(seed)

    baseline = rng.normal(0.0, 1.2, n_genes)
    programs = rng.normal(0.0, 2.0, (n_cell_types, n_genes)) * (
        rng.random((n_cell_types, n_genes)) < 0.2
    )
    rank = 3
    loadings = rng.normal(0.0, 0.25, (rank, n_genes))
    shifts = rng.normal(0.0, effect, (n_batches, n_genes)) * (
        rng.random((n_batches, n_genes)) < 0.5
    )
    cross = rng.normal(0.0, interaction, (n_batches, n_cell_types, n_genes)) * (
        rng.random((n_batches, n_cell_types, n_genes)) < 0.2
    )

    batch = rng.integers(0, n_batches, n_cells)
    weights = np.full((n_batches, n_cell_types), (1 - confounding) / n_cell_types)
    weights[np.arange(n_batches), np.arange(n_batches) % n_cell_types] += confounding
    cell_type = np.array([rng.choice(n_cell_types, p=weights[b]) for b in batch])

    eta = baseline + programs[cell_type] + rng.normal(0.0, 1.0, (n_cells, rank)) @ loadings
    size = library_size * rng.lognormal(0.0, 0.3, n_cells)

    def profile(b: np.ndarray) -> np.ndarray:
        logits = eta + shifts[b] + cross[b, cell_type]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    counts = rng.poisson(size[:, None] * profile(batch)).astype(np.float32)
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    lognorm = np.log1p(counts / totals * 1e4).astype(np.float32)

    batch_names = [f"batch{b}" for b in range(n_batches)]
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical.from_codes(batch, batch_names),
            "cell_type": pd.Categorical.from_codes(
                cell_type, [f"type{k}" for k in range(n_cell_types)]
            ),
            "library_size": size,
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(
        X=sp.csr_matrix(lognorm),
        obs=obs,
        var=pd.DataFrame(index=[f"gene{g}" for g in range(n_genes)]),
    )
    adata.layers["counts"] = sp.csr_matrix(counts)
    for b, name in enumerate(batch_names):
        target = np.full(n_cells, b)
        adata.layers[TRUTH_PREFIX + name] = np.log1p(1e4 * profile(target)).astype(np.float32)
    adata.uns["simulation"] = {
        "n_batches": n_batches,
        "n_cell_types": n_cell_types,
        "batch_effect": np.asarray(batch_effect, dtype=float).tolist(),
        "interaction": interaction,
        "confounding": confounding,
        "library_size": library_size,
        "seed": seed,
    }
    return adata


def true_counterfactual(
    adata: ad.AnnData, target: str | np.ndarray, expected: bool = False
) -> np.ndarray:
    """The simulated truth of each cell as if from ``target`` (a batch or one per cell).

    Parameters
    ----------
    adata
        The output of :func:`simulate`.
    target
        One batch for every cell, or one per cell.
    expected
        ``False``: the noise-free profile ``log1p(1e4 p)`` (``layers["truth_<batch>"]``).
        ``True``: the expected log-normalised expression ``E[log1p(1e4 c / L)]`` of a cell
        with library size ``L`` and counts ``c ~ Poisson(L p)``: what a model fitted to
        log-normalised X estimates, and what the target batch's observed cells average to.
        For genes with few counts it lies below ``log1p(1e4 p)`` (Jensen's inequality).
    """
    targets = np.broadcast_to(np.asarray(target, dtype=object), (adata.n_obs,))
    out = np.empty(adata.shape, dtype=np.float32)
    for name in np.unique(targets):
        key = TRUTH_PREFIX + str(name)
        if key not in adata.layers:
            raise ValueError(f"No simulated truth for batch {name!r}.")
        rows = targets == name
        out[rows] = adata.layers[key][rows]
    if expected:
        if "library_size" not in adata.obs:
            raise ValueError("expected=True needs obs['library_size'] (from simulate).")
        size = adata.obs["library_size"].to_numpy(np.float64)
        out = expected_lognorm(np.expm1(out.astype(np.float64)) / 1e4, size).astype(np.float32)
    return out


def expected_lognorm(p: np.ndarray, size: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``E[log1p(1e4 c / L)]`` for ``c ~ Poisson(L p)`` (cells x genes ``p``, ``L`` = size).

    Exact sum over counts where ``L p <= 40``; above it the second-order expansion around
    the mean, whose error there is below 1e-3. The total is taken as ``L``: the realised
    total differs from it by about ``1/sqrt(L)`` of itself.
    """
    from scipy.stats import poisson

    k = np.arange(0, 121, dtype=np.float64)
    out = np.empty_like(p)
    for start in range(0, p.shape[0], chunk):
        rows = slice(start, start + chunk)
        lam = size[rows, None] * p[rows]
        scale = 1e4 / size[rows, None]
        # second order: f(lam) + f''(lam) lam / 2, f(c) = log1p(scale c)
        big = np.log1p(scale * lam) - 0.5 * lam * (scale / (1 + scale * lam)) ** 2
        small = lam <= 40
        lam_s, scale_s = lam[small], np.broadcast_to(scale, lam.shape)[small]
        pmf = poisson.pmf(k[None, :], lam_s[:, None])
        exact = (pmf * np.log1p(scale_s[:, None] * k[None, :])).sum(1)
        big[small] = exact
        out[rows] = big
    return out

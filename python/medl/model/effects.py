"""What the batches' random effects do to the cells: distances between batches, and the
genes one batch changes relative to another.

Both are measured on the output, through counterfactuals, so they mean the same for both
variants. The distance between batches ``a`` and ``b`` is the root mean square, over the
cells (of a group) and the genes, of the difference between each cell decoded as if from
``a`` and as if from ``b``, on the scale of X: the distance the simulated truth gives with
its truth layers, so it can be checked against it. The batch-effect table is the posterior
of the mean difference between a group's cells decoded in two batches (paired draws from
:meth:`medl.model.variants.VariationalDesign.paired_sampler`), per group and gene,
corrected by the observed cells' residuals in each batch (post-stratified by state, in
the manner of prediction-powered inference: the model's prediction for all cells plus
the mean error it makes on the cells that were measured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import norm

from ..validate import check_labels


def batch_distances(
    decode: Callable[[str], np.ndarray],
    batches: list[str],
    n_cells: int,
    groups: Any = None,
) -> pd.DataFrame:
    """Batches x batches distances of ``decode(target)`` (cells x genes), per group if given.

    Without ``groups`` a batches x batches frame; with them, one such block per group,
    indexed by ``(group, batch)``, so ``frame.loc[group]`` is that group's matrix.
    """
    labels = None
    if groups is not None:
        labels = check_labels(groups, n_cells, "groups")
    profiles = np.stack([np.asarray(decode(b), dtype=np.float32) for b in batches])
    if labels is None:
        return _distances(profiles, batches)
    names = sorted(set(labels))
    blocks = {g: _distances(profiles[:, np.asarray(labels) == g], batches) for g in names}
    return pd.concat(blocks, names=["group", "batch"])


def _distances(profiles: np.ndarray, batches: list[str]) -> pd.DataFrame:
    """RMS differences between the batch slices of ``profiles`` (batches x cells x genes)."""
    flat = profiles.reshape(len(batches), -1).astype(np.float64)
    sq = (flat**2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * flat @ flat.T, 0.0) / flat.shape[1]
    np.fill_diagonal(d2, 0.0)
    index = pd.Index(batches, name="batch")
    return pd.DataFrame(np.sqrt(d2), index=index, columns=pd.Index(batches, name="to"))


def stratified_means(
    chunks: Iterable[tuple[Any, np.ndarray]],
    side: np.ndarray,
    group_codes: np.ndarray,
    n_groups: int,
    strata: np.ndarray,
    n_strata: int,
    n_genes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Post-stratified means of a value per group and side, and their sampling variance.

    ``chunks`` yields ``(rows, values)``: row indices (or a slice) and cells x genes values
    (for the batch-effect table, each cell's residual from its reconstruction in its own
    batch). Within a group, each stratum (a state of the cells, e.g. a cluster of their FE
    codes) is weighted by its share of the group's cells of every batch, so a side whose
    cells are of other states than the group's is reweighted to the group's make-up.

    Returns ``means`` (groups x 2 x genes: per side, the weighted sum of the strata's means
    over the strata with cells of that side), ``spread`` (groups x genes: the variance of
    the difference of the two sides' means) and the side's cell counts (groups x 2). A side
    with fewer than two cells of a stratum takes the variance of the stratum's cells of
    every batch (else of the group's, else of all cells) and counts as one cell.
    """
    slot = (group_codes.astype(np.int64) * n_strata + strata) * 3 + np.where(side < 0, 2, side)
    n_slots = 3 * n_groups * n_strata
    sums = np.zeros((n_slots, 2, n_genes))
    for rows, x in chunks:
        onehot = sp.csr_matrix(
            (np.ones(x.shape[0]), (slot[rows], np.arange(x.shape[0]))), shape=(n_slots, len(x))
        )
        sums[:, 0] += onehot @ x
        sums[:, 1] += onehot @ (x * x)
    count = np.bincount(slot, minlength=n_slots).reshape(n_groups, n_strata, 3).astype(float)
    sums = sums.reshape(n_groups, n_strata, 3, 2, n_genes)

    def variance(total, square, k):
        """Unbiased variance from sums; NaN with fewer than two cells."""
        k = np.asarray(k)[..., None]
        var = (square - total**2 / np.maximum(k, 1)) / np.maximum(k - 1, 1)
        return np.where(k >= 2, var, np.nan)

    total, square = sums[:, :, :, 0], sums[:, :, :, 1]
    side_var = variance(total[:, :, :2], square[:, :, :2], count[:, :, :2])
    stratum_var = variance(total.sum(2), square.sum(2), count.sum(2))
    group_var = variance(total.sum((1, 2)), square.sum((1, 2)), count.sum((1, 2)))
    all_var = variance(total.sum((0, 1, 2)), square.sum((0, 1, 2)), count.sum())
    group_var = np.where(np.isnan(group_var), all_var, group_var)
    stratum_var = np.where(np.isnan(stratum_var), group_var[:, None], stratum_var)
    side_var = np.where(np.isnan(side_var), stratum_var[:, :, None], side_var)
    weight = count.sum(2) / np.maximum(count.sum((1, 2)), 1)[:, None]  # groups x strata
    side_n = count[:, :, :2]
    means = total[:, :, :2] / np.maximum(side_n, 1)[..., None]
    means = np.einsum("gs,gsbj->gbj", weight, means)
    per_side = np.maximum(side_var, 0.0) / np.maximum(side_n, 1)[..., None]
    spread = np.einsum("gs,gsj->gj", weight**2, per_side.sum(2))
    return means, spread, side_n.sum(1).astype(np.int64)


def state_strata(codes: np.ndarray, n_strata: int = 10, seed: int = 0) -> np.ndarray:
    """A stratum per cell: k-means clusters of its (batch-invariant) FE code.

    Fitted on at most 50,000 cells (a random subset beyond), then every cell assigned.
    """
    from sklearn.cluster import KMeans

    codes = np.asarray(codes, dtype=np.float64)
    k = max(1, min(n_strata, codes.shape[0]))
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(codes.shape[0], min(codes.shape[0], 50_000), replace=False)
    means = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(codes[fit_rows])
    return means.predict(codes).astype(np.int64)


def effect_table(
    sums: np.ndarray,
    counts: np.ndarray,
    groups: list[str],
    genes: list[str],
    delta: float,
    spread: np.ndarray | None = None,
    observed: np.ndarray | None = None,
    correction: np.ndarray | None = None,
) -> pd.DataFrame:
    """The batch-effect table from per-group sums of ``n`` paired draws.

    ``sums`` is ``(n + 2) x groups x genes``: the draws' summed target-minus-reference
    differences, then the summed target and reference profiles (means over the draws);
    ``counts`` the cells per group. ``correction`` (groups x 2 x genes, the observed
    residuals' post-stratified means from :func:`stratified_means`) is added to the target
    and reference means and so to the LFC; ``spread`` (groups x genes, their sampling
    variance) is added to the draws' variance: the draws hold the random effects'
    posterior, but not that the model learnt each group's difference from a finite sample
    of cells. ``observed`` (groups x 2) gives the ``n_target`` and ``n_reference`` columns.
    ``prob_de`` and ``lfsr`` are read off the normal distribution of that mean and SD. One
    row per group x gene.
    """
    n = sums.shape[0] - 2
    per_cell = sums.astype(np.float64) / counts[None, :, None]
    lfc, target, reference = per_cell[:n], per_cell[n], per_cell[n + 1]
    mean, var = lfc.mean(0), lfc.var(0, ddof=1)
    if correction is not None:
        target, reference = target + correction[:, 0], reference + correction[:, 1]
        mean = mean + correction[:, 0] - correction[:, 1]
    if spread is not None:
        var = var + spread
    sd = np.sqrt(var)
    scale = np.maximum(sd, 1e-12)
    prob_de = norm.sf((delta - mean) / scale) + norm.cdf((-delta - mean) / scale)
    lfsr = norm.cdf(-np.abs(mean) / scale)
    frame = pd.DataFrame(
        {
            "group": np.repeat(groups, len(genes)),
            "gene": np.tile(genes, len(groups)),
            "lfc_mean": mean.ravel(),
            "lfc_sd": sd.ravel(),
            "prob_de": prob_de.ravel(),
            "lfsr": lfsr.ravel(),
            "fdr": np.concatenate([expected_fdr(p) for p in prob_de]),
            "mean_target": target.ravel(),
            "mean_reference": reference.ravel(),
            "n_cells": np.repeat(counts, len(genes)),
        }
    )
    if observed is not None:
        frame["n_target"] = np.repeat(observed[:, 0], len(genes))
        frame["n_reference"] = np.repeat(observed[:, 1], len(genes))
    return frame


def expected_fdr(prob: np.ndarray) -> np.ndarray:
    """Posterior expected false discovery proportion of calling every gene at least as
    probable as this one: the mean of ``1 - prob`` over those genes (ties called together).
    Calling the genes with ``fdr <= alpha`` keeps the expected proportion below ``alpha``."""
    order = np.argsort(-prob, kind="stable")
    running = np.cumsum(1.0 - prob[order]) / np.arange(1, len(prob) + 1)
    # ties share the value of the last of them: they are called, or not, together
    last = len(prob) - 1 - np.unique(prob[order][::-1], return_index=True)[1]
    value = dict(zip(prob[order][last], running[last]))
    return np.array([value[p] for p in prob])

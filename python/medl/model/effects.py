"""What the batches' random effects do to the cells: distances between batches, and the
genes one batch changes relative to another.

Both are measured on the output, through counterfactuals, so they mean the same for both
variants. The distance between batches ``a`` and ``b`` is the root mean square, over the
cells (of a group) and the genes, of the difference between each cell decoded as if from
``a`` and as if from ``b``, on the scale of X: the distance the simulated truth gives with
its truth layers, so it can be checked against it. The batch-effect table is the posterior
of the mean difference between a group's cells decoded in two batches (paired draws from
:meth:`medl.model.variants.VariationalDesign.paired_sampler`), per group and gene.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

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


def effect_table(
    sums: np.ndarray,
    counts: np.ndarray,
    groups: list[str],
    genes: list[str],
    delta: float,
) -> pd.DataFrame:
    """The batch-effect table from per-group sums of ``n`` paired draws.

    ``sums`` is ``(n + 2) x groups x genes``: the draws' summed target-minus-reference
    differences, then the summed target and reference profiles (means over the draws);
    ``counts`` the cells per group. One row per group x gene.
    """
    n = sums.shape[0] - 2
    per_cell = sums.astype(np.float64) / counts[None, :, None]
    lfc, target, reference = per_cell[:n], per_cell[n], per_cell[n + 1]
    prob_de = (np.abs(lfc) > delta).mean(0)
    lfsr = np.minimum((lfc >= 0).mean(0), (lfc <= 0).mean(0))
    frame = pd.DataFrame(
        {
            "group": np.repeat(groups, len(genes)),
            "gene": np.tile(genes, len(groups)),
            "lfc_mean": lfc.mean(0).ravel(),
            "lfc_sd": lfc.std(0, ddof=1).ravel(),
            "prob_de": prob_de.ravel(),
            "lfsr": lfsr.ravel(),
            "fdr": np.concatenate([expected_fdr(p) for p in prob_de]),
            "mean_target": target.ravel(),
            "mean_reference": reference.ravel(),
            "n_cells": np.repeat(counts, len(genes)),
        }
    )
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

"""What the batches' random effects do to the cells: distances between batches.

Measured on the output, through counterfactuals, so it means the same for both variants:
the distance between batches ``a`` and ``b`` is the root mean square, over the cells (of a
group) and the genes, of the difference between each cell decoded as if from ``a`` and as
if from ``b``, on the scale of X. It is the distance the simulated truth gives with its
truth layers, so it can be checked against it.
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

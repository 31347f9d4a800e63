"""How long and on what a fit trains: the validation split, the minibatch size and the epoch
budget."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from ..validate import check_fraction


def auto_batch_size(n_train: int, per_epoch: int = 16) -> int:
    """About ``per_epoch`` minibatches per epoch, as a power of two between 64 and 512.

    A fixed 512 gives data of a few hundred cells one optimizer step per epoch, and early
    stopping then ends training before the model has learnt (docs/method.md).
    """
    size = 2 ** round(np.log2(max(n_train, 1) / per_epoch))
    return int(min(512, max(64, size)))


def auto_max_epochs(
    n_train: int, batch_size: int, min_steps: int = 0, steps: int | None = None
) -> int:
    """The epoch budget.

    With ``steps`` (the variational default's rule): as many epochs as ``steps`` optimizer
    steps take, at most 500. The model converges in about as many steps whatever the data's
    size (docs/method.md), so the time of a fit grows with its minibatch, not its cells.
    Without: ``min(500, 8e6 / cells)`` epochs (500 up to 16,000 cells, 8 at a million), as
    scvi-tools' rule does. Never fewer than needed for ``min_steps`` steps.
    """
    steps_per_epoch = max(1, -(-n_train // batch_size))
    if steps is None:
        budget = min(500, max(1, round(8e6 / max(n_train, 1))))
    else:
        budget = min(500, max(1, -(-steps // steps_per_epoch)))
    return int(max(budget, -(-min_steps // steps_per_epoch)))


def strata(batch_codes: np.ndarray | None, label_codes: np.ndarray | None) -> np.ndarray | None:
    parts = [c for c in (batch_codes, label_codes) if c is not None]
    if not parts:
        return None
    strata = parts[0].copy()
    for p in parts[1:]:
        strata = strata * (p.max() + 1) + p
    return strata


def split_validation(
    n: int, validation: Any, strata: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation cell indices.

    ``validation`` is a fraction (stratified by batch x label where every stratum has at
    least two cells, else unstratified), a boolean mask, or explicit validation indices.
    """
    if isinstance(validation, int | float | np.floating) and not isinstance(validation, bool):
        fraction = check_fraction(validation, "validation", 0.0, 0.9)
        if fraction == 0 or round(n * fraction) < 1:
            return np.arange(n), np.array([], dtype=np.int64)
        stratify = strata
        if strata is not None:
            counts = np.bincount(strata)
            if counts[counts > 0].min() < 2:
                stratify = None
        try:
            return tuple(
                np.sort(a)
                for a in train_test_split(
                    np.arange(n), test_size=fraction, random_state=seed, stratify=stratify
                )
            )
        except ValueError:  # too few cells per stratum for the requested fraction
            return tuple(
                np.sort(a)
                for a in train_test_split(np.arange(n), test_size=fraction, random_state=seed)
            )
    arr = np.asarray(validation)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"validation mask has {arr.size} entries for {n} cells.")
        val = np.flatnonzero(arr)
    elif np.issubdtype(arr.dtype, np.integer):
        val = np.unique(arr)
        if val.size and (val.min() < 0 or val.max() >= n):
            raise ValueError(f"validation indices must lie in [0, {n}).")
    else:
        raise ValueError(
            "validation must be a fraction in [0, 0.9), a boolean mask or integer indices."
        )
    train = np.setdiff1d(np.arange(n), val)
    if len(train) < 2:
        raise ValueError("validation leaves fewer than 2 training cells.")
    return train, val

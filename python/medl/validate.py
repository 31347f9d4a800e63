"""Input checks shared by every public entry point.

Each check raises a ``TypeError`` or ``ValueError`` that says what is wrong and how to fix
it, before any work starts, and never modifies the caller's objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

Matrix = np.ndarray | sp.csr_matrix


def check_matrix(X: Any, name: str = "X", n_genes: int | None = None) -> Matrix:
    """Return ``X`` as a float32 dense array or CSR matrix after checking its contents.

    Dense input is always copied; a float32 CSR matrix in canonical form is shared (read
    only) to keep large sparse data in memory once.

    Parameters
    ----------
    X
        Cells x genes expression: numpy array, scipy sparse matrix or pandas DataFrame.
    name
        How to call the matrix in error messages.
    n_genes
        If given, the number of columns ``X`` must have (the model's gene count).
    """
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    if sp.issparse(X):
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got a sparse matrix of {X.dtype}.")
        # float32 CSR input is shared, not copied (a million-cell matrix is gigabytes);
        # nothing downstream writes to it. Duplicate entries are summed in a copy.
        mat = sp.csr_matrix(X, dtype=np.float32, copy=False)
        if not mat.has_canonical_format:
            mat = mat.copy()
            mat.sum_duplicates()
        values = mat.data
    else:
        arr = np.asarray(X)
        if (
            arr.dtype == object
            or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)
            or np.issubdtype(arr.dtype, np.complexfloating)
        ):
            raise TypeError(
                f"{name} must be a numeric cells x genes matrix, got dtype {arr.dtype}. "
                "Convert it with np.asarray(X, dtype=float) or pass the expression layer."
            )
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional (cells x genes), got {arr.ndim} dims.")
        mat = arr.astype(np.float32)  # always a copy: the caller's array is never touched
        values = mat
    n_cells, n_cols = mat.shape
    if n_cells == 0 or n_cols == 0:
        raise ValueError(
            f"{name} is empty ({n_cells} cells x {n_cols} genes): pass at least one cell and "
            "one gene."
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s). Remove or impute them "
            "(e.g. np.nan_to_num) before calling medl."
        )
    if values.size and values.min() < 0:
        raise ValueError(
            f"{name} contains negative values (min {values.min():.3g}). medl expects "
            "log-normalised expression (e.g. scanpy normalize_total + log1p, or Seurat "
            "NormalizeData), which is non-negative; do not pass scaled/centred data."
        )
    if n_genes is not None and n_cols != n_genes:
        raise ValueError(
            f"{name} has {n_cols} genes but the model was fitted on {n_genes}. Pass the same "
            "genes, in the same order, as at fit time."
        )
    return mat


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in {"", "nan", "na", "none"}


def check_labels(labels: Any, n_cells: int, name: str) -> np.ndarray:
    """Return per-cell labels as an array of strings, checking length and missing values."""
    if labels is None:
        raise ValueError(f"{name} is required.")
    if isinstance(labels, str) or np.ndim(labels) == 0:
        raise TypeError(f"{name} must have one label per cell, got a scalar {labels!r}.")
    values = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    if len(values) != n_cells:
        raise ValueError(
            f"{name} has {len(values)} labels but X has {n_cells} cells: pass one label per "
            "cell, in the same order as the rows of X."
        )
    missing = [i for i, v in enumerate(values) if _is_missing(v)]
    if missing:
        shown = ", ".join(str(i) for i in missing[:5])
        raise ValueError(
            f"{name} has {len(missing)} missing label(s) (None/NaN/empty) at cell index "
            f"{shown}{'...' if len(missing) > 5 else ''}. Drop those cells or assign a label."
        )
    return np.array([_label_str(v) for v in values], dtype=object)


def _label_str(value: Any) -> str:
    # 1 and 1.0 must name the same batch: R hands numbers over as doubles.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def categories_of(labels: Any, strings: np.ndarray, name: str, minimum: int) -> list[str]:
    """Ordered categories: a pandas Categorical's order where given, else sorted."""
    present = set(strings.tolist())
    if isinstance(getattr(labels, "dtype", None), pd.CategoricalDtype):
        cats = [_label_str(c) for c in labels.cat.categories if _label_str(c) in present]
    else:
        cats = sorted(present, key=_natural_key)
    if len(cats) < minimum:
        raise ValueError(
            f"{name} has {len(cats)} distinct value(s) ({', '.join(cats)}); at least "
            f"{minimum} are needed. MEDL separates effects ACROSS batches: with one batch "
            "there is nothing to separate (use medl.AE instead)."
        )
    return cats


def _natural_key(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def encode(strings: np.ndarray, categories: Sequence[str], name: str) -> np.ndarray:
    """Map labels to integer codes, naming any label not among ``categories``."""
    index = {c: i for i, c in enumerate(categories)}
    unknown = sorted({s for s in strings.tolist() if s not in index})
    if unknown:
        raise ValueError(
            f"{name} has label(s) never seen in training: {', '.join(unknown[:10])}"
            f"{'...' if len(unknown) > 10 else ''}. Known: {', '.join(categories)}."
        )
    return np.fromiter((index[s] for s in strings), dtype=np.int64, count=len(strings))


def check_target(target: Any, n_cells: int, categories: Sequence[str]) -> np.ndarray:
    """Counterfactual target batch: a scalar for every cell or one label per cell."""
    if isinstance(target, str) or np.ndim(target) == 0:
        if _is_missing(target):
            raise ValueError("target is missing: name a batch seen in training.")
        strings = np.array([_label_str(target)] * n_cells, dtype=object)
    else:
        strings = check_labels(target, n_cells, "target")
    return encode(strings, categories, "target")


def check_batch(value: Any, categories: Sequence[str], name: str) -> int:
    """One batch seen in training, by name: its integer code."""
    if not (isinstance(value, str) or np.ndim(value) == 0) or _is_missing(value):
        raise ValueError(f"{name} must name one batch seen in training, got {value!r}.")
    return int(encode(np.array([_label_str(value)], dtype=object), categories, name)[0])


def check_groups(groups: Any, n_cells: int) -> tuple[np.ndarray, list[str]]:
    """Per-cell group labels and the groups in order (a Categorical's, else sorted); a
    category without cells is an error, as it could only give an empty row."""
    strings = check_labels(groups, n_cells, "groups")
    names = categories_of(groups, strings, "groups", minimum=1)
    empty = []
    if isinstance(getattr(groups, "dtype", None), pd.CategoricalDtype):
        empty = [_label_str(c) for c in groups.cat.categories if _label_str(c) not in names]
    if empty:
        raise ValueError(
            f"groups has categories with no cells: {', '.join(empty[:10])}. Drop them first "
            "(pandas: .cat.remove_unused_categories(); R: droplevels())."
        )
    return strings, names


def check_effect_draws(n_samples: Any, delta: Any) -> tuple[int, float]:
    """``n_samples`` (>= 2 draws: a spread needs two) and ``delta`` (>= 0) of a batch-effect
    test."""
    if not _is_whole(n_samples) or n_samples < 2:
        raise ValueError(
            f"n_samples must be a whole number >= 2 (a spread needs draws), got {n_samples!r}."
        )
    number = isinstance(delta, int | float | np.integer | np.floating)
    if isinstance(delta, bool) or not number or not np.isfinite(delta) or delta < 0:
        raise ValueError(f"delta must be a number >= 0, got {delta!r}.")
    return int(n_samples), float(delta)


def check_fraction(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    if not isinstance(value, int | float | np.floating) or not low <= value < high:
        raise ValueError(f"{name} must be a number in [{low}, {high}), got {value!r}.")
    return float(value)


def check_level(level: Any) -> float:
    """``level`` as a float in (0, 1), else a clear error."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)):
        raise TypeError(f"level must be a number in (0, 1), e.g. 0.9; got {level!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.9 for a 90% interval; got {level}.")
    return float(level)


def _is_whole(value: Any) -> bool:
    """An int, or a float holding a whole number (R hands 50 over as the double 50.0)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and float(value).is_integer()


def check_int(value: Any, name: str) -> int:
    if not _is_whole(value):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    if not _is_whole(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)

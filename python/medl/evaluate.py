"""Cross-validated evaluation as in the paper: latent scores per model and the MEC classifier.

Folds are stratified by batch x cell type. Split ``s`` tests on fold ``s``, stops early on
fold ``s + 1`` and trains on the rest (3 / 1 / 1 with 5 folds). Every model sees the same
splits, and scores are computed on the test cells only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from . import metrics
from .model import AE, AEC, MEDL, PCA
from .validate import categories_of, check_labels, check_matrix, check_positive_int

MODELS = ("PCA", "AE", "AEC", "FE", "FEC", "RE")
SCORES = {
    "asw": metrics.silhouette,
    "ch": metrics.calinski_harabasz,
    "inv_db": metrics.davies_bouldin_inverse,
    "entropy": metrics.batch_entropy,
    "lisi": metrics.lisi,
}


@dataclass(frozen=True)
class Split:
    """Cell indices of one cross-validation split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def cv_splits(batch: Any, labels: Any = None, n_folds: int = 5, seed: int = 0) -> list[Split]:
    """``n_folds`` splits stratified by batch x label: train / validation / test indices."""
    n_folds = check_positive_int(n_folds, "n_folds")
    if n_folds < 3:
        raise ValueError(f"n_folds must be >= 3 (train, validation and test), got {n_folds}.")
    b = check_labels(batch, len(batch), "batch")
    strata = b if labels is None else b + "|" + check_labels(labels, len(b), "labels")
    _, codes = np.unique(strata, return_inverse=True)
    if np.bincount(codes).min() < n_folds:  # rare strata: fall back to batch alone
        _, codes = np.unique(b, return_inverse=True)
    folds = [
        test
        for _, test in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(
            np.zeros(len(codes)), codes
        )
    ]
    out = []
    for s in range(n_folds):
        val_fold = (s + 1) % n_folds
        train = np.sort(np.concatenate([f for k, f in enumerate(folds) if k not in (s, val_fold)]))
        out.append(Split(train, np.sort(folds[val_fold]), np.sort(folds[s])))
    return out


def _fit_model(
    name: str,
    X: Any,
    batch: np.ndarray,
    labels: np.ndarray | None,
    split: Split,
    model_kwargs: dict[str, Any],
    fit_kwargs: dict[str, Any],
    cache: dict[str, Any],
    medl_kwargs: dict[str, Any],
) -> Callable[[np.ndarray], np.ndarray]:
    """Fit ``name`` on the training cells (validation cells for early stopping only).

    Returns a function giving the latents of any cells by index.
    """
    fit_idx = np.concatenate([split.train, split.val])
    fit = {"validation": np.arange(len(split.train), len(fit_idx)), "progress": False}
    fit.update(fit_kwargs)
    if name == "PCA":
        pca = PCA(model_kwargs.get("latent_dim", 2), model_kwargs.get("seed", 0))
        pca.fit(X[split.train])
        return lambda idx: pca.transform(X[idx])
    if name in ("AE", "AEC"):
        ae = AE(**model_kwargs) if name == "AE" else AEC(**model_kwargs)
        args = (X[fit_idx],) if name == "AE" else (X[fit_idx], labels[fit_idx])
        ae.fit(*args, **fit)
        return lambda idx: ae.transform(X[idx])
    key = "FEC" if name == "FEC" else "MEDL"
    if key not in cache:  # FE and RE come from the same fitted MEDL
        y = labels[fit_idx] if name == "FEC" else None
        model = MEDL(**{**model_kwargs, **medl_kwargs})
        cache[key] = model.fit(X[fit_idx], batch[fit_idx], y, **fit)
    model = cache[key]
    if name == "RE":
        return lambda idx: model.random_effects(X[idx], batch[idx])
    return lambda idx: model.fixed_effects(X[idx])


def _check_models(models: Sequence[str], labels: Any) -> list[str]:
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"Unknown models {unknown}; choose from {list(MODELS)}.")
    if labels is None and any(m in ("AEC", "FEC") for m in models):
        raise ValueError("AEC and FEC need cell-type labels: pass labels= or drop them.")
    return list(models)


def cross_validate(
    X: Any,
    batch: Any,
    labels: Any = None,
    models: Sequence[str] = MODELS,
    targets: dict[str, Any] | None = None,
    n_folds: int = 5,
    model_kwargs: dict[str, Any] | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    max_cells: int = 10_000,
    seed: int = 0,
    medl_kwargs: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cross-validated latent scores of several models, plus the MEC classifier.

    Parameters
    ----------
    X
        Cells x genes, log-normalised.
    batch, labels
        Batch per cell; cell type per cell (needed for AEC/FEC and cell-type scores).
    models
        Any of ``"PCA", "AE", "AEC", "FE", "FEC", "RE"``.
    targets
        MEC targets, ``{name: one value per cell}``: a random forest on standardised [FE, RE]
        latents, on FE alone and on PCA, trained on the training cells and scored on the test
        cells. Needs ``"FE"``, ``"RE"`` and ``"PCA"`` in ``models``.
    n_folds
        Folds (>= 3); split ``s`` tests on fold ``s`` and validates on fold ``s + 1``.
    model_kwargs, fit_kwargs
        Passed to every model's constructor / ``fit`` (e.g. ``{"max_epochs": 100}``).
    max_cells
        At most this many sampled test cells per score.
    seed
        Seed of the folds, the score subsampling and every model.
    medl_kwargs
        Constructor settings for the MEDL fits (FE, FEC, RE) only, over ``model_kwargs``:
        e.g. ``{"variant": "paper"}``, which the AE baselines do not take.

    Returns
    -------
    ``(scores, mec)``: tidy tables with one row per split x model x grouping x score, and
    per split x target x features x metric. Summarise with :func:`summarize`.
    """
    mat = check_matrix(X)
    n = mat.shape[0]
    b = check_labels(batch, n, "batch")
    categories_of(batch, b, "batch", 2)
    y = None if labels is None else check_labels(labels, n, "labels")
    models = _check_models(models, labels)
    target_arrays = {k: check_labels(v, n, f"targets[{k!r}]") for k, v in (targets or {}).items()}
    if target_arrays and not {"FE", "RE", "PCA"} <= set(models):
        raise ValueError("MEC targets need 'FE', 'RE' and 'PCA' in models.")
    if medl_kwargs is not None and not isinstance(medl_kwargs, dict):
        raise ValueError(
            f"medl_kwargs must be a dict of MEDL settings (e.g. {{'variant': 'paper'}}), "
            f"got {type(medl_kwargs).__name__}."
        )
    model_kwargs = {"seed": seed, **(model_kwargs or {})}
    medl_only = dict(medl_kwargs or {})
    groupings = {"batch": b} if y is None else {"batch": b, "cell_type": y}
    score_rows, mec_rows = [], []
    for s, split in enumerate(cv_splits(b, y, n_folds, seed)):
        cache: dict[str, Any] = {}
        encoders = {
            name: _fit_model(
                name, mat, b, y, split, model_kwargs, fit_kwargs or {}, cache, medl_only
            )
            for name in models
        }
        test = {name: encode(split.test) for name, encode in encoders.items()}
        for name, emb in test.items():
            for by, lab in groupings.items():
                for score, fn in SCORES.items():
                    value = fn(emb, lab[split.test], max_cells=max_cells, seed=seed)
                    score_rows.append((s, name, by, score, value))
        if target_arrays:
            train = {k: encoders[k](split.train) for k in ("FE", "RE", "PCA")}
        for target, values in target_arrays.items():
            rows = mec(train, test, values[split.train], values[split.test], seed)
            mec_rows += [(s, target, *row) for row in rows]
    scores = pd.DataFrame(score_rows, columns=["split", "model", "by", "score", "value"])
    mec_table = pd.DataFrame(mec_rows, columns=["split", "target", "features", "metric", "value"])
    return scores, mec_table


def mec(
    train: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    y_train: np.ndarray,
    y_test: np.ndarray,
    seed: int = 0,
) -> list[tuple[str, str, float]]:
    """The mixed-effects classifier: random forests on [FE, RE], FE and PCA latents.

    ``train``/``test`` map ``"FE"``, ``"RE"``, ``"PCA"`` to latents of the training and test
    cells. Features are standardised on the training cells. Returns ``(features, metric,
    value)`` rows for accuracy and balanced accuracy, plus the chance level of a stratified
    dummy classifier.
    """
    feature_sets = {
        "FE+RE": lambda d: np.hstack([d["FE"], d["RE"]]),
        "FE": lambda d: d["FE"],
        "PCA": lambda d: d["PCA"],
    }
    rows = []
    for features, pick in feature_sets.items():
        scaler = StandardScaler().fit(pick(train))
        forest = RandomForestClassifier(random_state=seed).fit(
            scaler.transform(pick(train)), y_train
        )
        predicted = forest.predict(scaler.transform(pick(test)))
        rows.append((features, "accuracy", accuracy_score(y_test, predicted)))
        rows.append((features, "balanced_accuracy", balanced_accuracy_score(y_test, predicted)))
    dummy = DummyClassifier(strategy="stratified", random_state=seed).fit(train["FE"], y_train)
    rows.append(("chance", "accuracy", accuracy_score(y_test, dummy.predict(test["FE"]))))
    return rows


def summarize(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% t-interval half-width of ``value`` over splits, per ``by`` group."""

    def ci(values: pd.Series) -> float:
        k = len(values)
        if k < 2:
            return float("nan")
        return float(stats.t.ppf(0.975, k - 1) * values.std(ddof=1) / np.sqrt(k))

    grouped = table.groupby(list(by), sort=False)["value"]
    return grouped.agg(mean="mean", ci95=ci, n="count").reset_index()


def to_markdown(summary: pd.DataFrame, rows: str, columns: str, digits: int = 2) -> str:
    """A Markdown table of ``mean ± ci95`` with ``rows`` down and ``columns`` across."""
    cell = summary.assign(
        text=[
            f"{m:.{digits}f}" + ("" if np.isnan(c) else f" ± {c:.{digits}f}")
            for m, c in zip(summary["mean"], summary["ci95"])
        ]
    )
    wide = cell.pivot(index=rows, columns=columns, values="text")
    wide = wide.reindex(index=pd.unique(summary[rows]), columns=pd.unique(summary[columns]))
    header = f"| {rows} | " + " | ".join(map(str, wide.columns)) + " |"
    rule = "|" + "---|" * (len(wide.columns) + 1)
    body = [f"| {i} | " + " | ".join(str(v) for v in r) + " |" for i, r in wide.iterrows()]
    return "\n".join([header, rule, *body])

"""Fit MEDL and compute every requested output in one call.

:func:`fit_medl` works on arrays and is the engine behind :func:`run_medl` (AnnData), the
R package and the CLI, so none of them holds model logic of its own.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .model import MEDL
from .train.options import FitOptions
from .validate import check_effect_draws, check_groups, check_labels

FE_KEY, RE_KEY, UNS_KEY = "X_medl_fe", "X_medl_re", "medl"
EFFECTS_KEY = "medl_batch_effects"
#: what ``batch_effects=`` may hold: MEDL.batch_effects' arguments after X and batch
EFFECT_ARGS = ("target", "reference", "groups", "n_samples", "delta", "sample_seed")


@dataclass
class MEDLResult:
    """A fitted model and its outputs for the cells it was fitted on."""

    model: MEDL
    fixed_effects: np.ndarray
    random_effects: np.ndarray
    counterfactuals: dict[str, np.ndarray] = field(default_factory=dict)
    fe_reconstruction: np.ndarray | None = None
    batch_effects: pd.DataFrame | None = None


def split_kwargs(kwargs: dict[str, Any], caller: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route extra arguments to ``MEDL(...)`` or ``MEDL.fit(...)``; unknown ones are errors."""
    init = set(inspect.signature(MEDL.__init__).parameters) - {"self"}
    fit = set(FitOptions.names())
    unknown = sorted(set(kwargs) - init - fit)
    if unknown:
        raise TypeError(
            f"{caller} got unknown argument(s) {unknown}; MEDL takes {sorted(init)} and "
            f"fit takes {sorted(fit)}."
        )
    return (
        {k: v for k, v in kwargs.items() if k in init},
        {k: v for k, v in kwargs.items() if k in fit},
    )


def check_counterfactual_targets(targets: Sequence[Any] | None, batch: Any) -> list[str]:
    """The requested target batches as strings, each one a batch present in ``batch``."""
    if targets is None:
        return []
    if isinstance(targets, str):
        targets = [targets]
    names = [str(t) for t in targets]
    known = set(check_labels(batch, len(batch), "batch").tolist())
    missing = [t for t in names if t not in known]
    if missing:
        raise ValueError(
            f"counterfactual batch(es) {missing} are not batches of the data "
            f"({', '.join(sorted(known))})."
        )
    return names


def check_batch_effects_request(
    request: dict[str, Any] | None, batch: Any, variant_has_posterior: bool
) -> dict[str, Any] | None:
    """Check a ``batch_effects=`` request before training: known keys, target and reference
    batches of the data, groups one label per cell, the draws' settings."""
    if request is None:
        return None
    if not isinstance(request, dict):
        raise TypeError(
            "batch_effects must be a dict of MEDL.batch_effects arguments, e.g. "
            "{'target': 'stim', 'reference': 'ctrl', 'groups': 'cell_type'}."
        )
    unknown = sorted(set(request) - set(EFFECT_ARGS))
    missing = [k for k in ("target", "reference") if k not in request]
    if unknown or missing:
        raise ValueError(
            f"batch_effects takes {list(EFFECT_ARGS)} and needs target and reference; "
            f"unknown: {unknown}, missing: {missing}."
        )
    if not variant_has_posterior:
        raise ValueError("batch_effects needs the variational variant (the default).")
    check_counterfactual_targets([request["target"], request["reference"]], batch)
    if str(request["target"]) == str(request["reference"]):
        raise ValueError("batch_effects: target and reference are the same batch.")
    check_effect_draws(request.get("n_samples", 100), request.get("delta", 0.25))
    if request.get("groups") is not None:
        check_groups(request["groups"], len(batch))
    return dict(request)


def fit_medl(
    X: Any,
    batch: Any,
    labels: Any = None,
    counterfactual: Sequence[str] | None = None,
    fe_reconstruction: bool = False,
    feature_names: Sequence[str] | None = None,
    batch_effects: dict[str, Any] | None = None,
    caller: str = "fit_medl",
    **kwargs: Any,
) -> MEDLResult:
    """Fit :class:`medl.MEDL` on ``X`` and return the latents and requested profiles.

    ``batch_effects``: a dict of :meth:`medl.MEDL.batch_effects` arguments (``target``,
    ``reference``, optional ``groups`` with one label per cell, ``n_samples``, ``delta``,
    ``sample_seed``); the result's ``batch_effects`` is its table. ``kwargs`` go to
    ``MEDL(...)`` or ``MEDL.fit(...)`` by name. Every argument is checked before training
    starts.
    """
    init_kw, fit_kw = split_kwargs(kwargs, caller)
    targets = check_counterfactual_targets(counterfactual, batch)
    model = MEDL(**init_kw)
    effects = check_batch_effects_request(batch_effects, batch, model.design.posterior)
    model.fit(X, batch, labels, feature_names=feature_names, **fit_kw)
    table = None
    if effects is not None:
        table = model.batch_effects(X, batch, **effects)
    return MEDLResult(
        model=model,
        fixed_effects=model.fixed_effects(X),
        random_effects=model.random_effects(X, batch),
        counterfactuals={t: model.counterfactual(X, batch, t) for t in targets},
        fe_reconstruction=model.reconstruct_fixed(X) if fe_reconstruction else None,
        batch_effects=table,
    )


# Python objects that R holds through reticulate, kept here until R has let go of them.
_HELD_FOR_R: dict[int, Any] = {}


def hold_for_r(obj: Any) -> None:
    """Keep ``obj`` alive until R drops its reference, then free it here, under the GIL.

    reticulate 1.28 releases a Python object from R's garbage collector without taking the
    GIL. In R that is harmless; in R embedded in Python (rpy2, which releases the GIL while
    R runs) freeing a container there aborts the interpreter. medlR passes the objects it
    keeps (fit results, loaded models) here, so R's release never frees them: each call
    first frees the held objects that nothing but this table refers to any more.
    """
    for key in list(_HELD_FOR_R):
        if sys.getrefcount(_HELD_FOR_R[key]) <= 2:  # the table's entry and the argument
            del _HELD_FOR_R[key]
    _HELD_FOR_R[id(obj)] = obj


def cf_layer_name(target: str) -> str:
    return f"medl_cf_{target}"


def run_medl(
    adata: ad.AnnData,
    batch_key: str,
    labels_key: str | None = None,
    layer: str | None = None,
    counterfactual: Sequence[str] | None = None,
    fe_reconstruction: bool = False,
    batch_effects: dict[str, Any] | None = None,
    **kwargs: Any,
) -> MEDL:
    """Fit MEDL on ``adata`` and store the results in it.

    Writes ``obsm["X_medl_fe"]``, ``obsm["X_medl_re"]`` and ``uns["medl"]`` (parameters and
    batch categories); for each batch in ``counterfactual`` a layer ``medl_cf_<batch>``
    holding every cell as if from that batch; with ``fe_reconstruction`` a layer
    ``medl_fe``; with ``batch_effects`` the table of :meth:`medl.MEDL.batch_effects` in
    ``uns["medl_batch_effects"]``. Everything is computed before ``adata`` is touched, so
    an error leaves it unchanged.

    Parameters
    ----------
    adata
        Cells x genes with log-normalised expression in ``X`` or ``layers[layer]``; subset it
        to highly variable genes first (``medl.pp.preprocess`` does the paper's steps).
    batch_key
        ``obs`` column with the batch (donor, protocol, ...).
    labels_key
        Optional ``obs`` column with cell types: FE gets the latent classifier (FEC).
    layer
        Layer to use instead of ``X``.
    counterfactual
        Batches to project every cell to.
    fe_reconstruction
        Also store the batch-free FE reconstruction.
    batch_effects
        Which genes one batch changes relative to another: a dict of
        :meth:`medl.MEDL.batch_effects` arguments, ``groups`` naming an ``obs`` column,
        e.g. ``{"target": "stim", "reference": "ctrl", "groups": "cell_type"}``.
    **kwargs
        Passed to :class:`medl.MEDL` (``latent_dim``, ``preset``, ``device``, ...) or to
        :meth:`medl.MEDL.fit` (``max_epochs``, ``batch_size``, ...).

    Returns
    -------
    The fitted :class:`medl.MEDL`.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData, got {type(adata).__name__}.")
    for key, what in ((batch_key, "batch_key"), (labels_key, "labels_key")):
        if key is not None and key not in adata.obs.columns:
            raise ValueError(
                f"{what}={key!r} is not a column of adata.obs; columns: "
                f"{', '.join(map(str, adata.obs.columns))}."
            )
    if layer is not None and layer not in adata.layers:
        raise ValueError(f"layer={layer!r} not in adata.layers ({', '.join(adata.layers)}).")
    if isinstance(batch_effects, dict) and batch_effects.get("groups") is not None:
        key = batch_effects["groups"]
        if not isinstance(key, str) or key not in adata.obs.columns:
            raise ValueError(f"batch_effects groups={key!r} is not a column of adata.obs.")
        batch_effects = {**batch_effects, "groups": adata.obs[key]}
    X = adata.layers[layer] if layer is not None else adata.X
    batch = adata.obs[batch_key]
    labels = adata.obs[labels_key] if labels_key is not None else None
    result = fit_medl(
        X,
        batch,
        labels,
        counterfactual=counterfactual,
        fe_reconstruction=fe_reconstruction,
        feature_names=list(map(str, adata.var_names)),
        batch_effects=batch_effects,
        caller="run_medl",
        **kwargs,
    )
    model = result.model
    obsm = {FE_KEY: result.fixed_effects, RE_KEY: result.random_effects}
    layers = {cf_layer_name(t): v for t, v in result.counterfactuals.items()}
    if result.fe_reconstruction is not None:
        layers["medl_fe"] = result.fe_reconstruction
    uns = {
        "params": {k: v for k, v in model.params.items() if v is not None},
        "batch_key": batch_key,
        "labels_key": labels_key or "",
        "layer": layer or "",
        "batch_categories": np.array(model.batch_categories, dtype=object),
        "counterfactual": np.array(list(result.counterfactuals), dtype=object),
        "fit_info": {k: v for k, v in model.fit_info.items() if k != "best_epoch"},
    }
    adata.obsm.update(obsm)
    adata.layers.update(layers)
    adata.uns[UNS_KEY] = uns
    # a table of an earlier model would describe a model no longer there
    adata.uns.pop(EFFECTS_KEY, None)
    if result.batch_effects is not None:
        adata.uns[EFFECTS_KEY] = result.batch_effects
    return model

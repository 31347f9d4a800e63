"""AnnData helper: fit MEDL on an AnnData and write its outputs back, all or nothing."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np

from .model import MEDL

FE_KEY, RE_KEY, UNS_KEY = "X_medl_fe", "X_medl_re", "medl"


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    init = set(inspect.signature(MEDL.__init__).parameters) - {"self"}
    fit = set(inspect.signature(MEDL.fit).parameters) - {"self", "X", "batch", "labels"}
    unknown = sorted(set(kwargs) - init - fit)
    if unknown:
        raise TypeError(
            f"run_medl got unknown argument(s) {unknown}; MEDL takes {sorted(init)} and "
            f"fit takes {sorted(fit)}."
        )
    return (
        {k: v for k, v in kwargs.items() if k in init},
        {k: v for k, v in kwargs.items() if k in fit},
    )


def cf_layer_name(target: str) -> str:
    return f"medl_cf_{target}"


def run_medl(
    adata: ad.AnnData,
    batch_key: str,
    labels_key: str | None = None,
    layer: str | None = None,
    counterfactual: Sequence[str] | None = None,
    fe_reconstruction: bool = False,
    **kwargs: Any,
) -> MEDL:
    """Fit MEDL on ``adata`` and store the results in it.

    Writes ``obsm["X_medl_fe"]``, ``obsm["X_medl_re"]`` and ``uns["medl"]`` (parameters and
    batch categories); for each batch in ``counterfactual`` a layer ``medl_cf_<batch>``
    holding every cell as if from that batch; with ``fe_reconstruction`` a layer
    ``medl_fe``. Everything is computed before ``adata`` is touched, so an error leaves it
    unchanged.

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
    init_kw, fit_kw = _split_kwargs(kwargs)
    X = adata.layers[layer] if layer is not None else adata.X
    batch = adata.obs[batch_key]
    labels = adata.obs[labels_key] if labels_key is not None else None
    targets = [str(t) for t in (counterfactual or [])]

    model = MEDL(**init_kw)
    if targets:  # check the targets before training, against the batches present
        known = set(map(str, batch.astype(str).unique()))
        missing = [t for t in targets if t not in known]
        if missing:
            raise ValueError(
                f"counterfactual batch(es) {missing} are not values of obs[{batch_key!r}] "
                f"({', '.join(sorted(known))})."
            )
    model.fit(X, batch, labels, feature_names=list(map(str, adata.var_names)), **fit_kw)

    obsm = {FE_KEY: model.fixed_effects(X), RE_KEY: model.random_effects(X, batch)}
    layers = {cf_layer_name(t): model.counterfactual(X, batch, t) for t in targets}
    if fe_reconstruction:
        layers["medl_fe"] = model.reconstruct_fixed(X)
    uns = {
        "params": {k: v for k, v in model.params.items() if v is not None},
        "batch_key": batch_key,
        "labels_key": labels_key or "",
        "layer": layer or "",
        "batch_categories": np.array(model.batch_categories, dtype=object),
        "counterfactual": np.array(targets, dtype=object),
        "fit_info": {k: v for k, v in model.fit_info.items() if k != "best_epoch"},
    }
    adata.obsm.update(obsm)
    adata.layers.update(layers)
    adata.uns[UNS_KEY] = uns
    return model

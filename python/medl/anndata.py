"""AnnData helper: fit MEDL on an AnnData and write its outputs back, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np

from .model import MEDL
from .run import fit_medl

FE_KEY, RE_KEY, UNS_KEY = "X_medl_fe", "X_medl_re", "medl"


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
    return model

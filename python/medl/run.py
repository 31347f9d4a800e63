"""Fit MEDL and compute every requested output in one call: the engine behind the AnnData
helper and the R package, so neither holds model logic of its own."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import MEDL
from .validate import check_labels


@dataclass
class MEDLResult:
    """A fitted model and its outputs for the cells it was fitted on."""

    model: MEDL
    fixed_effects: np.ndarray
    random_effects: np.ndarray
    counterfactuals: dict[str, np.ndarray] = field(default_factory=dict)
    fe_reconstruction: np.ndarray | None = None


def split_kwargs(kwargs: dict[str, Any], caller: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route extra arguments to ``MEDL(...)`` or ``MEDL.fit(...)``; unknown ones are errors."""
    init = set(inspect.signature(MEDL.__init__).parameters) - {"self"}
    fit = set(inspect.signature(MEDL.fit).parameters) - {"self", "X", "batch", "labels"}
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


def fit_medl(
    X: Any,
    batch: Any,
    labels: Any = None,
    counterfactual: Sequence[str] | None = None,
    fe_reconstruction: bool = False,
    feature_names: Sequence[str] | None = None,
    caller: str = "fit_medl",
    **kwargs: Any,
) -> MEDLResult:
    """Fit :class:`medl.MEDL` on ``X`` and return the latents and requested profiles.

    ``kwargs`` go to ``MEDL(...)`` or ``MEDL.fit(...)`` by name. Every argument is checked
    before training starts.
    """
    init_kw, fit_kw = split_kwargs(kwargs, caller)
    targets = check_counterfactual_targets(counterfactual, batch)
    model = MEDL(**init_kw).fit(X, batch, labels, feature_names=feature_names, **fit_kw)
    return MEDLResult(
        model=model,
        fixed_effects=model.fixed_effects(X),
        random_effects=model.random_effects(X, batch),
        counterfactuals={t: model.counterfactual(X, batch, t) for t in targets},
        fe_reconstruction=model.reconstruct_fixed(X) if fe_reconstruction else None,
    )

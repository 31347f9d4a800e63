"""The options of every ``fit``, declared once: each estimator and front end takes this set.

``MEDL.fit``, ``AE.fit``, ``AEC.fit``, ``fit_medl``, ``run_medl``, the CLI and
``medl.distributed.fit`` all read their training options from :class:`FitOptions`, so a new
option is added here and nowhere else. :func:`takes_fit_options` gives a ``fit`` method these
options as keyword-only parameters in its signature and its docstring.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .device import Storage


@dataclass(frozen=True, kw_only=True)
class FitOptions:
    """Training options of ``fit``; ``None`` takes the estimator's default (:data:`DOC`)."""

    validation: float | Sequence = 0.2
    max_epochs: int | None = None
    patience: int = 30
    batch_size: int | None = None
    min_steps: int | None = None
    progress: bool | str = True
    feature_names: Sequence[str] | None = None
    storage: Storage = "auto"
    scale_lr: bool = False
    checkpoint: str | Path | None = None
    checkpoint_every: int = 1
    checkpoint_minutes: float | None = None
    resume: bool = False

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def of(cls, options: dict[str, Any], caller: str) -> FitOptions:
        """The options named in ``options``; a clear error for a name that is not one."""
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise TypeError(
                f"{caller} got unknown option(s) {unknown}; the fit options are {cls.names()}."
            )
        return cls(**options)

    def with_defaults(self, defaults: dict[str, Any]) -> FitOptions:
        """These options, each ``None`` among ``defaults``' names replaced by its default
        (``defaults`` may name schedule settings that are not options; those are skipped)."""
        unset = {f.name for f in fields(self) if getattr(self, f.name) is None}
        return replace(self, **{k: v for k, v in defaults.items() if k in unset})


#: The options' documentation, numpy style, added to each ``fit`` docstring.
DOC = """\
validation
    Fraction of cells held out for early stopping (stratified by batch x label), a
    boolean mask, or validation indices. 0 trains ``max_epochs`` without stopping.
max_epochs, patience
    Epoch budget and early-stopping patience (epochs) on each subnetwork's validation
    loss; each subnetwork gets its best weights back. ``max_epochs=None``: the
    estimator's (MEDL: its variant's, paper 500, variational the epochs that 700
    optimizer steps take, at most 500; AE and AEC 500).
batch_size
    Cells per minibatch. ``None``: the estimator's (MEDL paper, AE and AEC 512; MEDL
    variational about 8 minibatches per epoch, a power of two from 64 to 512).
min_steps
    Early stopping may not end training before this many optimizer steps (``None``: 0).
progress
    ``True``: a tqdm progress bar with the current losses; ``"log"``: one line every ~5%
    of the epochs (what R uses: a bar's carriage returns garble consoles and logs);
    ``False``: silent. Ctrl-C ends training gracefully: the best weights so far are
    restored, a warning says so, and the fitted model is returned.
feature_names
    Optional gene names, stored with the model.
storage
    How the training data are held on the device: ``"dense"`` (fastest), ``"sparse"``
    (CSR, minibatches densified on the fly; for data too large to hold dense) or
    ``"auto"``: sparse input stays sparse when its dense copy would pass 1 GiB.
scale_lr
    Multiply the learning rate by ``batch_size / 512`` (the linear scaling rule; the
    presets were tuned at 512). Off by default: a larger batch alone keeps the learning
    rate.
checkpoint, checkpoint_every, checkpoint_minutes
    A file to write the training state to every ``checkpoint_every`` epochs, or sooner
    when ``checkpoint_minutes`` have passed (atomically: a kill mid-write keeps the
    previous one).
resume
    Continue from ``checkpoint`` instead of starting afresh; needs the same data and
    arguments. On CPU with a seed the result equals an uninterrupted fit exactly."""


def takes_fit_options(method: Callable) -> Callable:
    """Declare :class:`FitOptions` as ``method``'s keyword-only parameters.

    ``method(self, ..., **options)`` is called with ``options`` as a checked
    :class:`FitOptions`; its signature and docstring (at ``{fit_options}``) list them.
    """

    signature = inspect.signature(method)
    own = [p for p in signature.parameters.values() if p.name != "options"]
    own_names = {p.name for p in own}

    @functools.wraps(method)
    def fit(self, *args: Any, **kwargs: Any):
        named = {k: kwargs.pop(k) for k in list(kwargs) if k in own_names}
        options = FitOptions.of(kwargs, method.__qualname__)
        return method(self, *args, **named, options=options)

    declared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(FitOptions)
    ]
    fit.__signature__ = signature.replace(parameters=own + declared)
    indent = " " * 8
    fit.__doc__ = (method.__doc__ or "").replace("{fit_options}", DOC.replace("\n", "\n" + indent))
    return fit

"""medl: Mixed Effects Deep Learning autoencoders for single-cell RNA-seq.

MEDL separates batch effects instead of removing them: the fixed-effects (FE) subnetwork
gives a batch-invariant latent space and the batch-free profile, the random-effects (RE)
subnetwork a batch-specific latent space, and the FE code decoded with another batch's
random effects is a counterfactual ("this cell as if from batch B").

This module is the public face: the models (``MEDL``, ``AE``, ``AEC``, ``PCA``, ``load``),
the one-call front ends (``fit_medl`` on arrays, ``run_medl`` on AnnData), the intervals of
sampled counterfactuals (``counterfactual_interval``) and the verbs
grouped by purpose (``pp``, ``metrics``, ``evaluate``, ``datasets``, ``plotting``,
``genomap``). Internals: :mod:`medl.nn` (networks), :mod:`medl.train` (optimisation),
:mod:`medl.model` (models and the saved format).
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, evaluate, metrics, pp
from .api import MEDLResult, fit_medl, run_medl
from .model import (
    AE,
    AEC,
    MEDL,
    PCA,
    PRESETS,
    LossWeights,
    NotFittedError,
    counterfactual_interval,
    load,
)

try:
    __version__ = version("medl")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"


__all__ = [
    "AE",
    "AEC",
    "MEDL",
    "PCA",
    "PRESETS",
    "LossWeights",
    "NotFittedError",
    "counterfactual_interval",
    "datasets",
    "evaluate",
    "load",
    "metrics",
    "fit_medl",
    "MEDLResult",
    "pp",
    "run_medl",
]

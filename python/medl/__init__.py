"""medl: Mixed Effects Deep Learning autoencoders for single-cell RNA-seq.

The fixed-effects (FE) subnetwork gives a batch-invariant latent space and batch-free
reconstructions; the random-effects (RE) subnetwork gives a batch-specific latent space and
counterfactual profiles ("this cell as if from batch B").
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, evaluate, metrics, pp
from .anndata import run_medl
from .baselines import AE, AEC, PCA
from .estimator import NotFittedError
from .model import MEDL
from .presets import PRESETS, LossWeights
from .run import MEDLResult, fit_medl

try:
    __version__ = version("medl")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"


def load(path, device="auto"):
    """Load any saved medl model (MEDL, AE or AEC) from the directory ``path``."""
    from .estimator import Estimator

    return Estimator.load(path, device=device)


__all__ = [
    "AE",
    "AEC",
    "MEDL",
    "PCA",
    "PRESETS",
    "LossWeights",
    "NotFittedError",
    "datasets",
    "evaluate",
    "load",
    "metrics",
    "fit_medl",
    "MEDLResult",
    "pp",
    "run_medl",
]

"""The user-facing models: data handling, training, outputs and the saved-model format.

``MEDL`` (:mod:`.medl`) with its two designs (:mod:`.variants`), the baselines ``AE``,
``AEC`` and ``PCA`` (:mod:`.baselines`), the shared :class:`~.base.Estimator`, the loss
weights (:mod:`.presets`), the cross-batch anchors (:mod:`.anchors`, :mod:`.transport`), the
counterfactuals' intervals (:mod:`.intervals`) and the saved-model format (:mod:`.format`).
Networks are in :mod:`medl.nn`, optimisation in :mod:`medl.train`.
"""

from pathlib import Path

import torch

from .base import Estimator, NotFittedError
from .baselines import AE, AEC, PCA
from .intervals import counterfactual_interval
from .medl import MEDL
from .presets import PRESETS, LossWeights


def load(path: str | Path, device: str | torch.device = "auto") -> Estimator:
    """Load any saved medl model (MEDL, AE or AEC) from the directory ``path``."""
    return Estimator.load(path, device=device)


__all__ = ["AE", "AEC", "MEDL", "PCA", "PRESETS", "Estimator", "LossWeights", "NotFittedError",
           "counterfactual_interval", "load"]  # fmt: skip

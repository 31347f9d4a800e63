"""Training checkpoints: everything needed to continue a killed fit exactly where it was.

A checkpoint holds the networks, the optimizers, early-stopping state, the loss history, the
minibatch-order generator and torch's random state, plus a fingerprint of the data and
settings so that resuming on other data is refused. Each write goes to a temporary file in
the same folder and is then renamed over the old one, so a kill mid-write leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "medl-checkpoint-1"


class Checkpoint:
    """Where and how often ``fit`` writes its state.

    Parameters
    ----------
    path
        The checkpoint file (its folder is created).
    every_epochs
        Write after every this many epochs...
    every_minutes
        ...or when this many minutes have passed since the last write, whichever is first.
    """

    def __init__(
        self, path: str | Path, every_epochs: int = 1, every_minutes: float | None = None
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"checkpoint {self.path} is a folder; name a file, e.g. fit.ckpt.")
        if not isinstance(every_epochs, int) or every_epochs < 1:
            raise ValueError(f"checkpoint_every must be a whole number >= 1, got {every_epochs!r}.")
        self.every_epochs, self.every_minutes = every_epochs, every_minutes
        self.fingerprint: dict[str, Any] = {}
        self._last = time.monotonic()

    def due(self, epoch: int) -> bool:
        by_time = (
            self.every_minutes is not None
            and time.monotonic() - self._last >= 60 * self.every_minutes
        )
        return by_time or (epoch + 1) % self.every_epochs == 0

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({"format": FORMAT, "fingerprint": self.fingerprint, **state}, tmp)
        os.replace(tmp, self.path)  # atomic on POSIX: the old checkpoint or the new one
        self._last = time.monotonic()


def load(path: str | Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint; clear errors for a missing, damaged or mismatched one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"No checkpoint at {path} to resume from; fit once with checkpoint={str(path)!r}."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(
            f"The checkpoint {path} is damaged or truncated and cannot be read ({err}). "
            "Delete it and fit again, or resume from an intact copy."
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a medl training checkpoint.")
    saved = state.get("fingerprint", {})
    differ = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if differ:
        raise ValueError(
            f"The checkpoint {path} was written for other data or settings (they differ in: "
            f"{', '.join(differ)}). Resume with the same data and arguments, or start afresh."
        )
    return state


def fingerprint(
    estimator: str,
    params: dict[str, Any],
    shape: tuple[int, int],
    categories: list[Any],
    train_idx: np.ndarray,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """What must match between a checkpointed fit and its resumption."""
    split = hashlib.sha256(np.ascontiguousarray(train_idx, dtype=np.int64).tobytes()).hexdigest()
    return {
        "estimator": estimator,
        "params": json.dumps(params, sort_keys=True, default=str),
        "shape": list(shape),
        "categories": json.dumps(categories, default=str),
        "train_split": split,
        "settings": json.dumps(settings, sort_keys=True, default=str),
    }

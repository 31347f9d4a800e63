"""Min-max scaling of expression to [0, 1], fitted once and stored with the model.

The paper's reference code scales with ONE global minimum and maximum over the whole matrix;
that is the default here. Per-gene scaling is offered as ``mode="gene"``. Every network
output is passed through :meth:`MinMaxScaler.inverse` so users get values on their own scale.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from ..validate import Matrix

ScaleMode = Literal["global", "gene"]


class MinMaxScaler:
    """Global (default) or per-gene min-max scaling to [0, 1]."""

    def __init__(self, mode: ScaleMode = "global") -> None:
        if mode not in ("global", "gene"):
            raise ValueError(f"scaling must be 'global' or 'gene', got {mode!r}.")
        self.mode = mode
        self.minimum: np.ndarray | None = None
        self.range: np.ndarray | None = None

    def fit(self, X: Matrix, rows: np.ndarray | None = None, chunk: int = 65536) -> MinMaxScaler:
        """Fit on ``X`` (or its ``rows``), reading a chunk of rows at a time so that no
        copy of the (training part of the) matrix is made."""
        rows = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
        lows, highs = [], []
        for start in range(0, len(rows), chunk):
            part = X[rows[start : start + chunk]]
            if self.mode == "global":
                lows.append(np.array([part.min()]))
                highs.append(np.array([part.max()]))
            else:
                lows.append(_dense_row(part.min(axis=0)))
                highs.append(_dense_row(part.max(axis=0)))
        lo, hi = np.min(lows, axis=0), np.max(highs, axis=0)
        span = (hi - lo).astype(np.float32)
        span[span <= 0] = 1.0  # constant genes map to 0 instead of dividing by zero
        self.minimum, self.range = lo.astype(np.float32), span
        return self

    @property
    def fitted(self) -> bool:
        return self.minimum is not None

    def torch_params(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(self.minimum, device=device),
            torch.as_tensor(self.range, device=device),
        )

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        lo, span = self.torch_params(x.device)
        return (x - lo) / span

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Back to the input scale, floored at the fitted minimum: a linear output layer can
        undershoot, and log-normalised expression below it (e.g. negative) is impossible."""
        lo, span = self.torch_params(x.device)
        return torch.maximum(x * span + lo, lo)

    def state(self) -> dict:
        return {"mode": self.mode, "minimum": self.minimum.tolist(), "range": self.range.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> MinMaxScaler:
        scaler = cls(state["mode"])
        scaler.minimum = np.asarray(state["minimum"], dtype=np.float32)
        scaler.range = np.asarray(state["range"], dtype=np.float32)
        return scaler


def _dense_row(m) -> np.ndarray:
    return np.asarray(m.toarray() if sp.issparse(m) else m).ravel()

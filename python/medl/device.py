"""Choosing the torch device and moving expression onto it without a dense host copy."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from .scaling import MinMaxScaler
from .validate import Matrix


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
            ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asks for CUDA but torch.cuda.is_available() is False. "
            "Use device='cpu' or 'auto'."
        )
    return resolved


def row_chunks(n_rows: int, chunk: int) -> Iterator[slice]:
    for start in range(0, n_rows, chunk):
        yield slice(start, min(start + chunk, n_rows))


def dense_rows(X: Matrix, rows: slice) -> np.ndarray:
    part = X[rows]
    return part.toarray() if sp.issparse(part) else part


def to_device(
    X: Matrix, scaler: MinMaxScaler, device: torch.device, chunk: int = 16384
) -> torch.Tensor:
    """Scaled float32 copy of ``X`` on ``device``, densified one row chunk at a time."""
    out = torch.empty(X.shape, dtype=torch.float32, device=device)
    for rows in row_chunks(X.shape[0], chunk):
        part = torch.from_numpy(np.ascontiguousarray(dense_rows(X, rows)))
        out[rows] = scaler.transform(part.to(device, non_blocking=True))
    return out

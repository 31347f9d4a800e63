"""The training data on the device: choosing the device, moving expression onto it without a
dense host copy (dense or :class:`SparseRows`), and :class:`DeviceData`, what a step reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from ..validate import Matrix
from .scaling import MinMaxScaler


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


Storage = Literal["auto", "dense", "sparse"]
DENSE_LIMIT_BYTES = 1 << 30  # sparse input larger than this when dense stays sparse


class SparseRows:
    """A CSR matrix held on the device; minibatches are densified and scaled on demand.

    Gathering rows is a handful of vectorised torch ops per minibatch (no Python loop over
    cells), so a million-cell sparse matrix trains without a dense copy anywhere. On the CPU
    the tensors share memory with the scipy arrays.
    """

    def __init__(self, X: sp.csr_matrix, scaler: MinMaxScaler, device: torch.device) -> None:
        self.shape = X.shape
        self.scaler = scaler
        self.indptr = torch.from_numpy(X.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(X.indices).to(device)
        self.data = torch.from_numpy(X.data).to(device)
        self.device = self.data.device

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        starts, ends = self.indptr[idx], self.indptr[idx + 1]
        counts = ends - starts
        row = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), counts)
        first = torch.cumsum(counts, 0) - counts  # where each row starts in the output
        src = starts[row] + torch.arange(len(row), device=idx.device) - first[row]
        out = torch.zeros(len(idx), self.shape[1], device=self.data.device)
        out[row, self.indices[src].long()] = self.data[src]
        return self.scaler.transform(out)


def choose_storage(X: Matrix, storage: Storage) -> Literal["dense", "sparse"]:
    """``auto``: keep sparse input sparse once its dense copy would pass 1 GiB."""
    if storage not in ("auto", "dense", "sparse"):
        raise ValueError(f"storage must be 'auto', 'dense' or 'sparse', got {storage!r}.")
    if storage == "auto":
        big = X.shape[0] * X.shape[1] * 4 > DENSE_LIMIT_BYTES
        return "sparse" if sp.issparse(X) and big else "dense"
    return storage


def to_device(
    X: Matrix,
    scaler: MinMaxScaler,
    device: torch.device,
    storage: Storage = "auto",
    chunk: int = 16384,
) -> torch.Tensor | SparseRows:
    """Expression on ``device``: a scaled dense tensor, or :class:`SparseRows`.

    The dense tensor is filled one row chunk at a time, so a sparse input is never
    densified whole on the host.
    """
    if choose_storage(X, storage) == "sparse":
        return SparseRows(sp.csr_matrix(X), scaler, device)
    out = torch.empty(X.shape, dtype=torch.float32, device=device)
    for rows in row_chunks(X.shape[0], chunk):
        part = torch.from_numpy(np.ascontiguousarray(dense_rows(X, rows)))
        out[rows] = scaler.transform(part.to(device, non_blocking=True))
    return out


@dataclass
class DeviceData:
    """Scaled expression and integer codes, resident on the training device."""

    x: torch.Tensor | SparseRows
    codes: torch.Tensor | None = None
    labels: torch.Tensor | None = None

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        x = self.x.rows(idx) if isinstance(self.x, SparseRows) else self.x[idx]
        return x, pick(self.codes), pick(self.labels)

    def moments(self, idx: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-gene mean and standard deviation over the cells ``idx``, chunk by chunk."""
        total = sq = None
        for part in idx.split(chunk):
            x = self.take(part)[0].double()
            s, q = x.sum(0), (x * x).sum(0)
            total, sq = (s, q) if total is None else (total + s, sq + q)
        n = len(idx)
        mean = total / n
        var = (sq - n * mean * mean) / max(n - 1, 1)
        return mean.float(), var.clamp_min(0).sqrt().float()

"""Numeric precision of training and outputs: float32, TF32 matmuls or bfloat16 autocast."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision: str, device: torch.device) -> str:
    """Validate ``precision`` for ``device`` before any work starts."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(
            "precision='tf32' uses NVIDIA tensor cores and needs a CUDA device; on "
            f"{device.type} use 'fp32' or 'bf16'."
        )
    return precision


@contextmanager
def numeric_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed forward passes in ``precision``; global settings are restored after.

    ``bf16`` autocasts matrix products to bfloat16 (parameters, optimizer state, losses
    and batch-norm statistics stay float32). ``tf32`` lets CUDA matrix products use
    TensorFloat-32 (10-bit mantissa) while tensors stay float32.
    """
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    elif precision == "tf32":
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    else:
        yield

"""Kernel-weighted nearest neighbours in the code, continuous in the query.

A hard top-k mean jumps when one neighbour leaves the k nearest and another enters, so
codes that differ by float rounding (CPU against CUDA) could give different outputs. Here
the bandwidth is the (k+1)-th nearest squared distance and each of the k nearest gets
``exp(-d / h) - exp(-1)``: the weight falls to zero at the edge of the neighbourhood, so a
neighbour enters or leaves with weight zero and the weighted mean moves continuously.
"""

from __future__ import annotations

import math

import torch

_EDGE = math.exp(-1.0)


def kernel_neighbours(
    queries: torch.Tensor, pool: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into ``pool`` (queries x k') and their weights, summing to 1 per query.

    ``k' = min(k, len(pool) - 1)``; with a pool of one, that one with weight 1. Where the
    k+1 nearest are all equally far, the k nearest weigh the same.
    """
    if len(pool) == 1:
        ones = torch.ones((len(queries), 1), device=queries.device)
        return torch.zeros((len(queries), 1), dtype=torch.long, device=queries.device), ones
    k = min(k, len(pool) - 1)
    with torch.autocast(queries.device.type, enabled=False):
        dist = torch.cdist(queries.float(), pool.float()).square()
        near, idx = dist.topk(k + 1, dim=1, largest=False)
        scale = near[:, -1:].clamp_min(1e-12)
        weights = (torch.exp(-near[:, :k] / scale) - _EDGE).clamp_min(0.0)
        total = weights.sum(1, keepdim=True)
        flat = total <= 1e-12
        weights = torch.where(flat, torch.ones_like(weights), weights)
        weights = weights / weights.sum(1, keepdim=True)
    return idx[:, :k], weights


def query_chunk(n_pool: int, budget: int = 2**22) -> int:
    """Queries per chunk so that one distance matrix stays under ``budget`` entries."""
    return max(1, budget // max(1, n_pool))


def neighbour_means(
    queries: torch.Tensor,
    pool: torch.Tensor,
    values: torch.Tensor,
    k: int,
    spread: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per query, the kernel-weighted mean of ``values`` (pool x genes) over its nearest
    ``pool`` rows, and that mean's sampling variance (the neighbours' weighted variance
    times the sum of the squared weights: ``var / k`` for equal weights; ``None``
    without ``spread``)."""
    means, variances = [], []
    k_used = min(k, max(1, len(pool) - 1))
    # the gathered neighbours (rows x k x genes): at most 2**24 values (64 MB) at a time
    rows = max(1, min(query_chunk(len(pool)), 2**24 // (k_used * values.shape[1])))
    for start in range(0, len(queries), rows):
        idx, weights = kernel_neighbours(queries[start : start + rows], pool, k)
        near = values[idx]
        mean = torch.einsum("qk,qkg->qg", weights, near)
        means.append(mean)
        if spread:
            scatter = torch.einsum("qk,qkg->qg", weights, (near - mean.unsqueeze(1)).square())
            squares = weights.square().sum(1, keepdim=True)
            variances.append(scatter * squares / (1.0 - squares).clamp_min(1e-6))
    return torch.cat(means), torch.cat(variances) if spread else None

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
    queries: torch.Tensor, pool: torch.Tensor, k: int, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into ``pool`` (queries x k') and their weights, summing to 1 per query.

    ``k' = min(k, len(pool) - 1)``; with a pool of one, that one with weight 1. Where the
    k+1 nearest are all equally far, the k nearest weigh the same. ``exclude``: one pool
    row per query that is never its neighbour (the query itself, for a leave-one-out mean;
    then ``k' = min(k, len(pool) - 2)``).
    """
    if len(pool) == 1:
        ones = torch.ones((len(queries), 1), device=queries.device)
        return torch.zeros((len(queries), 1), dtype=torch.long, device=queries.device), ones
    k = min(k, len(pool) - 1 - (exclude is not None))
    with torch.autocast(queries.device.type, enabled=False):
        dist = torch.cdist(queries.float(), pool.float()).square()
        if exclude is not None:
            dist[torch.arange(len(queries), device=dist.device), exclude] = float("inf")
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


def leave_one_out_error(pool: torch.Tensor, values: torch.Tensor, k: int) -> torch.Tensor:
    """Per column of ``values`` (pool x genes), how far the kernel mean of a row's ``k``
    nearest *other* rows misses that row's expected value, beyond the mean's sampling
    variance: the squared bias of :func:`neighbour_means` on the pool itself.

    A row's miss ``v - mean`` has expected square ``noise + sampling variance + bias²``.
    The noise is estimated from nearest-neighbour pairs, ``(v - v_nearest)² / 2`` (the
    difference-based variance estimator), so what is left, averaged over the rows and
    floored at zero, is the bias². Zeros for pools of under 3 rows.
    """
    genes = values.shape[1]
    if len(pool) < 3:
        return torch.zeros(genes, device=values.device)
    k_used = min(k, len(pool) - 2)
    rows = max(1, min(query_chunk(len(pool)), 2**24 // (k_used * genes)))
    total = torch.zeros(genes, dtype=torch.float64, device=values.device)
    for start in range(0, len(pool), rows):
        part = torch.arange(start, min(start + rows, len(pool)), device=pool.device)
        idx, weights = kernel_neighbours(pool[part], pool, k, exclude=part)
        near = values[idx]
        mean = torch.einsum("qk,qkg->qg", weights, near)
        scatter = torch.einsum("qk,qkg->qg", weights, (near - mean.unsqueeze(1)).square())
        squares = weights.square().sum(1, keepdim=True)
        sampling = scatter * squares / (1.0 - squares).clamp_min(1e-6)
        noise = (values[part] - values[idx[:, 0]]).square() / 2  # idx[:, 0]: the nearest
        miss = (values[part] - mean).square() - noise - sampling
        total += miss.sum(0, dtype=torch.float64)
    return (total / len(pool)).clamp_min(0.0).to(values.dtype)

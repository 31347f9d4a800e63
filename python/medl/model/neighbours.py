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
    rows = _rows_per_chunk(len(pool), values.shape[1])
    centred = _centred(values, spread)
    for start in range(0, len(queries), rows):
        idx, weights = kernel_neighbours(queries[start : start + rows], pool, k)
        mean, variance = _weighted_moments(idx, weights, centred)
        means.append(mean)
        variances.append(variance)
    return torch.cat(means), torch.cat(variances) if spread else None


def _rows_per_chunk(n_pool: int, genes: int) -> int:
    """Queries per chunk: one distance matrix under :func:`query_chunk`'s budget and the
    chunk's moments (rows x genes) at most 2**24 values (64 MB) each."""
    return max(1, min(query_chunk(n_pool), 2**24 // max(1, genes)))


def _centred(
    values: torch.Tensor, spread: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``values`` (pool x genes) as :func:`_weighted_moments` takes them, once per pool:
    each column's mean, the values about it, and their squares (``None`` without
    ``spread``). About the mean, so that E[v²] - mean² keeps float32 precision for
    columns far from zero too."""
    centre = values.mean(0)
    shifted = values - centre
    return centre, shifted, shifted.square() if spread else None


def _weighted_moments(
    idx: torch.Tensor,
    weights: torch.Tensor,
    centred: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weighted mean of the pool's values at ``idx`` per query and that mean's
    sampling variance (the neighbours' weighted variance times the sum of the squared
    weights over one minus it; ``None`` where ``centred`` has no squares).

    Computed as a sparse (queries x pool, k per row) by dense product rather than by
    gathering the values at ``idx``: the gather moves queries x k x genes values through
    memory (the correction's largest cost on a CPU), the product only its output."""
    centre, shifted, squared = centred
    rows, k = idx.shape
    query = torch.arange(rows, device=idx.device).repeat_interleave(k)
    kernel = torch.sparse_coo_tensor(
        torch.stack([query, idx.reshape(-1)]), weights.reshape(-1).to(shifted.dtype),
        (rows, len(shifted)), check_invariants=False,
    )  # fmt: skip
    offset = kernel @ shifted
    mean = offset + centre
    if squared is None:
        return mean, None
    # the weights sum to one, so the weighted scatter is E[v²] - mean²
    scatter = (kernel @ squared - offset.square()).clamp_min(0.0)
    squares = weights.square().sum(1, keepdim=True)
    return mean, scatter * squares / (1.0 - squares).clamp_min(1e-6)


def leave_one_out_fit(
    pool: torch.Tensor, values: torch.Tensor, k: int, spread: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """How far to trust :func:`neighbour_means` of ``values`` (pool x genes), per gene, as
    the pool itself shows it: each row predicted by the kernel mean ``m`` of its ``k``
    nearest *other* rows.

    Returns ``(weight, bias2)``:

    - ``weight``: the least-squares factor of ``m`` that best predicts the rows' values,
      ``sum(v m) / sum(m m)`` clipped to [0, 1]: 1 where the means carry signal, towards 0
      where they are mostly their neighbours' noise. ``m`` leaves the row out, so its noise
      does not count as signal.
    - ``bias2``: the squared error of ``weight x m`` beyond its sampling variance, averaged
      over the rows: ``(v - weight m)²`` less the row's noise, estimated from
      nearest-neighbour pairs as ``(v - v_nearest)² / 2`` (the difference-based variance
      estimator), less ``weight²`` x the mean's sampling variance; floored at zero.

    Pools of under 3 rows give weight 1 and bias 0. Without ``spread``, ``bias2`` is
    ``None`` and its terms are not computed.
    """
    genes = values.shape[1]
    if len(pool) < 3:
        zeros = torch.zeros(genes, device=values.device) if spread else None
        return torch.ones(genes, device=values.device), zeros
    rows = _rows_per_chunk(len(pool), genes)
    centred = _centred(values, spread)
    # per gene: sum v², sum v m, sum m², sum noise, sum sampling variance
    sums = torch.zeros((5, genes), dtype=torch.float64, device=values.device)
    for start in range(0, len(pool), rows):
        part = torch.arange(start, min(start + rows, len(pool)), device=pool.device)
        idx, weights = kernel_neighbours(pool[part], pool, k, exclude=part)
        own = values[part]
        mean, sampling = _weighted_moments(idx, weights, centred)
        terms = [own * own, own * mean, mean * mean]
        if spread:  # idx[:, 0]: the nearest
            terms += [(own - values[idx[:, 0]]).square() / 2, sampling]
        for i, term in enumerate(terms):
            sums[i] += term.sum(0, dtype=torch.float64)
    vv, vm, mm, noise, sampling = sums / len(pool)
    weight = (vm / mm.clamp_min(1e-12)).clamp(0.0, 1.0)
    if not spread:
        return weight.to(values.dtype), None
    miss = vv - 2 * weight * vm + weight.square() * mm
    bias2 = (miss - noise - weight.square() * sampling).clamp_min(0.0)
    return weight.to(values.dtype), bias2.to(values.dtype)

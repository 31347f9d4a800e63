"""Kernel-weighted neighbours: continuous in the query, and the weighted means they give."""

from __future__ import annotations

import numpy as np
import torch

from medl.model.neighbours import kernel_neighbours, neighbour_means


def test_weights_are_a_continuous_kernel_over_the_nearest():
    """A query between two pool points that swap in and out of its k nearest: the hard
    top-k mean jumps by the swapped value / k, the kernel mean moves by the nudge only."""
    pool = torch.tensor([[0.0], [1.0], [2.0], [3.0], [5.0]])
    idx, weights = kernel_neighbours(torch.tensor([[1.0]]), pool, 3)
    assert idx.shape == (1, 3) and torch.allclose(weights.sum(1), torch.ones(1))
    assert (weights >= 0).all() and weights[0, 0] == weights.max()
    # near 3.0 with k = 2: 3.0 is nearest, and 2.0 (value 0) and 4.0 (value 100) swap as
    # second nearest when the query crosses 3.0
    pool = torch.tensor([[0.0], [2.0], [3.0], [4.0]])
    values = torch.tensor([[0.0], [0.0], [0.0], [100.0]])
    below, _ = neighbour_means(torch.tensor([[2.999]]), pool, values, 2)
    above, _ = neighbour_means(torch.tensor([[3.001]]), pool, values, 2)
    hard = [values[torch.cdist(torch.tensor([[q]]), pool).topk(2, largest=False)[1]].mean()
            for q in (2.999, 3.001)]  # fmt: skip
    assert abs(float(hard[1] - hard[0])) == 50  # what a hard top-k does here
    assert abs(float(above - below)) < 1.0


def test_neighbour_means_match_a_weighted_mean_and_its_variance():
    rng = np.random.default_rng(0)
    pool = torch.tensor(rng.normal(size=(50, 3)), dtype=torch.float32)
    # columns far from zero with little spread: the variance must keep float32 precision
    scale, offset = np.array([1.0, 1.0, 0.01, 0.1]), np.array([0.0, 3.0, 8.0, 100.0])
    values = torch.tensor(rng.normal(size=(50, 4)) * scale + offset, dtype=torch.float32)
    queries = torch.tensor(rng.normal(size=(7, 3)), dtype=torch.float32)
    mean, var = neighbour_means(queries, pool, values, 10)
    idx, weights = kernel_neighbours(queries, pool, 10)
    for q in range(7):
        w, v = weights[q].numpy().astype(float), values[idx[q]].numpy().astype(float)
        m = w @ v
        spread = w @ (v - m) ** 2 / (1 - (w**2).sum())
        np.testing.assert_allclose(mean[q].numpy(), m, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(var[q].numpy(), spread * (w**2).sum(), rtol=1e-3)
    # equal weights (all neighbours equally far): the familiar var / k
    flat_pool = torch.zeros((20, 1))
    flat = torch.arange(20.0).reshape(20, 1)
    m, v = neighbour_means(torch.zeros((1, 1)), flat_pool, flat, 5)
    chosen = flat[kernel_neighbours(torch.zeros((1, 1)), flat_pool, 5)[0][0]].squeeze(1)
    assert torch.isclose(m[0, 0], chosen.mean())
    assert torch.isclose(v[0, 0], chosen.var() / 5)


def test_leave_one_out_fit_weighs_signal_not_noise_and_measures_the_bias():
    """On a line, values = f(position) + noise (SD 1). Where f is flat, the neighbours'
    mean is only their noise: weight near 0. Where f varies slowly, weight 1 and no bias;
    where it changes faster than the neighbourhood is wide, weight 1 and the estimate is
    near the true squared bias of the leave-one-out kernel mean (from f without noise)."""
    from medl.model.neighbours import leave_one_out_fit

    rng = np.random.default_rng(0)
    n, k = 3000, 30
    pos = torch.tensor(np.sort(rng.uniform(0, 1, n))[:, None], dtype=torch.float32)
    x = pos.numpy()[:, 0]
    flat, slow, steep = np.zeros(n), np.sin(x * 6.0), np.sin(x * 400.0) * 2.0
    truth = torch.tensor(np.stack([flat, slow, steep], 1), dtype=torch.float32)
    noisy = truth + torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float32)
    weight, bias2 = (t.numpy() for t in leave_one_out_fit(pos, noisy, k))
    part = torch.arange(n)
    idx, weights = kernel_neighbours(pos, pos, k, exclude=part)
    assert not (idx == part[:, None]).any()  # the excluded row is never its own neighbour
    true_bias2 = ((torch.einsum("qk,qkg->qg", weights, truth[idx]) - truth) ** 2).mean(0)
    assert weight[0] < 0.2 and weight[1] > 0.9 and weight[2] > 0.9, weight
    assert bias2[0] < 0.02 and bias2[1] < 0.02, bias2
    assert true_bias2[2] > 0.2  # the steep column's mean misses by a lot
    # the nearest pair and the spread also see some of the slope: measured 0.23 vs 0.28
    assert abs(bias2[2] - true_bias2[2]) < 0.25 * true_bias2[2], (bias2, true_bias2)

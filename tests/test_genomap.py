"""Genomaps: the layout matches the genomap package and is computed once per figure."""

from __future__ import annotations

import os

import numpy as np
import pytest

import medl.genomap
from conftest import dense
from medl import plotting
from medl.genomap import gene_layout, genomap_panels, grid_shape, gw_objective

# `make test` installs genomap and sets MEDL_REQUIRE_GENOMAP, so there it cannot be skipped
if os.environ.get("MEDL_REQUIRE_GENOMAP") == "true":
    import genomap
else:
    genomap = pytest.importorskip("genomap")


@pytest.fixture(scope="module")
def cells(small_data):
    return dense(small_data.X)[:40, :25]


def test_layout_matches_the_reference_genomap(cells):
    reference, plan = genomap.construct_genomap_returnT(cells, 5, 5, num_iter=20)
    layout = gene_layout(cells, num_iter=20, solver="reference")
    np.testing.assert_allclose(layout.transport, plan, rtol=1e-6, atol=1e-12)
    images = layout.images(cells)
    assert images.shape == (40, 5, 5)
    # the reference loop stops one cell short (range(numCell - 1)): compare the rest
    np.testing.assert_allclose(images[:-1], reference[:-1, :, :, 0], rtol=1e-6, atol=1e-9)


def test_a_figure_solves_the_transport_problem_once(monkeypatch, small_model, small_data):
    calls = []
    solve = medl.genomap._assignment_solver

    def counted(*args, **kwargs):
        calls.append(1)
        return solve(*args, **kwargs)

    monkeypatch.setattr(medl.genomap, "_assignment_solver", counted)
    X, batch = small_data.X, small_data.obs["batch"]
    targets = list(small_data.obs["batch"].cat.categories)
    panels = genomap_panels(small_model, X, batch, cells=range(6), targets=targets, num_iter=10)
    assert len(calls) == 1
    assert list(panels.images) == ["original", "FE reconstruction"] + [f"as {t}" for t in targets]
    assert all(img.shape == (6, 8, 8) for img in panels.images.values())
    # reusing the layout for other cells solves nothing
    again = genomap_panels(
        small_model, X, batch, cells=[10, 11], targets=targets[:1], layout=panels.layout
    )
    assert len(calls) == 1
    np.testing.assert_allclose(again.layout.transport, panels.layout.transport)


def test_panels_hold_the_model_outputs_and_outline_the_own_batch(small_model, small_data, tmp_path):
    X, batch = dense(small_data.X), small_data.obs["batch"].astype(str).to_numpy()
    target = batch[0]
    panels = genomap_panels(small_model, X, batch, cells=[0, 1], targets=[target], num_iter=10)
    # the two cells' counterfactuals as in the whole data: corrected by the target batch's
    # cells of X, not only by those among the two drawn
    cf = small_model.counterfactual(X, batch, target)[:2]
    np.testing.assert_allclose(panels.images[f"as {target}"], panels.layout.images(cf), rtol=1e-5)
    assert panels.outlined(0, f"as {target}")
    assert panels.outlined(1, f"as {target}") == (batch[1] == target)
    assert not panels.outlined(0, "original")
    path = tmp_path / "genomap.png"
    plotting.genomap_grid(panels, path)
    assert path.stat().st_size > 1000


def test_gw_objective_equals_the_four_index_sum():
    rng = np.random.default_rng(0)
    c1, c2 = rng.random((4, 4)), rng.random((4, 4)) + 0.1
    t = rng.random((4, 4))
    t /= t.sum()

    def kl_loss(a, b):
        return a * np.log(a + 1e-15) - a + b - a * np.log(b + 1e-15)

    brute = sum(
        kl_loss(c1[i, k], c2[j, m]) * t[i, j] * t[k, m]
        for i in range(4) for j in range(4) for k in range(4) for m in range(4)
    )  # fmt: skip
    assert np.isclose(gw_objective(c1, c2, t), brute)


def test_assignment_solver_is_no_worse_than_the_reference(small_data):
    # 60 genes on an 8 x 8 grid: the fast solver's plan is a permutation with genomap's
    # uniform marginals, and its objective is at most the reference solver's
    X = dense(small_data.X)[:60]
    fast = gene_layout(X, num_iter=200)
    reference = gene_layout(X, num_iter=200, solver="reference")
    n = X.shape[1]
    assert np.count_nonzero(fast.transport) == n
    np.testing.assert_allclose(fast.transport.sum(0), 1 / n)
    np.testing.assert_allclose(fast.transport.sum(1), 1 / n)
    assert fast.objective <= reference.objective + 1e-9
    interaction = np.nan_to_num(genomap.createInteractionMatrix(X.astype(np.float64)), nan=1.0)
    grid = genomap.createMeshDistance(8, 8)[:n, :n]
    assert np.isclose(fast.objective, gw_objective(interaction, grid, fast.transport))


def test_gene_subset_is_applied_to_every_matrix(cells):
    layout = gene_layout(cells, genes=[0, 3, 5, 7], num_iter=10)
    assert (layout.rows, layout.cols) == (2, 2)
    subset = cells[:, [0, 3, 5, 7]]
    direct = gene_layout(subset, num_iter=10)
    np.testing.assert_allclose(layout.images(cells), direct.images(subset))


def test_bad_genomap_input(small_model, small_data, cells):
    with pytest.raises(ValueError, match="grid has 16 places for 25 genes"):
        grid_shape(25, 4, 4)
    with pytest.raises(ValueError, match="grid has 16 places"):
        gene_layout(cells, rows=4, cols=4)
    X, batch = small_data.X, small_data.obs["batch"]
    with pytest.raises(
        ValueError, match="targets has label.*never seen in training: nowhere. Known"
    ):
        genomap_panels(small_model, X, batch, cells=[0], targets=["nowhere"])
    with pytest.raises(ValueError, match="cells must be"):
        genomap_panels(small_model, X, batch, cells=[10_000], targets=["0"])
    with pytest.raises(ValueError, match="solver must be"):
        gene_layout(cells, solver="fast")
    with pytest.raises(ValueError, match="assignment solver is unregularised"):
        gene_layout(cells, epsilon=0.1)
    layout = gene_layout(cells, num_iter=5)
    with pytest.raises(ValueError, match="places 25"):
        layout.images(cells[:, :20])

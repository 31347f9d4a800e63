"""Genomaps: gene expression drawn as images, one gene layout shared by every panel.

The genomap package places genes on a 2-D grid by Gromov-Wasserstein optimal transport
between the gene-gene correlation distances and the grid distances. That step is the slow
part (minutes for a few thousand genes), and its result, the transport plan, depends only
on the genes. :func:`gene_layout` computes it once; :meth:`GenomapLayout.images` then turns
any cells x genes matrix (original, FE reconstruction, counterfactuals) into images with the
same layout, so the panels of a figure are comparable pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .validate import check_labels, check_matrix, check_positive_int, encode

_INSTALL_HINT = (
    "genomaps need the genomap package: pip install 'medl[genomap]' "
    "(or pip install --no-deps genomap pot; genomap's declared TensorFlow stack is not needed)."
)


def _genomap_module():
    try:
        import genomap
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(_INSTALL_HINT) from err
    return genomap


@dataclass
class GenomapLayout:
    """A gene -> grid transport plan computed once by :func:`gene_layout`.

    Attributes
    ----------
    transport
        Transport plan from genes to grid points, shape (genes, min(genes, rows * cols)).
    rows, cols
        Grid shape of every image.
    genes
        Column indices (into the matrices later passed to :meth:`images`) that the layout
        places; ``None`` means all columns.
    objective
        Genomap's Gromov-Wasserstein objective (KL loss) at ``transport``; lower is better.
    """

    transport: np.ndarray
    rows: int
    cols: int
    genes: np.ndarray | None = field(default=None)
    objective: float | None = None

    @property
    def n_genes(self) -> int:
        return self.transport.shape[0]

    def images(self, X: Any) -> np.ndarray:
        """Project cells onto the grid: returns (cells, rows, cols) images.

        Same projection as genomap's ``construct_genomap`` (data @ plan * grid size, filled
        column-major), without re-solving the transport problem.
        """
        mat = check_matrix(X, name="X")
        if self.genes is not None:
            if mat.shape[1] <= int(self.genes.max()):
                raise ValueError(
                    f"X has {mat.shape[1]} genes but the layout uses gene index "
                    f"{int(self.genes.max())}: pass a matrix with the genes the layout was "
                    "computed on."
                )
            mat = mat[:, self.genes]
        if mat.shape[1] != self.n_genes:
            raise ValueError(
                f"X has {mat.shape[1]} genes but the layout places {self.n_genes}: pass the "
                "genes the layout was computed on."
            )
        dense = mat.toarray() if hasattr(mat, "toarray") else mat
        grid = self.rows * self.cols
        projected = dense.astype(np.float64) @ (self.transport * grid)
        full = np.zeros((dense.shape[0], grid))
        full[:, : projected.shape[1]] = projected
        return full.reshape(dense.shape[0], self.cols, self.rows).transpose(0, 2, 1)


def grid_shape(n_genes: int, rows: int | None = None, cols: int | None = None) -> tuple[int, int]:
    """Grid for ``n_genes``: the smallest square unless rows/cols are given; checks it fits."""
    if rows is None and cols is None:
        rows = cols = math.ceil(math.sqrt(n_genes))
    elif rows is None:
        rows = math.ceil(n_genes / check_positive_int(cols, "cols"))
    elif cols is None:
        cols = math.ceil(n_genes / check_positive_int(rows, "rows"))
    rows, cols = check_positive_int(rows, "rows"), check_positive_int(cols, "cols")
    if rows * cols < n_genes:
        raise ValueError(
            f"a {rows} x {cols} genomap grid has {rows * cols} places for {n_genes} genes: "
            f"use a grid with at least {n_genes} places (e.g. rows=cols="
            f"{math.ceil(math.sqrt(n_genes))}) or fewer genes."
        )
    return rows, cols


def gw_objective(interaction: np.ndarray, grid_dist: np.ndarray, transport: np.ndarray) -> float:
    """Genomap's Gromov-Wasserstein objective at a transport plan (lower is better).

    ``sum_ijkl L(C1_ik, C2_jl) T_ij T_kl`` with genomap's KL loss
    ``L(a, b) = a log a - a + b - a log b``, evaluated through its split
    ``f1(a) + f2(b) - h1(a) h2(b)`` in O(n^3) instead of O(n^4).
    """
    c1 = np.asarray(interaction, dtype=np.float64)
    c2 = np.asarray(grid_dist, dtype=np.float64)
    t = np.asarray(transport, dtype=np.float64)
    p, q = t.sum(1), t.sum(0)
    cross = np.sum((c1 @ t @ _log(c2).T) * t)
    return float(p @ _kl_f1(c1) @ p + q @ c2 @ q - cross)


def _kl_f1(a: np.ndarray) -> np.ndarray:
    """The source-only part of genomap's KL loss, ``a log a - a``."""
    return a * _log(a) - a


def _log(a: np.ndarray) -> np.ndarray:
    return np.log(a + 1e-15)  # genomap's guard for zero distances


def _assignment_solver(c1: np.ndarray, c2: np.ndarray, max_iter: int, patience: int = 5):
    """Genomap's fixed-point iteration, each step solved over classes of equivalent places.

    With as many grid places as genes and uniform weights, each step of genomap's iteration
    (an exact transport problem it gives to a network simplex over genes x places) has an
    optimum that puts each gene on one place. Genomap's grid distances are differences of
    distances from the centre, so places on one ring have identical rows in ``c2`` and are
    interchangeable in the objective. Each step is therefore solved over genes x rings
    (tens of times fewer columns, and none of the ties that make an assignment solver
    crawl), and genes are laid out on their ring's places in index order at the end. The
    iteration stops when the assignment repeats or the objective has not improved for
    ``patience`` steps, and returns the best plan it visited (genomap returns its last).
    """
    import ot  # POT, installed with genomap

    n = c1.shape[0]
    _, first, place_ring, size = np.unique(
        c2, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    place_ring = place_ring.ravel()
    log_rings = _log(c2[np.ix_(first, first)])  # K x K, one place standing for each ring
    f_const = (np.sum(_kl_f1(c1)) + np.sum(c2)) / n**2
    genes, capacity = np.ones(n), size.astype(np.float64)  # integers: the sums match exactly
    # genomap's start, the independent coupling 1/n^2: every gene sees every place alike
    cost = -np.outer(c1.sum(1) / n**2, log_rings @ size)
    ring, best, best_ring, seen, wait = None, np.inf, None, set(), 0
    for step in range(max_iter + 1):
        if ring is not None:
            onehot = np.zeros((n, len(size)))
            onehot[np.arange(n), ring] = 1.0
            cost = -(c1 @ onehot) @ log_rings.T / n  # linearised cost of gene a on ring k
            value = f_const + float(cost[np.arange(n), ring].sum()) / n
            key = ring.tobytes()
            if value < best - 1e-12 * abs(value):
                best, best_ring, wait = value, ring, 0
            elif (wait := wait + 1) >= patience or key in seen:
                break
            seen.add(key)
        if step == max_iter:
            break
        # shifted to start at 0, as genomap does: the network simplex fails on some
        # all-negative costs ("infeasible"); a constant shift leaves the optimum unchanged
        ring = ot.emd(genes, capacity, cost - cost.min()).argmax(axis=1)
        if not np.array_equal(np.bincount(ring, minlength=len(size)), size):
            raise RuntimeError("the transport step did not give each gene one place")
    # genes of each ring onto that ring's places, both in index order (stable sorts)
    transport = np.zeros((n, n))
    transport[np.argsort(best_ring, kind="stable"), np.argsort(place_ring, kind="stable")] = 1 / n
    return transport


def gene_layout(
    X: Any,
    rows: int | None = None,
    cols: int | None = None,
    genes: Sequence[int] | None = None,
    num_iter: int = 200,
    epsilon: float = 0.0,
    solver: str = "assignment",
) -> GenomapLayout:
    """Place genes on a grid by Gromov-Wasserstein transport (computed once).

    Parameters
    ----------
    X
        Cells x genes expression the gene-gene correlations are measured on (a few hundred
        cells covering every batch is what the paper used).
    rows, cols
        Grid shape; by default the smallest square holding every gene.
    genes
        Column indices of ``X`` to place (e.g. highly variable genes); default all columns.
    num_iter
        Most iterations of the Gromov-Wasserstein solver.
    epsilon
        Entropic regularisation (0: unregularised, genomap's default). A positive value
        needs ``solver="reference"``.
    solver
        ``"assignment"`` (default): genomap's iteration with each step solved over rings
        of equivalent grid places, minutes faster for thousands of genes, keeping the
        best plan it visits. ``"reference"``: genomap's own ``gromov_wasserstein_adjusted_norm``.
        Both report :attr:`GenomapLayout.objective`.
    """
    if solver not in ("assignment", "reference"):
        raise ValueError(f"solver must be 'assignment' or 'reference', got {solver!r}.")
    if epsilon < 0 or (epsilon > 0 and solver == "assignment"):
        raise ValueError(
            f"epsilon={epsilon!r}: the assignment solver is unregularised; use epsilon=0, "
            "or solver='reference' for a positive epsilon."
        )
    max_iter = check_positive_int(num_iter, "num_iter")
    mat = check_matrix(X, name="X")
    dense = mat.toarray() if hasattr(mat, "toarray") else mat
    index = None
    if genes is not None:
        index = np.asarray(genes, dtype=np.int64)
        if index.ndim != 1 or index.size == 0:
            raise ValueError("genes must be a non-empty list of column indices.")
        if index.min() < 0 or index.max() >= dense.shape[1]:
            raise ValueError(f"genes must be column indices in [0, {dense.shape[1]}).")
        dense = dense[:, index]
    if dense.shape[0] < 2:
        raise ValueError("a gene layout needs at least 2 cells to measure gene correlations.")
    rows, cols = grid_shape(dense.shape[1], rows, cols)
    genomap = _genomap_module()
    # Genes constant over these cells have no defined correlation; treat them as unrelated
    # to every other gene (distance 1) instead of letting NaN poison the solver.
    interaction = np.nan_to_num(
        genomap.createInteractionMatrix(dense.astype(np.float64), metric="correlation"),
        nan=1.0,
    )
    n = min(dense.shape[1], rows * cols)
    grid_dist = genomap.createMeshDistance(rows, cols)[:n, :n]
    if solver == "assignment":
        transport = _assignment_solver(interaction, grid_dist, max_iter)
    else:
        p, q = genomap.create_space_distributions(n, n)
        transport = genomap.gromov_wasserstein_adjusted_norm(
            np.zeros((n, n)), interaction, grid_dist, p, q,
            loss_fun="kl_loss", epsilon=epsilon, max_iter=max_iter,
        )  # fmt: skip
    transport = np.asarray(transport)
    objective = gw_objective(interaction, grid_dist, transport)
    return GenomapLayout(transport, rows, cols, index, objective)


@dataclass
class GenomapPanels:
    """Images for a genomap figure: ``images[column]`` is (cells, rows, cols)."""

    images: dict[str, np.ndarray]
    cell_names: list[str]
    own_batch: list[str]
    targets: list[str]
    layout: GenomapLayout

    def outlined(self, cell: int, column: str) -> bool:
        """Whether a panel is the cell's own batch (drawn outlined)."""
        return column == f"as {self.own_batch[cell]}"


def genomap_panels(
    model: Any,
    X: Any,
    batch: Any,
    cells: Sequence[int],
    targets: Sequence[Any],
    layout: GenomapLayout | None = None,
    cell_names: Sequence[str] | None = None,
    **layout_kwargs: Any,
) -> GenomapPanels:
    """Original, FE reconstruction and counterfactual images of chosen cells.

    Parameters
    ----------
    model
        A fitted :class:`medl.MEDL`.
    X, batch
        Expression (the model's genes) and each cell's batch.
    cells
        Row indices of the cells to draw.
    targets
        Batches to re-express the cells in; each must be a batch seen in training.
    layout
        A layout from :func:`gene_layout` to reuse; by default one is computed once on the
        chosen cells' original profiles (with ``layout_kwargs``) and used for every column.
    cell_names
        Names for the rows (default: the row indices).
    """
    model._check_fitted()
    mat = check_matrix(X, name="X", n_genes=model.n_genes)
    labels = check_labels(batch, mat.shape[0], "batch")
    idx = np.asarray(cells, dtype=np.int64)
    if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= mat.shape[0]:
        raise ValueError(f"cells must be a non-empty list of row indices in [0, {mat.shape[0]}).")
    targets = [str(t) for t in targets]
    if not targets:
        raise ValueError("targets is empty: name at least one batch seen in training.")
    encode(np.array(targets, dtype=object), model.batch_categories, "targets")
    sub, own = mat[idx], labels[idx]
    if layout is None:
        layout = gene_layout(sub, **layout_kwargs)
    columns = {"original": sub, "FE reconstruction": model.reconstruct_fixed(sub)}
    for t in targets:
        # with the target batch's cells of X beside them: the correction's neighbours
        pool = np.setdiff1d(np.flatnonzero(labels == t), idx)
        rows = np.concatenate([idx, pool])
        columns[f"as {t}"] = model.counterfactual(mat[rows], labels[rows], t)[: idx.size]
    images = {name: layout.images(m) for name, m in columns.items()}
    names = [str(n) for n in (cell_names if cell_names is not None else idx)]
    if len(names) != idx.size:
        raise ValueError(f"cell_names has {len(names)} names for {idx.size} cells.")
    return GenomapPanels(images, names, [str(b) for b in own], targets, layout)

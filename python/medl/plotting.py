"""Figures: training curves, FE/RE latent scatter plots and UMAPs, genomap grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

if TYPE_CHECKING:
    from .genomap import GenomapPanels


def training_curves(history: pd.DataFrame, path: str | Path | None = None) -> plt.Figure:
    """One panel per (subnetwork, loss term) with train and validation curves."""
    if history.empty:
        raise ValueError("history is empty: fit a model first.")
    panels = sorted({c.replace(".train.", ".").replace(".val.", ".") for c in history.columns})
    ncol = 4
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        net, term = panel.split(".", 1)
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{net}.{split}.{term}"
            if col in history:
                ax.plot(history.index, history[col], style, label=split)
        ax.set_title(f"{net.upper()}: {term}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)
    return fig


def latent_scatter(
    latents: dict[str, np.ndarray],
    colors: dict[str, Any],
    path: str | Path | None = None,
) -> plt.Figure:
    """Grid of 2-D scatter plots: one row per latent space, one column per colouring.

    Latents with more than two dimensions are shown by their first two coordinates; use
    ``scanpy.tl.umap`` on ``obsm`` for a UMAP instead.
    """
    fig, axes = plt.subplots(
        len(latents), len(colors), figsize=(4 * len(colors), 3.6 * len(latents)), squeeze=False
    )
    for row, (name, emb) in zip(axes, latents.items()):
        for ax, (label_name, labels) in zip(row, colors.items()):
            labels = pd.Series(np.asarray(labels)).astype(str)
            for level in sorted(labels.unique()):
                keep = (labels == level).to_numpy()
                ax.scatter(emb[keep, 0], emb[keep, 1], s=3, alpha=0.6, label=level)
            ax.set_title(f"{name} latent by {label_name}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(markerscale=3, fontsize=7, frameon=False)
    fig.tight_layout()
    _save(fig, path)
    return fig


def latent_umaps(
    latents: dict[str, np.ndarray],
    obs: pd.DataFrame,
    keys: Sequence[str],
    path: str | Path | None = None,
    min_dist: float = 0.5,
    n_neighbors: int = 15,
    seed: int = 0,
) -> plt.Figure:
    """UMAPs (scanpy) of each latent space, one row per latent, one column per ``obs`` key.

    The defaults are the paper's (15 neighbours, min_dist 0.5).
    """
    import anndata as ad
    import scanpy as sc

    missing = [k for k in keys if k not in obs]
    if missing:
        raise ValueError(f"obs has no column(s) {missing}; available: {list(obs.columns)}.")
    fig, axes = plt.subplots(
        len(latents), len(keys), figsize=(5 * len(keys), 4 * len(latents)), squeeze=False
    )
    for row, (name, emb) in zip(axes, latents.items()):
        if len(emb) != len(obs):
            raise ValueError(f"latent {name!r} has {len(emb)} rows for {len(obs)} cells.")
        view = ad.AnnData(obs=obs.copy(), obsm={"X_latent": np.asarray(emb)})
        sc.pp.neighbors(view, n_neighbors=n_neighbors, use_rep="X_latent", random_state=seed)
        sc.tl.umap(view, min_dist=min_dist, random_state=seed)
        for ax, key in zip(row, keys):
            sc.pl.umap(view, color=key, ax=ax, show=False, title=f"{name}: {key}")
    fig.tight_layout()
    _save(fig, path)
    return fig


def genomap_grid(panels: GenomapPanels, path: str | Path | None = None) -> plt.Figure:
    """Rows = cells, columns = original, FE reconstruction and counterfactuals.

    Every image uses the same gene layout; each row shares one colour scale so that a
    column's change is visible, and the cell's own-batch counterfactual is outlined.
    """
    columns = list(panels.images)
    n_cells = len(panels.cell_names)
    fig, axes = plt.subplots(
        n_cells, len(columns), figsize=(1.9 * len(columns), 1.9 * n_cells), squeeze=False
    )
    for i, row in enumerate(axes):
        stack = np.stack([panels.images[c][i] for c in columns])
        vmin, vmax = float(stack.min()), float(stack.max())
        for ax, col in zip(row, columns):
            ax.imshow(panels.images[col][i], cmap="jet", vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if panels.outlined(i, col):
                for spine in ax.spines.values():
                    spine.set_edgecolor("red")
                    spine.set_linewidth(3)
            if i == 0:
                ax.set_title(col, fontsize=8)
        row[0].set_ylabel(f"{panels.cell_names[i]}\n({panels.own_batch[i]})", fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _save(fig: plt.Figure, path: str | Path | None) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)

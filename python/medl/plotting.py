"""Figures: training curves of every loss term and FE/RE latent scatter plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display is assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


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


def _save(fig: plt.Figure, path: str | Path | None) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)

"""Tied-weight autoencoder (AE) with an optional latent cell-type classifier (AEC)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Encoder, TiedDecoder, mlp

Losses = dict[str, torch.Tensor]


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == target).float().mean()


class TiedAutoencoder(nn.Module):
    """AE: SELU encoder with batch norm and a decoder tied to the encoder's kernels.

    With ``n_labels > 0`` a latent classifier Dense(2, ReLU) -> Dense(n_labels) is added and
    its cross-entropy joins the loss (AEC).
    """

    def __init__(
        self,
        n_genes: int,
        hidden: Sequence[int],
        latent_dim: int,
        n_labels: int = 0,
        w_recon: float = 1.0,
        w_y: float = 0.1,
    ) -> None:
        super().__init__()
        self.encoder = Encoder(n_genes, hidden, latent_dim)
        self.decoder = TiedDecoder(self.encoder)
        self.classifier = mlp(latent_dim, [2], n_labels) if n_labels else None
        self.w_recon, self.w_y = w_recon, w_y

    @torch.no_grad()
    def init_output(self, mean: torch.Tensor, std: torch.Tensor | None = None) -> None:
        """Start the output bias at the data's per-gene mean (faster early training)."""
        self.decoder.biases[-1].copy_(mean)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[-1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def loss_from_activations(
        self, x: torch.Tensor, activations: list[torch.Tensor], labels: torch.Tensor | None
    ) -> Losses:
        latent = activations[-1]
        recon = F.mse_loss(self.decoder(latent), x)
        out = {"recon": recon, "total": self.w_recon * recon}
        if self.classifier is not None:
            logits = self.classifier(latent)
            out["y_ce"] = F.cross_entropy(logits, labels)
            out["y_acc"] = accuracy(logits.detach(), labels)
            out["total"] = out["total"] + self.w_y * out["y_ce"]
        return out

    def loss(
        self, x: torch.Tensor, codes: torch.Tensor | None, labels: torch.Tensor | None
    ) -> Losses:
        return self.loss_from_activations(x, self.encoder(x), labels)

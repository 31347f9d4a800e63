"""Random-effects subnetwork (MEDL-AE-RE): per-batch variational scale/bias after each layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoder import Losses, accuracy
from .layers import BatchEffects, REBlock, dense, mlp


class RandomEffectsNet(nn.Module):
    """Untied AE whose dense layers (all but the latent one) are followed by an REBlock.

    Encoder: Dense(512) -> RE -> SELU -> Dense(132) -> RE -> SELU -> Dense(latent) -> SELU.
    Decoder: Dense(132) -> RE -> SELU -> Dense(512) -> RE -> SELU -> Dense(genes) -> RE.
    A latent batch classifier Dense(5, ReLU) -> Dense(batches) pushes batch identity INTO
    the latent. Loss: ``w_recon * MSE + w_z * CE(batch) + w_kl * mean-over-layers KL``.
    """

    def __init__(
        self,
        n_genes: int,
        hidden: Sequence[int],
        latent_dim: int,
        n_batches: int,
        w_recon: float = 110.0,
        w_z: float = 0.1,
        w_kl: float = 1e-5,
        prior_scale: float = 0.25,
        post_loc_init_scale: float = 0.1,
        post_scale_init: float = 0.01,
    ) -> None:
        super().__init__()
        enc_dims = [n_genes, *hidden]
        self.enc_linears = nn.ModuleList(dense(a, b) for a, b in zip(enc_dims[:-1], enc_dims[1:]))
        self.enc_blocks = nn.ModuleList(REBlock(w) for w in hidden)
        self.to_latent = dense(hidden[-1], latent_dim)
        dec_dims = [latent_dim, *reversed(hidden), n_genes]
        self.dec_linears = nn.ModuleList(dense(a, b) for a, b in zip(dec_dims[:-1], dec_dims[1:]))
        self.dec_blocks = nn.ModuleList(REBlock(w) for w in dec_dims[1:])
        self.effects = BatchEffects(
            n_batches, [*hidden, *dec_dims[1:]], prior_scale, post_loc_init_scale, post_scale_init
        )
        self.classifier = mlp(latent_dim, [5], n_batches)
        self.w_recon, self.w_z, self.w_kl = w_recon, w_z, w_kl

    def encode(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self._encode(x, self.effects(codes))

    def decode(self, latent: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self._decode(latent, self.effects(codes))

    def _encode(self, x: torch.Tensor, effects: list) -> torch.Tensor:
        for linear, block, fx in zip(self.enc_linears, self.enc_blocks, effects):
            x = F.selu(block(linear(x), fx))
        return F.selu(self.to_latent(x))

    def _decode(self, latent: torch.Tensor, effects: list) -> torch.Tensor:
        last = len(self.dec_linears) - 1
        effects = effects[len(self.enc_blocks) :]
        for i, (linear, block, fx) in enumerate(zip(self.dec_linears, self.dec_blocks, effects)):
            latent = block(linear(latent), fx)
            if i < last:
                latent = F.selu(latent)
        return latent

    @torch.no_grad()
    def init_output(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the output block at the data's per-gene mean and spread.

        The output REBlock batch-normalises every gene to unit variance; from the default
        affine init (scale 1, shift 0) it takes thousands of steps to reach data in [0, 1].
        """
        out = self.dec_blocks[-1].norm
        out.weight.copy_(std.clamp_min(1e-3))
        out.bias.copy_(mean)

    def kl(self) -> torch.Tensor:
        return self.effects.kl()

    def loss(
        self, x: torch.Tensor, codes: torch.Tensor | None, labels: torch.Tensor | None = None
    ) -> Losses:
        effects = self.effects(codes)  # one weight sample per step, shared by both halves
        latent = self._encode(x, effects)
        recon = F.mse_loss(self._decode(latent, effects), x)
        logits = self.classifier(latent)
        batch_ce = F.cross_entropy(logits, codes)
        kl = self.kl()
        total = self.w_recon * recon + self.w_z * batch_ce + self.w_kl * kl
        return {
            "recon": recon,
            "batch_ce": batch_ce,
            "batch_acc": accuracy(logits.detach(), codes),
            "kl": kl,
            "total": total,
        }

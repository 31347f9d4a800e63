"""Mixed-effects VAE: medl's default fixed-effects subnetwork (``variant="variational"``).

A batch-free encoder maps a cell to a Gaussian posterior over its latent code; the decoder's
dense layers are each followed by the paper's random-effects block (per-batch variational
scale and shift). The decoder therefore gets the batch for free, and the KL term on the
latent makes carrying it in the code costly, so the code is batch-invariant without an
adversary, and decoding one code with another batch's effects is a counterfactual:
``x = f(z, u_batch)`` with ``z`` the fixed and ``u`` the random effects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoder import Losses, accuracy
from .layers import BatchEffects, REBlock, dense, mlp

Effects = list[tuple[torch.Tensor, torch.Tensor]]


class MixedEffectsVAE(nn.Module):
    """Encoder Dense -> BN -> SELU (per hidden width) -> mean, log-variance heads (no batch).

    Decoder: Dense -> RE -> SELU per hidden width (reversed), Dense(genes) -> RE. The
    likelihood is Gaussian with a learned per-gene spread. Loss, the negative ELBO plus the
    optional cell-type classifier of FEC:
    ``NLL + w_latent_kl * KL(latent) + w_kl * KL(batch layers) [+ w_y * CE(cell type)]``.
    """

    def __init__(
        self,
        n_genes: int,
        hidden: Sequence[int],
        latent_dim: int,
        n_batches: int,
        n_labels: int = 0,
        w_latent_kl: float = 8.0,
        w_kl: float = 1e-5,
        w_y: float = 1.0,
        prior_scale: float = 0.25,
        post_loc_init_scale: float = 0.1,
        post_scale_init: float = 0.01,
        batch_layers: int | None = None,
        w_anchor: float = 0.0,
        w_cross: float = 0.0,
    ) -> None:
        super().__init__()
        dims = [n_genes, *hidden]
        self.enc_linears = nn.ModuleList(dense(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.enc_norms = nn.ModuleList(nn.BatchNorm1d(w) for w in hidden)
        self.to_mean = dense(hidden[-1], latent_dim)
        self.to_logvar = dense(hidden[-1], latent_dim)
        dec = [latent_dim, *reversed(hidden), n_genes]
        self.dec_linears = nn.ModuleList(dense(a, b) for a, b in zip(dec[:-1], dec[1:]))
        self.dec_blocks = nn.ModuleList(REBlock(w) for w in dec[1:])
        # the per-batch blocks: the last `batch_layers` decoder layers (all by default)
        n_fixed = 0 if batch_layers is None else max(0, len(dec) - 1 - batch_layers)
        self.fixed_widths = dec[1 : 1 + n_fixed]
        self.effects = BatchEffects(
            n_batches, dec[1 + n_fixed :], prior_scale, post_loc_init_scale, post_scale_init
        )
        self.log_scale = nn.Parameter(torch.zeros(n_genes))
        self.classifier = mlp(latent_dim, [2], n_labels) if n_labels else None
        self.w_latent_kl, self.w_kl, self.w_y = w_latent_kl, w_kl, w_y
        self.w_anchor, self.w_cross = w_anchor, w_cross

    @torch.no_grad()
    def init_output(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the output block and the likelihood's spread at the data's per-gene values."""
        out = self.dec_blocks[-1].norm
        out.weight.copy_(std.clamp_min(1e-3))
        out.bias.copy_(mean)
        self.log_scale.copy_(std.clamp_min(1e-3).log())

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for linear, norm in zip(self.enc_linears, self.enc_norms):
            x = F.selu(norm(linear(x)))
        return self.to_mean(x), self.to_logvar(x).clamp(-12.0, 8.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed-effects latent: the posterior mean (needs no batch)."""
        return self.posterior(x)[0]

    def _decode(self, latent: torch.Tensor, effects: Effects) -> torch.Tensor:
        zero = latent.new_zeros(())
        effects = [(zero, zero)] * len(self.fixed_widths) + list(effects)
        last = len(self.dec_linears) - 1
        for i, (linear, block, fx) in enumerate(zip(self.dec_linears, self.dec_blocks, effects)):
            latent = block(linear(latent), fx)
            if i < last:
                latent = F.selu(latent)
        return latent

    def decode(self, latent: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Expression of ``latent`` in the batches ``codes`` (posterior-mean effects in eval)."""
        return self._decode(latent, self.effects(codes))

    def decode_with(self, latent: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """Expression of ``latent`` with the effects of one table row (1 x width), e.g. a
        posterior draw from ``effects.draw``, shared by every cell."""
        return self._decode(latent, self.effects.layers(row))

    def sample(
        self,
        x: torch.Tensor,
        codes: torch.Tensor,
        n: int,
        generator: torch.Generator,
        move: torch.Tensor | None = None,
    ) -> Iterator[torch.Tensor]:
        """``n`` draws (each cells x genes), one at a time, of the decoded expression in the
        batches ``codes``: the code from its posterior (its mean shifted by ``move``), the
        batches' layers from theirs. One at a time, so that callers keep running moments
        instead of ``n`` copies of the output."""
        mean, logvar = self.posterior(x)
        if move is not None:
            mean = mean + move
        std = torch.exp(0.5 * logvar)
        for _ in range(n):
            noise = torch.randn(mean.shape, generator=generator, device=x.device, dtype=x.dtype)
            yield self._decode(mean + std * noise, self.effects.sample(codes, generator))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The batch-free profile: decoded with the batches' average effects."""
        return self._decode(self.encode(x), self.effects.average())

    def kl(self) -> torch.Tensor:
        return self.effects.kl()

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Gaussian negative log-likelihood of ``x`` given the decoded ``out``, per cell."""
        log_scale = self.log_scale.clamp_min(-7.0)
        return (0.5 * (out - x).square() * torch.exp(-2 * log_scale) + log_scale).sum(1).mean()

    def anchor_loss(
        self, x_ab: torch.Tensor, codes_ab: torch.Tensor, total: torch.Tensor
    ) -> tuple[Losses, torch.Tensor]:
        """The terms on ``n`` cross-batch anchor pairs, and ``total`` with them added.

        ``x_ab`` holds the pairs' first cells, then their partners (``codes_ab`` their
        batches). ``anchor``: the mean squared distance between the two codes of a pair
        (weight ``w_anchor``); ``cross``: the likelihood of each cell's partner under the
        cell's code decoded in the partner's batch (``w_cross``; not computed at 0).
        """
        n = len(x_ab) // 2
        a, b = self.encode(x_ab).split(n)
        losses = {"anchor": (a - b).square().sum(1).mean()}
        total = total + self.w_anchor * losses["anchor"]
        if self.w_cross:
            # each end decoded in its partner's batch should look like the partner
            losses["cross"] = self.nll(self.decode(torch.cat([b, a]), codes_ab.roll(n)),
                                       x_ab.roll(n, 0))  # fmt: skip
            total = total + self.w_cross * losses["cross"]
        return losses, total

    def loss(
        self, x: torch.Tensor, codes: torch.Tensor | None, labels: torch.Tensor | None
    ) -> Losses:
        mean, logvar = self.posterior(x)
        latent = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.training else mean
        out = self.decode(latent, codes)
        nll = self.nll(out, x)
        latent_kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1).mean()
        kl = self.kl()
        losses = {
            "recon": F.mse_loss(out, x),
            "nll": nll,
            "latent_kl": latent_kl,
            "kl": kl,
        }
        total = nll + self.w_latent_kl * latent_kl + self.w_kl * kl
        if self.classifier is not None:
            logits = self.classifier(mean)
            losses["y_ce"] = F.cross_entropy(logits, labels)
            losses["y_acc"] = accuracy(logits.detach(), labels)
            total = total + self.w_y * losses["y_ce"]
        # no adversarial term here, so "everything but the adversarial term" (what the
        # paper-style FE's early stopping watches by default) is the total
        losses["total"] = losses["autoencoder"] = total
        return losses

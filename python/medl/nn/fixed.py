"""Fixed-effects subnetwork: tied AE + adversarial batch classifier (MEDL-AE-FE / FEC)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .autoencoder import Losses, TiedAutoencoder, accuracy
from .layers import mlp


class FixedEffectsNet(TiedAutoencoder):
    """The AE (or AEC) plus an adversary that predicts the batch from ALL encoder activations.

    The adversary, Dense(512, ReLU) -> Dense(132, ReLU) -> Dense(batches), reads the
    concatenation of both hidden activations and the latent. The autoencoder's loss is
    ``w_recon * MSE - w_adv * CE(batch, adversary) [+ w_y * CE(cell type)]``; the adversary
    itself minimises ``CE(batch, adversary)`` with its own optimizer
    (``medl.train.plans.AdversarialPlan``).
    ``adversarial_loss="confusion"`` replaces ``- w_adv * CE`` by ``+ w_adv * CE(uniform,
    adversary)``, which does not saturate when the adversary wins.
    """

    def __init__(
        self,
        n_genes: int,
        hidden: Sequence[int],
        latent_dim: int,
        n_batches: int,
        n_labels: int = 0,
        w_recon: float = 1000.0,
        w_adv: float = 1.0,
        w_y: float = 1.0,
        adversary_hidden: Sequence[int] = (512, 132),
        adversary_input: str = "all",
        adversarial_loss: str = "confusion",
    ) -> None:
        super().__init__(n_genes, hidden, latent_dim, n_labels, w_recon, w_y)
        if adversary_input not in ("all", "latent"):
            raise ValueError(f"adversary_input must be 'all' or 'latent', got {adversary_input!r}.")
        if adversarial_loss not in ("negative_ce", "confusion"):
            raise ValueError(
                f"adversarial_loss must be 'negative_ce' or 'confusion', got {adversarial_loss!r}."
            )
        self.latent_only = adversary_input == "latent"
        self.confusion = adversarial_loss == "confusion"
        n_in = latent_dim if self.latent_only else sum(hidden) + latent_dim
        self.adversary = mlp(n_in, adversary_hidden, n_batches)
        self.w_adv = w_adv

    def adversary_logits(self, activations: list[torch.Tensor]) -> torch.Tensor:
        if self.latent_only:
            return self.adversary(activations[-1])
        return self.adversary(torch.cat(activations, dim=1))

    def adversary_loss(self, activations: list[torch.Tensor], codes: torch.Tensor) -> Losses:
        """The adversary's own objective on DETACHED activations: the AE gets no gradient."""
        logits = self.adversary_logits([a.detach() for a in activations])
        ce = F.cross_entropy(logits, codes)
        return {"adv_ce": ce, "adv_acc": accuracy(logits.detach(), codes)}

    def autoencoder_parameters(self) -> list[torch.nn.Parameter]:
        skip = {id(p) for p in self.adversary.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def loss_with_batch(
        self,
        x: torch.Tensor,
        activations: list[torch.Tensor],
        codes: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> Losses:
        out = self.loss_from_activations(x, activations, labels)
        # the AE/AEC objective alone: what early stopping watches by default, because the
        # adversarial term is smallest while the adversary is still untrained
        out["autoencoder"] = out["total"]
        logits = self.adversary_logits(activations)
        out["adv_ce"] = F.cross_entropy(logits, codes)
        out["adv_acc"] = accuracy(logits.detach(), codes)
        if self.confusion:
            # cross-entropy to the uniform distribution: minimal when the adversary is at
            # chance, and its gradient does not vanish once the adversary is confident
            out["adv_confusion"] = -F.log_softmax(logits, dim=1).mean()
            out["total"] = out["total"] + self.w_adv * out["adv_confusion"]
        else:
            out["total"] = out["total"] - self.w_adv * out["adv_ce"]
        return out

    def loss(
        self, x: torch.Tensor, codes: torch.Tensor | None, labels: torch.Tensor | None
    ) -> Losses:
        return self.loss_with_batch(x, self.encoder(x), codes, labels)

"""How each subnetwork is optimised: one Adam on its loss (:class:`Plan`), plus drawn
cross-batch anchor pairs (:class:`AnchorPlan`), or the paper's two-optimizer adversarial step
(:class:`AdversarialPlan`)."""

from __future__ import annotations

import torch
from torch import nn

from ..nn.autoencoder import Losses
from ..nn.fixed import FixedEffectsNet
from .comm import SINGLE
from .device import DeviceData


class Plan:
    """How one subnetwork is optimised: a single Adam on its total loss."""

    def __init__(self, name: str, module: nn.Module, lr: float, monitor: str = "total") -> None:
        self.name, self.module, self.monitor = name, module, monitor
        self.optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
        self.comm = SINGLE

    def objective(self, x: torch.Tensor, codes, labels) -> tuple[Losses, torch.Tensor]:
        """The loss terms and what the optimizer minimises (here the module's total)."""
        losses = self.module.loss(x, codes, labels)
        return losses, losses["total"]

    def step(self, x: torch.Tensor, codes, labels, n_global: int | None = None) -> Losses:
        losses, total = self.objective(x, codes, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.comm.backward(total, len(x), n_global or len(x))
        self.comm.sync_grads(self.module.parameters())
        self.optimizer.step()
        return losses

    @torch.no_grad()
    def validation_losses(self, x: torch.Tensor, codes, labels) -> Losses:
        return self.module.loss(x, codes, labels)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer]


class AnchorPlan(Plan):
    """A single Adam on the module's total loss plus its loss on cross-batch anchor pairs.

    Each step draws ``per_cell`` pairs per minibatch cell (:mod:`medl.model.anchors` found
    them) from the global torch generator, which checkpoints save, and adds the module's
    ``anchor_loss`` on them: the plan only draws, the network owns the terms.
    """

    def __init__(
        self,
        name: str,
        module: nn.Module,
        lr: float,
        data: DeviceData,
        pairs: torch.Tensor,
        monitor: str = "total",
        per_cell: float = 1.0,
    ) -> None:
        super().__init__(name, module, lr, monitor)
        self.data, self.pairs, self.per_cell = data, pairs, per_cell

    def objective(self, x: torch.Tensor, codes, labels) -> tuple[Losses, torch.Tensor]:
        losses, total = super().objective(x, codes, labels)
        n = max(2, round(self.per_cell * len(x)))
        draw = torch.randint(len(self.pairs), (n,), device=self.pairs.device)
        x_ab, codes_ab, _ = self.data.take(self.pairs[draw].T.reshape(-1))
        anchor, total = self.module.anchor_loss(x_ab, codes_ab, total)
        losses.update(anchor)
        return losses, total


class AdversarialPlan(Plan):
    """The fixed-effects step: adversary first (AE frozen), then the AE (adversary frozen).

    The encoder runs once per step; the adversary trains on detached activations, then the
    autoencoder is updated against the freshly updated adversary with the adversary's
    parameters excluded from the gradient.
    """

    module: FixedEffectsNet

    def __init__(
        self, name: str, module: FixedEffectsNet, lr: float, monitor: str = "total"
    ) -> None:
        self.name, self.module, self.monitor = name, module, monitor
        self.optimizer = torch.optim.Adam(module.autoencoder_parameters(), lr=lr, fused=True)
        self.adversary_optimizer = torch.optim.Adam(
            module.adversary.parameters(), lr=lr, fused=True
        )
        self.comm = SINGLE

    def step(self, x: torch.Tensor, codes, labels, n_global: int | None = None) -> Losses:
        n_local, n_global = len(x), n_global or len(x)
        activations = self.module.encoder(x)
        adv = self.module.adversary_loss(activations, codes)
        self.adversary_optimizer.zero_grad(set_to_none=True)
        self.comm.backward(adv["adv_ce"], n_local, n_global)
        self.comm.sync_grads(self.module.adversary.parameters())
        self.adversary_optimizer.step()

        self.module.adversary.requires_grad_(False)
        try:
            losses = self.module.loss_with_batch(x, activations, codes, labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.comm.backward(losses["total"], n_local, n_global)
            self.comm.sync_grads(self.module.autoencoder_parameters())
            self.optimizer.step()
        finally:
            self.module.adversary.requires_grad_(True)
        losses["adversary_ce"] = adv["adv_ce"]
        return losses

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer, self.adversary_optimizer]

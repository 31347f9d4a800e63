"""The two MEDL designs: the paper's, exactly as specified, and medl's default.

Every setting a variant fixes can still be overridden by name; ``docs/method.md`` lists each
departure from the paper, why it was made and what it gained on measurement.
"""

from __future__ import annotations

from typing import Any

#: Settings of ``MEDL(...)``, of ``fit(...)`` and of ``counterfactual(mode=...)`` per variant.
VARIANTS: dict[str, dict[str, Any]] = {
    # The paper and its reference implementation (spec): 2-d latents, Adam 1e-4, minibatch
    # 512, 500 epochs with patience 30, -CE adversary, FE early stopping on its total loss,
    # deterministic RE latent pushed towards batch by its classifier (re_z from the preset),
    # counterfactuals with the target batch in encoder and decoder.
    "paper": {
        "latent_dim": 2,
        "hidden": (512, 132),
        "re_hidden": None,  # the same as hidden
        "anchor_pairs": 1.0,  # unused: the paper has no anchors
        "lr": 1e-4,
        "adversarial_loss": "negative_ce",
        "fe_monitor": "total",
        "loss_weights": {},
        "counterfactual_mode": "full",
        "batch_layers": None,  # unused: the paper's FE has no per-batch layers
        "batch_size": 512,
        "max_epochs": 500,
        "min_steps": 0,
        "step_budget": None,  # unused: batch size and epochs are fixed
        "batches_per_epoch": 16,
    },
    # medl's default: the FE subnetwork is a mixed-effects VAE (nn.mixed: batch-free
    # encoder, KL bottleneck, decoder with the paper's per-batch variational layers) that
    # gives the batch-invariant latent, the batch-free profile and the counterfactuals; the
    # RE subnetwork is the paper's and gives the batch-specific latent. A 10-d latent, and
    # a training schedule sized for time to result (docs/method.md, "Cost"): Adam 3e-3,
    # about 8 minibatches per epoch and a budget of 700 optimizer steps.
    "variational": {
        "latent_dim": 10,
        # Half the paper's widths for FE, a quarter for RE: the arithmetic of the genes x
        # first-layer products is most of a step. On Kang the narrower FE kept every
        # counterfactual and mixing score (docs/method.md); the RE latent only has to carry
        # the batch, which 64 units do.
        "hidden": (256, 64),
        "re_hidden": (64, 16),
        # anchor pairs drawn per step, per minibatch cell: each pair is encoded twice and
        # cross-decoded, so one pair per cell doubled the FE step; a quarter kept the
        # anchors' effect (docs/method.md)
        "anchor_pairs": 0.25,
        "lr": 3e-3,
        "adversarial_loss": "confusion",  # unused: the mixed-effects VAE has no adversary
        "fe_monitor": "autoencoder",
        # With cell-type labels (FEC), the latent classifier's weight. At the paper's 1 it is
        # negligible beside a likelihood summed over genes: cell types confounded with batch
        # were lost (kNN purity 0.75). At 50 (also scANVI's classification ratio) purity is
        # 0.98 there and 0.89 on Kang; at 500 Kang's batch mixing fell (docs/method.md).
        # Cross-batch anchors (medl.anchors, mutual nearest neighbours): their codes pulled
        # together (fe_anchor) and each decoded in its partner's batch to look like the
        # partner (fe_cross). Without them, cell types confounded with batch were merged
        # (purity 0.73) and their counterfactuals were 3x the kNN matcher's error. fe_cross
        # 0.6 needs the pairs found after removing the batches' offsets (anchors.mnn_pairs
        # rounds): with the first search's pairs, which join the cells that respond least,
        # any fe_cross above 0.3 shrank Kang's interferon shift (docs/method.md).
        "loss_weights": {"fec_y": 50.0, "fe_anchor": 30.0, "fe_cross": 0.6},
        # the code carried along the anchor pairs to the target batch (medl.transport):
        # where a batch is mostly one cell type its code stays offset from the same type
        # elsewhere; carried, the counterfactual error on the confounded simulations fell
        # 23-55% with Kang unchanged (docs/method.md)
        "counterfactual_mode": "anchored",
        # per-batch blocks on every decoder layer: the output layer alone missed most of the
        # cell-type-specific batch effect (docs/method.md, which also gives the failure of
        # both when cell types are confounded with batch)
        "batch_layers": "all",
        "batch_size": None,  # auto: estimator.auto_batch_size
        "max_epochs": None,  # auto: estimator.auto_max_epochs
        "min_steps": 0,
        "step_budget": 700,
        "batches_per_epoch": 8,
    },
}
DEFAULT_VARIANT = "variational"


def variant_settings(variant: str) -> dict[str, Any]:
    """The settings of ``variant``; a clear error for an unknown name."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    return VARIANTS[variant]


def pick(value: Any, variant: str, name: str) -> Any:
    """``value`` when the user gave one, else the variant's setting ``name``."""
    return variant_settings(variant)[name] if value is None else value


def schedule(variant: str) -> dict[str, Any]:
    """The variant's rule for the automatic minibatch and epoch budget (``Estimator._fit``)."""
    settings = variant_settings(variant)
    return {k: settings[k] for k in ("step_budget", "batches_per_epoch")}

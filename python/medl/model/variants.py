"""The two MEDL designs: the paper's, exactly as specified, and medl's default.

Each variant is one design object (:class:`PaperDesign`, :class:`VariationalDesign`): its
settings, the networks it builds, how each is optimised, its fit defaults and how it makes
counterfactuals. ``MEDL`` holds no variant branches of its own; it asks its design. Every
setting a variant fixes can still be overridden by name; ``docs/method.md`` lists each
departure from the paper, why it was made and what it gained on measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..nn import FixedEffectsNet, MixedEffectsVAE, RandomEffectsNet
from ..train.device import DeviceData
from ..train.plans import AdversarialPlan, AnchorPlan, Plan
from .anchors import mnn_pairs
from .transport import AnchorTransport

if TYPE_CHECKING:
    from .medl import MEDL

#: a counterfactual on scaled cells: f(x, own batch codes, target batch codes)
Decoder = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: paired draws on scaled cells: f(x, own batch codes, group one-hot (groups x cells))
PairedDraws = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

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
        # Cross-batch anchors (medl.model.anchors, mutual nearest neighbours): their codes pulled
        # together (fe_anchor) and each decoded in its partner's batch to look like the
        # partner (fe_cross). Without them, cell types confounded with batch were merged
        # (purity 0.73) and their counterfactuals were 3x the kNN matcher's error. fe_cross
        # 0.6 needs the pairs found after removing the batches' offsets (anchors.mnn_pairs
        # rounds): with the first search's pairs, which join the cells that respond least,
        # any fe_cross above 0.3 shrank Kang's interferon shift (docs/method.md).
        "loss_weights": {"fec_y": 50.0, "fe_anchor": 30.0, "fe_cross": 0.6},
        # the code carried along the anchor pairs to the target batch (medl.model.transport):
        # where a batch is mostly one cell type its code stays offset from the same type
        # elsewhere; carried, the counterfactual error on the confounded simulations fell
        # 23-55% with Kang unchanged (docs/method.md)
        "counterfactual_mode": "anchored",
        # per-batch blocks on every decoder layer: the output layer alone missed most of the
        # cell-type-specific batch effect (docs/method.md, which also gives the failure of
        # both when cell types are confounded with batch)
        "batch_layers": "all",
        "batch_size": None,  # auto: train.schedule.auto_batch_size
        "max_epochs": None,  # auto: train.schedule.auto_max_epochs
        "min_steps": 0,
        "step_budget": 700,
        "batches_per_epoch": 8,
    },
}
DEFAULT_VARIANT = "variational"
#: what ``fit`` takes from the variant when the user leaves it at ``None``
FIT_SETTINGS = ("batch_size", "max_epochs", "min_steps", "step_budget", "batches_per_epoch")


def variant_settings(variant: str) -> dict[str, Any]:
    """The settings of ``variant``; a clear error for an unknown name."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
    return VARIANTS[variant]


def pick(value: Any, variant: str, name: str) -> Any:
    """``value`` when the user gave one, else the variant's setting ``name``."""
    return variant_settings(variant)[name] if value is None else value


class Design:
    """What a variant decides: networks, plans, anchors, fit defaults, counterfactuals."""

    name: str
    #: the counterfactual modes it offers, the first being the default
    modes: tuple[str, ...]
    #: whether it has a posterior over its counterfactuals (n_samples, batch_effects)
    posterior: bool = False

    @property
    def settings(self) -> dict[str, Any]:
        return VARIANTS[self.name]

    def fit_defaults(self) -> dict[str, Any]:
        """The training schedule ``fit`` uses for the options left at ``None``."""
        return {k: self.settings[k] for k in FIT_SETTINGS}

    def build_fe(self, model: MEDL, n_labels: int) -> torch.nn.Module:
        raise NotImplementedError

    def build(self, model: MEDL) -> dict[str, torch.nn.Module]:
        p, w = model.params, model.weights
        n_labels = len(model.label_categories) if model.label_categories else 0
        fe = self.build_fe(model, n_labels)  # first: the weights are drawn in this order
        re = RandomEffectsNet(
            model.n_genes, p.get("re_hidden") or p["hidden"], p["latent_dim"],
            len(model.batch_categories), w_recon=w.re_recon, w_z=w.re_z, w_kl=w.re_kl,
            prior_scale=p["re_prior_scale"], post_loc_init_scale=p["re_post_loc_init_scale"],
            post_scale_init=p["re_post_scale_init"],
        )  # fmt: skip
        return {"fe": fe, "re": re}

    def anchor_pairs(self, model: MEDL, mat: Any, codes: np.ndarray, train_idx: np.ndarray):
        """Cross-batch cell pairs the FE subnetwork trains on (none by default)."""
        return None

    def fe_plan(self, model: MEDL, lr: float, data: DeviceData, pairs) -> Plan:
        raise NotImplementedError

    def plans(self, model: MEDL, lr: float, data: DeviceData, pairs) -> list[Plan]:
        return [self.fe_plan(model, lr, data, pairs), Plan("re", model.modules["re"], lr)]

    def after_training(self, model: MEDL, data: DeviceData, pairs) -> AnchorTransport | None:
        """The anchor transport of the trained model (none by default)."""
        return None

    def modes_of(self, model: MEDL) -> tuple[str, ...]:
        """The counterfactual modes ``model`` can give, the first being its default."""
        return self.modes

    def counterfactual(self, model: MEDL, mode: str) -> Decoder:
        raise NotImplementedError

    def sampler(
        self, model: MEDL, mode: str, n: int, generator: torch.Generator, with_code: bool = False
    ) -> Decoder:
        raise ValueError(
            f"n_samples needs the variational variant (variant={self.name!r} has no "
            "posterior over its counterfactual code)."
        )

    def paired_sampler(
        self, model: MEDL, mode: str, n: int, generator: torch.Generator, pair: tuple[int, int]
    ) -> PairedDraws:
        raise ValueError(
            f"batch_effects needs the variational variant (variant={self.name!r} has no "
            "posterior over its counterfactuals)."
        )


class PaperDesign(Design):
    """The published model: tied FE autoencoder with an adversary; RE counterfactuals."""

    name = "paper"
    modes = ("full", "decoder")

    def build_fe(self, model: MEDL, n_labels: int) -> torch.nn.Module:
        p, w = model.params, model.weights
        fec = n_labels > 0
        return FixedEffectsNet(
            model.n_genes, p["hidden"], p["latent_dim"], len(model.batch_categories),
            n_labels=n_labels, w_recon=w.fec_recon if fec else w.fe_recon,
            w_adv=w.fec_adv if fec else w.fe_adv, w_y=w.fec_y,
            adversary_input=p["adversary_input"], adversarial_loss=p["adversarial_loss"],
        )  # fmt: skip

    def fe_plan(self, model: MEDL, lr: float, data: DeviceData, pairs) -> Plan:
        return AdversarialPlan("fe", model.modules["fe"], lr, monitor=model.params["fe_monitor"])

    def counterfactual(self, model: MEDL, mode: str) -> Decoder:
        """Through the RE subnetwork: ``"full"``, the target batch to encoder and decoder
        (the reference implementation's); ``"decoder"``, encode with the cell's own."""
        re = model.modules["re"]

        def run(x: torch.Tensor, own: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
            latent = re.encode(x, own if mode == "decoder" else dest)
            return model.scaler.inverse(re.decode(latent, dest))

        return run


class VariationalDesign(Design):
    """medl's default: a mixed-effects VAE as FE, trained on cross-batch anchor pairs, whose
    codes decoded with a batch's random effects are the counterfactuals."""

    name = "variational"
    posterior = True
    modes = ("anchored", "mixed")

    def build_fe(self, model: MEDL, n_labels: int) -> torch.nn.Module:
        p, w = model.params, model.weights
        return MixedEffectsVAE(
            model.n_genes, p["hidden"], p["latent_dim"], len(model.batch_categories),
            n_labels=n_labels, w_latent_kl=w.fe_latent_kl, w_kl=w.re_kl, w_y=w.fec_y,
            prior_scale=p["re_prior_scale"], post_loc_init_scale=p["re_post_loc_init_scale"],
            post_scale_init=p["re_post_scale_init"],
            batch_layers=None if p["batch_layers"] == "all" else p["batch_layers"],
            w_anchor=w.fe_anchor, w_cross=w.fe_cross,
        )  # fmt: skip

    def anchor_pairs(self, model: MEDL, mat: Any, codes: np.ndarray, train_idx: np.ndarray):
        if not (model.weights.fe_anchor or model.weights.fe_cross):
            return None
        pairs = mnn_pairs(mat, codes, train_idx, seed=model.params["seed"])
        return pairs if len(pairs) else None

    def fe_plan(self, model: MEDL, lr: float, data: DeviceData, pairs) -> Plan:
        fe = model.modules["fe"]
        if pairs is None:
            return Plan("fe", fe, lr)
        return AnchorPlan("fe", fe, lr, data, pairs, per_cell=model.params["anchor_pairs"])

    def after_training(self, model: MEDL, data: DeviceData, pairs) -> AnchorTransport | None:
        if pairs is None:
            return None
        return AnchorTransport.from_pairs(
            model.modules["fe"].encode, lambda rows: data.take(rows)[0], pairs, data.codes,
            model.params["seed"],
        )  # fmt: skip

    def modes_of(self, model: MEDL) -> tuple[str, ...]:
        return self.modes if model.transport is not None else ("mixed",)

    def counterfactual(self, model: MEDL, mode: str, with_code: bool = False) -> Decoder:
        """The cell's FE code (``"anchored"``: carried along the anchor pairs to the target,
        :mod:`medl.model.transport`) decoded with the target batch's random effects; with
        ``with_code``, ``(profiles, codes)``, the code that was decoded too (for the
        neighbours' correction, so the cells are not encoded twice)."""

        fe = model.modules["fe"]

        def decode(x: torch.Tensor, own: torch.Tensor, dest: torch.Tensor):
            code = self._code(model, x, own, dest, mode)
            out = model.scaler.inverse(fe.decode(code, dest))
            return (out, code) if with_code else out

        return decode

    def sampler(
        self, model: MEDL, mode: str, n: int, generator: torch.Generator, with_code: bool = False
    ) -> Decoder:
        """The point counterfactual and the SD of ``n`` decoded draws of code and random
        effects, side by side (with ``with_code``, and the point's code, as a pair).

        The interval is centred on the point counterfactual, not on the draws' mean: the
        code's posterior is wide (KL weight 8) and the decoder curved, so the average of
        decoded draws is pulled towards each gene's mean, and on simulated truth it erred
        more (RMS 0.215-0.372 against 0.195-0.322; docs/counterfactuals.md)."""
        fe = model.modules["fe"]

        def draws(x: torch.Tensor, own: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
            code, move = self._code_and_move(model, x, own, dest, mode)
            point = model.scaler.inverse(fe.decode(code, dest))
            # the posterior's mean is moved as the point counterfactual's code is; the
            # draws' moments are kept, not the draws (n copies of the output did not fit
            # a 16 GB GPU at 8,192 cells x 3,000 genes and 100 draws)
            total = torch.zeros_like(point, dtype=torch.float32)
            square = torch.zeros_like(total)
            for draw in fe.sample(x, dest, n, generator, move):
                # shifted by the point, so the sums of squares do not cancel in float32
                offset = model.scaler.inverse(draw).float() - point.float()
                total += offset
                square += offset * offset
            variance = (square / n - (total / n).square()).clamp_min(0.0)
            both = torch.cat([point.float(), variance.sqrt()], dim=1)
            return (both, code) if with_code else both

        return draws

    def paired_sampler(
        self, model: MEDL, mode: str, n: int, generator: torch.Generator, pair: tuple[int, int]
    ) -> PairedDraws:
        """Per group, ``n`` posterior draws of the mean difference between the cells decoded
        in batch ``pair[0]`` and in ``pair[1]``, then the two mean profiles.

        Each draw takes one code per cell and one set of random effects per batch, shared by
        every cell (the effects are one draw of the batch, not one per cell), and decodes the
        same code in both batches, so the difference is paired. Returns per chunk
        ``(n + 2) x groups x genes`` sums over the group's cells, for the caller to add up.
        """
        fe = model.modules["fe"]
        table = fe.effects.draw(torch.tensor(pair, device=model.device), n, generator)

        def draws(x: torch.Tensor, own: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
            mean, logvar = fe.posterior(x)
            std = torch.exp(0.5 * logvar)
            moves = [0.0, 0.0]
            if mode == "anchored":
                z = self._anchor_code(model, x)
                moves = [model.transport.move(z, own, torch.full_like(own, b)) for b in pair]
            out = torch.zeros((n + 2, onehot.shape[0], model.n_genes), device=x.device)
            for s in range(n):
                noise = torch.randn(mean.shape, generator=generator, device=x.device)
                code = mean + std * noise.to(mean.dtype)
                a, b = (
                    model.scaler.inverse(fe.decode_with(code + move, table[s, i : i + 1]))
                    for i, move in enumerate(moves)
                )
                # summed in float32, outside autocast: bf16 sums over cells would round
                with torch.autocast(x.device.type, enabled=False):
                    a, b = a.float(), b.float()
                    out[s] = onehot @ (a - b)
                    out[n] += onehot @ a / n
                    out[n + 1] += onehot @ b / n
            return out

        return draws

    def _code(self, model: MEDL, x, own, dest, mode: str) -> torch.Tensor:
        """The FE code of the scaled cells ``x``, carried to ``dest`` in mode "anchored"."""
        return self._code_and_move(model, x, own, dest, mode)[0]

    def _code_and_move(self, model: MEDL, x, own, dest, mode: str):
        """That code, and the move along the anchors that carried it (``None`` unmoved)."""
        if mode != "anchored":
            return model.modules["fe"].encode(x), None
        z = self._anchor_code(model, x)
        move = model.transport.move(z, own, dest)
        return z + move, move

    @staticmethod
    def _anchor_code(model: MEDL, x: torch.Tensor) -> torch.Tensor:
        """The FE code in float32 also under bfloat16 autocast: rounded, it changes which
        anchors are nearest and so the move (bf16 counterfactuals then differed from
        float32's by 3.6% of their range, against 1.1% without the move)."""
        with torch.autocast(x.device.type, enabled=False):
            return model.modules["fe"].encode(x.float())


DESIGNS: dict[str, Design] = {d.name: d for d in (PaperDesign(), VariationalDesign())}


def design(variant: str) -> Design:
    """The design object of ``variant``; a clear error for an unknown name."""
    variant_settings(variant)
    return DESIGNS[variant]

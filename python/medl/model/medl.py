"""``MEDL``: the mixed-effects autoencoder, fixed-effects and random-effects subnetworks.

What differs between the paper's model and medl's default lives in the variant's design
object (:mod:`medl.model.variants`); this class holds what both share.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..nn import FixedEffectsNet
from ..train.device import DeviceData, row_chunks
from ..train.options import FitOptions, takes_fit_options
from ..train.plans import Plan
from ..validate import (
    check_batch,
    check_effect_draws,
    check_fraction,
    check_groups,
    check_int,
    check_positive_int,
    check_target,
    encode,
)
from . import effects
from .base import Estimator
from .neighbours import leave_one_out_fit, neighbour_means
from .transport import AnchorTransport
from .variants import DEFAULT_VARIANT, design, pick, variant_settings

CounterfactualMode = Literal["anchored", "mixed", "decoder", "full"]

# The share of the decoded draws' variance that the neighbours' correction, at full weight,
# leaves in a counterfactual's error (measured: docs/counterfactuals.md).
DECODE_SHARE = 0.25


class MEDL(Estimator):
    """Mixed Effects Deep Learning autoencoder.

    Fits two subnetworks on the same minibatches: the fixed-effects (FE) subnetwork, whose
    latent space is free of batch information, and the random-effects (RE) autoencoder,
    whose per-batch variational scale/bias layers hold the batch effects and whose latent is
    batch-specific. With cell-type ``labels`` the FE subnetwork also learns a latent
    cell-type classifier (FEC).

    By default (``variant="variational"``) FE is a mixed-effects VAE: a batch-free encoder
    with a KL bottleneck on its code, and a decoder whose layers carry per-batch
    variational scale/shift layers, trained on cross-batch anchor pairs. It gives the
    batch-invariant latent, the batch-free profile and the counterfactuals (the code decoded
    with another batch's effects). ``variant="paper"`` is the published model: FE a tied
    autoencoder with an adversarial batch classifier, counterfactuals through RE.

    Parameters
    ----------
    variant
        ``"variational"`` (default): medl's design, with training settings sized for time to
        result. ``"paper"``: the published model exactly as specified. Every other argument
        left at ``None`` takes the variant's value (``medl.model.variants.VARIANTS``);
        docs/method.md gives each difference and its measured gain.
    latent_dim
        Size of both latent spaces (variational 10, paper 2).
    hidden
        Hidden layer widths of the encoders (decoders mirror them): variational (256, 64),
        paper (512, 132).
    re_hidden
        Hidden layer widths of the random-effects subnetwork: variational (64, 16) (its
        latent only has to carry the batch), paper the same as ``hidden``. Given ``hidden``
        but not ``re_hidden``, the variational RE network keeps (64, 16).
    anchor_pairs
        Variational variant: cross-batch anchor pairs drawn per training step, per minibatch
        cell (default 0.25). Each pair is encoded twice and cross-decoded, so 1.0 doubles
        the FE step's cost for no measured gain (docs/method.md, "Cost").
    preset
        Loss weights: ``None``/``"default"``, ``"healthy_heart"``, ``"asdc"`` or ``"amlh"``
        (the paper's Tables S1-S3).
    loss_weights
        Overrides of single weights, e.g. ``{"fe_adv": 2.0}``; see :class:`medl.LossWeights`.
    lr
        Adam learning rate of every optimizer (variational 3e-3, paper 1e-4).
    scaling
        ``"global"`` min-max (the paper's) or ``"gene"`` (per-gene) scaling to [0, 1].
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    seed
        Seeds weights, the validation split, shuffling and weight sampling.
    precision
        ``"fp32"`` (default); ``"tf32"`` (CUDA only: TensorFloat-32 matrix products in
        training and outputs); ``"bf16"``: outputs (latents, reconstructions,
        counterfactuals) with bfloat16 autocast, within 3% of float32's range, while
        training stays float32 (in bf16 it converged to a 35-60% higher validation loss).
        docs/benchmarks.md has the measurements.
    re_prior_scale, re_post_loc_init_scale, re_post_scale_init
        The random-effects prior N(0, prior_scale) and posterior initialisation.
    batch_layers
        Variational variant: how many of the decoder's last layers carry per-batch random
        effects: ``"all"`` (default) or 1 (the output layer: a per-gene scale and shift per
        batch) to the number of decoder layers. ``"all"`` captures the cell-type-specific
        part of a batch effect; 1 does not. Neither keeps cell types reliably when they are
        confounded with batch (docs/method.md has the measurements).
    adversary_input
        ``"all"`` (the paper's): the FE adversary reads every encoder activation;
        ``"latent"``: only the latent code.
    adversarial_loss
        ``"confusion"`` (variational: ``+ w_adv * CE(uniform, adversary)``, pushes the adversary's
        prediction towards uniform) or ``"negative_ce"`` (the paper's ``- w_adv * CE``, which
        the encoder can satisfy by making the adversary confidently wrong, so batch stays
        readable; see docs/method.md for the measurements).
    fe_monitor
        FE early stopping on the validation ``"autoencoder"`` loss (variational: reconstruction
        [+ cell-type CE], everything but the adversarial term) or on the ``"total"`` (the
        paper's). The adversarial term is smallest before the adversary has learnt anything,
        so the total tends to restore the first epochs' weights.

    Examples
    --------
    >>> adata = medl.datasets.simulate()
    >>> m = medl.MEDL().fit(adata.X, adata.obs["batch"])
    >>> fe = m.fixed_effects(adata.X)
    >>> cf = m.counterfactual(adata.X, adata.obs["batch"], target="batch1")
    """

    needs_batch = True

    def __init__(
        self,
        latent_dim: int | None = None,
        hidden: Sequence[int] | None = None,
        preset: str | None = None,
        loss_weights: dict[str, float] | None = None,
        lr: float | None = None,
        scaling: str = "global",
        device: str | torch.device = "auto",
        seed: int = 0,
        precision: str = "fp32",
        re_prior_scale: float = 0.25,
        re_post_loc_init_scale: float = 0.1,
        re_post_scale_init: float = 0.01,
        adversary_input: str = "all",
        fe_monitor: str | None = None,
        adversarial_loss: str | None = None,
        variant: str = DEFAULT_VARIANT,
        batch_layers: int | str | None = None,
        re_hidden: Sequence[int] | None = None,
        anchor_pairs: float | None = None,
    ) -> None:
        settings = variant_settings(variant)
        latent_dim = pick(latent_dim, variant, "latent_dim")
        hidden = pick(hidden, variant, "hidden")
        lr = pick(lr, variant, "lr")
        fe_monitor = pick(fe_monitor, variant, "fe_monitor")
        adversarial_loss = pick(adversarial_loss, variant, "adversarial_loss")
        weights = {**settings["loss_weights"], **(loss_weights or {})}
        super().__init__(latent_dim, hidden, preset, weights, lr, scaling, device, seed, precision)
        # saved as given, so that a loaded model rebuilds with the same variant defaults
        self.params["loss_weights"] = dict(loss_weights or {})
        if adversary_input not in ("all", "latent"):
            raise ValueError(f"adversary_input must be 'all' or 'latent', got {adversary_input!r}.")
        if fe_monitor not in ("autoencoder", "total"):
            raise ValueError(f"fe_monitor must be 'autoencoder' or 'total', got {fe_monitor!r}.")
        if adversarial_loss not in ("negative_ce", "confusion"):
            raise ValueError(
                f"adversarial_loss must be 'negative_ce' or 'confusion', got {adversarial_loss!r}."
            )
        batch_layers = pick(batch_layers, variant, "batch_layers")
        re_hidden = pick(re_hidden, variant, "re_hidden") or self.params["hidden"]
        re_hidden = [check_positive_int(h, "each re_hidden size") for h in re_hidden]
        if not re_hidden:
            raise ValueError("re_hidden must name at least one hidden layer size, e.g. (128, 32).")
        anchor_pairs = check_fraction(
            pick(anchor_pairs, variant, "anchor_pairs"), "anchor_pairs", 0.0, 4.0
        )
        if batch_layers is not None and batch_layers != "all":
            batch_layers = check_positive_int(batch_layers, "batch_layers")
        self.params.update(
            variant=variant,
            batch_layers=batch_layers,
            re_hidden=re_hidden,
            anchor_pairs=anchor_pairs,
            adversarial_loss=adversarial_loss,
            adversary_input=adversary_input,
            fe_monitor=fe_monitor,
            re_prior_scale=float(re_prior_scale),
            re_post_loc_init_scale=float(re_post_loc_init_scale),
            re_post_scale_init=float(re_post_scale_init),
        )
        # the anchor pairs' codes after training (anchored counterfactuals); None without
        self.transport: AnchorTransport | None = None

    @takes_fit_options
    def fit(self, X: Any, batch: Any, labels: Any = None, *, options: FitOptions) -> MEDL:
        """Fit both subnetworks.

        Parameters
        ----------
        X
            Cells x genes log-normalised expression (dense or sparse, any float dtype).
        batch
            One batch label per cell (donor, protocol, ...); at least two batches.
        labels
            Optional cell-type label per cell: adds the latent classifier to FE (FEC).
        {fit_options}

        Returns
        -------
        MEDL
            The fitted model (``self``).
        """
        return self._fit(X, batch, labels, options)

    @property
    def design(self):
        """The variant's design object (:mod:`medl.model.variants`)."""
        return design(self.params["variant"])

    def _fit_defaults(self) -> dict[str, Any]:
        return self.design.fit_defaults()

    def _build(self) -> dict[str, torch.nn.Module]:
        return self.design.build(self)

    def _anchor_pairs(
        self, mat: Any, batch_codes: np.ndarray | None, train_idx: np.ndarray
    ) -> np.ndarray | None:
        return self.design.anchor_pairs(self, mat, batch_codes, train_idx)

    def _after_training(self, data: DeviceData, pairs: torch.Tensor | None) -> None:
        self.transport = self.design.after_training(self, data, pairs)

    def _extra_state(self) -> dict[str, Any]:
        return {} if self.transport is None else {"transport": self.transport.state()}

    def _restore_extra(self, state: dict[str, Any]) -> None:
        saved = state.get("transport")
        self.transport = None if saved is None else AnchorTransport.from_state(saved, self.device)

    def _plans(self, lr: float, data: DeviceData, pairs: torch.Tensor | None) -> list[Plan]:
        return self.design.plans(self, lr, data, pairs)

    # ------------------------------------------------------------------------ outputs
    def fixed_effects(self, X: Any) -> np.ndarray:
        """FE latent (cells x latent_dim): batch-invariant; no batch labels needed."""
        return self._map(self._input(X), self.modules["fe"].encode)

    def reconstruct_fixed(self, X: Any) -> np.ndarray:
        """FE reconstruction (cells x genes): the batch-free profile, on the scale of X."""
        fe = self.modules["fe"]
        return self._map(self._input(X), lambda x: self.scaler.inverse(fe.reconstruct(x)))

    def random_effects(self, X: Any, batch: Any) -> np.ndarray:
        """RE latent (cells x latent_dim) given each cell's batch."""
        mat = self._input(X)
        return self._map(mat, self.modules["re"].encode, self._codes(batch, mat.shape[0]))

    def reconstruct_random(self, X: Any, batch: Any, correct: bool | None = None) -> np.ndarray:
        """Reconstruction with each cell's own batch: its counterfactual to itself, corrected
        as :meth:`counterfactual` is (``correct=False``: the model's decode alone). A
        shift is ``counterfactual(X, batch, target) - reconstruct_random(X, batch)``, both
        corrected or neither (one of each on Kang: population-specific R² 0.63-0.68,
        against 0.79-0.82 and 0.76 uncorrected)."""
        return self.counterfactual(X, batch, target=batch, correct=correct)

    def counterfactual(
        self,
        X: Any,
        batch: Any,
        target: Any,
        mode: CounterfactualMode | None = None,
        n_samples: int | None = None,
        sample_seed: int = 0,
        correct: bool | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Cells re-expressed as if they came from batch ``target``, on the scale of X.

        Parameters
        ----------
        X
            Cells x genes expression, the genes the model was fitted on.
        batch
            Each cell's own batch (must be a batch seen in training).
        target
            One batch for every cell, or one target per cell.
        mode
            Variational variant: ``"anchored"`` (default): the cell's FE code, moved along
            the cross-batch anchor pairs from its batch to the target (``medl.model.transport``),
            decoded with the target batch's random effects; ``"mixed"``: the code decoded
            as it is. A model fitted without anchors (``fe_anchor`` and ``fe_cross`` 0, or
            no mutual neighbours) has ``"mixed"`` only. Paper variant, through the RE
            subnetwork: ``"full"`` (default; the reference implementation's): the target
            batch goes to encoder and decoder; ``"decoder"``: encode with the cell's own
            batch, decode with the target's (docs/counterfactuals.md).
        n_samples
            Variational variant only: also draw the cell's code and the target batch's
            random effects ``n_samples`` times from their posteriors, and return
            ``(mean, sd)`` (cells x genes each): ``mean`` is the point counterfactual (what
            the call without ``n_samples`` returns). Without ``correct``, ``sd`` is the
            decoded draws' spread. With it, per gene, for the correction's weight ``w``:
            ``sd² = (1 - w)² draws² + w² (0.25 draws² + its sampling variance) + bias²``,
            the decode's error where the correction is not trusted, a quarter of it where
            it is (measured), and the correction's own error, whose bias the target
            batch's cells show. :func:`medl.counterfactual_interval` turns ``(mean, sd)``
            into intervals (a Student-t with 5 degrees of freedom, for the error of each
            gene's SD) for the cell's *expected* log-normalised profile in ``target``
            (what the target batch's cells of its state average to), not for one noisy
            measurement. On simulated truth the 90% interval held 0.87-0.92 at 2,000
            cells x 500 genes, 0.86-0.92 at 1,500 x 300 and 0.78-0.90 at 600 x 100
            (short where types are confounded with batch); the 50% interval 0.47-0.54,
            0.46-0.54 and 0.37-0.49 (docs/counterfactuals.md gives every level and where
            it fails).
        sample_seed
            Seed of those draws.
        correct
            Variational variant (default ``True`` there): add to each cell's decoded profile
            the kernel-weighted mean residual (expression minus reconstruction in their own
            batch) of its 30 nearest cells of the target batch in X, nearest in the code
            that is decoded, times a weight per gene in [0, 1]: how well such means predict
            the target batch's own cells from their other neighbours (least squares; 1
            where the decoder misses what the neighbours show, near 0 where their mean is
            mostly noise). It corrects what the decoder misses locally in the target batch
            (on simulated truth the error fell by 20-36% at 600 cells x 100 genes and by
            2-12% at 2,000 x 500; docs/counterfactuals.md). Cells whose target batch has fewer
            than 5 cells in X are not corrected (with a warning). ``False``: the model's
            decode alone (the paper variant has only that).

        Returns
        -------
        Cells x genes, or ``(mean, sd)`` with ``n_samples``.
        """
        self._check_fitted()
        mode = self._counterfactual_mode(mode)
        correct = self._check_correct(correct)
        mat = self._input(X)
        own = self._codes(batch, mat.shape[0])
        dest = check_target(target, mat.shape[0], self.batch_categories)
        if n_samples is None:
            if not correct:
                return self._map(mat, self.design.counterfactual(self, mode), own, dest)
            decode = self.design.counterfactual(self, mode, with_code=True)
            out, moved = self._map(mat, decode, own, dest)
            corrections = self._neighbour_corrections(mat, own, dest, mode, moved, spread=False)
            for cells, shift, _, _ in corrections:
                self._add_in_place(out, cells, shift)
            return out
        n_samples = check_positive_int(n_samples, "n_samples")
        generator = torch.Generator(device=self.device).manual_seed(check_int(sample_seed, "seed"))
        sampler = self.design.sampler(self, mode, n_samples, generator, with_code=correct)
        result = self._map(mat, sampler, own, dest)
        both, moved = result if correct else (result, None)
        mean, sd = both[:, : self.n_genes], both[:, self.n_genes :]
        if correct:
            corrections = self._neighbour_corrections(mat, own, dest, mode, moved)
            for cells, shift, variance, weight in corrections:
                self._add_in_place(mean, cells, shift)
                # the decode's error, of which the weighted correction removes a share
                share = np.square(1 - weight) + DECODE_SHARE * np.square(weight)
                sd[cells] = np.sqrt(variance + share * np.square(sd[cells]))
        return mean, sd

    def _check_correct(self, correct: bool | None) -> bool:
        """``correct``, defaulting to the variant's (only the variational one has it)."""
        can = self.params["variant"] != "paper"
        if correct is None:
            return can
        if not isinstance(correct, (bool, np.bool_)):
            raise TypeError(f"correct must be True or False, got {correct!r}.")
        if correct and not can:
            raise ValueError(
                "correct=True needs variant='variational': the paper variant's "
                "counterfactuals are the published model's decode alone."
            )
        return bool(correct)

    def _add_in_place(self, profiles: np.ndarray, cells: np.ndarray, shift: np.ndarray) -> None:
        """``profiles[cells] += shift``, floored at the fitted minimum as every decoded
        output is; without a copy where ``cells`` are all the rows (one target)."""
        if len(cells) == profiles.shape[0]:  # cells are sorted, so these are all rows
            profiles += shift
            np.maximum(profiles, self.scaler.minimum, out=profiles)
        else:
            profiles[cells] = np.maximum(profiles[cells] + shift, self.scaler.minimum)

    @torch.inference_mode()
    def _neighbour_corrections(
        self,
        mat,
        own: np.ndarray,
        dest: np.ndarray,
        mode: str,
        moved: np.ndarray,
        k: int = 30,
        min_cells: int = 5,
        spread: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
        """Per target batch: its cells (rows); the kernel-weighted mean residual of each
        one's ``k`` nearest cells of the target batch in X, nearest in the code decoded
        there (``moved``, cells x latent; :mod:`medl.model.neighbours`), times the
        per-gene weight with which such means best predict the target batch's own cells
        from their other neighbours (:func:`~medl.model.neighbours.leave_one_out_fit`);
        that weighted mean's error variance, its sampling variance plus the squared bias
        those cells show (``None`` without ``spread``); and the weights. Targets with
        under ``min_cells`` cells in X are skipped, with a warning."""
        counts = np.bincount(own, minlength=len(self.batch_categories))
        targets = np.unique(dest)
        short = [self.batch_categories[b] for b in targets if counts[b] < min_cells]
        if short:
            warnings.warn(
                f"Not corrected towards {short}: fewer than {min_cells} cells of that batch in "
                "X, so the counterfactuals there are the model's decode alone. Pass cells of "
                "the target batch with X, or correct=False to silence this.",
                stacklevel=3,
            )
        targets = [b for b in targets if counts[b] >= min_cells]
        if not targets:
            return
        # the pools: the target batches' own cells, their codes and residuals
        rows = np.flatnonzero(np.isin(own, targets))
        pool_codes, pool_residuals = self._map(mat[rows], self._own_residual(mode), own[rows])
        for b in targets:
            members, cells = own[rows] == b, np.flatnonzero(dest == b)
            # a cell kept in its own batch is among its own neighbours, as in a kNN smoother
            # (excluded, Kang's population-specific R² fell from 0.79-0.82 to 0.77-0.80)
            queries, codes, residuals = (
                torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                for a in (moved[cells], pool_codes[members], pool_residuals[members])
            )
            mean, variance = neighbour_means(queries, codes, residuals, k, spread)
            weight, bias2 = leave_one_out_fit(codes, residuals, k, spread)
            mean *= weight
            if variance is not None:
                variance = variance * weight.square() + bias2
            yield (
                cells,
                mean.cpu().numpy(),
                None if variance is None else variance.cpu().numpy(),
                weight.cpu().numpy(),
            )

    def batch_distances(self, X: Any, batch: Any, groups: Any = None) -> pd.DataFrame:
        """How far apart the batches' effects are: a batches x batches distance.

        The distance between batches ``a`` and ``b`` is the root mean square, over cells and
        genes, of each cell decoded as if from ``a`` minus the same cell as if from ``b``
        (posterior-mean counterfactuals, on the scale of X). A batch far from all others
        carries a larger batch effect, like the paper's more heterogeneous AML patients.

        Parameters
        ----------
        X
            Cells x genes expression, the genes the model was fitted on.
        batch
            Each cell's own batch.
        groups
            Optional label per cell (e.g. cell type): one matrix per group, from its cells.

        Returns
        -------
        DataFrame, batches x batches; with ``groups`` indexed by ``(group, batch)``, so
        ``frame.loc[group]`` is that group's matrix. Memory: one cells x genes profile
        per batch.
        """
        self._check_fitted()
        mat = self._input(X)
        self._codes(batch, mat.shape[0])  # checks the batches before any work
        batches = list(self.batch_categories)
        return effects.batch_distances(
            lambda b: self.counterfactual(X, batch, b, correct=False), batches, mat.shape[0], groups
        )

    def batch_effects(
        self,
        X: Any,
        batch: Any,
        target: str,
        reference: str,
        groups: Any = None,
        n_samples: int = 100,
        delta: float = 0.25,
        genes: Sequence[str] | None = None,
        sample_seed: int = 0,
    ) -> pd.DataFrame:
        """Which genes batch ``target`` changes relative to ``reference``, and how sure.

        Every cell (of every batch) is decoded as if from ``target`` and as if from
        ``reference`` (the default counterfactual mode), ``n_samples`` times from the
        posteriors of its code and of the two batches' random effects, the same code for
        both. Per group and gene, the draws' mean difference over the group's cells is
        the model's log fold change on the scale of X (log-normalised, natural log).
        The observed cells then correct it: in each batch, the mean residual of the
        group's cells of that batch (expression minus reconstruction in their own
        batch), per state (k-means strata of the FE code, weighted by the group's
        make-up, so a batch with other states than the group's is reweighted), is added
        to that batch's decoded mean. The SD adds to the draws' spread the sampling
        variance of those residual means: the model learnt the difference from those
        cells, so it knows it no better than they tell. On simulated truth the
        correction brought the error down to near the observed cells' own difference
        where every group has cells in both batches, and far below it where the
        batches differ in make-up (docs/counterfactuals.md).

        Parameters
        ----------
        X, batch
            Cells x genes expression (the genes the model was fitted on) and each cell's
            own batch.
        target, reference
            The two batches compared (seen in training; cells of them need not be in X).
        groups
            Optional label per cell (e.g. cell type): one test per group, from its cells.
            A pandas Categorical with categories that have no cells is an error.
        n_samples
            Posterior draws, at least 2.
        delta
            The smallest ``|lfc|`` that counts as an effect, >= 0.
        genes
            Gene names for the ``gene`` column; default the names the model was fitted
            with, else the column positions as strings.
        sample_seed
            Seed of the draws.

        Returns
        -------
        DataFrame with one row per group x gene (groups in order, genes in X's order):
        ``group`` (``"all"`` without groups), ``gene``, ``lfc_mean`` and ``lfc_sd`` (the
        normal approximation to the uncertainty of target minus reference),
        ``prob_de`` (the probability under it that ``|lfc| > delta``), ``lfsr`` (local
        false sign rate: the probability that the sign of ``lfc_mean`` is wrong),
        ``fdr`` (the expected false discovery proportion of calling every gene of the
        group with at least this ``prob_de``: calling ``fdr <= alpha`` keeps it below
        ``alpha`` if ``prob_de`` is calibrated; measured it held more), ``mean_target``,
        ``mean_reference`` (the group's mean decoded profiles, each with its batch's
        correction), ``n_cells`` (the group's cells, all decoded) and ``n_target``,
        ``n_reference`` (its observed cells of the two batches; a side with fewer than two
        cells of a state counts as one cell with that state's variance, so the SD is wide
        where no cells of a batch say what the difference is). docs/counterfactuals.md
        reports how well these are calibrated.
        """
        self._check_fitted()
        mat = self._input(X)
        n = mat.shape[0]
        own = self._codes(batch, n)
        pair = (
            check_batch(target, self.batch_categories, "target"),
            check_batch(reference, self.batch_categories, "reference"),
        )
        if pair[0] == pair[1]:
            raise ValueError(f"target and reference are the same batch ({target!r}).")
        n_samples, delta = check_effect_draws(n_samples, delta)
        labels, names = (np.array(["all"] * n, dtype=object), ["all"])
        if groups is not None:
            labels, names = check_groups(groups, n)
        if genes is None:
            genes = self.feature_names or [str(i) for i in range(self.n_genes)]
        genes = [str(g) for g in genes]
        if len(genes) != self.n_genes:
            raise ValueError(f"genes has {len(genes)} names for the model's {self.n_genes} genes.")
        mode = self._counterfactual_mode(None)
        generator = torch.Generator(device=self.device).manual_seed(check_int(sample_seed, "seed"))
        draws = self.design.paired_sampler(self, mode, n_samples, generator, pair)
        group_codes = encode(labels, names, "groups")
        sums = self._sum(
            mat,
            lambda x, o, g: draws(x, o, torch.nn.functional.one_hot(g, len(names)).T.float()),
            own,
            group_codes,
        )
        counts = np.bincount(group_codes, minlength=len(names))
        side = np.where(own == pair[0], 0, np.where(own == pair[1], 1, -1))
        strata = effects.state_strata(self.fixed_effects(mat), seed=self.params["seed"])
        residuals = self._residual_chunks(mat, own, mode)
        correction, spread, observed = effects.stratified_means(
            residuals, side, group_codes, len(names), strata, int(strata.max()) + 1, self.n_genes
        )
        return effects.effect_table(sums, counts, names, genes, delta, spread, observed, correction)

    @torch.inference_mode()
    def _residual_chunks(self, mat, own: np.ndarray, mode: str, chunk: int = 8192):
        """Each cell's expression minus its point reconstruction in its own batch, as
        ``(rows, cells x genes)`` chunks."""
        chunks = self._chunks(mat, self._own_residual(mode), (own,), chunk)
        for rows, (_, out) in zip(row_chunks(mat.shape[0], chunk), chunks):
            yield rows, out.cpu().numpy().astype(np.float64)

    def _own_residual(self, mode: str):
        """``(scaled x, own batch codes) -> (code, residual)``: the code decoded (the
        neighbours' correction searches in it) and the cells' expression minus their point
        reconstruction in their own batch, on the scale of X (the model's decode alone)."""
        reconstruct = self.design.counterfactual(self, mode, with_code=True)

        def code_and_residual(x: torch.Tensor, own: torch.Tensor) -> tuple[torch.Tensor, ...]:
            profile, code = reconstruct(x, own, own)
            return code, self.scaler.inverse(x) - profile

        return code_and_residual

    def _counterfactual_mode(self, mode: str | None) -> str:
        """The mode asked for, or the model's default, checked against what it can do."""
        possible = self.design.modes_of(self)
        if mode is None:
            return possible[0]
        if mode not in self.design.modes:
            raise ValueError(
                f"mode must be one of {self.design.modes} for the {self.params['variant']!r} "
                f"variant, got {mode!r}."
            )
        if mode not in possible:
            raise ValueError(
                "mode='anchored' needs the anchor pairs, and this model has none (fitted "
                "with fe_anchor and fe_cross 0, without mutual neighbours between batches, "
                "or saved before anchored counterfactuals existed); use mode='mixed'."
            )
        return mode

    def predict_batch(self, X: Any, batch: Any) -> np.ndarray:
        """Batch probabilities from the RE latent classifier (cells x batches)."""
        mat = self._input(X)
        re = self.modules["re"]
        return self._map(
            mat,
            lambda x, c: torch.softmax(re.classifier(re.encode(x, c)), dim=1),
            self._codes(batch, mat.shape[0]),
        )

    def adversary_accuracy(self, X: Any, batch: Any) -> float:
        """How well the FE adversary predicts the batch from the FE encoder (chance ~ 1/B)."""
        mat = self._input(X)
        fe = self.modules["fe"]
        if not isinstance(fe, FixedEffectsNet):
            raise ValueError(
                "The variational variant's FE subnetwork has no adversary (its latent is kept "
                "batch-free by a KL bottleneck); adversary_accuracy needs variant='paper'."
            )
        codes = self._codes(batch, mat.shape[0])
        pred = self._map(mat, lambda x: fe.adversary_logits(fe.encoder(x)).argmax(1))
        return float(np.mean(pred == codes))

"""``MEDL``: the mixed-effects autoencoder, fixed-effects and random-effects subnetworks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .anchors import mnn_pairs
from .device import Storage
from .estimator import Estimator
from .nn import FixedEffectsNet, MixedEffectsVAE, RandomEffectsNet
from .train import AdversarialPlan, AnchorPlan, DeviceData, Plan
from .transport import AnchorTransport
from .validate import check_fraction, check_int, check_positive_int, check_target
from .variants import DEFAULT_VARIANT, pick, schedule, variant_settings

CounterfactualMode = Literal["anchored", "mixed", "decoder", "full"]


class MEDL(Estimator):
    """Mixed Effects Deep Learning autoencoder.

    Fits two subnetworks on the same minibatches: the fixed-effects (FE) subnetwork, whose
    latent space is free of batch information (the default: a mixed-effects VAE whose
    decoder carries per-batch variational layers; ``variant="paper"``: a tied autoencoder
    and an adversary), and the random-effects (RE) autoencoder, whose per-batch variational
    scale/bias layers hold the batch effects and whose latent is batch-specific. With
    cell-type ``labels`` the FE subnetwork also learns a latent cell-type classifier (FEC).

    Parameters
    ----------
    variant
        ``"variational"`` (default): medl's design, with a variational random-effects latent
        whose KL bottleneck makes counterfactuals carry the target batch's effect, and
        training settings sized to the data. ``"paper"``: the published model exactly as
        specified. Every other argument left at ``None`` takes the variant's value
        (``medl.variants.VARIANTS``); docs/method.md gives each difference and its measured
        gain.
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

    def fit(
        self,
        X: Any,
        batch: Any,
        labels: Any = None,
        validation: float | Sequence = 0.2,
        max_epochs: int | None = None,
        patience: int = 30,
        batch_size: int | None = None,
        progress: bool | str = True,
        feature_names: Sequence[str] | None = None,
        storage: Storage = "auto",
        scale_lr: bool = False,
        min_steps: int | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        checkpoint_minutes: float | None = None,
    ) -> MEDL:
        """Fit both subnetworks.

        Parameters
        ----------
        X
            Cells x genes log-normalised expression (dense or sparse, any float dtype).
        batch
            One batch label per cell (donor, protocol, ...); at least two batches.
        labels
            Optional cell-type label per cell: adds the latent classifier to FE (FEC).
        validation
            Fraction of cells held out for early stopping (stratified by batch x label), a
            boolean mask, or validation indices. 0 trains ``max_epochs`` without stopping.
        max_epochs, patience
            Epoch budget and early-stopping patience (epochs) on each subnetwork's
            validation loss; each subnetwork gets its best weights back. ``None``: the
            variant's (paper 500; variational: the epochs that 700 optimizer steps take, at
            most 500, and at least ``min_steps`` steps).
        batch_size
            Cells per minibatch. ``None``: the variant's (paper 512; variational about 8
            minibatches per epoch, a power of two from 64 to 512).
        min_steps
            Early stopping may not end training before this many optimizer steps
            (``None``: the variant's, 0 for both).
        checkpoint, checkpoint_every, checkpoint_minutes
            A file to write the training state to every ``checkpoint_every`` epochs, or
            sooner when ``checkpoint_minutes`` have passed (atomically: a kill mid-write keeps
            the previous one).
        resume
            Continue from ``checkpoint`` instead of starting afresh; needs the same data and
            arguments. On CPU with a seed the result equals an uninterrupted fit exactly.
        progress
            ``True``: a tqdm progress bar with the current losses; ``"log"``: one line every
            ~5% of the epochs (what R uses: a bar's carriage returns garble consoles and
            logs); ``False``: silent. Ctrl-C ends training gracefully: the best weights
            so far are restored, a warning says so, and the fitted model is returned.
        feature_names
            Optional gene names, stored with the model.
        storage
            How the training data are held on the device: ``"dense"`` (fastest), ``"sparse"``
            (CSR, minibatches densified on the fly; for data too large to hold dense) or
            ``"auto"``: sparse input stays sparse when its dense copy would pass 1 GiB.
        scale_lr
            Multiply the learning rate by ``batch_size / 512`` (the linear scaling rule;
            the presets were tuned at 512). Off by default: a larger batch alone keeps
            the learning rate.

        Returns
        -------
        The fitted model (``self``).
        """
        variant = self.params["variant"]
        return self._fit(
            X, batch, labels, validation, pick(max_epochs, variant, "max_epochs"), patience,
            pick(batch_size, variant, "batch_size"), progress, feature_names, storage, scale_lr,
            min_steps=pick(min_steps, variant, "min_steps"), checkpoint=checkpoint,
            checkpoint_every=checkpoint_every, resume=resume,
            checkpoint_minutes=checkpoint_minutes, **schedule(variant),
        )  # fmt: skip

    def _build(self) -> dict[str, torch.nn.Module]:
        p, w = self.params, self.weights
        n_labels = len(self.label_categories) if self.label_categories else 0
        n_batches = len(self.batch_categories)
        fec = n_labels > 0
        if p["variant"] == "variational":
            fe = MixedEffectsVAE(
                self.n_genes, p["hidden"], p["latent_dim"], n_batches, n_labels=n_labels,
                w_latent_kl=w.fe_latent_kl, w_kl=w.re_kl, w_y=w.fec_y,
                prior_scale=p["re_prior_scale"], post_loc_init_scale=p["re_post_loc_init_scale"],
                post_scale_init=p["re_post_scale_init"],
                batch_layers=None if p["batch_layers"] == "all" else p["batch_layers"],
            )  # fmt: skip
        else:
            fe = FixedEffectsNet(
                self.n_genes,
                p["hidden"],
                p["latent_dim"],
                n_batches,
                n_labels=n_labels,
                w_recon=w.fec_recon if fec else w.fe_recon,
                w_adv=w.fec_adv if fec else w.fe_adv,
                w_y=w.fec_y,
                adversary_input=p["adversary_input"],
                adversarial_loss=p["adversarial_loss"],
            )
        re = RandomEffectsNet(
            self.n_genes,
            p.get("re_hidden") or p["hidden"],
            p["latent_dim"],
            n_batches,
            w_recon=w.re_recon,
            w_z=w.re_z,
            w_kl=w.re_kl,
            prior_scale=p["re_prior_scale"],
            post_loc_init_scale=p["re_post_loc_init_scale"],
            post_scale_init=p["re_post_scale_init"],
        )
        return {"fe": fe, "re": re}

    def _anchor_pairs(
        self, mat: Any, batch_codes: np.ndarray | None, train_idx: np.ndarray
    ) -> np.ndarray | None:
        w = self.weights
        if self.params["variant"] != "variational" or not (w.fe_anchor or w.fe_cross):
            return None
        pairs = mnn_pairs(mat, batch_codes, train_idx, seed=self.params["seed"])
        return pairs if len(pairs) else None

    def _after_training(self, data: DeviceData, pairs: torch.Tensor | None) -> None:
        self.transport = None
        fe = self.modules["fe"]
        if pairs is not None and isinstance(fe, MixedEffectsVAE):
            self.transport = AnchorTransport.from_pairs(
                fe.encode, lambda rows: data.take(rows)[0], pairs, data.codes, self.params["seed"]
            )

    def _extra_state(self) -> dict[str, Any]:
        return {} if self.transport is None else {"transport": self.transport.state()}

    def _restore_extra(self, state: dict[str, Any]) -> None:
        saved = state.get("transport")
        self.transport = None if saved is None else AnchorTransport.from_state(saved, self.device)

    def _plans(self, lr: float, data: DeviceData, pairs: torch.Tensor | None) -> list[Plan]:
        if isinstance(self.modules["fe"], MixedEffectsVAE) and pairs is not None:
            w = self.weights
            fe = AnchorPlan(
                "fe", self.modules["fe"], lr, data, pairs, w.fe_anchor, w.fe_cross,
                per_cell=self.params["anchor_pairs"],
            )  # fmt: skip
        elif isinstance(self.modules["fe"], MixedEffectsVAE):
            fe = Plan("fe", self.modules["fe"], lr)
        else:
            fe = AdversarialPlan("fe", self.modules["fe"], lr, monitor=self.params["fe_monitor"])
        return [fe, Plan("re", self.modules["re"], lr)]

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

    def reconstruct_random(self, X: Any, batch: Any) -> np.ndarray:
        """Reconstruction with each cell's own batch (its counterfactual to itself)."""
        return self.counterfactual(X, batch, target=batch)

    def counterfactual(
        self,
        X: Any,
        batch: Any,
        target: Any,
        mode: CounterfactualMode | None = None,
        n_samples: int | None = None,
        sample_seed: int = 0,
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
            the cross-batch anchor pairs from its batch to the target (``medl.transport``),
            decoded with the target batch's random effects; ``"mixed"``: the code decoded
            as it is. A model fitted without anchors (``fe_anchor`` and ``fe_cross`` 0, or
            no mutual neighbours) has ``"mixed"`` only. Paper variant, through the RE
            subnetwork: ``"full"`` (default; the reference implementation's): the target
            batch goes to encoder and decoder; ``"decoder"``: encode with the cell's own
            batch, decode with the target's (docs/counterfactuals.md).
        n_samples
            Variational variant only: draw the cell's code and the target batch's random
            effects ``n_samples`` times from their posteriors and return ``(mean, sd)`` of
            the draws (cells x genes each) instead of the posterior-mean profile. The spread
            is the model's uncertainty about the expected profile, not cell-to-cell noise;
            docs/counterfactuals.md reports how well it is calibrated.
        sample_seed
            Seed of those draws.

        Returns
        -------
        Cells x genes, or ``(mean, sd)`` with ``n_samples``.
        """
        self._check_fitted()
        mixed = isinstance(self.modules["fe"], MixedEffectsVAE)
        mode = self._counterfactual_mode(mode)
        mat = self._input(X)
        own = self._codes(batch, mat.shape[0])
        dest = check_target(target, mat.shape[0], self.batch_categories)
        if n_samples is not None:
            n_samples = check_positive_int(n_samples, "n_samples")
            if not mixed:
                raise ValueError("n_samples needs the variational variant (variant='paper' "
                                 "has no posterior over its counterfactual code).")  # fmt: skip
            return self._sampled_counterfactual(mat, own, dest, n_samples, sample_seed, mode)
        if mixed:
            fe = self.modules["fe"]

            def decode(x: torch.Tensor, own_c: torch.Tensor, dest_c: torch.Tensor) -> torch.Tensor:
                return self.scaler.inverse(fe.decode(self._code(x, own_c, dest_c, mode), dest_c))

            return self._map(mat, decode, own, dest)
        re = self.modules["re"]

        def run(x: torch.Tensor, own_c: torch.Tensor, dest_c: torch.Tensor) -> torch.Tensor:
            latent = re.encode(x, own_c if mode == "decoder" else dest_c)
            return self.scaler.inverse(re.decode(latent, dest_c))

        return self._map(mat, run, own, dest)

    def _counterfactual_mode(self, mode: str | None) -> str:
        """The mode asked for, or the model's default, checked against what it can do."""
        mixed = isinstance(self.modules["fe"], MixedEffectsVAE)
        if mode is None:
            mode = variant_settings(self.params["variant"])["counterfactual_mode"]
            if mode == "anchored" and self.transport is None:
                mode = "mixed"
        allowed = ("anchored", "mixed") if mixed else ("decoder", "full")
        if mode not in allowed:
            raise ValueError(
                f"mode must be one of {allowed} for the {self.params['variant']!r} variant, "
                f"got {mode!r}."
            )
        if mode == "anchored" and self.transport is None:
            raise ValueError(
                "mode='anchored' needs the anchor pairs, and this model has none (fitted "
                "with fe_anchor and fe_cross 0, without mutual neighbours between batches, "
                "or saved before anchored counterfactuals existed); use mode='mixed'."
            )
        return mode

    def _code(
        self, x: torch.Tensor, own: torch.Tensor, dest: torch.Tensor, mode: str
    ) -> torch.Tensor:
        """The FE code of the scaled cells ``x``, carried to ``dest`` in mode "anchored"."""
        if mode != "anchored":
            return self.modules["fe"].encode(x)
        z = self._anchor_code(x)
        return z + self.transport.move(z, own, dest)

    def _anchor_code(self, x: torch.Tensor) -> torch.Tensor:
        """The FE code in float32 also under bfloat16 autocast: rounded, it changes which
        anchors are nearest and so the move (bf16 counterfactuals then differed from
        float32's by 3.6% of their range, against 1.1% without the move)."""
        with torch.autocast(x.device.type, enabled=False):
            return self.modules["fe"].encode(x.float())

    def _sampled_counterfactual(
        self, mat: Any, own: np.ndarray, dest: np.ndarray, n: int, seed: int, mode: str
    ) -> tuple[np.ndarray, np.ndarray]:
        fe = self.modules["fe"]
        generator = torch.Generator(device=self.device).manual_seed(check_int(seed, "seed"))

        def draws(x: torch.Tensor, own_c: torch.Tensor, dest_c: torch.Tensor) -> torch.Tensor:
            # the posterior's mean is moved as the point counterfactual's code would be
            move = None
            if mode == "anchored":
                move = self.transport.move(self._anchor_code(x), own_c, dest_c)
            profiles = self.scaler.inverse(fe.sample(x, dest_c, n, generator, move))
            mean, sd = profiles.mean(0), profiles.std(0, correction=0)
            return torch.cat([mean, sd], dim=1)

        both = self._map(mat, draws, own, dest)
        return both[:, : self.n_genes], both[:, self.n_genes :]

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

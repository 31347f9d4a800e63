"""The shared estimator machinery: input checks, scaling, training, outputs, save/load.

Subclasses (``MEDL``, ``AE``, ``AEC``) only say which networks they build, how each is
optimised, and what outputs they offer. Each registers itself by name, which is how
:meth:`Estimator.load` finds the class of a saved model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..train.checkpoint import Checkpoint
from ..train.checkpoint import fingerprint as checkpoint_fingerprint
from ..train.checkpoint import load as load_checkpoint
from ..train.comm import SINGLE, Communicator
from ..train.device import (
    DeviceData,
    SparseRows,
    choose_storage,
    dense_rows,
    resolve_device,
    row_chunks,
    to_device,
)
from ..train.loop import fit as train_fit
from ..train.options import FitOptions
from ..train.plans import Plan
from ..train.precision import check_precision, numeric_precision
from ..train.scaling import MinMaxScaler
from ..train.schedule import auto_batch_size, auto_max_epochs, split_validation, strata
from ..validate import (
    Matrix,
    categories_of,
    check_int,
    check_labels,
    check_matrix,
    check_positive_int,
    encode,
)
from . import format as model_format
from . import presets

#: the batch size the presets' learning rates were tuned on (``fit(scale_lr=True)``)
REFERENCE_BATCH_SIZE = 512


class NotFittedError(RuntimeError):
    """Raised when an output is asked of a model that has not been fitted or loaded."""


class Estimator:
    """Base class of the torch estimators. Not used directly."""

    #: whether ``fit`` needs batch labels / cell-type labels
    needs_batch = False
    needs_labels = False
    #: every estimator class by name (each subclass adds itself): what ``load`` reads
    registry: dict[str, type[Estimator]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Estimator.registry[cls.__name__] = cls

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: Sequence[int] = (512, 132),
        preset: str | None = None,
        loss_weights: dict[str, float] | None = None,
        lr: float = 1e-4,
        scaling: str = "global",
        device: str | torch.device = "auto",
        seed: int = 0,
        precision: str = "fp32",
    ) -> None:
        latent_dim = check_positive_int(latent_dim, "latent_dim")
        hidden = tuple(check_positive_int(h, "each hidden size") for h in hidden)
        if not hidden:
            raise ValueError("hidden must name at least one hidden layer size, e.g. (512, 132).")
        if not isinstance(lr, int | float) or lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
        seed = check_int(seed, "seed")
        self.params: dict[str, Any] = {
            "latent_dim": int(latent_dim),
            "hidden": list(hidden),
            "preset": preset,
            "loss_weights": dict(loss_weights or {}),
            "lr": float(lr),
            "scaling": scaling,
            "seed": seed,
        }
        self.weights = presets.resolve(preset, loss_weights)
        self.device = resolve_device(device)
        self.params["precision"] = check_precision(precision, self.device)
        self.scaler = MinMaxScaler(scaling)
        self.n_genes: int | None = None
        self.batch_categories: list[str] | None = None
        self.label_categories: list[str] | None = None
        self.feature_names: list[str] | None = None
        self.modules: dict[str, nn.Module] = {}
        self.history = pd.DataFrame()
        self.fit_info: dict[str, Any] = {}

    # ----------------------------------------------------------------- subclass hooks
    def _build(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def _fit_defaults(self) -> dict[str, Any]:
        """The training schedule for the options left at ``None``."""
        return {"batch_size": 512, "max_epochs": 500, "min_steps": 0, "step_budget": None,
                "batches_per_epoch": 16}  # fmt: skip

    def _plans(self, lr: float, data: DeviceData, pairs: torch.Tensor | None) -> list[Plan]:
        return [Plan(name, module, lr) for name, module in self.modules.items()]

    def _anchor_pairs(
        self, mat: Any, batch_codes: np.ndarray | None, train_idx: np.ndarray
    ) -> np.ndarray | None:
        """Cross-batch cell pairs a subnetwork trains on (none here)."""
        return None

    def _after_training(self, data: DeviceData, pairs: torch.Tensor | None) -> None:
        """Work on the trained networks while the training data are still on the device."""

    def _extra_state(self) -> dict[str, Any]:
        """Fitted state beyond the networks' weights, saved beside them."""
        return {}

    def _restore_extra(self, state: dict[str, Any]) -> None:
        """Rebuild what :meth:`_extra_state` saved."""

    # ----------------------------------------------------------------------- fitting
    def _fit(
        self,
        X: Any,
        batch: Any,
        labels: Any,
        options: FitOptions,
        comm: Communicator = SINGLE,
    ):
        """Fit on ``X`` with ``options`` (``None`` ones from :meth:`_fit_defaults`) over
        ``comm``'s processes (one by default; ``medl.distributed`` passes its group)."""
        schedule = self._fit_defaults()
        o = options.with_defaults(schedule)
        validation, max_epochs, patience, batch_size = (
            o.validation,
            o.max_epochs,
            o.patience,
            o.batch_size,
        )
        min_steps, scale_lr, feature_names, storage = (
            o.min_steps,
            o.scale_lr,
            o.feature_names,
            o.storage,
        )
        # Everything is checked before anything is changed or trained.
        mat = check_matrix(X)
        n = mat.shape[0]
        batch_codes = label_codes = None
        batch_cats = label_cats = None
        if self.needs_batch:
            strings = check_labels(batch, n, "batch")
            batch_cats = categories_of(batch, strings, "batch", minimum=2)
            batch_codes = encode(strings, batch_cats, "batch")
        if labels is not None or self.needs_labels:
            strings = check_labels(labels, n, "labels")
            label_cats = categories_of(labels, strings, "labels", minimum=2)
            label_codes = encode(strings, label_cats, "labels")
        if max_epochs is not None:
            max_epochs = check_positive_int(max_epochs, "max_epochs")
        patience = check_positive_int(patience, "patience")
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size")
        min_steps = check_int(min_steps, "min_steps")
        if not isinstance(scale_lr, bool):
            raise ValueError(f"scale_lr must be True or False, got {scale_lr!r}.")
        if feature_names is not None and len(feature_names) != mat.shape[1]:
            raise ValueError(
                f"feature_names has {len(feature_names)} names for {mat.shape[1]} genes."
            )
        choose_storage(mat, storage)
        groups = strata(batch_codes, label_codes)
        train_idx, val_idx = split_validation(n, validation, groups, self.params["seed"])
        batch_size = batch_size or auto_batch_size(len(train_idx), schedule["batches_per_epoch"])
        max_epochs = max_epochs or auto_max_epochs(
            len(train_idx), batch_size, min_steps, schedule["step_budget"]
        )
        saver, state = self._checkpointing(
            o.checkpoint, (o.checkpoint_every, o.checkpoint_minutes), o.resume, mat.shape,
            [batch_cats, label_cats],
            train_idx, {"max_epochs": max_epochs, "patience": patience,
                        "batch_size": batch_size, "min_steps": min_steps, "scale_lr": scale_lr},
        )  # fmt: skip

        self.n_genes = mat.shape[1]
        self.batch_categories, self.label_categories = batch_cats, label_cats
        self.feature_names = None if feature_names is None else [str(f) for f in feature_names]
        self.scaler = MinMaxScaler(self.params["scaling"]).fit(mat, train_idx)
        start = time.perf_counter()
        pairs = self._anchor_pairs(mat, batch_codes, train_idx)
        with _seeded(self.params["seed"], self.device):
            self.modules = {k: m.to(self.device) for k, m in self._build().items()}
            data = DeviceData(
                x=to_device(mat, self.scaler, self.device, storage),
                codes=_tensor(batch_codes, self.device),
                labels=_tensor(label_codes, self.device),
            )
            mean, std = data.moments(torch.as_tensor(train_idx, device=self.device))
            comm.prepare(self.modules)
            for module in self.modules.values():
                module.init_output(mean, std)
            lr = self.params["lr"] * (batch_size / REFERENCE_BATCH_SIZE if scale_lr else 1.0)
            precision = _training_precision(self.params["precision"])
            pairs_t = _tensor(pairs, self.device)
            with numeric_precision(precision, self.device):
                result = train_fit(
                    self._plans(lr, data, pairs_t),
                    data,
                    train_idx,
                    val_idx,
                    max_epochs=max_epochs,
                    patience=patience,
                    batch_size=batch_size,
                    seed=self.params["seed"],
                    progress=o.progress,
                    comm=comm,
                    min_steps=min_steps,
                    checkpoint=saver,
                    resume=state,
                )
                self._after_training(data, pairs_t)
        self.history = result.history
        self.fit_info = {
            "n_cells": n,
            "n_train": len(train_idx),
            "n_validation": len(val_idx),
            "epochs": result.epochs_run,
            "steps": result.steps,
            "threads": result.threads,
            "best_epoch": result.best_epoch,
            "seconds": round(time.perf_counter() - start, 3),
            "device": str(self.device),
            "batch_size": batch_size,
            "lr": lr,
            "precision": precision,
            "max_epochs": max_epochs,
            "patience": patience,
            "min_steps": min_steps,
            "storage": "sparse" if isinstance(data.x, SparseRows) else "dense",
            "diverged": result.diverged,
            "interrupted": result.interrupted,
        }
        return self

    def _checkpointing(
        self, path, every, resume, shape, categories, train_idx, settings
    ) -> tuple[Checkpoint | None, dict | None]:
        """The checkpoint writer and, with ``resume``, the state to continue from."""
        if not isinstance(resume, bool):
            raise ValueError(f"resume must be True or False, got {resume!r}.")
        if path is None:
            if resume:
                raise ValueError("resume=True needs checkpoint=<the file a fit wrote>.")
            return None, None
        epochs, minutes = every
        if minutes is not None and not (isinstance(minutes, int | float) and minutes > 0):
            raise ValueError(f"checkpoint_minutes must be a positive number, got {minutes!r}.")
        saver = Checkpoint(path, check_positive_int(epochs, "checkpoint_every"), minutes)
        saver.fingerprint = checkpoint_fingerprint(
            type(self).__name__, self.params, shape, categories, train_idx, settings
        )
        return saver, load_checkpoint(path, saver.fingerprint) if resume else None

    # ----------------------------------------------------------------------- outputs
    @property
    def is_fitted(self) -> bool:
        return bool(self.modules)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call .fit(...) or "
                f"{type(self).__name__}.load(path) first."
            )

    def _input(self, X: Any) -> Matrix:
        self._check_fitted()
        return check_matrix(X, n_genes=self.n_genes)

    def _codes(self, batch: Any, n: int, name: str = "batch") -> np.ndarray:
        return encode(check_labels(batch, n, name), self.batch_categories, name)

    def _chunks(
        self,
        mat: Matrix,
        fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
        codes: tuple[np.ndarray, ...],
        chunk: int,
    ) -> Iterator[torch.Tensor | tuple[torch.Tensor, ...]]:
        """``fn(scaled_x, *code_tensors)`` of each chunk of rows, in float32 on the device
        (callers run under inference mode)."""
        for rows in row_chunks(mat.shape[0], chunk):
            x = torch.from_numpy(np.ascontiguousarray(dense_rows(mat, rows))).to(self.device)
            args = [torch.as_tensor(c[rows], device=self.device) for c in codes]
            with numeric_precision(self.params["precision"], self.device):
                out = fn(self.scaler.transform(x), *args)
            yield tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()

    @torch.inference_mode()
    def _map(
        self,
        mat: Matrix,
        fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
        *codes: np.ndarray,
        chunk: int = 8192,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """Apply ``fn(scaled_x, *code_tensors)`` chunk by chunk and collect the result (one
        array per output where ``fn`` returns a tuple)."""
        pieces = [
            tuple(o.cpu().numpy() for o in out) if isinstance(out, tuple) else out.cpu().numpy()
            for out in self._chunks(mat, fn, codes, chunk)
        ]
        if isinstance(pieces[0], tuple):
            return tuple(np.concatenate(part, axis=0) for part in zip(*pieces))
        return np.concatenate(pieces, axis=0)

    @torch.inference_mode()
    def _sum(
        self, mat: Matrix, fn: Callable[..., torch.Tensor], *codes: np.ndarray, chunk: int = 8192
    ) -> np.ndarray:
        """Like :meth:`_map`, for an ``fn`` that sums over its cells: the chunks' total."""
        return sum(self._chunks(mat, fn, codes, chunk)).cpu().numpy()

    # --------------------------------------------------------------------- save/load
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the model to the directory ``path`` (weights, config, scaler, categories)."""
        self._check_fitted()
        weights = {name: m.state_dict() for name, m in self.modules.items()}
        weights.update(self._extra_state())
        config = {
            "estimator": type(self).__name__,
            "params": self.params,
            "n_genes": self.n_genes,
            "batch_categories": self.batch_categories,
            "label_categories": self.label_categories,
            "feature_names": self.feature_names,
            "scaler": self.scaler.state(),
            "fit_info": self.fit_info,
            "history": model_format.history_lists(self.history),
        }
        return model_format.write(path, config, weights, overwrite)

    @classmethod
    def load(
        cls, path: str | Path, device: str | torch.device = "auto", precision: str | None = None
    ):
        """Load a model written by :meth:`save`; outputs are identical to the saved model's.

        ``precision`` overrides the saved one (e.g. ``"fp32"`` for a model trained with
        ``"tf32"`` on a GPU and loaded on a CPU).
        """
        config, weights = model_format.read(path)
        estimators = Estimator.registry
        name = config.get("estimator")
        if name not in estimators:
            raise ValueError(f"{path} holds an unknown estimator {name!r}.")
        if cls is not Estimator and name != cls.__name__:
            raise ValueError(
                f"{path} holds a {name} model, not a {cls.__name__}; use medl.{name}.load "
                "or medl.load."
            )
        params = dict(config["params"])
        if precision is not None:
            params["precision"] = precision
        model = estimators[name](**params, device=device)
        model.n_genes = config["n_genes"]
        model.batch_categories = config["batch_categories"]
        model.label_categories = config["label_categories"]
        model.feature_names = config.get("feature_names")
        model.scaler = MinMaxScaler.from_state(config["scaler"])
        model.fit_info = config.get("fit_info", {})
        model.history = model_format.history_frame(config.get("history"))
        modules = model._build()
        try:
            for key, module in modules.items():
                module.load_state_dict(weights[key])
        except (KeyError, RuntimeError) as err:
            raise ValueError(f"{path}: weights do not match the stored config ({err}).") from err
        model._restore_extra(weights)
        model.modules = {k: m.to(model.device).eval() for k, m in modules.items()}
        return model

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        return f"{type(self).__name__}(latent_dim={self.params['latent_dim']}, {state})"


# ------------------------------------------------------------------------------ helpers
def _training_precision(precision: str) -> str:
    """bf16 applies to outputs only: trained in bf16, the validation reconstruction loss
    ended 35-60% above float32's (docs/benchmarks.md), so training stays float32."""
    return "fp32" if precision == "bf16" else precision


def _tensor(codes: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    return None if codes is None else torch.as_tensor(codes, device=device)


class _seeded:
    """Seed torch inside the block without disturbing the caller's global RNG state."""

    def __init__(self, seed: int, device: torch.device) -> None:
        devices = [device.index or 0] if device.type == "cuda" else []
        self._fork = torch.random.fork_rng(devices=devices)
        self.seed = seed

    def __enter__(self) -> None:
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc) -> None:
        self._fork.__exit__(*exc)

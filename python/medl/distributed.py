"""Data-parallel training over several processes (GPUs, or CPU with gloo) via torch.distributed.

Launch with ``torchrun``; every process runs the same script::

    torchrun --nproc_per_node 4 -m medl.distributed data.h5ad --batch donor --out results/

or, from Python inside each process, ``medl.distributed.fit(model, X, batch, ...)``.

Every process holds the data, draws the same global minibatches (same seed) and trains on
its shard of each. Gradients are summed across processes before every optimizer step (the
adversary's and the autoencoder's alike), batch-norm statistics are computed over the global
minibatch, and validation losses are reduced, so early stopping decides the same everywhere.
The result equals single-process training on the same global batch, up to floating-point
summation order. The process-group hooks live in :mod:`medl.train.comm`; this module is the
front door only.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch.distributed as dist
from torch import nn

from .train.comm import ProcessGroup, init, shutdown, swap_batchnorm
from .train.options import FitOptions


def fit(model: Any, X: Any, batch: Any = None, labels: Any = None, **options: Any):
    """Fit ``model`` (MEDL, AE or AEC) data-parallel; call it in every process.

    Takes the fit options of :meth:`medl.MEDL.fit` (:class:`medl.train.options.FitOptions`),
    with the model's own defaults; ``batch_size`` is the global minibatch (split over
    processes). Every process ends with the same fitted model.
    """
    device = init()
    if model.device.type == "cuda":
        model.device = device
    comm = ProcessGroup()
    options.setdefault("progress", comm.rank == 0)
    model._fit(X, batch, labels, FitOptions.of(options, "medl.distributed.fit"), comm=comm)
    for module in model.modules.values():
        swap_batchnorm(module, nn.BatchNorm1d)
    return model


def main(argv: list[str] | None = None) -> None:
    """``torchrun ... -m medl.distributed data.h5ad --batch KEY --out DIR``."""
    import anndata as ad

    from .model import MEDL

    parser = argparse.ArgumentParser(description="Data-parallel MEDL fit (launch with torchrun)")
    parser.add_argument("h5ad")
    parser.add_argument("--batch", required=True, help="obs column with each cell's batch")
    parser.add_argument("--labels", help="obs column with cell types (FEC)")
    parser.add_argument("--layer", help="layer with log-normalised expression (default X)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--variant", default="variational", choices=["variational", "paper"])
    parser.add_argument("--latent-dim", type=int, default=None, help="default: the variant's")
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the variant's")
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None, help="global minibatch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, help="file for the training state")
    parser.add_argument("--checkpoint-every", type=int, default=1, help="epochs between writes")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    args = parser.parse_args(argv)
    adata = ad.read_h5ad(args.h5ad)
    X = adata.layers[args.layer] if args.layer else adata.X
    model = MEDL(variant=args.variant, latent_dim=args.latent_dim, seed=args.seed)
    labels = adata.obs[args.labels] if args.labels else None
    fit(model, X, adata.obs[args.batch], labels, max_epochs=args.max_epochs,
        patience=args.patience, batch_size=args.batch_size, checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every, resume=args.resume)  # fmt: skip
    if dist.get_rank() == 0:
        model.save(os.path.join(args.out, "model"), overwrite=True)
        adata.obsm["X_medl_fe"] = model.fixed_effects(X)
        adata.obsm["X_medl_re"] = model.random_effects(X, adata.obs[args.batch])
        adata.write_h5ad(os.path.join(args.out, "medl.h5ad"))
    shutdown()


if __name__ == "__main__":
    main()

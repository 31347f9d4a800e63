"""Data-parallel training over several processes (GPUs, or CPU with gloo) via torch.distributed.

Launch with ``torchrun``; every process runs the same script::

    torchrun --nproc_per_node 4 -m medl.distributed data.h5ad --batch donor --out results/

or, from Python inside each process, ``medl.distributed.fit(model, X, batch, ...)``.

Every process holds the data, draws the same global minibatches (same seed) and trains on
its shard of each. Gradients are summed across processes before every optimizer step (the
adversary's and the autoencoder's alike), batch-norm statistics are computed over the global
minibatch, and validation losses are reduced, so early stopping decides the same everywhere.
The result equals single-process training on the same global batch, up to floating-point
summation order.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .train import Communicator
from .variants import schedule, variant_settings


def _summed(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` summed over all processes."""
    t = t.clone()
    dist.all_reduce(t)
    return t


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes in the forward pass; the gradient is summed the same way."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        return _summed(t)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _summed(grad)


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics cover the minibatch of every process.

    torch's SyncBatchNorm needs CUDA; this one works with any backend, gloo on CPU included.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        # two passes (mean, then squared deviations) as BatchNorm1d does: the one-pass
        # E[x^2] - E[x]^2 loses digits, and Adam's first steps amplify such differences
        count = torch.full((1,), float(x.shape[0]), dtype=x.dtype, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([x.sum(0), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        var = _AllReduceSum.apply(((x - mean) ** 2).sum(0)) / n
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
            self.num_batches_tracked.add_(1)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def _swap_batchnorm(module: nn.Module, to: type[nn.BatchNorm1d]) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d) and type(child) is not to:
            new = to(child.num_features, child.eps, child.momentum).to(child.weight.device)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            _swap_batchnorm(child, to)


class ProcessGroup(Communicator):
    """The :class:`medl.train.Communicator` hooks over the default torch.distributed group."""

    def __init__(self) -> None:
        if not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised: launch with torchrun.")
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        return idx.tensor_split(self.world)[self.rank]

    def backward(self, loss: torch.Tensor, n_local: int, n_global: int) -> None:
        # mean-type terms are weighted by this shard's share of the global minibatch, so
        # the gradient summed over processes is the global loss's gradient
        (loss * (n_local / n_global)).backward()

    def sync_grads(self, params: Iterator[nn.Parameter]) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        return _summed(t)

    def prepare(self, modules: dict[str, nn.Module]) -> None:
        if self.world == 1:  # plain batch norm is already global
            return
        for module in modules.values():
            _swap_batchnorm(module, GlobalBatchNorm1d)


def init(backend: str | None = None) -> torch.device:
    """Initialise the process group from torchrun's environment; return this rank's device."""
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"))
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def shutdown() -> None:
    """End the process group once every rank has arrived (call it last, in every process).

    The barrier makes ranks wait for each other's remaining work (rank 0 writing results):
    a gloo group torn down while a peer is still connected can abort that peer
    ("terminate called without an active exception").
    """
    dist.barrier()
    dist.destroy_process_group()


def fit(model: Any, X: Any, batch: Any = None, labels: Any = None, **fit_kwargs: Any):
    """Fit ``model`` (MEDL, AE or AEC) data-parallel; call it in every process.

    Takes :meth:`medl.MEDL.fit`'s keyword arguments; ``batch_size`` is the global minibatch
    (split over processes). Every process ends with the same fitted model.
    """
    device = init()
    if model.device.type == "cuda":
        model.device = device
    comm = ProcessGroup()
    fit_kwargs.setdefault("progress", comm.rank == 0)
    if "variant" in model.params:  # MEDL: its variant's training settings, as MEDL.fit uses
        settings = variant_settings(model.params["variant"])
        for name in ("max_epochs", "batch_size", "min_steps"):
            if fit_kwargs.get(name) is None:
                fit_kwargs[name] = settings[name]
        fit_kwargs.update(schedule(model.params["variant"]))
    model._fit(X, batch, labels, comm=comm, **fit_kwargs)
    for module in model.modules.values():
        _swap_batchnorm(module, nn.BatchNorm1d)
    return model


def main(argv: list[str] | None = None) -> None:
    """``torchrun ... -m medl.distributed data.h5ad --batch KEY --out DIR``."""
    import anndata as ad

    import medl

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
    model = medl.MEDL(variant=args.variant, latent_dim=args.latent_dim, seed=args.seed)
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

"""How training talks to other processes: :class:`Communicator` (one process, no-ops) and
:class:`ProcessGroup`, the same hooks over ``torch.distributed`` for data-parallel training
(``python -m medl.distributed`` is its front door)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn


class Communicator:
    """How training talks to other processes; this one is a single process (no-ops).

    :class:`ProcessGroup` implements the same hooks over
    ``torch.distributed`` for data-parallel training.
    """

    rank, world = 0, 1

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's part of a global minibatch (or of the validation cells)."""
        return idx

    def backward(self, loss: torch.Tensor, n_local: int, n_global: int) -> None:
        """Backpropagate so that summing gradients over processes gives the global loss's."""
        loss.backward()

    def sync_grads(self, params: Iterator[nn.Parameter]) -> None:
        """Sum gradients over processes (before each optimizer step)."""

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def prepare(self, modules: dict[str, nn.Module]) -> None:
        """Adapt freshly built networks to this communicator (nothing to do here)."""


SINGLE = Communicator()


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


def swap_batchnorm(module: nn.Module, to: type[nn.BatchNorm1d]) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d) and type(child) is not to:
            new = to(child.num_features, child.eps, child.momentum).to(child.weight.device)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            swap_batchnorm(child, to)


class ProcessGroup(Communicator):
    """The :class:`Communicator` hooks over the default torch.distributed group."""

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
            swap_batchnorm(module, GlobalBatchNorm1d)


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

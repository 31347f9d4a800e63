"""Run by tests/test_distributed.py under torchrun (gloo, CPU).

mode "grads": one training step of each subnetwork on a global minibatch split over the
processes; rank 0 saves every parameter's gradient (the FE adversary's and autoencoder's).
mode "fit": a full data-parallel fit; rank 0 saves the outputs.
"""

import sys

import numpy as np
import torch

import medl
from medl import distributed
from medl.nn import FixedEffectsNet, RandomEffectsNet
from medl.train.plans import AdversarialPlan, Plan


def networks():
    torch.manual_seed(0)
    fe = FixedEffectsNet(60, (64, 16), 2, n_batches=3)
    re = RandomEffectsNet(60, (64, 16), 2, n_batches=3)
    x = torch.rand(96, 60)
    codes = torch.arange(96) % 3
    return fe, re, x, codes


def step_grads(comm) -> dict[str, np.ndarray]:
    fe, re, x, codes = networks()
    comm.prepare({"fe": fe, "re": re})
    plans = [AdversarialPlan("fe", fe, lr=1e-3), Plan("re", re, lr=1e-3)]
    local = comm.shard(torch.arange(len(x)))
    grads = {}
    for plan in plans:
        plan.comm = comm
        plan.optimizer.step = lambda: None  # keep the parameters: compare gradients only
        if isinstance(plan, AdversarialPlan):
            plan.adversary_optimizer.step = lambda: None
        torch.manual_seed(1)  # same variational noise draw in every process
        plan.step(x[local], codes[local], None, n_global=len(x))
        named = plan.module.named_parameters()
        grads.update(
            {f"{plan.name}.{k}": p.grad.numpy().copy() for k, p in named if p.grad is not None}
        )
    return grads


if __name__ == "__main__":
    torch.set_num_threads(1)
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "grads":
        distributed.init("gloo")
        grads = step_grads(distributed.ProcessGroup())
        if torch.distributed.get_rank() == 0:
            np.savez(out, **grads)
    else:
        data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
        model = medl.MEDL(hidden=(64, 16), variant="paper", lr=1e-3, device="cpu", seed=0)
        distributed.fit(model, data.X, data.obs["batch"], max_epochs=2, patience=5,
                        batch_size=128)  # fmt: skip
        if torch.distributed.get_rank() == 0:
            np.savez(out, fe=model.fixed_effects(data.X),
                     re=model.random_effects(data.X, data.obs["batch"]),
                     val=model.history.filter(like=".val.total").to_numpy(),
                     best=[model.fit_info["best_epoch"][k] for k in ("fe", "re")])  # fmt: skip
    distributed.shutdown()

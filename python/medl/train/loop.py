"""The training loop: on-device minibatching, per-subnetwork early stopping, faults.

The data live on the training device as one tensor; each epoch draws a permutation of the
training indices and slices minibatches by index, so there is no DataLoader and no host copy
per step. Loss terms are summed on the device and read back once per epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..nn.autoencoder import Losses
from .checkpoint import Checkpoint
from .comm import SINGLE, Communicator
from .device import DeviceData
from .plans import Plan
from .threads import ThreadGovernor


@dataclass
class EarlyStopping:
    patience: int
    best: float = float("inf")
    best_epoch: int = -1
    wait: int = 0
    best_state: dict | None = None
    stopped: bool = False
    #: no stop before this many optimizer steps: small data give few steps per epoch
    min_steps: int = 0

    def update(self, value: float, epoch: int, module: nn.Module, steps: int = 0) -> None:
        if value < self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_state = _snapshot(module)
        else:
            self.wait += 1
            self.stopped = self.wait >= self.patience and steps >= self.min_steps


@dataclass
class TrainResult:
    history: pd.DataFrame
    best_epoch: dict[str, int] = field(default_factory=dict)
    epochs_run: int = 0
    #: optimizer steps taken (of each subnetwork that was still training)
    steps: int = 0
    #: the CPU thread-pool sizes training used (medl.train.threads)
    threads: list[int] = field(default_factory=list)
    #: the epoch at which each subnetwork diverged (None: it did not)
    diverged: dict[str, int | None] = field(default_factory=dict)
    interrupted: bool = False


#: a loss this many times the untrained model's (in size) counts as diverged
EXPLOSION = 1e3


def _diverged(value: float, initial: float) -> bool:
    return not np.isfinite(value) or abs(value) > EXPLOSION * max(abs(initial), 1.0)


class _Report:
    """Progress: a tqdm bar (``progress=True``), a compact line every ~5% of the epoch
    budget (``"log"``: for R consoles and logs, where a bar's carriage returns garble), or
    nothing."""

    def __init__(self, progress: bool | str, max_epochs: int, rank: int) -> None:
        self.lines = progress == "log" and rank == 0
        self.every = max(1, max_epochs // 20)
        self.max_epochs = max_epochs
        self.bar = tqdm(
            total=max_epochs, disable=progress is not True or rank > 0, desc="medl", unit="epoch"
        )

    def epoch(self, epoch: int, row: dict[str, float]) -> None:
        totals = {k: v for k, v in row.items() if k.endswith("total")}
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in totals.items()})
        if self.lines and (epoch % self.every == 0 or epoch == self.max_epochs - 1):
            text = ", ".join(f"{k} {v:.4g}" for k, v in totals.items())
            print(f"medl epoch {epoch + 1}/{self.max_epochs}: {text}", flush=True)

    def close(self) -> None:
        self.bar.close()


def minibatches(idx: torch.Tensor, batch_size: int, min_size: int = 2) -> Iterator[torch.Tensor]:
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        if len(chunk) >= min_size:  # batch norm cannot train on a single cell
            yield chunk


def _accumulate(sums: dict[str, torch.Tensor], losses: Losses, weight: int) -> None:
    for key, value in losses.items():
        value = value.detach() * weight
        sums[key] = sums[key] + value if key in sums else value


def _means(
    sums: dict[str, torch.Tensor], count: int, comm: Communicator = SINGLE
) -> dict[str, float]:
    """Weighted sums -> means over all processes' cells (``count`` is the global count)."""
    if not sums:
        return {}
    keys = list(sums)
    values = (comm.all_sum(torch.stack([sums[k] for k in keys])) / count).tolist()  # one sync
    return dict(zip(keys, values))


def validation_losses(
    plan: Plan, data: DeviceData, idx: torch.Tensor, chunk: int, comm: Communicator = SINGLE
) -> dict[str, float]:
    plan.module.eval()
    sums: dict[str, torch.Tensor] = {}
    for part in comm.shard(idx).split(chunk):
        _accumulate(sums, plan.validation_losses(*data.take(part)), len(part))
    plan.module.train()
    return _means(sums, len(idx), comm)


def fit(
    plans: Sequence[Plan],
    data: DeviceData,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    max_epochs: int,
    patience: int,
    batch_size: int,
    seed: int,
    progress: bool | str = True,
    eval_chunk: int = 8192,
    comm: Communicator = SINGLE,
    min_steps: int = 0,
    checkpoint: Checkpoint | None = None,
    resume: dict | None = None,
) -> TrainResult:
    """Train every plan on the same minibatches until each one stops early or max_epochs.

    Each subnetwork has its own early stopping on a validation loss term (``plan.monitor``,
    the total loss by default) and gets its best weights back at the end.
    Without validation cells all run ``max_epochs``. With a multi-process ``comm`` every
    process draws the same global minibatches and trains on its shard of each; losses,
    gradients and batch-norm statistics are reduced over processes.
    """
    device = data.x.device
    train_t = torch.as_tensor(train_idx, device=device)
    val_t = torch.as_tensor(val_idx, device=device)
    generator = torch.Generator().manual_seed(seed)
    stoppers = {p.name: EarlyStopping(patience, min_steps=min_steps) for p in plans}
    steps = 0
    rows: list[dict[str, float]] = []
    for p in plans:
        p.module.train()
        p.comm = comm

    initial = {p.name: _snapshot(p.module) for p in plans}  # if nothing better is ever seen
    # the untrained model's loss: the yardstick for a loss that explodes
    probe = val_t if len(val_t) else train_t[:eval_chunk]
    untrained = {
        p.name: validation_losses(p, data, probe, eval_chunk, comm)["total"] for p in plans
    }
    diverged: dict[str, int | None] = {p.name: None for p in plans}
    interrupted = False
    start = 0
    if resume is not None:
        start, steps, rows = _restore(resume, plans, stoppers, diverged, generator, device)
    report = _Report(progress, max_epochs, comm.rank)
    governor = ThreadGovernor(device)
    try:
        for epoch in range(start, max_epochs):
            governor.update()
            active = [p for p in plans if not stoppers[p.name].stopped]
            if not active:
                break
            order = train_t[torch.randperm(len(train_t), generator=generator).to(device)]
            sums: dict[str, dict[str, torch.Tensor]] = {p.name: {} for p in active}
            seen = 0
            for idx in minibatches(order, batch_size, min_size=max(2, comm.world)):
                local = comm.shard(idx)
                batch = data.take(local)
                for p in active:
                    _accumulate(sums[p.name], p.step(*batch, n_global=len(idx)), len(local))
                seen += len(idx)
                steps += 1
            row: dict[str, float] = {"epoch": epoch}
            for p in active:
                means = _means(sums[p.name], seen, comm)
                row.update({f"{p.name}.train.{k}": v for k, v in means.items()})
                bad = _diverged(means["total"], untrained[p.name])
                if len(val_t):
                    val = validation_losses(p, data, val_t, eval_chunk, comm)
                    row.update({f"{p.name}.val.{k}": v for k, v in val.items()})
                    bad = bad or not np.isfinite(val[p.monitor])
                if bad:
                    diverged[p.name] = epoch
                    row[f"{p.name}.diverged"] = 1.0
                    stoppers[p.name].stopped = True
                    continue
                if len(val_t):
                    stoppers[p.name].update(val[p.monitor], epoch, p.module, steps)
            rows.append(row)
            report.epoch(epoch, row)
            if checkpoint is not None and comm.rank == 0 and checkpoint.due(epoch):
                checkpoint.save(_state(epoch, steps, rows, plans, stoppers, diverged, generator))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        report.close()
        governor.restore()

    for p in plans:
        stopper = stoppers[p.name]
        state = stopper.best_state
        if state is None and (diverged[p.name] is not None or interrupted):
            state = initial[p.name]
        if state is not None:
            p.module.load_state_dict(state)
        p.module.eval()
    history = pd.DataFrame(rows).set_index("epoch") if rows else pd.DataFrame()
    best = {p.name: stoppers[p.name].best_epoch for p in plans}
    _warn_faults(plans, diverged, best, len(rows), interrupted, bool(len(val_t)))
    return TrainResult(
        history=history,
        best_epoch=best,
        epochs_run=len(rows),
        steps=steps,
        threads=sorted(governor.used),
        diverged=diverged,
        interrupted=interrupted,
    )


def _state(epoch, steps, rows, plans, stoppers, diverged, generator) -> dict:
    """Everything the loop needs to continue after ``epoch`` exactly as it would have."""
    state = {
        "epoch": epoch,
        "steps": steps,
        "rows": rows,
        "diverged": diverged,
        "modules": {p.name: p.module.state_dict() for p in plans},
        "optimizers": {p.name: [o.state_dict() for o in p.optimizers()] for p in plans},
        "stoppers": {name: vars(st) for name, st in stoppers.items()},
        "generator": generator.get_state(),
        "rng": torch.get_rng_state(),
    }
    device = next(plans[0].module.parameters()).device
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def _restore(state, plans, stoppers, diverged, generator, device) -> tuple[int, int, list]:
    for p in plans:
        p.module.load_state_dict(state["modules"][p.name])
        for optimizer, saved in zip(p.optimizers(), state["optimizers"][p.name]):
            optimizer.load_state_dict(saved)
    for name, saved in state["stoppers"].items():
        vars(stoppers[name]).update(saved)
    diverged.update(state["diverged"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return state["epoch"] + 1, state["steps"], list(state["rows"])


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _warn_faults(
    plans: Sequence[Plan],
    diverged: dict[str, int | None],
    best: dict[str, int],
    epochs: int,
    interrupted: bool,
    validated: bool,
) -> None:
    """Say what went wrong in training, what was kept, and what to try."""
    if interrupted:
        warnings.warn(
            f"medl: training was interrupted after {epochs} epoch(s); each subnetwork's best "
            "weights so far were restored and the model is usable. Fit again (with more "
            "epochs) to train it further.",
            stacklevel=3,
        )
    for p in plans:
        lr = p.optimizer.param_groups[0]["lr"]
        if diverged[p.name] is not None:
            kept = "its best epoch's" if best[p.name] >= 0 else "its initial"
            warnings.warn(
                f"medl: the {p.name} subnetwork diverged at epoch {diverged[p.name]} (its loss "
                f"became non-finite or grew {EXPLOSION:g}-fold over the untrained model's); its "
                f"training stopped and {kept} weights were restored. Try a lower learning rate "
                f"(lr={lr:g} now) and check that X is log-normalised expression (not raw counts "
                "or scaled data).",
                stacklevel=3,
            )
        elif validated and best[p.name] == 0 and epochs > 1 and not interrupted:
            warnings.warn(
                f"medl: the {p.name} subnetwork never beat its first epoch's validation loss; "
                f"the first epoch's weights were kept. Try a lower learning rate (lr={lr:g} "
                "now) or check the input scale.",
                stacklevel=3,
            )

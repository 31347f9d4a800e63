"""Time the uncertainty outputs: ``batch_effects`` (100 paired draws, the observed cells'
correction included) and ``counterfactual(n_samples=100)``, after a default fit, and the
point counterfactual with and without its neighbours' correction.

``medl.datasets.simulate`` (type-specific batch effects: 0.5 shared, interaction 1), one
JSON line per size: fit seconds, then each output's seconds, cells/second and (on CUDA)
peak GPU memory. Run by ``bench/gpu_check.sh``; on a CPU as well.

    python bench/effects_time.py [--sizes 10000x2000 ...] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import medl


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and its wall time, the GPU's queue drained on both ends."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else lambda: None
    sync()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    sync()
    return out, time.perf_counter() - start


def measure(n_cells: int, n_genes: int, device: str) -> dict:
    a = medl.datasets.simulate(
        n_cells=n_cells, n_genes=n_genes, batch_effect=0.5, interaction=1.0, seed=0
    )
    X, batch, types = a.X, a.obs["batch"], a.obs["cell_type"]
    model, fit_s = timed(medl.MEDL(seed=0, device=device).fit, X, batch, progress=False)
    cuda = model.device.type == "cuda"
    row = {"cells": n_cells, "genes": n_genes, "device": str(model.device),
           "fit_s": round(fit_s, 1)}  # fmt: skip
    outputs = {
        "batch_effects": lambda: model.batch_effects(X, batch, "batch1", "batch0", groups=types),
        "cf_100_draws": lambda: model.counterfactual(X, batch, "batch1", n_samples=100),
        "cf_point": lambda: model.counterfactual(X, batch, "batch1"),
        "cf_point_uncorrected": lambda: model.counterfactual(X, batch, "batch1", correct=False),
    }
    for name, output in outputs.items():
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        _, seconds = timed(output)
        row[f"{name}_s"] = round(seconds, 2)
        row[f"{name}_cells_per_s"] = round(n_cells / seconds)
        if cuda:
            row[f"{name}_peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10000x2000"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        n_cells, n_genes = (int(v) for v in size.split("x"))
        rows.append(measure(n_cells, n_genes, args.device))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()

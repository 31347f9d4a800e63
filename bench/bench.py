"""Training speed and memory of MEDL: FE, RE and the full model, on simulated or real data.

Each configuration runs in a fresh process so that peak host RSS and peak GPU memory belong
to that configuration alone. Results print as a table and go to a JSON file.

    python bench/bench.py --cells 10000 --genes 2000 --batches 10          # one setting
    python bench/bench.py --sweep cells --cells 10000 100000 1000000        # a sweep
    python bench/bench.py --h5ad data.h5ad --batch-key donor                # real data
    make bench BENCH_ARGS="--sweep batches --batches 10 147 1000"

Simulated data are sparse log1p counts with a per-batch shift on a tenth of the genes,
generated straight into CSR (a million cells need no dense copy).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

PARTS = ("fe", "re", "full")


def simulate_sparse(
    n_cells: int,
    n_genes: int,
    n_batches: int,
    density: float,
    seed: int = 0,
    chunk: int = 65536,
    counts: bool = False,
):
    """CSR log1p counts (raw counts with ``counts``): ``density`` non-zeros per row, the
    Poisson rate scaled per batch on 10% of genes.

    Filled a chunk of rows at a time into preallocated arrays, so generating the data
    needs little more memory than the matrix itself (peak RSS then measures the fit).
    """
    rng = np.random.default_rng(seed)
    per_row = max(1, int(round(density * n_genes)))
    batch = rng.integers(0, n_batches, n_cells)
    indices = np.empty(n_cells * per_row, dtype=np.int32)
    data = np.empty(n_cells * per_row, dtype=np.float32)
    for start in range(0, n_cells, chunk):
        rows = slice(start, min(start + chunk, n_cells))
        n = rows.stop - rows.start
        # distinct sorted columns per row: a random offset into an evenly strided grid
        stride = n_genes // per_row
        cols = np.arange(per_row) * stride + rng.integers(0, stride, (n, per_row))
        rate = np.where(cols < n_genes // 10, 2.0 * (1 + batch[rows] % 5)[:, None] / 3, 2.0)
        values = (rng.poisson(rate) + 1).astype(np.float32)
        if not counts:
            values = np.log1p(values)
        indices[rows.start * per_row : rows.stop * per_row] = cols.ravel()
        data[rows.start * per_row : rows.stop * per_row] = values.ravel()
    indptr = np.arange(0, n_cells * per_row + 1, per_row, dtype=np.int64)
    X = sp.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes))
    return X, np.array([f"b{b}" for b in batch])


def load_h5ad(path: str, batch_key: str):
    import anndata as ad

    adata = ad.read_h5ad(path)
    if batch_key not in adata.obs:
        raise SystemExit(f"{path} has no obs column {batch_key!r}: {list(adata.obs.columns)}")
    return adata.X, adata.obs[batch_key].astype(str).to_numpy()


def worker(cfg: dict) -> dict:
    """Fit one configuration and measure it (runs in its own process)."""
    import torch

    import medl

    torch.set_num_threads(cfg["threads"]) if cfg["threads"] else None
    t0 = time.perf_counter()
    if cfg["h5ad"]:
        X, batch = load_h5ad(cfg["h5ad"], cfg["batch_key"])
    else:
        X, batch = simulate_sparse(cfg["cells"], cfg["genes"], cfg["batches"], cfg["density"])
    data_seconds = time.perf_counter() - t0
    sparse_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes if sp.issparse(X) else 0

    class Part(medl.MEDL):
        def _plans(self, lr, *args):
            plans = super()._plans(lr, *args)
            return plans if cfg["part"] == "full" else [p for p in plans if p.name == cfg["part"]]

    model = Part(
        latent_dim=2, lr=cfg["lr"], device=cfg["device"], seed=0, precision=cfg["precision"]
    )
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.fit(
        X, batch, max_epochs=cfg["epochs"], patience=cfg["patience"],
        batch_size=cfg["batch_size"], progress=False, storage=cfg["storage"],
        scale_lr=cfg["scale_lr"],
    )  # fmt: skip
    total = time.perf_counter() - t0
    info = model.fit_info
    cf_speed = _counterfactual_speed(model, X, batch) if cfg["part"] == "full" else {}
    epochs = info["epochs"]
    return {
        **cfg,
        "cells": X.shape[0], "genes": X.shape[1], "batches": len(set(batch)),
        "device_name": _device_name(model.device),
        "storage_used": info["storage"],
        "epochs_run": epochs,
        "best_epoch": max(info["best_epoch"].values()),
        "val_recon": {k: float(model.history[f"{k}.val.recon"].min()) for k in info["best_epoch"]},
        "seconds_per_epoch": info["seconds"] / epochs,
        "cells_per_second": info["n_train"] * epochs / info["seconds"],
        "train_seconds": info["seconds"],
        "total_seconds": total,
        "data_seconds": data_seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "sparse_gb": sparse_bytes / 2**30,
        "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30
        if model.device.type == "cuda" else None,
        **cf_speed,
    }  # fmt: skip


def _counterfactual_speed(model, X, batch, n: int = 100_000) -> dict:
    """Cells per second of counterfactuals to one batch (up to ``n`` cells), in the default
    mode (``"anchored"``: the code moved along the anchor pairs) and decoded as is."""
    rows = np.arange(min(n, X.shape[0]))
    sub, own = X[rows], np.asarray(batch)[rows]
    target = np.unique(own)[0]
    speed = {}
    for mode in ("anchored", "mixed"):
        if mode == "anchored" and model.transport is None:
            continue
        t0 = time.perf_counter()
        model.counterfactual(sub, own, target, mode)
        speed[f"cf_{mode}_cells_per_second"] = len(rows) / (time.perf_counter() - t0)
    return speed


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def run_isolated(cfg: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(cfg)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        return {**cfg, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


COLUMNS = [
    ("part", "{}"), ("precision", "{}"), ("cells", "{:,}"), ("genes", "{:,}"), ("batches", "{:,}"),
    ("storage_used", "{}"), ("epochs_run", "{}"), ("best_epoch", "{}"),
    ("seconds_per_epoch", "{:.2f}"), ("cells_per_second", "{:,.0f}"), ("train_seconds", "{:.1f}"),
    ("peak_rss_gb", "{:.2f}"), ("sparse_gb", "{:.2f}"), ("peak_gpu_gb", "{:.2f}"),
    ("cf_anchored_cells_per_second", "{:,.0f}"), ("cf_mixed_cells_per_second", "{:,.0f}"),
]  # fmt: skip


def table(rows: list[dict]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['part']} | {r.get('cells')} | error: {r['error']} |")
            continue
        cells = [fmt.format(r[c]) if r.get(c) is not None else "-" for c, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000])
    parser.add_argument("--genes", type=int, nargs="+", default=[2_000])
    parser.add_argument("--batches", type=int, nargs="+", default=[10])
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--h5ad", help="benchmark on this file instead of simulated data")
    parser.add_argument("--batch-key", default="batch")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--storage", default="auto", choices=["auto", "dense", "sparse"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--scale-lr", action="store_true", help="lr x batch size / 512")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", default="bench/results.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    sizes = [(None, None, None)] if args.h5ad else itertools.product(
        args.cells, args.genes, args.batches
    )  # fmt: skip
    rows = []
    for (cells, genes, batches), part in itertools.product(sizes, args.parts):
        cfg = {
            "part": part, "cells": cells, "genes": genes, "batches": batches,
            "density": args.density, "h5ad": args.h5ad, "batch_key": args.batch_key,
            "device": args.device, "storage": args.storage, "epochs": args.epochs,
            "patience": args.patience, "batch_size": args.batch_size, "lr": args.lr,
            "threads": args.threads, "precision": args.precision, "scale_lr": args.scale_lr,
        }  # fmt: skip
        rows.append(run_isolated(cfg))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

"""MEDL next to scVI on the same data, machine and run: cells/s and time to convergence.

scvi-tools needs numpy >= 2, which R's reticulate 1.28 cannot load, so it lives in its own
virtual environment (``bench/.scvi-venv``, built on first use; ``--scvi-python`` points at
another). Not part of the test command.

    python bench/scvi_compare.py --cells 10000 --genes 2000 --batches 10 [--device cpu]

Both models get raw counts' information: scVI the counts (its likelihood needs them),
MEDL their log1p (its input is log-normalised expression). Sizes: MEDL hidden (512, 132),
latent 2; scVI two hidden layers of 512 (its layers share one width), latent 2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench.py: the shared data generator
VENV = HERE / ".scvi-venv"

SCVI_WORKER = """
import json, sys, time
import anndata as ad, scvi, torch
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"]) if cfg["threads"] else None
adata = ad.read_h5ad(cfg["path"])
scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
model = scvi.model.SCVI(adata, n_hidden=512, n_layers=2, n_latent=2)
t0 = time.perf_counter()
model.train(max_epochs=cfg["epochs"], batch_size=cfg["batch_size"], train_size=0.8,
            early_stopping=True, early_stopping_patience=cfg["patience"],
            accelerator="gpu" if cfg["device"] == "cuda" else "cpu", enable_progress_bar=False)
seconds = time.perf_counter() - t0
epochs = len(model.history["elbo_train"])
print(json.dumps({"model": "scVI " + scvi.__version__, "epochs_run": epochs,
                  "train_seconds": seconds,
                  "cells_per_second": 0.8 * adata.n_obs * epochs / seconds}))
"""


def scvi_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"building {VENV} (scvi-tools, once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        # the same torch as medl's environment, so both run the same kernels
        import torch

        subprocess.run(pip + [f"torch=={torch.__version__.split('+')[0]}"], check=True)
        subprocess.run(pip + ["scvi-tools"], check=True)
    return str(python)


def write_data(path: Path, cells: int, genes: int, batches: int, density: float) -> None:
    import anndata as ad

    from bench import simulate_sparse

    counts, batch = simulate_sparse(cells, genes, batches, density, counts=True)
    adata = ad.AnnData(X=counts.copy(), layers={"counts": counts})
    adata.X.data = np.log1p(adata.X.data)
    adata.obs["batch"] = batch
    adata.write_h5ad(path)


def run_medl(path: Path, args) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "bench.py"), "--h5ad", str(path), "--parts", "full",
         "--epochs", str(args.epochs), "--patience", str(args.patience), "--device",
         args.device, "--batch-size", str(args.batch_size), "--threads", str(args.threads),
         "--json", str(path.with_suffix(".medl.json"))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    row = json.loads(path.with_suffix(".medl.json").read_text())[0]
    if "error" in row:
        raise SystemExit(f"MEDL run failed: {row['error']}\n{out.stdout}")
    return {"model": "MEDL (FE+RE)", **{k: row[k] for k in ("epochs_run", "train_seconds",
                                                           "cells_per_second")}}  # fmt: skip


def run_scvi(path: Path, args) -> dict:
    cfg = {
        "path": str(path), "epochs": args.epochs, "patience": args.patience,
        "batch_size": args.batch_size, "device": args.device, "threads": args.threads,
    }  # fmt: skip
    return run_worker(scvi_python(args.scvi_python), SCVI_WORKER, json.dumps(cfg))


def run_worker(python: str, code: str, *args: str) -> dict:
    """Run ``code`` in another Python (scvi-tools lives in its own environment) and return
    the JSON object on its last line of output."""
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"scVI run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--scvi-python", help="a Python with scvi-tools installed")
    parser.add_argument("--json", default="bench/scvi_compare.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.h5ad"
        t0 = time.perf_counter()
        write_data(path, args.cells, args.genes, args.batches, args.density)
        print(f"data: {args.cells} x {args.genes}, {time.perf_counter() - t0:.1f} s", flush=True)
        rows = [run_medl(path, args), run_scvi(path, args)]
    medl_row, scvi_row = rows
    ratio = {
        "cells_per_second_ratio": medl_row["cells_per_second"] / scvi_row["cells_per_second"],
        "time_to_convergence_ratio": scvi_row["train_seconds"] / medl_row["train_seconds"],
    }
    print("| model | epochs | train s | cells/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['epochs_run']} | {r['train_seconds']:.1f} | "
              f"{r['cells_per_second']:,.0f} |")  # fmt: skip
    print(
        f"MEDL/scVI cells/s: {ratio['cells_per_second_ratio']:.2f}x; "
        f"scVI/MEDL time to convergence: {ratio['time_to_convergence_ratio']:.2f}x"
    )
    Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, **ratio}, indent=1))


if __name__ == "__main__":
    main()

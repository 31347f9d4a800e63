"""Time to a correct result: MEDL's defaults, the paper's model, a plain conditional VAE and
scVI's defaults, side by side in one run, on the same data and machine.

Each fit runs in a process of its own (so its peak memory is its own) and reports:
- seconds (fit only), epochs, optimizer steps, the process's peak resident memory;
- the quality reached in that time: the latent's kNN cell-type purity and batch entropy
  (next to the entropy's ceiling, ``metrics.batch_entropy_ceiling``); on Kang the
  counterfactuals' interferon-panel shift, gene r and population-specific R², both ways.

Data: ``medl.datasets.simulate`` with 2,000 genes and 3 batches at each ``--sizes``, and the
Kang PBMCs (2,000 cells, the 2,000 most variable genes plus the interferon panel) when
``--data`` holds them. scVI runs in bench/.peers-venv (built on first use by compare.py).

    python bench/time_to_result.py --out docs/benchmarks.md   # the table between its markers
    python bench/time_to_result.py --sizes 2000 --models medl cvae --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ["medl", "before", "paper", "cvae", "scvi"]
# The default before issue 22 (paper widths for both networks, one anchor pair per cell, Adam
# 1e-3, about 16 minibatches per epoch, scvi-tools' epoch rule, at least 1,000 steps): the
# row the new default's time and accuracy are measured against.
BEFORE = {"hidden": (512, 132), "re_hidden": (512, 132), "anchor_pairs": 1.0, "lr": 1e-3}
BEFORE_FIT = {"min_steps": 1000, "step_budget": None, "batches_per_epoch": 16}

SCVI_WORKER = """
import json, sys, time, resource
import anndata as ad, numpy as np, scvi, torch
adata = ad.read_h5ad(sys.argv[1])
adata.obs["batch"] = adata.obs["batch"].astype("category")
scvi.settings.seed = int(sys.argv[3])
scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
t0 = time.perf_counter()
model = scvi.model.SCVI(adata)
model.train(accelerator="cpu", enable_progress_bar=False)
seconds = time.perf_counter() - t0
arrays = {"latent": model.get_latent_representation()}
if sys.argv[4] == "1":
    for b in adata.obs["batch"].cat.categories:
        expr = model.get_normalized_expression(transform_batch=[b], library_size=1e4,
                                               return_numpy=True)
        arrays["cf/" + b] = np.log1p(expr).astype(np.float32)
np.savez(sys.argv[2], **arrays)
steps = int(model.trainer.global_step) if hasattr(model, "trainer") else None
print(json.dumps({"seconds": seconds, "epochs": len(model.history["elbo_train"]),
                  "steps": steps,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


# ---------------------------------------------------------------------------------- data
def shape(name: str) -> tuple[int, int, int]:
    """A simulated dataset's name: ``CELLS`` (2,000 genes, 3 batches) or ``CELLSxGENESxBATCHES``."""
    parts = [int(p) for p in name.split("x")]
    return (parts[0], 2000, 3) if len(parts) == 1 else tuple(parts)


def load(name: str, data_dir: str):
    """``("sim", n)`` or Kang: the AnnData every model of that row is fitted on."""
    import numpy as np
    import scipy.sparse as sp

    import medl

    if name == "kang":
        import compare
        from reproduce import kang

        a = kang(Path(data_dir) / "kang_ifnb_pbmc_2k.h5ad", 2000, keep_genes=compare.PANEL)
        a.obs["batch"] = a.obs["condition"].astype(str).astype("category")
    else:
        cells, genes, batches = shape(name)
        a = medl.datasets.simulate(n_cells=cells, n_genes=genes, n_batches=batches, seed=0)
    a.obs["cell_type"] = a.obs["cell_type"].astype(str).astype("category")
    a.X = sp.csr_matrix(a.X, dtype=np.float32)
    return a


# ------------------------------------------------------------------------------- workers
def fit_one(model: str, name: str, seed: int, data_dir: str) -> dict:
    """Fit ``model`` on dataset ``name`` in this process; the row of the table."""
    import numpy as np

    import medl

    a = load(name, data_dir)
    X, batch = a.X, a.obs["batch"]
    kang = name == "kang"
    t0 = time.perf_counter()
    if model in ("medl", "before", "paper"):
        kwargs = {"medl": {}, "before": BEFORE, "paper": {"variant": "paper"}}[model]
        if model == "before":
            # the schedule as it was: the design's fit defaults, which MEDL.fit reads
            m = medl.MEDL(seed=seed, **kwargs)
            schedule = {**m._fit_defaults(), **BEFORE_FIT}
            m._fit_defaults = lambda: schedule
            m.fit(X, batch, progress=False)
        else:
            m = medl.MEDL(seed=seed, **kwargs).fit(X, batch, progress=False)
        seconds = time.perf_counter() - t0
        info = m.fit_info
        row = {"epochs": info["epochs"], "steps": info["steps"], "device": info["device"]}
        latent = m.fixed_effects(X)
        predict = lambda t: m.counterfactual(X, batch, t)  # noqa: E731
        own = m.reconstruct_random(X, batch) if kang else None
    elif model == "cvae":
        import cvae_reference as ref

        codes = batch.cat.codes.to_numpy()
        dense = X.toarray()
        net = ref.fit_cvae(dense, codes, len(batch.cat.categories), seed=seed)
        seconds = time.perf_counter() - t0
        row = {"epochs": 150, "steps": 150 * -(-len(codes) // 128)}
        with __import__("torch").no_grad():
            import torch

            x = torch.as_tensor(dense)
            onehot = torch.nn.functional.one_hot(torch.as_tensor(codes).long()).float()
            latent = net.posterior(x, onehot)[0].numpy()
        cats = list(batch.cat.categories)
        predict = lambda t: ref.counterfactual(net, dense, codes, cats.index(t))  # noqa: E731
        own = np.stack([ref.counterfactual(net, dense, codes, i) for i in range(len(cats))])
        own = own[codes, np.arange(len(codes))] if kang else None
    else:
        return fit_scvi(a, name, seed, kang)
    row.update(seconds=seconds)
    row.update(quality(a, latent, predict, own, kang))
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def fit_scvi(a, name: str, seed: int, kang: bool) -> dict:
    import numpy as np

    import compare

    python = compare.peers_python()
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.h5ad", Path(tmp) / "out.npz"
        import anndata as ad

        lean = ad.AnnData(X=a.X, obs=a.obs[["batch", "cell_type"]].copy(),
                          layers={"counts": a.layers["counts"]})  # fmt: skip
        lean.write_h5ad(data)
        cmd = [python, "-c", SCVI_WORKER, str(data), str(out), str(seed), "1" if kang else "0"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"scVI failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        arrays = dict(np.load(out))
    codes = a.obs["batch"].astype(str).to_numpy()
    own = None
    if kang:
        own = np.empty(a.shape, dtype=np.float32)
        for b in np.unique(codes):
            own[codes == b] = arrays[f"cf/{b}"][codes == b]
    row.update(quality(a, arrays["latent"], lambda t: arrays[f"cf/{t}"], own, kang))
    return row


def quality(a, latent, predict, own, kang: bool) -> dict:
    import medl

    obs = a.obs
    out = {
        "purity": medl.metrics.knn_purity(latent, obs["cell_type"]),
        "entropy": medl.metrics.batch_entropy(latent, obs["batch"]),
        "ceiling": medl.metrics.batch_entropy_ceiling(obs["batch"], obs["cell_type"]),
    }
    if kang:
        import compare

        data = compare.Dataset("kang", a, False, [("ctrl", "stim"), ("stim", "ctrl")])
        cf = compare.Counterfactual(predict, own, 0.0)
        both = compare.real_counterfactual_scores(data, {"m": cf})
        for key, direction in (("", "ctrl -> stim"), ("_back", "stim -> ctrl")):
            s = both[direction].loc["m"]
            out[f"panel{key}"] = s["panel shift"]
            out[f"gene_r{key}"] = s["gene r"]
            out[f"r2{key}"] = s["population-specific R²"]
    return {k: float(v) for k, v in out.items()}


def run(model: str, name: str, seed: int, data_dir: str, threads: int | None) -> dict:
    """One fit in a fresh process (its own peak memory and thread pool)."""
    env = dict(os.environ)
    if threads:
        env["MEDL_BENCH_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "_one", model, name, str(seed), "--data", data_dir]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"data": name, "model": model, "seed": seed, **row}


# -------------------------------------------------------------------------------- report
LABELS = {"medl": "MEDL (defaults)", "before": "MEDL defaults before issue 22",
          "paper": "MEDL variant='paper'", "cvae": "plain conditional VAE",
          "scvi": "scVI 1.4.2 (defaults)"}  # fmt: skip


def table(rows: list[dict]) -> str:
    head = ("| data | model | seed | seconds | epochs | steps | peak RSS GB | FE purity | "
            "batch entropy (ceiling) | Kang panel / gene r / R² | back: panel / R² |")  # fmt: skip
    lines = [head, "|---" * 11 + "|"]
    for r in rows:
        if r["data"] == "kang":
            data = "Kang 2,000 x 2,005"
        else:
            cells, genes, batches = shape(r["data"])
            data = f"sim {cells:,} x {genes:,}" + (f", {batches} batches" if batches != 3 else "")
        kang = back = ""
        if "panel" in r:
            kang = f"{r['panel']:.2f} / {r['gene_r']:.3f} / {r['r2']:.3f}"
            back = f"{r['panel_back']:.2f} / {r['r2_back']:.3f}"
        steps = "" if r.get("steps") is None else f"{r['steps']:,}"
        lines.append(
            f"| {data} | {LABELS[r['model']]} | {r['seed']} | {r['seconds']:.1f} | "
            f"{r['epochs']} | {steps} | {r['peak_rss_gb']:.2f} | {r['purity']:.3f} | "
            f"{r['entropy']:.3f} ({r['ceiling']:.3f}) | {kang} | {back} |"
        )
    return "\n".join(lines)


START, END = "<!-- time_to_result: start -->", "<!-- time_to_result: end -->"


def write_section(path: Path, text: str, args: argparse.Namespace) -> None:
    """Put the table between the markers in ``path`` (appended with them when absent)."""
    import platform

    import torch

    stamp = (f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
             f"torch {torch.__version__}, `bench/time_to_result.py "
             f"{' '.join(sys.argv[1:])}`")  # fmt: skip
    block = f"{START}\n_{stamp}_\n\n{text}\n{END}"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n## Time to a correct result\n" + block + "\n"
    path.write_text(new)


def earlier_rows(path: Path) -> list[dict]:
    """The rows of an earlier run: its ``--json`` file, or the JSON lines of its output."""
    text = path.read_text()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["500", "2000", "10000", "100000"],
                        help="simulated data: CELLS or CELLSxGENESxBATCHES")  # fmt: skip
    parser.add_argument("--no-kang", action="store_true", help="skip the Kang row")
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads per fit")
    parser.add_argument("--skip", nargs="*", default=[], help="MODEL:SIZE pairs not to run")
    parser.add_argument("--out", help="write the markdown table here")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument(
        "--merge",
        nargs="*",
        default=[],
        help="rows of earlier runs (--json files, or their logs) to put first",
    )
    args = parser.parse_args()
    names = list(args.sizes)
    if not args.no_kang and (Path(args.data) / "kang_ifnb_pbmc_2k.h5ad").exists():
        names.append("kang")
    rows, start = [r for path in args.merge for r in earlier_rows(Path(path))], time.perf_counter()
    for name in names:
        for model in args.models:
            if f"{model}:{name}" in args.skip:
                continue
            for seed in args.seeds:
                rows.append(run(model, name, seed, args.data, args.threads))
                print(json.dumps(rows[-1]), flush=True)
    text = table(rows)
    print(text)
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.out:
        write_section(Path(args.out), text, args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def _worker() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cmd")
    parser.add_argument("model")
    parser.add_argument("name")
    parser.add_argument("seed", type=int)
    parser.add_argument("--data")
    args = parser.parse_args()
    if os.environ.get("MEDL_BENCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["MEDL_BENCH_THREADS"]))
    print(json.dumps(fit_one(args.model, args.name, args.seed, args.data)), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        _worker()
    else:
        main()

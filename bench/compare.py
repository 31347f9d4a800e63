"""MEDL side by side with Harmony, scVI, scANVI, Scanorama and counterfactual baselines.

Writes docs/comparison.md and docs/figures/compare_*.png from ONE run: every method sees
the same data, preprocessing and seed on the same machine. The peers run in their own
environment (bench/.peers-venv, built on first use from bench/peers-requirements.txt)
through ``bench/compare_peers.py``; data and results pass between the two as files.

    python bench/compare.py [--data ../shared/data] [--out docs] [--seed 0] [--quick]

``--quick`` shrinks the data and epoch budgets to smoke-test the pipeline (minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

import medl
from medl import metrics
from medl.datasets import true_counterfactual
from medl.model.baselines import knn_counterfactual, mean_shift_counterfactual

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from reproduce import kang  # noqa: E402  (bench/ is not a package)

VENV = HERE / ".peers-venv"
REQUIREMENTS = HERE / "peers-requirements.txt"
PANEL = ["ISG15", "IFI6", "IFIT1", "IFIT3", "MX1", "ISG20", "LY6E", "IFITM3", "OAS1", "IFIT2",
         "RSAD2", "IFI44L"]  # fmt: skip
#: MEDL configurations compared; later entries are alternatives to the default
MEDL_RUNS: dict[str, dict] = {
    "MEDL": {},
    "MEDL output-layer effects": {"batch_layers": 1},
    "MEDL paper": {"variant": "paper"},
}
#: cached paper datasets usable here: loader, batch column, cell-type column
PAPER_DATA = {
    "AML (van Galen 2019)": ("aml_van_galen", "GSE116256/aml_van_galen.h5ad", "donor", "CellType"),
    "ASD (Velmeshev 2019)": ("asd_velmeshev", "velmeshev_autism/asd_velmeshev.h5ad",
                             "individual", "cluster"),
}  # fmt: skip


# ------------------------------------------------------------------------- environment
def peers_python() -> str:
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        print(f"building {VENV} (scvi-tools, harmonypy, scib-metrics, scanorama)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + ["-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(REQUIREMENTS.read_text())
    return str(python)


def peers(*args: str) -> None:
    cmd = [peers_python(), str(HERE / "compare_peers.py"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


# -------------------------------------------------------------------------------- data
@dataclass
class Dataset:
    name: str
    adata: ad.AnnData  # X log-normalised (CSR), layers["counts"], obs batch / cell_type
    truth: bool  # simulated: true counterfactuals in layers
    directions: list[tuple[str, str]]  # (from batch, to batch) pairs scored on real data


def with_pca(adata: ad.AnnData, seed: int) -> ad.AnnData:
    n_comps = min(50, adata.n_vars - 1, adata.n_obs - 1)
    adata.obsm["X_pca"] = sc.pp.pca(adata.X.toarray(), n_comps=n_comps, random_state=seed)
    return adata


def simulated(confounding: float, n_cells: int, seed: int) -> ad.AnnData:
    data = medl.datasets.simulate(
        n_cells=n_cells, n_genes=500, n_batches=6, n_cell_types=4, batch_effect=1.0,
        interaction=0.5, confounding=confounding, seed=seed,
    )  # fmt: skip
    return data


def datasets(args: argparse.Namespace) -> tuple[list[Dataset], list[str]]:
    n_sim = 600 if args.quick else 1200
    found = [
        Dataset("Simulated, batch independent of cell type", simulated(0.0, n_sim, args.seed),
                True, []),
        Dataset("Simulated, cell types confounded with batch (0.8)",
                simulated(0.8, n_sim, args.seed), True, []),
    ]  # fmt: skip
    notes = []
    kang_file = Path(args.data) / "kang_ifnb_pbmc_2k.h5ad"
    if kang_file.exists():
        pbmc = kang(kang_file, 500 if args.quick else 1000, keep_genes=PANEL)
        pbmc.obs["batch"] = pbmc.obs["condition"].astype("category")
        found.append(Dataset("Kang 2018 IFN-beta PBMCs (batch = condition)", pbmc, False,
                             [("ctrl", "stim"), ("stim", "ctrl")]))  # fmt: skip
    else:
        notes.append(f"Kang PBMCs not found at {kang_file}: skipped.")
    cache = medl.datasets.cache_dir()
    for name, (_, rel, batch_key, label_key) in PAPER_DATA.items():
        path = cache / rel
        if not path.exists():
            notes.append(f"{name}: not in the download cache ({path}); skipped.")
            continue
        raw = ad.read_h5ad(path)
        if not medl.pp.looks_like_counts(raw):
            notes.append(f"{name}: cached values are not raw counts (scVI needs counts); skipped.")
            continue
        keep = np.random.default_rng(args.seed).permutation(raw.n_obs)[:10_000]
        data = medl.pp.preprocess(raw[np.sort(keep)].copy(), n_top_genes=2000)
        data.obs["batch"] = data.obs[batch_key].astype(str).astype("category")
        data.obs["cell_type"] = data.obs[label_key].astype(str).astype("category")
        found.append(Dataset(name, data, False, []))
    notes.append("Healthy Heart (figshare): no loader mapping for batch and cell type here.")
    for d in found:
        d.adata.obs["cell_type"] = d.adata.obs["cell_type"].astype("category")
        d.adata.X = sp.csr_matrix(d.adata.X, dtype=np.float32)
        with_pca(d.adata, args.seed)
    return found, notes


def write_for_peers(data: Dataset, path: Path) -> None:
    a = data.adata
    lean = ad.AnnData(
        X=a.X, obs=a.obs[["batch", "cell_type"]].copy(), var=pd.DataFrame(index=a.var_names),
        layers={"counts": sp.csr_matrix(a.layers["counts"])}, obsm={"X_pca": a.obsm["X_pca"]},
    )  # fmt: skip
    lean.write_h5ad(path)


# ------------------------------------------------------------------------------ models
@dataclass
class Counterfactual:
    """A method's answer to "these cells as if from batch B" and its own-batch output."""

    predict: Callable[[str], np.ndarray]  # target batch -> cells x genes, every cell
    own: np.ndarray  # each cell's output for its own batch (the shift's reference)
    seconds: float


def run_medl(data: Dataset, args) -> tuple[dict, dict, dict]:
    X, batch, labels = data.adata.X, data.adata.obs["batch"], data.adata.obs["cell_type"]
    embeddings, cfs, timing = {}, {}, {}
    fit_kw = {"max_epochs": 30} if args.quick else {}
    for name, kwargs in MEDL_RUNS.items():
        t0 = time.perf_counter()
        model = medl.MEDL(seed=args.seed, **kwargs).fit(X, batch, progress=False, **fit_kw)
        seconds = time.perf_counter() - t0
        timing[name] = {"seconds": seconds, "epochs": model.fit_info["epochs"]}
        embeddings[f"{name} FE"] = model.fixed_effects(X)
        embeddings[f"{name} RE"] = model.random_effects(X, batch)
        cfs[name] = Counterfactual(
            lambda target, m=model: m.counterfactual(X, batch, target),
            model.reconstruct_random(X, batch),
            seconds,
        )
        if name != "MEDL":
            continue  # FEC for the default only: one more fit per variant costs minutes
        t0 = time.perf_counter()
        fec = medl.MEDL(seed=args.seed, **kwargs).fit(X, batch, labels, progress=False, **fit_kw)
        timing[f"{name} FEC"] = {
            "seconds": time.perf_counter() - t0,
            "epochs": fec.fit_info["epochs"],
        }
        embeddings[f"{name} FEC"] = fec.fixed_effects(X)
    return embeddings, cfs, timing


def baseline_counterfactuals(data: Dataset, args) -> dict[str, Counterfactual]:
    X, batch = data.adata.X, data.adata.obs["batch"]
    pcs = data.adata.obsm["X_pca"]
    t0 = time.perf_counter()
    own_knn = knn_counterfactual(X, batch, batch, embedding=pcs)
    knn_seconds = time.perf_counter() - t0
    return {
        "kNN matcher (k=15, PCA)": Counterfactual(
            lambda t: knn_counterfactual(X, batch, t, embedding=pcs), own_knn, knn_seconds
        ),
        "Global batch-mean shift": Counterfactual(
            lambda t: mean_shift_counterfactual(X, batch, t), X.toarray(), 0.0
        ),
    }


def scvi_counterfactual(data: Dataset, arrays: dict, seconds: float) -> Counterfactual:
    batch = data.adata.obs["batch"].astype(str).to_numpy()
    own = np.empty(data.adata.shape, dtype=np.float32)
    for b in np.unique(batch):
        own[batch == b] = arrays[f"cf/scVI/{b}"][batch == b]
    return Counterfactual(lambda t: arrays[f"cf/scVI/{t}"], own, seconds)


# ----------------------------------------------------------------------------- scoring
def knn_scores(embeddings: dict, data: Dataset) -> pd.DataFrame:
    obs = data.adata.obs
    rows = {
        name: {
            "kNN batch entropy": metrics.batch_entropy(emb, obs["batch"]),
            "kNN cell-type purity": metrics.knn_purity(emb, obs["cell_type"]),
        }
        for name, emb in embeddings.items()
    }
    return pd.DataFrame(rows).T


def group_shifts(
    cf: np.ndarray, own: np.ndarray, truth: np.ndarray, cells: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group mean predicted (cf - own) and true shifts over ``cells``."""
    levels = [g for g in np.unique(groups[cells]) if (cells & (groups == g)).sum() >= 10]
    pred = np.stack([(cf - own)[cells & (groups == g)].mean(0) for g in levels])
    true = np.stack([truth[cells & (groups == g)].mean(0) for g in levels])
    return pred, true


def simulated_counterfactual_scores(data: Dataset, methods: dict) -> pd.DataFrame:
    a = data.adata
    batch = a.obs["batch"].astype(str).to_numpy()
    types = a.obs["cell_type"].astype(str).to_numpy()
    truth_own = true_counterfactual(a, batch)
    rows = {}
    for name, method in methods.items():
        per_target = []
        for target in np.unique(batch):
            moved = batch != target
            cf = method.predict(target)
            truth = true_counterfactual(a, target)
            pred, true = group_shifts(cf, method.own, truth - truth_own, moved, types)
            s = metrics.shift_scores(pred, true)
            per_target.append({
                "MSE to truth": float(((cf[moved] - truth[moved]) ** 2).mean()),
                "shift r": s["r"], "per-type shift r": s["r_per_group"],
                "type-specific shift r": s["specific_r"],
            })  # fmt: skip
        rows[name] = pd.DataFrame(per_target).mean().to_dict()
        rows[name]["seconds"] = method.seconds
    return pd.DataFrame(rows).T


def real_counterfactual_scores(data: Dataset, methods: dict) -> dict[str, pd.DataFrame]:
    a = data.adata
    X = a.X.toarray()
    batch = a.obs["batch"].astype(str).to_numpy()
    types = a.obs["cell_type"].astype(str).to_numpy()
    panel = [a.var_names.get_loc(g) for g in PANEL if g in a.var_names]
    out = {}
    for source, target in data.directions:
        src, dst = batch == source, batch == target
        pops = [t for t in np.unique(types) if (src & (types == t)).sum() >= 20
                and (dst & (types == t)).sum() >= 20]  # fmt: skip
        observed = np.stack([X[dst & (types == t)].mean(0) - X[src & (types == t)].mean(0)
                             for t in pops])  # fmt: skip
        overall = X[dst].mean(0) - X[src].mean(0)
        rows = {"observed": {"panel shift": float(overall[panel].mean()), "gene r": 1.0,
                             "population-specific R²": 1.0}}  # fmt: skip
        for name, method in methods.items():
            shift = method.predict(target) - method.own
            pred = np.stack([shift[src & (types == t)].mean(0) for t in pops])
            s = metrics.shift_scores(pred, observed)
            rows[name] = {
                "panel shift": float(shift[src][:, panel].mean()),
                "gene r": float(np.corrcoef(shift[src].mean(0), overall)[0, 1]),
                "population-specific R²": s["specific_r2"],
            }
        out[f"{source} -> {target}"] = pd.DataFrame(rows).T
        out[f"{source} -> {target}"].attrs["populations"] = pops
    return out


# ------------------------------------------------------------------------------ report
def fmt(table: pd.DataFrame, digits: int = 3) -> str:
    cols = list(table.columns)
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if pd.isna(v):
                cells.append("")
            elif c in ("epochs",):
                cells.append(f"{int(v)}")
            elif c == "seconds":
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


INTEGRATION_COLUMNS = {
    "Batch ASW (scIB)": "batch ASW", "iLISI": "iLISI", "KBET": "kBET",
    "kNN batch entropy": "kNN batch entropy", "Silhouette label": "cell-type ASW",
    "cLISI": "cLISI", "kNN cell-type purity": "kNN purity", "Leiden NMI": "NMI",
    "Leiden ARI": "ARI", "Batch correction": "batch score", "Bio conservation": "bio score",
    "Total": "scIB total",
}  # fmt: skip


def integration_table(scib: pd.DataFrame, knn: pd.DataFrame, timing: dict) -> pd.DataFrame:
    table = scib.join(knn)[list(INTEGRATION_COLUMNS)].rename(columns=INTEGRATION_COLUMNS)
    times = {e: timing.get(e.removesuffix(" FE").removesuffix(" RE"), {}) for e in table.index}
    table["seconds"] = [times[e].get("seconds", np.nan) for e in table.index]
    table["epochs"] = [times[e].get("epochs", np.nan) for e in table.index]
    return table


PEERS = ["Harmony", "Scanorama", "scVI", "scANVI"]


def verdict_integration(table: pd.DataFrame) -> str:
    """Where MEDL FE stands against the best peer, metric by metric (generated)."""
    lines = ["Where MEDL FE stands (generated from the table above):"]
    for col in ("kNN batch entropy", "iLISI", "kNN purity", "NMI", "scIB total"):
        best = table.loc[PEERS, col].idxmax()
        fe, peer = table.loc["MEDL FE", col], table.loc[best, col]
        word = "ties with" if abs(fe - peer) < 5e-4 else "beats" if fe > peer else "loses to"
        lines.append(f"- {col}: MEDL FE {fe:.3f} {word} the best peer, {best} ({peer:.3f}).")
    return "\n".join(lines)


def verdict_counterfactual(table: pd.DataFrame, col: str, low: bool) -> str:
    ranked = table[col].sort_values(ascending=low)
    order = ", ".join(f"{m} {v:.3f}" for m, v in ranked.items())
    return f"Ranked by {col} ({'lower' if low else 'higher'} is better): {order}."


def figure(embeddings: dict, data: Dataset, path: Path) -> None:
    from medl.plotting import latent_umaps

    fig = latent_umaps(embeddings, data.adata.obs, ["batch", "cell_type"], path)
    import matplotlib.pyplot as plt

    plt.close(fig)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")[:40]


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} CPU cores ({cpu}), no GPU; torch threads "
            f"{torch.get_num_threads()}; Python {platform.python_version()}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--out", default="docs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    out, figures = Path(args.out), Path(args.out) / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.time()
    peers("selfcheck")
    found, notes = datasets(args)
    sections, versions = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(found):
            print(f"[{time.time() - start:.0f} s] {data.name}", flush=True)
            h5ad, npz = Path(tmp) / f"d{i}.h5ad", Path(tmp) / f"d{i}.peers.npz"
            write_for_peers(data, h5ad)
            peers("fit", str(h5ad), str(npz), "--seed", str(args.seed))
            arrays = dict(np.load(npz))
            info = json.loads(Path(str(npz) + ".json").read_text())
            versions = info["versions"]
            timing = {"PCA": {"seconds": np.nan}, **info["timing"]}
            medl_emb, medl_cf, medl_timing = run_medl(data, args)
            timing.update(medl_timing)
            embeddings = {"PCA": data.adata.obsm["X_pca"]}
            for peer in ("Harmony", "Scanorama", "scVI", "scANVI"):
                embeddings[peer] = arrays[f"emb/{peer}"]
            embeddings.update(medl_emb)
            emb_file = Path(tmp) / f"d{i}.emb.npz"
            np.savez(emb_file, **embeddings)
            scib_csv = Path(tmp) / f"d{i}.scib.csv"
            peers("score", str(h5ad), str(emb_file), str(scib_csv))
            scib = pd.read_csv(scib_csv, index_col=0)
            integ = integration_table(scib, knn_scores(embeddings, data), timing)
            fig_path = figures / f"compare_{slug(data.name)}.png"
            figure(embeddings, data, fig_path)
            methods = {**medl_cf, "scVI transform_batch": scvi_counterfactual(
                data, arrays, timing["scVI"]["seconds"])}  # fmt: skip
            methods.update(baseline_counterfactuals(data, args))
            a = data.adata
            text = [f"## {data.name}", "",
                    f"{a.n_obs} cells x {a.n_vars} genes, {a.obs['batch'].nunique()} batches, "
                    f"{a.obs['cell_type'].nunique()} cell types.", "", "### Integration", "",
                    fmt(integ), "", f"![UMAPs](figures/{fig_path.name})", ""]  # fmt: skip
            ceiling = metrics.batch_entropy_ceiling(a.obs["batch"], a.obs["cell_type"])
            text += [verdict_integration(integ), "",
                     f"kNN batch entropy ceiling (cell types apart, batches mixed within each "
                     f"type; above it, types were merged): {ceiling:.3f}.", ""]  # fmt: skip
            if data.truth:
                cf_table = simulated_counterfactual_scores(data, methods)
                text += ["### Counterfactuals against the simulated truth", "",
                         "Every cell moved to every other batch; scores averaged over target "
                         "batches.", "", fmt(cf_table), "",
                         verdict_counterfactual(cf_table, "MSE to truth", True), ""]  # fmt: skip
            for direction, table in real_counterfactual_scores(data, methods).items():
                pops = ", ".join(table.attrs["populations"])
                text += [f"### Counterfactuals, {direction}", "",
                         f"Populations scored: {pops}.", "", fmt(table), "",
                         verdict_counterfactual(
                             table.drop(index="observed"), "population-specific R²", low=False
                         ), ""]  # fmt: skip
            sections.append("\n".join(text))
            (out / "comparison.md").write_text(report(sections, notes, versions, args, start))
    print(f"wrote {out / 'comparison.md'} in {(time.time() - start) / 60:.1f} min")


def report(sections: list[str], notes: list[str], versions: dict, args, start: float) -> str:
    import torch

    seed = args.seed
    head = f"""# MEDL side by side with the peers

Generated by `make compare` (`python bench/compare.py`{" --quick" if args.quick else ""}) in one
run; do not edit by hand. Run time: {(time.time() - start) / 60:.1f} min.
Machine: {machine()}. Seed {seed} for every method and for the data.
Versions: medl {medl.__version__}, torch {torch.__version__}, scanpy {sc.__version__};
peers environment: {", ".join(f"{k} {v}" for k, v in versions.items())}.

## Settings (each method with its own defaults)
- Preprocessing, the same for all: log-normalised expression (1e4 per cell, log1p) of the
  genes listed per dataset; scVI/scANVI get the raw counts of the same genes and cells. PCA:
  scanpy, 50 components of the log-normalised matrix (input to Harmony and the kNN matcher).
- Harmony: harmonypy `run_harmony` on the 50 PCs, batch key only, defaults.
- Scanorama: `integrate_scanpy` per batch, defaults (100-d output).
- scVI: `SCVI(adata)` defaults (10-d latent, 1 hidden layer of 128, ZINB), `train()`
  defaults (max_epochs = min(400, 20000 / n * 400), no early stopping).
- scANVI: `SCANVI.from_scvi_model(scvi, labels_key="cell_type")` with every cell labelled,
  `train()` defaults; its time includes the scVI pre-training.
- MEDL: `MEDL()` and `fit()` defaults, i.e. `variant="variational"` (docs/method.md: FE is a
  mixed-effects VAE, 10-d latents, Adam 3e-3, 700 optimizer steps at about n/8 per minibatch);
  `MEDL FEC` adds the cell-type labels. `MEDL paper`: `MEDL(variant="paper")`, the published
  model as specified (2-d latents, lr 1e-4, minibatch 512, up to 500 epochs). `MEDL
  output-layer effects`: the default with per-batch blocks on the decoder's output layer
  only (`batch_layers=1`) instead of every layer. `... RE` is the batch-specific
  space, shown for contrast: it should NOT mix.
- Counterfactuals: MEDL `counterfactual()` (each variant's default mode: the default's
  `"anchored"`, the code carried along the anchor pairs, then decoded, plus the mean
  residual of the cell's 30 nearest cells of B in the code; the paper's: uncorrected); scVI
  `get_normalized_expression(transform_batch=B, library_size=1e4)` then log1p (X's scale);
  kNN matcher: the mean of the cell's 15 nearest cells of batch B in the PCA space; global
  shift: the cell plus mean(B) - mean(own).
  Each method's shift is its output for B minus its output for the cell's own batch.
- scGen and CPA: not run. scgen 2.1.0 (the newest) imports `scvi._compat`, which
  scvi-tools 1.x removed, so it fails at import beside scvi-tools; cpa-tools 0.8.x pins
  scvi-tools 0.20 and torch 1.13 and cannot share the environment.

## Metrics
- scib-metrics (`Benchmarker`, Leiden NMI/ARI instead of k-means), plus scIB's batch ASW
  per cell type (`silhouette_batch`). "batch score", "bio score" and "scIB total"
  (0.4 x batch + 0.6 x bio) are scib-metrics' unscaled aggregates. kNN batch entropy
  (50 neighbours, 0 = unmixed, 1 = even) and kNN cell-type purity (15 neighbours) are
  `medl.metrics`. The metric code is checked on a perfectly mixed and a perfectly separated
  embedding before every run (`compare_peers.py selfcheck`) and in the test suite.
- Simulated counterfactuals (known truth): MSE of the predicted profile to the noise-free
  truth; Pearson r over genes of the mean shift (what a global shift already gives), the
  mean per-cell-type r, and r of the type-specific part (each type's shift minus the mean
  over types: what a global shift cannot give; 0 for it by construction). The simulation is
  `medl.datasets.simulate(2400 cells, 500 genes, 6 batches, 4 types, batch_effect=1,
  interaction=0.5)`: docs/results.md's two regimes plus a cell-type x batch effect, so that
  the type-specific part exists.
- Kang counterfactuals: panel shift = mean predicted shift of the interferon panel
  ({", ".join(PANEL)}) against the observed mean difference; gene r = correlation over genes
  of the predicted and observed mean shift; population-specific R² = squared correlation
  over population x gene entries of each marker-defined population's shift minus the mean
  over populations (observed: stimulated minus control cells of the population).
"""
    tail = ["## Datasets not run", "", *[f"- {n}" for n in notes], ""]
    return "\n\n".join([head, *sections, "\n".join(tail)])


if __name__ == "__main__":
    main()

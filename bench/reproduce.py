"""Regenerate docs/results.md: cross-validated scores, MEC and counterfactual checks.

Runs on two simulated regimes (batch independent of cell type; cell types confounded with
batch) and on the real Kang et al. IFN-beta PBMC subset from ``../shared/data`` (skipped,
and said so in the report, when the file is absent). ``--quick`` uses 3 folds and 30
epochs to smoke-test the script.

    python bench/reproduce.py [--data DIR] [--out docs] [--folds 5] [--epochs 100] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

import medl
from medl import evaluate, plotting
from medl.datasets import true_counterfactual
from medl.genomap import gene_layout, genomap_panels

ISGS = ["ISG15", "IFI6", "IFIT1", "IFIT3", "MX1", "ISG20", "LY6E", "OAS1", "IFITM3"]
MARKERS = {  # canonical PBMC markers; scored on all genes, each cell takes its best set
    "CD14 Mono": ["CD14", "LYZ", "S100A8", "S100A9", "FCN1"],
    "FCGR3A Mono": ["FCGR3A", "MS4A7", "CDKN1C"],
    "CD4 T": ["CD3D", "IL7R", "CCR7"],
    "CD8 T": ["CD8A", "CD8B"],
    "NK": ["GNLY", "NKG7", "KLRD1"],
    "B": ["MS4A1", "CD79A", "CD79B"],
    "DC": ["FCER1A", "CLEC10A"],
    "Megakaryocyte": ["PPBP", "PF4"],
}
PAPER_ASW = """Paper (spec section 6, 2-d latents, ASW batch / cell type): ASDc PCA -0.31 / 0.07,
AE -0.22 / 0.33, FE -0.23 / 0.20, RE -0.11 / -0.19, AEC -0.26 / 0.36, FEC -0.22 / 0.27;
AMLh PCA -0.28 / -0.09, AE -0.19 / 0.03, FE -0.30 / -0.05, RE 0.32 / -0.36. MEC (accuracy):
ASDc diagnosis PCA 52.8%, FE 52.4%, FE+RE 94.6%; AMLh patient group 75.5%, 72.0%, 94.0%."""


SIM_CHECKS_NOTE = " ".join(
    """
How to read the checks: they hold the paper's model (2-d latents, pinned by
`MEDL_SETTINGS`) to what the paper claims for it, and say yes or NO for this run only;
docs/comparison.md measures medl's default. Two of them have little room on simulated data.
Where the batches already mix in PCA (the independent regime, PCA batch ASW near 0), "FE
below PCA" can only be met by a hair. Where batch labels follow cell type (the confounded
regime), batch ASW also measures cell-type structure, so a latent that keeps the cell types
keeps batch ASW too. The paper's FE adversary fights its reconstruction and does not reach
chance, and its RE latent is pushed towards batch only by a classifier weighted 0.1 against
110 for reconstruction (the counterfactual sections below turn it off): docs/method.md
gives the measurements behind both, and why the default departs from them.
""".split()
)


#: This page reproduces the paper's model (not medl's default): variant "paper", with the
#: confusion adversary and FE early stopping on the autoencoder loss, as it was first run.
MEDL_SETTINGS = {"variant": "paper", "adversarial_loss": "confusion", "fe_monitor": "autoencoder"}


def settings(args: argparse.Namespace) -> tuple[dict, dict]:
    model = {"latent_dim": 2, "lr": 1e-3, "device": "auto"}
    fit = {"max_epochs": args.epochs, "patience": 20, "batch_size": 256}
    return model, fit


def paper_medl(model_kw: dict) -> medl.MEDL:
    """The paper's MEDL with these settings, without the RE latent classifier."""
    return medl.MEDL(**model_kw, **MEDL_SETTINGS, loss_weights={"re_z": 0.0})


def simulated(confounding: float, seed: int = 0) -> ad.AnnData:
    data = medl.datasets.simulate(
        n_cells=2400, n_genes=500, n_batches=6, n_cell_types=4, batch_effect=1.0,
        confounding=confounding, seed=seed,
    )  # fmt: skip
    # a donor-level attribute: batches 0-2 vs 3-5 (as diagnosis is per donor in the paper)
    codes = data.obs["batch"].cat.codes.to_numpy()
    data.obs["group"] = np.where(codes < 3, "group A", "group B")
    return data


def kang(path: Path, n_genes: int, keep_genes: list[str] = ISGS) -> ad.AnnData:
    """Kang PBMCs: log-normalised, marker-based cell types, HVGs plus ``keep_genes``."""
    raw = ad.read_h5ad(path)
    full = medl.pp.preprocess(raw, n_top_genes=None)
    scores = []
    for name, genes in MARKERS.items():
        sc.tl.score_genes(full, [g for g in genes if g in full.var_names], score_name=name)
        scores.append(full.obs.pop(name).to_numpy())
    full.obs["cell_type"] = pd.Categorical(np.array(list(MARKERS))[np.argmax(scores, axis=0)])
    sc.pp.highly_variable_genes(full, n_top_genes=n_genes, flavor="seurat")
    keep = full.var["highly_variable"].to_numpy() | full.var_names.isin(keep_genes)
    return full[:, keep].copy()


def cv_section(title: str, data: ad.AnnData, args, targets: dict) -> tuple[str, dict]:
    model_kw, fit_kw = settings(args)
    t0 = time.time()
    scores, mec = evaluate.cross_validate(
        data.X, data.obs["batch"], data.obs["cell_type"], targets=targets,
        n_folds=args.folds, model_kwargs=model_kw, fit_kwargs=fit_kw, medl_kwargs=MEDL_SETTINGS,
    )  # fmt: skip
    summary = evaluate.summarize(scores, ["model", "by", "score"])
    asw = summary[summary.score == "asw"]
    lines = [f"### {title}", "", f"{data.n_obs} cells x {data.n_vars} genes, "
             f"{data.obs['batch'].nunique()} batches, {data.obs['cell_type'].nunique()} cell "
             f"types; {args.folds} folds, {time.time() - t0:.0f} s.", "",
             "ASW (test folds, mean ± 95% CI):", "",
             evaluate.to_markdown(asw, "model", "by"), ""]  # fmt: skip
    for score, label in (("lisi", "LISI"), ("entropy", "kNN batch entropy (0-1)")):
        part = summary[(summary.score == score) & (summary.by == "batch")]
        lines += [f"{label} by batch:", "", evaluate.to_markdown(part, "by", "model"), ""]
    if len(mec):
        m = evaluate.summarize(mec, ["target", "features", "metric"])
        acc = m.assign(column=m["features"] + " " + m["metric"].str.replace("_accuracy", " acc."))
        for target in acc["target"].unique():
            part = acc[acc.target == target]
            lines += [f"MEC, target `{target}` (random forest; accuracy / balanced accuracy):",
                      "", evaluate.to_markdown(part, "target", "column"), ""]  # fmt: skip
    means = asw.set_index(["model", "by"])["mean"].to_dict()
    return "\n".join(lines), means


def evidence(means: dict) -> str:
    fe, ae, pca, re = (means.get((m, "batch")) for m in ("FE", "AE", "PCA", "RE"))
    checks = [
        ("FE batch ASW < AE's", fe < ae),
        ("FE batch ASW < PCA's", fe < pca),
        ("RE batch ASW > FE's + 0.1", re > fe + 0.1),
        ("FE cell-type ASW within 0.1 of AE's",
         means[("FE", "cell_type")] > means[("AE", "cell_type")] - 0.1),
    ]  # fmt: skip
    return "Checks: " + "; ".join(f"{name}: **{'yes' if ok else 'NO'}**" for name, ok in checks)


def sim_counterfactuals(data: ad.AnnData, args) -> str:
    model_kw, fit_kw = settings(args)
    model = paper_medl(model_kw).fit(data.X, data.obs["batch"], progress=False, **fit_kw)
    own = np.asarray(data.obs["batch"].astype(str))
    truth_own = true_counterfactual(data, own)
    recon = model.reconstruct_random(data.X, data.obs["batch"])
    rows = []
    for cell_type in data.obs["cell_type"].cat.categories:
        corr = []
        for target in data.obs["batch"].cat.categories:
            cells = (data.obs["cell_type"] == cell_type).to_numpy() & (own != target)
            cf = model.counterfactual(data.X[cells], data.obs["batch"][cells], target)
            predicted = (cf - recon[cells]).mean(0)
            true = (true_counterfactual(data, target)[cells] - truth_own[cells]).mean(0)
            corr.append(np.corrcoef(predicted, true)[0, 1])
        rows.append(f"| {cell_type} | {np.mean(corr):.2f} | {np.min(corr):.2f} |")
    return "\n".join(["| cell type | mean r over targets | lowest r |", "|---|---|---|", *rows])


def r2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def kang_counterfactuals(data: ad.AnnData, args, figures: Path) -> str:
    model_kw, fit_kw = settings(args)
    batch = data.obs["batch"]
    model = paper_medl(model_kw).fit(data.X, batch, progress=False, **fit_kw)
    X = data.X.toarray()
    ctrl = (batch == "ctrl").to_numpy()
    cf = model.counterfactual(data.X[ctrl], batch[ctrl], "stim")
    # shifts are taken against the model's own-batch reconstruction so that the decoder's
    # smoothing bias cancels (as in the simulated check)
    recon = model.reconstruct_random(data.X[ctrl], batch[ctrl])
    genes = [g for g in ISGS if g in data.var_names]
    gi = [data.var_names.get_loc(g) for g in genes]
    isg = [
        "| gene | ctrl observed | ctrl reconstructed | ctrl as stim (MEDL) | stim observed |",
        "|---|---|---|---|---|",
    ]
    for g, i in zip(genes, gi):
        isg.append(f"| {g} | {X[ctrl, i].mean():.2f} | {recon[:, i].mean():.2f} | "
                   f"{cf[:, i].mean():.2f} | {X[~ctrl, i].mean():.2f} |")  # fmt: skip
    global_shift = X[~ctrl].mean(0) - X[ctrl].mean(0)
    rows = ["| cell type | cells ctrl / stim | R² MEDL | R² global shift |", "|---|---|---|---|"]
    types = data.obs["cell_type"].to_numpy()
    scores = []
    for t in pd.unique(types):
        c, s = ctrl & (types == t), ~ctrl & (types == t)
        if c.sum() < 20 or s.sum() < 20:
            continue
        observed = X[s].mean(0) - X[c].mean(0)
        rows_t = types[ctrl] == t
        predicted = cf[rows_t].mean(0) - recon[rows_t].mean(0)
        scores.append((r2(predicted, observed), r2(global_shift, observed)))
        rows.append(f"| {t} | {c.sum()} / {s.sum()} | {scores[-1][0]:.2f} | {scores[-1][1]:.2f} |")
    mean = np.mean(scores, axis=0)
    rows.append(f"| **mean** | | **{mean[0]:.2f}** | **{mean[1]:.2f}** |")
    rows += ["", routing_diagnostics(model, data, gi)]
    umaps(model, data, figures)
    plotting.training_curves(model.history, figures / "kang_training_curves.png")
    title = "Per-cell-type mean shift (stim - ctrl) over all genes:"
    genomap_text = genomaps(model, data, figures)
    return "\n\n".join(["\n".join(isg), title, "\n".join(rows), genomap_text,
                        "![Genomaps](figures/kang_genomaps.png)"])  # fmt: skip


def routing_diagnostics(model: medl.MEDL, data: ad.AnnData, isg_idx: list[int]) -> str:
    """Where does the condition effect travel: through the latent or the per-batch layers?"""
    batch = data.obs["batch"]
    stim = (batch == "stim").to_numpy()
    X = data.X.toarray()
    recon = model.reconstruct_random(data.X[stim], batch[stim])[:, isg_idx].mean()
    as_ctrl = model.counterfactual(data.X[stim], batch[stim], "ctrl")[:, isg_idx].mean()
    probe = LogisticRegression(max_iter=1000)
    re_acc = cross_val_score(probe, model.random_effects(data.X, batch), batch, cv=5).mean()
    return (
        f"Diagnosis: the RE network reconstructs stimulated cells' ISGs (mean {recon:.2f}, "
        f"observed {X[stim][:, isg_idx].mean():.2f}), yet the same cells re-expressed as "
        f"control keep them ({as_ctrl:.2f}); a logistic probe reads the condition from the "
        f"2-d RE latent with {re_acc:.1%} accuracy (5-fold CV). The interferon response is "
        "carried by the latent code, which the encoder reads off the expression itself, not by "
        "the per-batch scale/bias layers; swapping the batch input therefore changes little. "
        "Nothing in the spec's RE network forces batch effects into those layers (its latent "
        "batch classifier pushes batch *into* the latent), so on a batch effect this large "
        "and cell-type specific the counterfactual fails. On the simulated data, whose batch "
        "effects are per-gene shifts, it recovers the truth (table above)."
    )


def umaps(model: medl.MEDL, data: ad.AnnData, figures: Path) -> None:
    latents = {
        "FE": model.fixed_effects(data.X),
        "RE": model.random_effects(data.X, data.obs["batch"]),
    }
    plotting.latent_umaps(latents, data.obs, ["condition", "cell_type"], figures / "kang_umaps.png")


def genomaps(model: medl.MEDL, data: ad.AnnData, figures: Path) -> str:
    """Genomap grid of control and stimulated monocytes and T cells; one layout for all."""
    rng = np.random.default_rng(0)
    layout_cells = rng.choice(data.n_obs, size=min(300, data.n_obs), replace=False)
    t0 = time.time()
    layout = gene_layout(data.X[layout_cells])
    seconds = time.time() - t0
    obs = data.obs.reset_index(drop=True)
    cells = []
    for cell_type in ("CD14 Mono", "CD4 T"):
        for condition in ("ctrl", "stim"):
            hits = obs.index[(obs.cell_type == cell_type) & (obs.condition == condition)]
            cells += list(hits[:1])
    names = [f"{obs.cell_type[i]} {obs.condition[i]}" for i in cells]
    panels = genomap_panels(
        model, data.X, data.obs["batch"], cells, ["ctrl", "stim"], layout=layout, cell_names=names
    )
    plotting.genomap_grid(panels, figures / "kang_genomaps.png")
    return (
        f"Genomaps ({layout.rows} x {layout.cols} grid, {data.n_vars} genes): the gene layout "
        f"was computed once on 300 random cells ({seconds:.0f} s) and reused for every panel. "
        "Rows: one cell each; columns: original profile, FE reconstruction, and the cell as "
        "if control / stimulated (own condition outlined in red)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", default=str(shared))
    parser.add_argument("--out", default="docs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--kang-genes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.folds, args.epochs = 3, 30
    out = Path(args.out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.time()
    parts = [
        "# Results", "",
        "Generated by `make reproduce` (`python bench/reproduce.py`); do not edit by hand.",
        "The paper's model, `MEDL(variant=\"paper\")` (medl's default is another design: see "
        "docs/method.md and, side by side with the peers, docs/comparison.md). "
        f"Settings: latent size 2, hidden (512, 132), Adam lr 1e-3 (the paper uses 1e-4; raised "
        f"so the run fits a 2-core CPU), minibatch 256, at most {args.epochs} epochs with "
        f"patience 20, {args.folds} folds (3/1/1 train/validation/test with 5), default loss "
        "weights (the paper's ASDc set), the confusion adversarial loss and FE early stopping "
        "on the autoencoder loss (the settings of this page's first run; the paper variant's "
        "own are the -CE loss and the total loss).", "",
        PAPER_ASW, "",
        "## Cross-validated latent scores and MEC", "",
    ]  # fmt: skip
    independent = "Simulated, batch independent of cell type"
    regimes = {
        independent: 0.0,
        "Simulated, cell types confounded with batch (0.8)": 0.8,
    }
    sims = {title: simulated(confounding) for title, confounding in regimes.items()}
    for title, data in sims.items():
        text, means = cv_section(title, data, args, {"group": data.obs["group"]})
        parts += [text, evidence(means), ""]
    parts += [SIM_CHECKS_NOTE, ""]
    kang_file = Path(args.data) / "kang_ifnb_pbmc_2k.h5ad"
    if kang_file.exists():
        pbmc = kang(kang_file, args.kang_genes)
        text, means = cv_section(
            "Kang et al. 2018 IFN-beta PBMCs (batch = condition; marker-based cell types)",
            pbmc, args, {},
        )  # fmt: skip
        parts += [text, evidence(means), "",
                  "MEC is not run here: the only batch-level attribute is the condition itself, "
                  "which the RE network takes as input.", ""]  # fmt: skip
    parts += ["## Counterfactuals", "",
              "### Simulated: predicted vs true per-gene shift, per cell type", "",
              "MEDL with `re_z=0` (README), regime 1; r = Pearson correlation over genes of the "
              "mean predicted shift (counterfactual minus own-batch reconstruction) and the true "
              "one, for cells moved to each other batch.", "",
              sim_counterfactuals(sims[independent], args), ""]  # fmt: skip
    if kang_file.exists():
        parts += ["### Kang PBMCs: control cells as if stimulated", "",
                  "MEDL (`re_z=0`) fitted on all cells; mean log-normalised expression.", "",
                  kang_counterfactuals(pbmc, args, figures), "",
                  "R² = squared Pearson correlation over genes between the predicted and "
                  "observed per-cell-type shift. The baseline applies the global stim - ctrl "
                  "mean shift to every cell type.", "",
                  "![UMAPs](figures/kang_umaps.png)", "",
                  "![Training curves](figures/kang_training_curves.png)", ""]  # fmt: skip
    else:
        parts += [f"The Kang data were not found at {kang_file}: real-data sections skipped.", ""]
    parts += [f"Total run time: {(time.time() - start) / 60:.1f} min."]  # fmt: skip
    (out / "results.md").write_text("\n".join(parts) + "\n")
    print(f"wrote {out / 'results.md'}")


if __name__ == "__main__":
    main()

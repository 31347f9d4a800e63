"""Batch-effect genes of the Kang IFN-beta stimulation, next to a FindMarkers-style test.

Kang et al. (2018) PBMCs (``shared/data/kang_ifnb_pbmc_2k.h5ad``), log-normalised, marker
populations and 1000 HVGs plus the interferon panel (as ``make compare`` prepares them),
batch = condition. The default MEDL, then ``batch_effects(target="stim",
reference="ctrl", groups=population)``; beside it, per population, the Wilcoxon test of the
observed stimulated against control cells (scanpy's ``rank_genes_groups``, what Seurat's
``FindMarkers`` computes by default). For each population: how many of the 12 panel genes
are among each method's top 20 genes, and the two top-10 lists for the monocytes. Writes a
markdown section to stdout. About 1 minute on 2 CPU cores.

    python bench/batch_effects_kang.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scanpy as sc

import medl
from compare import PANEL
from reproduce import kang  # noqa: E402  (bench/ is not a package)

TOP = 20


def medl_ranking(table: pd.DataFrame, population: str) -> list[str]:
    rows = table[table["group"] == population]
    order = np.lexsort((-rows["lfc_mean"].abs().to_numpy(), -rows["prob_de"].to_numpy()))
    return rows["gene"].to_numpy()[order].tolist()


def wilcoxon_ranking(data, population: str) -> list[str]:
    part = data[data.obs["cell_type"] == population].copy()
    sc.tl.rank_genes_groups(part, "condition", groups=["stim"], reference="ctrl", method="wilcoxon")
    return [str(g) for g in part.uns["rank_genes_groups"]["names"]["stim"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "data"))
    args = parser.parse_args()
    data = kang(Path(args.data) / "kang_ifnb_pbmc_2k.h5ad", 1000, keep_genes=PANEL)
    batch = data.obs["condition"].astype("category")
    t0 = time.perf_counter()
    model = medl.MEDL(seed=0).fit(data.X, batch, feature_names=data.var_names, progress=False)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = model.batch_effects(data.X, batch, "stim", "ctrl", groups=data.obs["cell_type"])
    test_s = time.perf_counter() - t0
    panel = [g for g in PANEL if g in data.var_names]
    lines = [
        f"{data.n_obs} cells x {data.n_vars} genes; MEDL fit {fit_s:.0f} s, "
        f"batch_effects (100 draws) {test_s:.1f} s.",
        "",
        f"| population | cells (ctrl / stim) | panel genes in MEDL's top {TOP} | "
        f"in the Wilcoxon test's top {TOP} |",
        "|---|---|---|---|",
    ]
    tops = {}
    for population in data.obs["cell_type"].cat.categories:
        cells = data.obs["cell_type"] == population
        n_ctrl, n_stim = (
            int((cells & (batch == "ctrl")).sum()),
            int((cells & (batch == "stim")).sum()),
        )
        if min(n_ctrl, n_stim) < 10:
            continue
        mine, theirs = medl_ranking(table, population), wilcoxon_ranking(data, population)
        tops[population] = (mine[:10], theirs[:10])
        hits = [len(set(panel) & set(r[:TOP])) for r in (mine, theirs)]
        lines.append(f"| {population} | {n_ctrl} / {n_stim} | {hits[0]} / {len(panel)} | "
                     f"{hits[1]} / {len(panel)} |")  # fmt: skip
    lines += ["", "Top 10, CD14 monocytes (MEDL by `prob_de`, then |lfc|; Wilcoxon by score):", ""]
    mine, theirs = tops["CD14 Mono"]
    lines += ["| rank | MEDL | Wilcoxon (observed cells) |", "|---|---|---|"]
    lines += [f"| {i + 1} | {a} | {b} |" for i, (a, b) in enumerate(zip(mine, theirs))]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

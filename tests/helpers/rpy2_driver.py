"""Run RunMEDL from Python through rpy2 and save what R returns, for test_r_roundtrip.py.

Runs in its own process: rpy2 releases the GIL while R runs, and reticulate 1.28 frees
Python objects from R's finalizers without taking it (rstudio/reticulate#208). medlR runs
its Python work inside a Python call under rpy2 (``.with_gil`` in R/medlR/R/python.R), but
R's shutdown finalizers would still abort the interpreter, so the driver leaves with
os._exit once its results are written.

Usage: python rpy2_driver.py {seurat,sce} INPUT.h5ad OUTPUT.npz R_FIT_ARGS
"""

from __future__ import annotations

import os
import sys
import traceback

import anndata as ad
import numpy as np

BUILD_SEURAT = """
function(counts, logdata, genes, cells, batch) {
  dimnames(counts) <- list(genes, cells)
  dimnames(logdata) <- list(genes, cells)
  obj <- SeuratObject::CreateSeuratObject(as(counts, "dgCMatrix"),
           meta.data = data.frame(donor = batch, row.names = cells))
  obj <- SeuratObject::SetAssayData(obj, slot = "data", new.data = as(logdata, "dgCMatrix"))
  SeuratObject::VariableFeatures(obj) <- genes
  obj
}
"""

UNCHANGED = """
identical(GetAssayData(out, slot = 'counts'), GetAssayData(obj, slot = 'counts')) &&
identical(GetAssayData(out, slot = 'data'), GetAssayData(obj, slot = 'data')) &&
identical(out[[]], obj[[]]) && identical(VariableFeatures(out), VariableFeatures(obj))
"""


def _dense(x):
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def _to_r(ro, array):
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    with localconverter(ro.default_converter + numpy2ri.converter):
        return ro.conversion.py2rpy(np.ascontiguousarray(array, dtype=np.float64))


def _matrix(ro, expr):
    return np.asarray(ro.r(f"as.matrix({expr})"))


def _names(ro, expr):
    return np.array(list(ro.r(expr)), dtype=object)


def seurat(ro, data: ad.AnnData, fit_args: str) -> dict:
    ro.globalenv["obj"] = ro.r(BUILD_SEURAT)(
        _to_r(ro, _dense(data.layers["counts"]).T),
        _to_r(ro, _dense(data.X).T),
        ro.StrVector(list(data.var_names)),
        ro.StrVector(list(data.obs_names)),
        ro.StrVector(list(data.obs["batch"].astype(str))),
    )
    ro.r(f"out <- RunMEDL(obj, batch = 'donor', counterfactual = 'batch1', {fit_args})")
    return {
        "fe": _matrix(ro, "Embeddings(out, 'medl.fe')"),
        "re": _matrix(ro, "Embeddings(out, 'medl.re')"),
        "fe_cells": _names(ro, "rownames(Embeddings(out, 'medl.fe'))"),
        "cf": _matrix(ro, "GetAssayData(out, slot = 'data', assay = 'MEDLCF.batch1')"),
        "cf_genes": _names(ro, "rownames(GetAssayData(out, assay = 'MEDLCF.batch1'))"),
        "cf_cells": _names(ro, "colnames(GetAssayData(out, assay = 'MEDLCF.batch1'))"),
        "unchanged": np.array(bool(ro.r(UNCHANGED)[0])),
        "model_dir": np.array(ro.r("Misc(out, 'medl')$model.dir")[0]),
    }


def sce(ro, data: ad.AnnData, fit_args: str) -> dict:
    import anndata2ri
    from rpy2.robjects.conversion import localconverter

    small = ad.AnnData(_dense(data.X), obs=data.obs[["batch"]].copy(), var=data.var.copy())
    with localconverter(anndata2ri.converter):
        ro.globalenv["sce"] = small
    ro.r(
        f"out <- RunMEDL(sce, batch = 'batch', assay = 'X', counterfactual = 'batch1', {fit_args})"
    )
    with localconverter(anndata2ri.converter):
        back = ro.r("out")
    alt = "SummarizedExperiment::assay(SingleCellExperiment::altExp(out, 'MEDLCF.batch1'))"
    return {
        "fe": np.asarray(back.obsm["MEDL_FE"]),
        "re": np.asarray(back.obsm["MEDL_RE"]),
        "fe_cells": np.array(list(back.obs_names), dtype=object),
        "genes": np.array(list(back.var_names), dtype=object),
        "X": _dense(back.X),
        "cf": _matrix(ro, alt),
    }


def main() -> None:
    scenario, source, target, fit_args = sys.argv[1:5]
    os.environ.setdefault("RETICULATE_PYTHON", sys.executable)
    import rpy2.robjects as ro

    ro.r("suppressPackageStartupMessages({library(Seurat); library(medlR)})")
    data = ad.read_h5ad(source)
    result = {"seurat": seurat, "sce": sce}[scenario](ro, data, fit_args)
    np.savez(target, **result, allow_pickle=True)


if __name__ == "__main__":
    code = 0
    try:
        main()
    except Exception:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

test_that("SingleCellExperiment method adds reducedDims and altExps", {
  need_python()
  skip_if_not_installed("SingleCellExperiment")
  obj <- simulated_object()
  sce <- simulated_sce()
  out <- run_fast(sce, batch = "donor", counterfactual = "B", seed = 4)
  fe <- SingleCellExperiment::reducedDim(out, "MEDL_FE")
  expect_equal(rownames(fe), colnames(sce))
  expect_equal(dim(SingleCellExperiment::reducedDim(out, "MEDL_RE")), c(ncol(sce), 10L))
  alt <- SingleCellExperiment::altExp(out, "MEDLCF.B")
  expect_equal(dim(alt), dim(sce))
  seu <- run_fast(obj, batch = "donor", counterfactual = "B", seed = 4)
  expect_equal(unname(fe), unname(SeuratObject::Embeddings(seu, "medl.fe")), tolerance = 1e-6)
  expect_equal(unname(SummarizedExperiment::assay(alt, "logcounts")),
               unname(as.matrix(SeuratObject::GetAssayData(seu, slot = "data",
                                                            assay = "MEDLCF.B"))),
               tolerance = 1e-6)
  expect_error(run_fast(sce, batch = "donor", assay = "counts"), "not in the object")
  plain <- run_fast(sce, batch = "donor", seed = 4)
  expect_equal(SingleCellExperiment::altExpNames(plain), character(0))
  expect_equal(unname(SingleCellExperiment::reducedDim(plain, "MEDL_FE")), unname(fe),
               tolerance = 1e-6)
})

test_that("default method takes a features x cells matrix and a batch vector", {
  need_python()
  obj <- simulated_object()
  m <- SeuratObject::GetAssayData(obj, slot = "data")
  res <- run_fast(m, batch = obj$donor, counterfactual = "A")
  expect_equal(rownames(res$fe), colnames(m))
  expect_equal(dim(res$counterfactual$A), dim(m))
  expect_true(dir.exists(res$model.dir))
  expect_error(run_fast(m, batch = obj$donor[-1]), "one value per cell")
  expect_error(RunMEDL(list(1)), "features x cells matrix")
})

test_that("ReadH5AD reads counts, names and metadata of an .h5ad file", {
  need_python()
  medl <- reticulate::import("medl", convert = FALSE)
  sim <- medl$datasets$simulate(n_cells = 50L, n_genes = 20L, seed = 0L)
  file <- tempfile(fileext = ".h5ad")
  sim$write_h5ad(file)
  obj <- ReadH5AD(file, layer = "counts")
  expect_s4_class(obj, "Seurat")
  expect_equal(dim(obj), c(20L, 50L))
  expect_equal(colnames(obj), paste0("cell", 0:49))
  expect_equal(rownames(obj)[1:2], c("gene0", "gene1"))
  expect_equal(obj$batch[1:3], stats::setNames(
    as.character(reticulate::py_to_r(sim$obs$batch$astype("str")$tolist()))[1:3],
    paste0("cell", 0:2)))
  counts <- as.matrix(SeuratObject::GetAssayData(obj, slot = "counts"))
  expected <- t(reticulate::py_to_r(sim$layers$get("counts")$toarray()))
  expect_equal(unname(counts), unname(expected))
  expect_error(ReadH5AD(file, layer = "spliced"), "no layer 'spliced'")
  expect_error(ReadH5AD(tempfile()), "No file")
})

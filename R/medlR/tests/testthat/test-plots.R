test_that("MEDLGenomapPlot draws original, FE and counterfactual panels per cell", {
  need_python()
  need_python_module("genomap")
  obj <- run_fast(simulated_object(), batch = "donor", seed = 2)
  cells <- colnames(obj)[c(1, 2, 5)]
  feats <- SeuratObject::VariableFeatures(obj)[1:16]
  p <- MEDLGenomapPlot(obj, cells = cells, targets = c("A", "B"), features = feats,
                       num.iter = 10)
  expect_s3_class(p, "ggplot")
  built <- ggplot2::ggplot_build(p)
  pixels <- built$data[[1]]
  # 3 cells x 4 panels (original, FE, as A, as B) x a 4 x 4 grid
  expect_equal(nrow(pixels), 3 * 4 * 16)
  expect_equal(levels(p$data$panel), c("original", "FE reconstruction", "as A", "as B"))
  expect_equal(levels(p$data$cell), cells)
  # each cell's own batch panel is outlined, and only that one
  outline <- p$layers[[2]]$data
  expect_equal(as.character(outline$panel), paste("as", obj$donor[c(1, 2, 5)]))
  # one colour scale per cell (row): each cell's pixels span [0, 1]
  expect_equal(unname(tapply(p$data$value, p$data$cell, range)),
               rep(list(c(0, 1)), 3), ignore_attr = TRUE)

  expect_error(MEDLGenomapPlot(obj, cells = "nocell", targets = "A"), "not in the object")
  expect_error(MEDLGenomapPlot(obj, cells = cells, targets = "Z"), "not batches")
  expect_error(MEDLGenomapPlot(simulated_object(), cells = cells, targets = "A"),
               "run RunMEDL")
  expect_error(MEDLGenomapPlot(obj, cells = cells, targets = "A", features = "nogene"),
               "not in the assay")
})

test_that("MEDL reductions work with Seurat's own RunUMAP and DimPlot", {
  need_python()
  need_package("Seurat")
  obj <- run_fast(simulated_object(), batch = "donor", seed = 2)
  p <- Seurat::DimPlot(obj, reduction = "medl.fe", group.by = "donor")
  expect_s3_class(p, "ggplot")
  emb <- SeuratObject::Embeddings(obj, "medl.fe")
  expect_equal(unname(as.matrix(p$data[colnames(obj), 1:2])), unname(emb[, 1:2]))
  need_package("uwot")
  obj <- suppressWarnings(Seurat::RunUMAP(obj, reduction = "medl.re", dims = 1:2, reduction.name = "umap.re",
                         verbose = FALSE, seed.use = 1))
  p <- Seurat::DimPlot(obj, reduction = "umap.re", group.by = "type")
  expect_equal(nrow(p$data), ncol(obj))
  expect_equal(dim(SeuratObject::Embeddings(obj, "umap.re")), c(ncol(obj), 2L))
})

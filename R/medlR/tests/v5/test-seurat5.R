# Seurat 5.1's own workflow (split layers, NormalizeData ... IntegrateLayers ... JoinLayers)
# with MEDLIntegration and RunMEDL, next to Harmony and CCA on the same object.

# A seeded fit repeats bit for bit only at a fixed thread count (medl/threads.py).
Sys.setenv(MEDL_ADAPTIVE_THREADS = "0")
FIT <- list(max_epochs = 20, hidden = c(64, 16), verbose = FALSE)

# 600 simulated cells, 2 batches with a strong effect, 4 cell types; split by batch and put
# through Seurat 5's preprocessing.
split_object <- function(seed = 1, split = TRUE) {
  obj <- SimulateMEDLData(n.cells = 600, n.genes = 300, n.batches = 2, batch.effect = 1.5,
                          seed = seed)
  if (split) obj[["RNA"]] <- split(obj[["RNA"]], f = obj$batch)
  obj <- Seurat::NormalizeData(obj, verbose = FALSE)
  obj <- Seurat::FindVariableFeatures(obj, nfeatures = 200, verbose = FALSE)
  obj <- Seurat::ScaleData(obj, verbose = FALSE)
  Seurat::RunPCA(obj, npcs = 20, verbose = FALSE)
}

# kNN cell-type purity and batch entropy of every reduction, in one place (medl.metrics).
scores <- function(obj, reductions) {
  metrics <- reticulate::import("medl")$metrics
  t(sapply(reductions, function(r) {
    x <- SeuratObject::Embeddings(obj, r)
    c(purity = metrics$knn_purity(x, obj$cell_type),
      entropy = metrics$batch_entropy(x, obj$batch))
  }))
}

test_that("the lane runs Seurat 5.1 itself", {
  expect_true(packageVersion("Seurat") >= "5.1.0")
})

test_that("Seurat 5's workflow with IntegrateLayers(method = MEDLIntegration)", {
  obj <- split_object()
  expect_equal(SeuratObject::Layers(obj[["RNA"]], search = "data"),
               c("data.batch0", "data.batch1"))
  expect_no_warning(
    out <- do.call(Seurat::IntegrateLayers,
                   c(list(obj, method = MEDLIntegration, counterfactual = "batch1"), FIT))
  )
  expect_true(all(c("integrated.medl", "integrated.medl.re") %in% SeuratObject::Reductions(out)))
  fe <- SeuratObject::Embeddings(out, "integrated.medl")
  expect_equal(dim(fe), c(600L, 10L))
  expect_equal(rownames(fe), colnames(obj))
  expect_s4_class(out[["MEDLCF.batch1"]], "Assay5")
  expect_equal(colnames(out[["MEDLCF.batch1"]]), colnames(obj))
  # the FE space mixes the batches that the RE space keeps apart
  s <- scores(out, c("pca", "integrated.medl", "integrated.medl.re"))
  expect_gt(s["integrated.medl", "entropy"], s["pca", "entropy"] + 0.3)
  expect_gt(s["integrated.medl", "purity"], 0.9)
  expect_lt(s["integrated.medl.re", "entropy"], s["integrated.medl", "entropy"])

  out <- Seurat::FindNeighbors(out, reduction = "integrated.medl", dims = 1:10, verbose = FALSE)
  out <- Seurat::FindClusters(out, resolution = 0.3, verbose = FALSE)
  out <- suppressWarnings(  # RunUMAP's once-per-session note on its default method
    Seurat::RunUMAP(out, reduction = "integrated.medl", dims = 1:10, verbose = FALSE)
  )
  out <- SeuratObject::JoinLayers(out)
  expect_setequal(SeuratObject::Layers(out[["RNA"]]), c("counts", "data", "scale.data"))
  expect_gt(length(unique(out$seurat_clusters)), 1)
  expect_equal(dim(SeuratObject::Embeddings(out, "umap")), c(600L, 2L))
})

test_that("RunMEDL on split layers equals RunMEDL on the same object joined", {
  obj <- split_object()
  joined <- SeuratObject::JoinLayers(obj)
  args <- c(list(batch = "batch", counterfactual = "batch0", seed = 3), FIT)
  expect_no_warning(a <- do.call(RunMEDL, c(list(obj), args)))
  b <- do.call(RunMEDL, c(list(joined), args))
  expect_equal(rownames(SeuratObject::Embeddings(a, "medl.fe")), colnames(obj))
  expect_equal(SeuratObject::Embeddings(a, "medl.fe"), SeuratObject::Embeddings(b, "medl.fe"))
  expect_equal(SeuratObject::Embeddings(a, "medl.re"), SeuratObject::Embeddings(b, "medl.re"))
  expect_s4_class(a[["MEDLCF.batch0"]], "Assay5")
  expect_equal(SeuratObject::LayerData(a, assay = "MEDLCF.batch0", layer = "data"),
               SeuratObject::LayerData(b, assay = "MEDLCF.batch0", layer = "data"))
  # the split layers joined in the object's cell order, values unchanged
  x <- medlR:::.assay_matrix(obj, "RNA", "data")
  expect_equal(colnames(x), colnames(obj))
  expect_equal(x, SeuratObject::LayerData(joined, assay = "RNA", layer = "data"))
})

test_that("the integrated model survives saveRDS and a new R process", {
  obj <- do.call(Seurat::IntegrateLayers, c(list(split_object(), method = MEDLIntegration),
                                            FIT))
  here <- MEDLCounterfactual(obj, target = "batch0", reduction = "integrated.medl")
  file <- tempfile(fileext = ".rds")
  saveRDS(obj, file)
  out <- tempfile(fileext = ".rds")
  code <- sprintf(paste(
    "Sys.setenv(MEDL_ADAPTIVE_THREADS = '0'); suppressMessages(library(medlR));",
    "obj <- readRDS('%s'); obj <- MEDLCounterfactual(obj, target = 'batch0',",
    "reduction = 'integrated.medl'); obj <- MEDLEmbed(obj, model = obj, batch = 'batch',",
    "reduction.name = 'again'); saveRDS(obj, '%s')"), file, out)
  status <- system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(code)))
  expect_equal(status, 0L)
  there <- readRDS(out)
  expect_equal(SeuratObject::LayerData(there, assay = "MEDLCF.batch0", layer = "data"),
               SeuratObject::LayerData(here, assay = "MEDLCF.batch0", layer = "data"),
               tolerance = 1e-6)
  expect_equal(unname(SeuratObject::Embeddings(there, "again.fe")),
               unname(SeuratObject::Embeddings(obj, "integrated.medl")), tolerance = 1e-5)
})

test_that("bad input to the v5 entry points stops before any work", {
  obj <- split_object()
  raw <- SimulateMEDLData(n.cells = 100, n.genes = 50, n.batches = 2, seed = 2)
  raw[["RNA"]]$data <- NULL
  raw[["RNA"]] <- split(raw[["RNA"]], f = raw$batch)
  expect_error(MEDLIntegration(raw[["RNA"]], assay = "RNA"), "no normalised layer")
  expect_error(do.call(RunMEDL, c(list(raw, batch = "batch"), FIT)),
               "no normalised layer.*counts.batch0.*NormalizeData")
  expect_error(Seurat::IntegrateLayers(split_object(split = FALSE), method = MEDLIntegration),
               "single data layer and no 'batch'")
  expect_error(Seurat::IntegrateLayers(obj, method = MEDLIntegration, batch = "cell_type"),
               "disagrees with the layers")
  expect_error(MEDLIntegration(obj[["RNA"]], batch = "batch"), "pass the values instead")
  expect_error(MEDLIntegration(obj), "needs a v5 assay")
  expect_error(MEDLCounterfactual(obj, target = "batch0", reduction = "pca"),
               "holds no MEDL model")
})

test_that("side by side: Harmony, CCA and MEDL on the same split object", {
  obj <- split_object()
  obj <- suppressWarnings(  # harmony 1.2.1: HarmonyMatrix is deprecated
    Seurat::IntegrateLayers(obj, method = Seurat::HarmonyIntegration,
                            new.reduction = "harmony", verbose = FALSE)
  )
  obj <- Seurat::IntegrateLayers(obj, method = Seurat::CCAIntegration,
                                 new.reduction = "integrated.cca", verbose = FALSE)
  obj <- Seurat::IntegrateLayers(obj, method = MEDLIntegration, verbose = FALSE, seed = 1)
  s <- scores(obj, c("pca", "harmony", "integrated.cca", "integrated.medl"))
  message("kNN cell-type purity and batch entropy (600 cells, 2 batches):\n",
          paste(utils::capture.output(print(round(s, 3))), collapse = "\n"))
  # MEDL mixes the batches that PCA keeps apart (as well as the best of the others, here
  # CCA; Harmony, also called directly with RunHarmony, leaves this strong effect as it is:
  # entropy 0.002) and keeps the cell types
  expect_gt(s["integrated.medl", "entropy"], s["pca", "entropy"] + 0.5)
  expect_gt(s["integrated.medl", "entropy"], max(s[c("harmony", "integrated.cca"), "entropy"]) - 0.1)
  expect_true(all(s[, "purity"] > 0.9))
})

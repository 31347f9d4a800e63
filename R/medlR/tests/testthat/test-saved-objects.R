# The model travels inside the object: a new R process, with the model folder deleted,
# still adds counterfactuals and embeds new cells.

run_in_new_r <- function(code) {
  script <- tempfile(fileext = ".R")
  writeLines(code, script)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script,
                                  stdout = TRUE, stderr = TRUE))
  list(status = attr(out, "status") %||% 0L, output = out)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

test_that("a Seurat object saved after RunMEDL keeps its model in a new R session", {
  need_python()
  obj <- simulated_object()
  out <- run_fast(obj, batch = "donor", counterfactual = "A", seed = 2)
  expected <- SeuratObject::Embeddings(out, "medl.fe")[1:30, ]
  rds <- tempfile(fileext = ".rds")
  saveRDS(out, rds)
  unlink(SeuratObject::Misc(out, "medl")$model.dir, recursive = TRUE)
  res <- run_in_new_r(c(
    "suppressMessages(library(medlR))",
    sprintf("obj <- readRDS('%s')", rds),
    "obj <- MEDLCounterfactual(obj, target = 'B')",
    "stopifnot('MEDLCF.B' %in% SeuratObject::Assays(obj))",
    "new <- MEDLEmbed(obj[, 1:30], model = obj, batch = 'donor', overwrite = TRUE)",
    sprintf("saveRDS(SeuratObject::Embeddings(new, 'medl.fe'), '%s.fe')", rds),
    "cat('done\\n')"
  ))
  expect_equal(res$status, 0L, info = paste(res$output, collapse = "\n"))
  expect_true("done" %in% res$output)
  expect_equal(readRDS(paste0(rds, ".fe")), expected, tolerance = 1e-6)
})

test_that("a SingleCellExperiment saved after RunMEDL keeps its model in a new R session", {
  need_python()
  need_package("SingleCellExperiment")
  out <- run_fast(simulated_sce(), batch = "donor", seed = 2)
  rds <- tempfile(fileext = ".rds")
  saveRDS(out, rds)
  unlink(S4Vectors::metadata(out)$medl$model.dir, recursive = TRUE)
  res <- run_in_new_r(c(
    "suppressMessages(library(medlR))",
    sprintf("sce <- readRDS('%s')", rds),
    "model <- MEDLModel(sce)",
    "info <- S4Vectors::metadata(sce)$medl",
    "x <- t(as.matrix(SummarizedExperiment::assay(sce, 'logcounts')[info$features, ]))",
    "fe <- model$fixed_effects(x)",
    "stopifnot(max(abs(fe - SingleCellExperiment::reducedDim(sce, 'MEDL_FE'))) < 1e-5)",
    "cf <- model$counterfactual(x, info$batch, 'B')",
    "stopifnot(all(dim(cf) == dim(x)))",
    "cat('done\\n')"
  ))
  expect_equal(res$status, 0L, info = paste(res$output, collapse = "\n"))
  expect_true("done" %in% res$output)
})

test_that("MEDLModel says what is wrong with an object without a model", {
  expect_error(MEDLModel(simulated_object()), "run RunMEDL")
  expect_error(MEDLModel(1:3), "Seurat object or a SingleCellExperiment")
})

# Tests need the Python side. Where MEDLR_REQUIRE_PYTHON=true (the project's test command)
# a missing Python side is a failure, never a skip.
need_python <- function() {
  if (medl_available()) return(invisible(TRUE))
  if (identical(Sys.getenv("MEDLR_REQUIRE_PYTHON"), "true")) {
    stop("The medl Python package is not importable; set RETICULATE_PYTHON.")
  }
  testthat::skip("medl Python package not available")
}

# What some tests need beside medl: a suggested R package or a Python module. Where
# MEDLR_REQUIRE_SUGGESTS=true (the project's test command) a missing one is a failure, so a
# lost install step cannot turn tests into silent skips.
need_package <- function(pkg) {
  if (requireNamespace(pkg, quietly = TRUE)) return(invisible(TRUE))
  .missing_need(paste0("R package '", pkg, "'"))
}

need_python_module <- function(module) {
  if (reticulate::py_module_available(module)) return(invisible(TRUE))
  .missing_need(paste0("Python module '", module, "'"))
}

.missing_need <- function(what) {
  if (identical(Sys.getenv("MEDLR_REQUIRE_SUGGESTS"), "true")) {
    stop(what, " is not installed, and MEDLR_REQUIRE_SUGGESTS=true: install it.")
  }
  testthat::skip(paste(what, "not installed"))
}

FAST <- list(max_epochs = 5, hidden = c(32, 8), lr = 1e-3, verbose = FALSE)

run_fast <- function(object, ...) {
  do.call(RunMEDL, c(list(object), list(...), FAST))
}

# A small Seurat object with two batches: batch B shifts a third of the genes.
simulated_object <- function(n.cells = 120, n.genes = 60, seed = 1) {
  set.seed(seed)
  batch <- rep(c("A", "B"), length.out = n.cells)
  type <- rep(c("t1", "t2", "t3"), each = n.cells / 3)
  rate <- matrix(stats::rgamma(n.genes, 2, 1), n.genes, n.cells)
  rate[1:10, type == "t2"] <- rate[1:10, type == "t2"] * 6
  rate[11:20, type == "t3"] <- rate[11:20, type == "t3"] * 6
  rate[seq(1, n.genes, 3), batch == "B"] <- rate[seq(1, n.genes, 3), batch == "B"] * 4
  counts <- matrix(stats::rpois(length(rate), rate), n.genes, n.cells,
                   dimnames = list(paste0("gene", seq_len(n.genes)),
                                   paste0("cell", seq_len(n.cells))))
  obj <- SeuratObject::CreateSeuratObject(methods::as(counts, "dgCMatrix"),
                                          meta.data = data.frame(donor = batch, type = type,
                                                                 row.names = colnames(counts)))
  obj <- Seurat::NormalizeData(obj, verbose = FALSE)
  Seurat::FindVariableFeatures(obj, nfeatures = 40, verbose = FALSE)
}

# Everything an object held before RunMEDL, to compare after.
object_state <- function(obj) {
  list(
    meta = obj[[]],
    assays = lapply(stats::setNames(nm = SeuratObject::Assays(obj)),
                    function(a) SeuratObject::GetAssayData(obj, slot = "data", assay = a)),
    reductions = lapply(stats::setNames(nm = SeuratObject::Reductions(obj)),
                        function(r) SeuratObject::Embeddings(obj, r))
  )
}

# The same data as a SingleCellExperiment (logcounts of the variable features).
simulated_sce <- function(...) {
  obj <- simulated_object(...)
  feats <- SeuratObject::VariableFeatures(obj)
  SingleCellExperiment::SingleCellExperiment(
    assays = list(logcounts = SeuratObject::GetAssayData(obj, slot = "data")[feats, ]),
    colData = S4Vectors::DataFrame(obj[[]]))
}

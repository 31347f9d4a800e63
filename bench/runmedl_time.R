# RunMEDL wall time with every default, from R, on SimulateMEDLData (2,000 genes, 3 batches).
#   Rscript bench/runmedl_time.R 500 2000 10000
# Prints one line per size: cells, seconds, and the FE kNN cell-type purity (medl.metrics).
suppressPackageStartupMessages(library(medlR))
medl <- reticulate::import("medl")
for (n in as.integer(commandArgs(TRUE))) {
  obj <- SimulateMEDLData(n.cells = n, n.genes = 2000, n.batches = 3, seed = 0)
  t0 <- Sys.time()
  obj <- RunMEDL(obj, batch = "batch", verbose = FALSE)
  seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  fe <- SeuratObject::Embeddings(obj, "medl.fe")
  purity <- medl$metrics$knn_purity(fe, as.character(obj$cell_type))
  cat(sprintf("RunMEDL cells %d: %.1f s, FE purity %.3f\n", n, seconds, purity))
}

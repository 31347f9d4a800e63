#' Simulated multi-batch data as a Seurat object
#'
#' Calls \code{medl.datasets.simulate} (UMI counts with cell types, per-batch gene shifts
#' and a known counterfactual truth) and returns a normalised Seurat object with
#' \code{batch} and \code{cell_type} in its metadata. Useful for examples and for trying
#' settings on data whose answer is known.
#'
#' @param n.cells,n.genes,n.batches,n.cell.types Sizes.
#' @param batch.effect Strength (log scale) of the batch shifts: one number, or one per batch.
#' @param interaction Strength of the cell-type-specific part of the batch shifts.
#' @param seed Random seed.
#' @return A Seurat object (counts, log-normalised data, all genes variable).
#' @export
SimulateMEDLData <- function(n.cells = 1500, n.genes = 300, n.batches = 3,
                             n.cell.types = 4, batch.effect = 1, interaction = 0,
                             seed = 0) {
  .medl()  # finds the Python side, or stops naming install_medl()
  medl <- reticulate::import("medl", convert = FALSE)
  sim <- medl$datasets$simulate(
    n_cells = as.integer(n.cells), n_genes = as.integer(n.genes),
    n_batches = as.integer(n.batches), n_cell_types = as.integer(n.cell.types),
    batch_effect = batch.effect, interaction = interaction, seed = as.integer(seed)
  )
  .seurat_from_anndata(sim, layer = "counts", data = TRUE)
}

# A Seurat object from a Python AnnData (reticulate object, convert = FALSE): counts from
# `layer` (or X), log-normalised data from X when `data` is TRUE, obs as meta.data.
.seurat_from_anndata <- function(adata, layer = NULL, data = FALSE) {
  py <- reticulate::py_to_r
  genes <- as.character(py(adata$var_names$tolist()))
  cells <- as.character(py(adata$obs_names$tolist()))
  as.csc <- function(m) .py_sparse_to_dgc(m$T, genes, cells)
  counts <- as.csc(if (is.null(layer)) adata$X else adata$layers$get(layer))
  columns <- as.character(py(adata$obs$columns$tolist()))
  meta <- data.frame(lapply(stats::setNames(nm = columns), function(col) {
    as.character(py(adata$obs[[col]]$astype("str")$tolist()))
  }), row.names = cells, check.names = FALSE)
  obj <- SeuratObject::CreateSeuratObject(counts, meta.data = meta)
  if (data) {
    obj <- .set_data(obj, as.csc(adata$X))
    SeuratObject::VariableFeatures(obj) <- genes
  }
  obj
}

#' Read an .h5ad file (AnnData) as a Seurat object
#'
#' Reads the file with the Python \code{anndata} package that medl uses, so no extra R
#' package is needed. The counts come from \code{X} or from \code{layer}; \code{obs}
#' becomes the cell metadata (as character columns). Normalise and select features as
#' usual afterwards (\code{NormalizeData}, \code{FindVariableFeatures}).
#'
#' @param file Path to an \code{.h5ad} file holding raw counts (cells x genes).
#' @param layer Name of the layer with the counts (\code{NULL}: \code{X}).
#' @return A Seurat object.
#' @export
ReadH5AD <- function(file, layer = NULL) {
  .check_string(file, "file")
  if (!file.exists(file)) stop("No file at '", file, "'.", call. = FALSE)
  if (!is.null(layer)) .check_string(layer, "layer")
  .medl()
  adata <- reticulate::import("anndata", convert = FALSE)$read_h5ad(file)
  if (!is.null(layer)) {
    layers <- as.character(reticulate::import_builtins()$list(adata$layers$keys()))
    if (!layer %in% layers) {
      stop("'", file, "' has no layer '", layer, "'. Layers: ",
           paste(layers, collapse = ", "), ".", call. = FALSE)
    }
  }
  .seurat_from_anndata(adata, layer = layer)
}

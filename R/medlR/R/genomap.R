#' Genomap images of cells: original, batch-free and counterfactual profiles
#'
#' Draws each chosen cell as genomap images (genes placed on a grid by the genomap
#' package): its original profile, the FE (batch-free) reconstruction, and its
#' counterfactuals for each target batch, with the cell's own batch outlined. The gene
#' layout is computed once, on the chosen cells, and reused for every column; all the work
#' is done by the Python function \code{medl.genomap.genomap_panels}.
#'
#' @param object A Seurat object on which \code{\link{RunMEDL}} was run.
#' @param cells Cell names (or column indices) to draw, one row each.
#' @param targets Batches to re-express the cells in.
#' @param features Genes to place on the grid (default: all the model's features); the
#'   layout step grows quickly with their number (minutes for a few thousand).
#' @param num.iter Iterations of genomap's Gromov-Wasserstein solver.
#' @return A \code{ggplot} object (rows = cells, columns = profiles); each image is scaled to
#'   the range of its cell's row.
#' @export
MEDLGenomapPlot <- function(object, cells, targets, features = NULL, num.iter = 200) {
  info <- .medl_info(object)
  idx <- .check_cells(cells, colnames(object))
  batch.values <- .cell_column(object[[]], info$batch, "batch", ncol(object))
  targets <- .check_targets(targets, batch.values)
  if (!length(targets)) stop("'targets' must name at least one batch.", call. = FALSE)
  features <- .check_features(features %||% info$features, info$features)
  model <- .load_model(info)
  data <- .assay_matrix(object, info$assay, "data")[info$features, idx, drop = FALSE]
  panels <- reticulate::import("medl.genomap")$genomap_panels(
    model, .to_python_matrix(data),
    batch = as.list(batch.values[idx]), cells = as.list(seq_along(idx) - 1L), targets = as.list(targets),
    cell_names = as.list(colnames(object)[idx]),
    genes = as.list(match(features, info$features) - 1L), num_iter = as.integer(num.iter)
  )
  .genomap_ggplot(panels)
}

.check_cells <- function(cells, available) {
  if (is.character(cells)) {
    idx <- match(cells, available)
    if (anyNA(idx)) {
      stop("Cell(s) not in the object: ", paste(utils::head(cells[is.na(idx)], 5),
           collapse = ", "), ". Pass cell names from colnames(object).", call. = FALSE)
    }
  } else if (is.numeric(cells) && all(cells == round(cells))) {
    idx <- as.integer(cells)
    if (any(idx < 1L | idx > length(available))) {
      stop("Cell indices must lie in 1..", length(available), ".", call. = FALSE)
    }
  } else {
    stop("'cells' must be cell names or column indices.", call. = FALSE)
  }
  if (!length(idx)) stop("'cells' is empty: choose at least one cell.", call. = FALSE)
  idx
}

utils::globalVariables(c("col", "row", "value"))

# Long table of pixels (one row per cell x panel x grid point), scaled per cell.
.genomap_ggplot <- function(panels) {
  columns <- names(panels$images)
  cells <- unlist(panels$cell_names)
  own <- unlist(panels$own_batch)
  pieces <- lapply(columns, function(col) {
    img <- panels$images[[col]]
    d <- dim(img)
    data.frame(cell = rep(cells, times = d[2] * d[3]),
               row = rep(rep(seq_len(d[2]), each = d[1]), times = d[3]),
               col = rep(seq_len(d[3]), each = d[1] * d[2]),
               value = as.vector(img), panel = col)
  })
  px <- do.call(rbind, pieces)
  range01 <- function(v) if (diff(range(v)) > 0) (v - min(v)) / diff(range(v)) else v * 0
  px$value <- stats::ave(px$value, px$cell, FUN = range01)
  px$cell <- factor(px$cell, levels = cells)
  px$panel <- factor(px$panel, levels = columns)
  outline <- data.frame(cell = factor(cells, levels = cells),
                        panel = factor(paste("as", own), levels = columns))
  outline <- outline[!is.na(outline$panel), , drop = FALSE]
  ggplot2::ggplot(px, ggplot2::aes(x = col, y = -row, fill = value)) +
    ggplot2::geom_raster() +
    ggplot2::geom_rect(data = outline, inherit.aes = FALSE, colour = "red", fill = NA,
                       linewidth = 1, xmin = -Inf, xmax = Inf, ymin = -Inf, ymax = Inf) +
    ggplot2::facet_grid(cell ~ panel) +
    ggplot2::scale_fill_gradientn(colours = c("navy", "blue", "cyan", "yellow", "red"),
                                  name = "scaled\nexpression") +
    ggplot2::coord_equal() +
    ggplot2::theme_void() +
    ggplot2::theme(strip.text = ggplot2::element_text(size = 8))
}

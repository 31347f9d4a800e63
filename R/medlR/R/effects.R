# What the batches' random effects do to the cells (Python: medl.model.effects): which
# batches differ, and which genes one batch changes relative to another.

#' How far apart the batches' effects are
#'
#' A batches x batches distance from the model \code{\link{RunMEDL}} fitted: for batches
#' \eqn{a} and \eqn{b}, the root mean square over cells and features of each cell decoded as
#' if from \eqn{a} minus the same cell as if from \eqn{b} (on the scale of the data). A batch
#' far from all others carries a larger batch effect. See the Python
#' \code{MEDL.batch_distances}.
#'
#' @param object A Seurat object on which \code{RunMEDL} was run.
#' @param group.by \code{NULL} (default), or a cell-metadata column (e.g. cell type): one
#'   matrix per group, from its cells.
#' @param assay The assay holding the log-normalised data (default: the one \code{RunMEDL}
#'   used).
#' @param reduction As in \code{\link{MEDLCounterfactual}}.
#' @return A symmetric batches x batches matrix, or with \code{group.by} a named list of
#'   them, one per group. \code{MEDLBatchDistancePlot} draws one as a heatmap.
#' @export
MEDLBatchDistances <- function(object, group.by = NULL, assay = NULL, reduction = NULL) {
  info <- .medl_info(object, reduction)
  assay <- .seurat_assay(object, assay %||% info$assay)
  batch.values <- .info_batch(object, info)
  groups <- .group_values(object, group.by)
  model <- .load_model(info)
  x <- .to_python_matrix(.assay_matrix(object, assay, "data")[info$features, , drop = FALSE])
  # each cell is decoded on its own, so a group's matrix is the matrix of its cells
  distances <- function(cells) {
    # (reticulate 1.28 converts a DataFrame with a call pandas deprecated)
    as.matrix(reticulate::py_suppress_warnings(
      model$batch_distances(x[cells, , drop = FALSE], batch.values[cells])
    ))
  }
  if (is.null(groups)) return(distances(seq_len(ncol(object))))
  names <- sort(unique(groups))
  stats::setNames(lapply(names, function(g) distances(which(groups == g))), names)
}

# Each cell's group from a metadata column, as strings; NULL without group.by.
.group_values <- function(object, group.by) {
  if (is.null(group.by)) return(NULL)
  .check_string(group.by, "group.by")
  as.character(.cell_column(object[[]], group.by, "group.by", ncol(object)))
}

utils::globalVariables(c("to", "batch", "distance"))

#' @rdname MEDLBatchDistances
#' @param distances One matrix from \code{MEDLBatchDistances}.
#' @param title Plot title.
#' @export
MEDLBatchDistancePlot <- function(distances, title = "Distance between batch effects") {
  if (!is.matrix(distances) || nrow(distances) != ncol(distances)) {
    stop("distances must be one square matrix from MEDLBatchDistances (with group.by, ",
         "pass one element of the list).", call. = FALSE)
  }
  long <- data.frame(
    batch = factor(rep(rownames(distances), ncol(distances)), levels = rownames(distances)),
    to = factor(rep(colnames(distances), each = nrow(distances)), levels = colnames(distances)),
    distance = as.vector(distances)
  )
  ggplot2::ggplot(long, ggplot2::aes(x = to, y = batch, fill = distance)) +
    ggplot2::geom_tile() +
    ggplot2::geom_text(ggplot2::aes(label = sprintf("%.2f", distance)), size = 3) +
    ggplot2::scale_fill_gradient(low = "white", high = "firebrick") +
    ggplot2::labs(x = NULL, y = NULL, title = title) +
    ggplot2::theme_minimal()
}

#' Which genes one batch changes relative to another
#'
#' A batch-effect test from the model \code{\link{RunMEDL}} fitted. Every cell is decoded as
#' if from batch \code{ident.1} and as if from \code{ident.2}, \code{n.samples} times from
#' the posteriors of its code and of the two batches' random effects; per group and
#' feature, the draws' mean difference over the group's cells is the log fold change
#' (natural log, on the scale of the data). Its SD adds to the draws' spread the sampling
#' variance of the difference between the group's observed cells of the two batches, from
#' which the model learnt it. Unlike \code{FindMarkers} on the observed cells, the
#' comparison holds the cells fixed: only the batch changes. See the Python
#' \code{MEDL.batch_effects}.
#'
#' @param object A Seurat object on which \code{RunMEDL} was run.
#' @param ident.1,ident.2 The batch whose effect is measured and the batch it is compared
#'   with (batches the model was fitted on).
#' @param group.by \code{NULL} (default: all cells together), or a cell-metadata column
#'   (e.g. cell type): one test per group, from its cells.
#' @param groups With \code{group.by}, the groups to test (default: every group).
#' @param n.samples Posterior draws (at least 2).
#' @param delta The smallest absolute log fold change that counts as an effect.
#' @param assay The assay holding the log-normalised data (default: the one \code{RunMEDL}
#'   used).
#' @param reduction As in \code{\link{MEDLCounterfactual}}.
#' @param seed Seed of the draws.
#' @return A data.frame with one row per (group and) feature, features as row names (made
#'   unique across groups, as \code{FindAllMarkers} does), sorted within each group by
#'   \code{prob_de} then \code{|lfc_mean|}: \code{lfc_mean}, \code{lfc_sd} (the estimate of
#'   \code{ident.1} minus \code{ident.2} and its uncertainty), \code{prob_de} (probability
#'   that |lfc| > \code{delta}), \code{lfsr} (local false sign rate), \code{fdr} (expected
#'   false discovery proportion of calling every feature at least this probable:
#'   meant to keep it below 5\% at \code{fdr <= 0.05}, but on simulated truth it held up
#'   to 18\% false: call on \code{prob_de}), \code{mean.1}, \code{mean.2} (the group's mean
#'   decoded expression in each batch, corrected by its observed cells of that batch),
#'   \code{n_cells} (the group's cells), \code{n.1},
#'   \code{n.2} (its observed cells of each batch; with fewer than two the uncertainty is
#'   that of one cell), \code{gene}, and with \code{group.by} the \code{group}.
#'   \code{MEDLBatchEffectPlot} draws it.
#' @export
MEDLBatchEffects <- function(object, ident.1, ident.2, group.by = NULL, groups = NULL,
                             n.samples = 100, delta = 0.25, assay = NULL, reduction = NULL,
                             seed = 0) {
  info <- .medl_info(object, reduction)
  assay <- .seurat_assay(object, assay %||% info$assay)
  batch.values <- .info_batch(object, info)
  .check_string(ident.1, "ident.1")
  .check_string(ident.2, "ident.2")
  if (!is.numeric(n.samples) || length(n.samples) != 1L || is.na(n.samples) ||
      n.samples < 2 || n.samples %% 1 != 0) {
    stop("n.samples must be one whole number >= 2, e.g. n.samples = 100.", call. = FALSE)
  }
  if (!is.numeric(delta) || length(delta) != 1L || is.na(delta) || delta < 0) {
    stop("delta must be one number >= 0, e.g. delta = 0.25.", call. = FALSE)
  }
  cells <- seq_len(ncol(object))
  group.values <- .group_values(object, group.by)
  if (!is.null(group.by)) {
    if (!is.null(groups)) {
      groups <- as.character(groups)
      empty <- setdiff(groups, group.values)
      if (length(empty)) {
        stop("group(s) ", paste(empty, collapse = ", "), " of '", group.by, "' have no cells. ",
             "Groups: ", paste(sort(unique(group.values)), collapse = ", "), ".", call. = FALSE)
      }
      cells <- which(group.values %in% groups)
    }
  } else if (!is.null(groups)) {
    stop("groups needs group.by (the metadata column the groups come from).", call. = FALSE)
  }
  model <- .load_model(info)
  known <- unlist(model$batch_categories)
  for (id in c(ident.1, ident.2)) {
    if (!id %in% known) {
      stop("'", id, "' is not a batch of the model. Batches: ", paste(known, collapse = ", "),
           ".", call. = FALSE)
    }
  }
  if (identical(ident.1, ident.2)) stop("ident.1 and ident.2 are the same batch.", call. = FALSE)
  x <- .to_python_matrix(.assay_matrix(object, assay, "data")[info$features, cells, drop = FALSE])
  table <- reticulate::py_suppress_warnings(model$batch_effects(
    x, batch.values[cells], ident.1, ident.2,
    groups = group.values[cells],
    n_samples = as.integer(n.samples), delta = delta, genes = info$features,
    sample_seed = as.integer(seed)
  ))
  table <- as.data.frame(table)
  names(table)[names(table) == "mean_target"] <- "mean.1"
  names(table)[names(table) == "mean_reference"] <- "mean.2"
  names(table)[names(table) == "n_target"] <- "n.1"
  names(table)[names(table) == "n_reference"] <- "n.2"
  table <- table[order(table$group, -table$prob_de, -abs(table$lfc_mean)), , drop = FALSE]
  columns <- c("lfc_mean", "lfc_sd", "prob_de", "lfsr", "fdr", "mean.1", "mean.2", "n_cells",
               "n.1", "n.2", "gene", if (!is.null(group.by)) "group")
  table <- table[, columns, drop = FALSE]
  rownames(table) <- make.unique(as.character(table$gene))
  table
}

utils::globalVariables(c("lfc_mean", "prob_de", "called", "label"))

#' @rdname MEDLBatchEffects
#' @param effects A data.frame from \code{MEDLBatchEffects}.
#' @param prob Features with \code{prob_de} above this are drawn as called (0.95: on
#'   simulated truth at most 3.5\% of such calls were false in any cell type).
#' @param fdr Instead of \code{prob}: call the features with \code{fdr} at most this
#'   (optimistic: at \code{fdr <= 0.05} up to 18\% were false).
#' @param n.label Label this many of the most probable called features (per group).
#' @param title Plot title.
#' @export
MEDLBatchEffectPlot <- function(effects, prob = 0.95, fdr = NULL, n.label = 10,
                                title = "Batch-effect genes") {
  needed <- c("lfc_mean", "prob_de", "fdr", "gene")
  if (!is.data.frame(effects) || !all(needed %in% names(effects))) {
    stop("effects must be a data.frame from MEDLBatchEffects (columns ",
         paste(needed, collapse = ", "), ").", call. = FALSE)
  }
  if (!is.numeric(n.label) || length(n.label) != 1L || is.na(n.label) || n.label < 0) {
    stop("n.label must be one number >= 0.", call. = FALSE)
  }
  threshold <- if (is.null(fdr)) prob else fdr
  if (!is.numeric(threshold) || length(threshold) != 1L || is.na(threshold) ||
      threshold < 0 || threshold > 1) {
    stop(if (is.null(fdr)) "prob" else "fdr", " must be one number in [0, 1], e.g. ",
         if (is.null(fdr)) "prob = 0.95." else "fdr = 0.05.", call. = FALSE)
  }
  effects$called <- if (is.null(fdr)) effects$prob_de > prob else effects$fdr <= fdr
  legend <- if (is.null(fdr)) paste0("prob_de > ", prob) else paste0("fdr <= ", fdr)
  groups <- if ("group" %in% names(effects)) effects$group else rep("all", nrow(effects))
  rank <- stats::ave(-effects$prob_de - abs(effects$lfc_mean) * 1e-6, groups,
                     FUN = function(v) rank(v, ties.method = "first"))
  effects$label <- ifelse(effects$called & rank <= n.label, effects$gene, NA_character_)
  plot <- ggplot2::ggplot(effects, ggplot2::aes(x = lfc_mean, y = prob_de, colour = called)) +
    ggplot2::geom_point(size = 1) +
    ggplot2::geom_text(ggplot2::aes(label = label), size = 2.5, vjust = -0.6,
                       na.rm = TRUE, show.legend = FALSE) +
    ggplot2::scale_colour_manual(values = c(`FALSE` = "grey60", `TRUE` = "firebrick"),
                                 name = legend) +
    ggplot2::labs(x = "posterior mean log fold change", y = "P(|lfc| > delta)",
                  title = title) +
    ggplot2::theme_minimal()
  if ("group" %in% names(effects)) plot <- plot + ggplot2::facet_wrap(~group)
  plot
}

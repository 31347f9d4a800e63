#' Add counterfactual assays from a fitted MEDL model
#'
#' Re-expresses every cell as if it came from each \code{target} batch, using the model that
#' \code{\link{RunMEDL}} saved (no retraining), and adds an Assay \code{MEDLCF.<batch>} per
#' target.
#'
#' @param object A Seurat object on which \code{RunMEDL} was run.
#' @param target Batches to project the cells to.
#' @param mode \code{NULL} (default): the model's own mode, \code{"anchored"} for the
#'   default variant (\code{"mixed"}: without the move along the cross-batch anchors);
#'   \code{"full"} or \code{"decoder"} for \code{variant = "paper"}. See the Python
#'   \code{MEDL.counterfactual}.
#' @param assay The assay holding the log-normalised data (default: the one \code{RunMEDL}
#'   used).
#' @param n.samples \code{NULL} (default), or a number of posterior draws (default variant
#'   only): the assay \code{MEDLCF.<batch>} then holds the mean of the draws and a second
#'   assay \code{MEDLCF.<batch>.sd} their standard deviation, the model's uncertainty about
#'   each cell's expected profile.
#' @param overwrite Replace existing assays of the same names.
#' @param reduction The reduction holding the model when it came from
#'   \code{IntegrateLayers(method = \link{MEDLIntegration})} (e.g. \code{"integrated.medl"});
#'   \code{NULL}: \code{RunMEDL}'s model, else the first reduction that carries one.
#' @return The object with the new assays.
#' @export
MEDLCounterfactual <- function(object, target, mode = NULL, assay = NULL, n.samples = NULL,
                               overwrite = FALSE, reduction = NULL) {
  info <- .medl_info(object, reduction)
  assay <- .seurat_assay(object, assay %||% info$assay)
  batch.values <- .info_batch(object, info)
  targets <- .check_targets(target, batch.values)
  if (!is.null(n.samples) && (!is.numeric(n.samples) || length(n.samples) != 1L ||
                              is.na(n.samples) || n.samples < 1 || n.samples %% 1 != 0)) {
    stop("n.samples must be NULL or one whole number >= 1, e.g. n.samples = 50.",
         call. = FALSE)
  }
  assays <- .cf_name("MEDLCF.", targets)
  if (!is.null(n.samples)) assays <- c(assays, paste0(assays, ".sd"))
  .check_free_names(assays, SeuratObject::Assays(object), "Assay(s)", overwrite)
  model <- .load_model(info)
  x <- .to_python_matrix(.assay_matrix(object, assay, "data")[info$features, , drop = FALSE])
  as.profile <- function(m) .profile(m, colnames(object), info$features)
  if (is.null(n.samples)) {
    profiles <- lapply(targets, function(t) {
      as.profile(model$counterfactual(x, batch.values, t, mode = mode))
    })
  } else {
    draws <- lapply(targets, function(t) {
      model$counterfactual(x, batch.values, t, mode = mode, n_samples = as.integer(n.samples))
    })
    profiles <- c(lapply(draws, function(d) as.profile(d[[1]])),
                  lapply(draws, function(d) as.profile(d[[2]])))
  }
  object <- .add_profile_assays(object, assays, profiles, assay)
  info$counterfactual <- union(info$counterfactual, targets)
  object <- .store_medl_info(object, info)
  SeuratObject::LogSeuratCommand(object = object)
}

#' Embed new cells with a fitted MEDL model
#'
#' Adds the FE and RE reductions for the cells of \code{object} using a model fitted
#' earlier (on other cells of the same batches), without retraining.
#'
#' @param object A Seurat object with the model's features in its assay.
#' @param model A path to a saved model, or a Seurat object on which \code{RunMEDL} ran.
#' @param batch Metadata column (or values) with each cell's batch; every batch must be one
#'   the model was trained on.
#' @param assay Assay with log-normalised data (default: the default assay).
#' @param reduction.name Prefix of the reduction names.
#' @param overwrite Replace existing reductions of the same names.
#' @return The object with reductions \code{<reduction.name>.fe} and \code{.re}.
#' @export
MEDLEmbed <- function(object, model, batch, assay = NULL, reduction.name = "medl",
                      overwrite = FALSE) {
  info <- if (inherits(model, "Seurat")) .medl_info(model) else {
    .check_string(model, "model")
    list(model.dir = model)
  }
  assay <- .seurat_assay(object, assay)
  batch.values <- .cell_column(object[[]], batch, "batch", ncol(object))
  names <- .medl_names(reduction.name, character(0), FALSE)$reductions
  .check_free_names(names, SeuratObject::Reductions(object), "Reduction(s)", overwrite)
  fitted <- .load_model(info)
  features <- unlist(fitted$feature_names)
  data <- .assay_matrix(object, assay, "data")
  features <- .check_features(features, rownames(data))
  x <- .to_python_matrix(data[features, , drop = FALSE])
  cells <- colnames(object)
  fe <- .embedding(fitted$fixed_effects(x), cells, "MEDLFE_")
  re <- .embedding(fitted$random_effects(x, batch.values), cells, "MEDLRE_")
  object <- .add_reductions(object, names, fe, re, assay)
  SeuratObject::LogSeuratCommand(object = object)
}

# The model's record: RunMEDL's (Misc(object, "medl")) or, from MEDLIntegration, the one in
# a reduction's misc (`reduction`, else the first reduction that has one).
.medl_info <- function(object, reduction = NULL) {
  if (!is.null(reduction)) {
    .check_string(reduction, "reduction")
    if (!reduction %in% SeuratObject::Reductions(object)) {
      stop("Reduction '", reduction, "' is not in the object. Reductions: ",
           paste(SeuratObject::Reductions(object), collapse = ", "), ".", call. = FALSE)
    }
    info <- SeuratObject::Misc(object[[reduction]])$medl
    if (is.null(info)) {
      stop("Reduction '", reduction, "' holds no MEDL model (it was not made by ",
           "IntegrateLayers(method = MEDLIntegration)).", call. = FALSE)
    }
    return(c(info, list(reduction = reduction)))
  }
  info <- SeuratObject::Misc(object, slot = "medl")
  if (!is.null(info)) return(info)
  for (r in SeuratObject::Reductions(object)) {
    info <- SeuratObject::Misc(object[[r]])$medl
    if (!is.null(info)) return(c(info, list(reduction = r)))
  }
  .stop_no_model(paste("RunMEDL(object, batch = ...) or",
                       "IntegrateLayers(object, method = MEDLIntegration)"))
}

# Write `info` back where .medl_info found it.
.store_medl_info <- function(object, info) {
  # [[ ]]: `$` would match RunMEDL's `reductions` partially
  reduction <- info[["reduction"]]
  if (is.null(reduction)) return(.set_medl_info(object, info))
  info[["reduction"]] <- NULL
  misc <- SeuratObject::Misc(object[[reduction]])
  misc$medl <- info
  object[[reduction]]@misc <- misc
  object
}

# Each cell's batch from the record: a metadata column name, or the values per cell
# (MEDLIntegration stores them named by cell).
.info_batch <- function(object, info) {
  batch <- info$batch
  if (!is.null(names(batch)) && length(batch) > 1L) {
    missing <- setdiff(colnames(object), names(batch))
    if (length(missing)) {
      stop(length(missing), " cell(s) of the object were not in the fit (e.g. ",
           missing[1], "); MEDLEmbed embeds new cells.", call. = FALSE)
    }
    return(unname(batch[colnames(object)]))
  }
  .cell_column(object[[]], batch, "batch", ncol(object))
}


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
  groups <- NULL
  if (!is.null(group.by)) {
    .check_string(group.by, "group.by")
    groups <- as.character(.cell_column(object[[]], group.by, "group.by", ncol(object)))
  }
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

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
#'   only): the assay \code{MEDLCF.<batch>} holds the counterfactual as without it, and a
#'   second assay \code{MEDLCF.<batch>.sd} its standard deviation (with \code{correct}, the
#'   correction's own error, measured on the target batch's cells, plus the share of the
#'   decoded draws' variance that the correction leaves; without, the draws' spread).
#' @param level \code{NULL} (default), or a nominal coverage in (0, 1) (with
#'   \code{n.samples}): also adds assays \code{MEDLCF.<batch>.lower} and \code{.upper},
#'   the central interval at that level for each cell's expected (log-normalised) profile
#'   in the batch, not for one noisy measurement (a Student-t with 5 degrees of freedom,
#'   as the Python \code{medl.counterfactual_interval}; at 90\%, +/- 1.645 SD). On
#'   simulated truth at 2,000 cells x 500 genes, the 90\% interval held 0.87-0.92 and the
#'   50\% one 0.47-0.54; on small data (600 x 100) 90\% held 0.78-0.90.
#' @param overwrite Replace existing assays of the same names.
#' @param reduction The reduction holding the model when it came from
#'   \code{IntegrateLayers(method = \link{MEDLIntegration})} (e.g. \code{"integrated.medl"});
#'   \code{NULL}: \code{RunMEDL}'s model, else the first reduction that carries one.
#' @param correct \code{NULL} (default: \code{TRUE} for the default variant), \code{TRUE}
#'   or \code{FALSE}: whether each counterfactual adds the mean residual of its 30 nearest
#'   cells of the target batch in the object, weighted per gene by how well such means
#'   predict that batch's own cells (what the model misses there; with
#'   \code{n.samples}, the SD carries that mean's own error). \code{FALSE}: the
#'   model's decode alone, as \code{variant = "paper"} always is.
#' @return The object with the new assays.
#' @export
MEDLCounterfactual <- function(object, target, mode = NULL, assay = NULL, n.samples = NULL,
                               overwrite = FALSE, reduction = NULL, correct = NULL,
                               level = NULL) {
  info <- .medl_info(object, reduction)
  assay <- .seurat_assay(object, assay %||% info$assay)
  batch.values <- .info_batch(object, info)
  targets <- .check_targets(target, batch.values)
  if (!is.null(n.samples) && (!is.numeric(n.samples) || length(n.samples) != 1L ||
                              is.na(n.samples) || n.samples < 1 || n.samples %% 1 != 0)) {
    stop("n.samples must be NULL or one whole number >= 1, e.g. n.samples = 50.",
         call. = FALSE)
  }
  if (!is.null(correct) && (!is.logical(correct) || length(correct) != 1L || is.na(correct))) {
    stop("correct must be NULL, TRUE or FALSE.", call. = FALSE)
  }
  if (!is.null(level)) {
    if (is.null(n.samples)) {
      stop("level needs n.samples: intervals come from posterior draws, e.g. ",
           "n.samples = 100, level = 0.9.", call. = FALSE)
    }
    if (!is.numeric(level) || length(level) != 1L || is.na(level) || level <= 0 ||
        level >= 1) {
      stop("level must be NULL or one number in (0, 1), e.g. level = 0.9.", call. = FALSE)
    }
  }
  assays <- .cf_name("MEDLCF.", targets)
  if (!is.null(n.samples)) {
    suffixes <- c(".sd", if (!is.null(level)) c(".lower", ".upper"))
    assays <- c(assays, as.vector(outer(assays, suffixes, paste0)))
  }
  .check_free_names(assays, SeuratObject::Assays(object), "Assay(s)", overwrite)
  model <- .load_model(info)
  x <- .to_python_matrix(.assay_matrix(object, assay, "data")[info$features, , drop = FALSE])
  as.profile <- function(m) .profile(m, colnames(object), info$features)
  if (is.null(n.samples)) {
    profiles <- lapply(targets, function(t) {
      as.profile(model$counterfactual(x, batch.values, t, mode = mode, correct = correct))
    })
  } else {
    draws <- lapply(targets, function(t) {
      model$counterfactual(x, batch.values, t, mode = mode, n_samples = as.integer(n.samples),
                           correct = correct)
    })
    profiles <- c(lapply(draws, function(d) as.profile(d[[1]])),
                  lapply(draws, function(d) as.profile(d[[2]])))
    if (!is.null(level)) {
      half <- .medl()$model$intervals$interval_factor(level)
      n <- length(targets)
      points <- profiles[seq_len(n)]
      sds <- profiles[n + seq_len(n)]
      profiles <- c(profiles, Map(function(p, s) p - half * s, points, sds),
                    Map(function(p, s) p + half * s, points, sds))
    }
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

`%||%` <- function(a, b) if (is.null(a)) b else a

#' Run the Mixed Effects Deep Learning autoencoder
#'
#' Fits MEDL (the 'medl' Python package) to the log-normalised expression of an object and
#' adds a batch-invariant fixed-effects (FE) and a batch-specific random-effects (RE)
#' embedding, and optionally counterfactual profiles: every cell re-expressed as if it came
#' from a given batch.
#'
#' @param object A Seurat object, a SingleCellExperiment, or a features x cells matrix.
#' @param ... Passed to the Python \code{medl.MEDL()} or its \code{fit()} by name, e.g.
#'   \code{variant = "paper"} (the published model exactly as specified; the default
#'   \code{"variational"} is medl's measured improvement), \code{max_epochs = 100},
#'   \code{preset = "amlh"}, \code{loss_weights = list(fe_latent_kl = 4)}.
#' @return See the methods.
#' @export
RunMEDL <- function(object, ...) {
  UseMethod("RunMEDL")
}

#' @describeIn RunMEDL Seurat objects: adds DimReducs \code{<reduction.name>.fe} (key
#'   \code{MEDLFE_}) and \code{<reduction.name>.re} (key \code{MEDLRE_}), an Assay
#'   \code{MEDLCF.<batch>} per counterfactual batch, an Assay \code{MEDLFE} with
#'   \code{fe.reconstruction = TRUE}, and \code{Misc(object, "medl")} with the saved model's
#'   path, a copy of its files (so the model survives \code{saveRDS}/\code{readRDS}, a new
#'   session or another machine; it adds about 9 kB per feature, 18 MB at 2,000 features)
#'   and the parameters. The call is logged with \code{LogSeuratCommand}.
#' @param batch Name of the cell-metadata column holding the batch (donor, protocol, ...),
#'   or one value per cell.
#' @param labels Optional metadata column (or values) with cell types: adds the latent
#'   cell-type classifier to the FE subnetwork (FEC). Without labels, cross-batch anchors
#'   (mutual nearest neighbours) keep cell types that batches differ in; labels keep them
#'   more firmly where a type is rare in most batches (docs/method.md).
#' @param assay Assay to use (default: the default assay); its \code{data} must be
#'   log-normalised (\code{NormalizeData}).
#' @param features Features to use (default: the assay's variable features).
#' @param latent.dim Size of the FE and RE latent spaces (\code{NULL}: the variant's,
#'   10 for the default \code{variant = "variational"}, 2 for \code{variant = "paper"}).
#' @param counterfactual Batches to project every cell to.
#' @param fe.reconstruction Also add the batch-free FE reconstruction as an assay.
#' @param reduction.name Prefix of the reduction names.
#' @param seed Random seed (weights, split, shuffling).
#' @param device \code{"auto"} (CUDA when available), \code{"cpu"} or \code{"cuda"}.
#' @param verbose Print the training progress: a line with the losses every ~5\% of the
#'   epochs.
#' @param overwrite Replace reductions/assays of the same names instead of stopping.
#' @param model.dir Where to save the fitted model's files (default: a new temporary
#'   folder). The object also carries a copy, so this is only needed to share the files.
#' @export
RunMEDL.Seurat <- function(object, batch, labels = NULL, assay = NULL, features = NULL,
                           latent.dim = NULL, counterfactual = NULL, fe.reconstruction = FALSE,
                           reduction.name = "medl", seed = 42, device = "auto",
                           verbose = TRUE, overwrite = FALSE, model.dir = NULL, ...) {
  assay <- .seurat_assay(object, assay)
  .check_string(reduction.name, "reduction.name")
  for (flag in c("fe.reconstruction", "verbose", "overwrite")) .check_flag(get(flag), flag)
  cells <- colnames(object)
  meta <- object[[]]
  batch.values <- .cell_column(meta, batch, "batch", length(cells))
  .check_batches(batch.values)
  label.values <- if (is.null(labels)) NULL else .cell_column(meta, labels, "labels",
                                                               length(cells))
  data <- .assay_matrix(object, assay, "data")
  features <- .check_features(
    features %||% SeuratObject::VariableFeatures(object[[assay]]), rownames(data)
  )
  .check_normalised(object, assay, data, features)
  targets <- .check_targets(counterfactual, batch.values)
  names <- .medl_names(reduction.name, targets, fe.reconstruction)
  .check_free_names(names$reductions, SeuratObject::Reductions(object), "Reduction(s)",
                    overwrite)
  .check_free_names(names$assays, SeuratObject::Assays(object), "Assay(s)", overwrite)

  out <- .run_medl_core(data[features, , drop = FALSE], batch.values, label.values, cells,
                        features, targets, fe.reconstruction, latent.dim, seed, device,
                        verbose, model.dir, ...)

  # Everything is computed; only now is the object changed.
  object <- .add_reductions(object, names$reductions, out$fe, out$re, assay,
                            misc = list(model.dir = out$model.dir))
  profiles <- c(unname(out$cf[targets]), if (fe.reconstruction) list(out$fe.recon))
  object <- .add_profile_assays(object, names$assays, profiles, assay)
  object <- .set_medl_info(object, list(
    model.dir = out$model.dir, model.files = out$model.files, assay = assay,
    features = features,
    batch = if (is.character(batch) && length(batch) == 1L) batch else batch.values,
    labels = labels, reductions = names$reductions, counterfactual = targets,
    params = out$params
  ))
  SeuratObject::LogSeuratCommand(object = object)
}

#' @describeIn RunMEDL SingleCellExperiment objects: adds reducedDims
#'   \code{<reduction.name>_FE} and \code{<reduction.name>_RE}, an altExp
#'   \code{MEDLCF.<batch>} (assay \code{logcounts}) per counterfactual batch, an altExp
#'   \code{MEDLFE} with \code{fe.reconstruction = TRUE}, and \code{metadata(object)$medl}.
#'   \code{assay} names the log-normalised assay (default \code{"logcounts"}) and
#'   \code{features} defaults to all rows.
#' @export
RunMEDL.SingleCellExperiment <- function(object, batch, labels = NULL, assay = "logcounts",
                                         features = NULL, latent.dim = NULL,
                                         counterfactual = NULL, fe.reconstruction = FALSE,
                                         reduction.name = "MEDL", seed = 42, device = "auto",
                                         verbose = TRUE, overwrite = FALSE,
                                         model.dir = NULL, ...) {
  for (pkg in c("SingleCellExperiment", "SummarizedExperiment")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      stop("Package '", pkg, "' is needed for SingleCellExperiment input.", call. = FALSE)
    }
  }
  .check_string(assay, "assay")
  if (!assay %in% SummarizedExperiment::assayNames(object)) {
    stop("Assay '", assay, "' is not in the object. Assays: ",
         paste(SummarizedExperiment::assayNames(object), collapse = ", "),
         ". Log-normalise first (e.g. scuttle::logNormCounts).", call. = FALSE)
  }
  .check_string(reduction.name, "reduction.name")
  for (flag in c("fe.reconstruction", "verbose", "overwrite")) .check_flag(get(flag), flag)
  cells <- colnames(object) %||% as.character(seq_len(ncol(object)))
  meta <- as.data.frame(SummarizedExperiment::colData(object))
  batch.values <- .cell_column(meta, batch, "batch", length(cells))
  .check_batches(batch.values)
  label.values <- if (is.null(labels)) NULL else .cell_column(meta, labels, "labels",
                                                               length(cells))
  data <- SummarizedExperiment::assay(object, assay)
  features <- .check_features(features %||% rownames(data), rownames(data))
  targets <- .check_targets(counterfactual, batch.values)
  dims <- paste0(reduction.name, c("_FE", "_RE"))
  alt <- c(.cf_name("MEDLCF.", targets), if (fe.reconstruction) "MEDLFE")
  .check_free_names(dims, SingleCellExperiment::reducedDimNames(object), "reducedDim(s)",
                    overwrite)
  .check_free_names(alt, SingleCellExperiment::altExpNames(object), "altExp(s)", overwrite)

  out <- .run_medl_core(data[features, , drop = FALSE], batch.values, label.values, cells,
                        features, targets, fe.reconstruction, latent.dim, seed, device,
                        verbose, model.dir, ...)

  SingleCellExperiment::reducedDim(object, dims[1]) <- out$fe
  SingleCellExperiment::reducedDim(object, dims[2]) <- out$re
  profiles <- c(out$cf[targets], if (fe.reconstruction) list(out$fe.recon))
  for (i in seq_along(alt)) {
    SingleCellExperiment::altExp(object, alt[i]) <-
      SummarizedExperiment::SummarizedExperiment(assays = list(logcounts = profiles[[i]]))
  }
  S4Vectors::metadata(object)$medl <- list(
    model.dir = out$model.dir, model.files = out$model.files, assay = assay,
    features = features, batch = batch.values,
    reduced.dims = dims, counterfactual = targets, params = out$params
  )
  object
}

#' @describeIn RunMEDL A features x cells matrix (dense or dgCMatrix) of log-normalised
#'   expression with \code{batch} giving one value per cell. Returns a list with \code{fe}
#'   and \code{re} (cells x latent.dim), \code{counterfactual} (a named list of features x
#'   cells matrices), \code{fe.reconstruction} (or \code{NULL}) and \code{model.dir}.
#' @export
RunMEDL.default <- function(object, batch, labels = NULL, features = NULL, latent.dim = NULL,
                            counterfactual = NULL, fe.reconstruction = FALSE, seed = 42,
                            device = "auto", verbose = TRUE, model.dir = NULL, ...) {
  if (!(is.matrix(object) || inherits(object, "Matrix") || is.data.frame(object))) {
    stop("RunMEDL needs a Seurat object, a SingleCellExperiment or a features x cells ",
         "matrix; got ", paste(class(object), collapse = "/"), ".", call. = FALSE)
  }
  for (flag in c("fe.reconstruction", "verbose")) .check_flag(get(flag), flag)
  cells <- colnames(object) %||% paste0("cell", seq_len(ncol(object)))
  rows <- rownames(object) %||% paste0("gene", seq_len(nrow(object)))
  batch.values <- .cell_column(data.frame(row.names = seq_along(cells)), batch, "batch",
                               length(cells))
  .check_batches(batch.values)
  label.values <- if (is.null(labels)) NULL else .cell_column(NULL, labels, "labels",
                                                               length(cells))
  dimnames(object) <- list(rows, cells)
  features <- .check_features(features %||% rows, rows)
  targets <- .check_targets(counterfactual, batch.values)
  out <- .run_medl_core(object[features, , drop = FALSE], batch.values, label.values, cells,
                        features, targets, fe.reconstruction, latent.dim, seed, device,
                        verbose, model.dir, ...)
  list(fe = out$fe, re = out$re, counterfactual = out$cf[targets],
       fe.reconstruction = out$fe.recon, model.dir = out$model.dir)
}

# The one place the R side runs the model: fit, collect outputs, save.
.run_medl_core <- function(x, batch, labels, cells, features, targets, fe.reconstruction,
                           latent.dim, seed, device, verbose, model.dir, ...) {
  .with_gil(function() {
    medl <- .medl()
    result <- .hold(medl$fit_medl(
      .to_python_matrix(x), batch,
      labels = labels,
      counterfactual = as.list(targets),
      fe_reconstruction = fe.reconstruction,
      feature_names = as.list(features),
      caller = "RunMEDL",
      latent_dim = latent.dim, seed = seed, device = device,
      # one line every ~5% of the epochs: a progress bar's carriage returns garble R consoles
      progress = if (verbose) "log" else FALSE, ...
    ))
    if (isTRUE(result$model$fit_info$interrupted)) {
      stop("Training was interrupted after ", result$model$fit_info$epochs, " epoch(s); the ",
           "object is unchanged. Run RunMEDL again; with checkpoint = \"fit.ckpt\" a later ",
           "RunMEDL(..., checkpoint = \"fit.ckpt\", resume = TRUE) continues where it stopped.",
           call. = FALSE)
    }
    model.dir <- model.dir %||% tempfile("medl-model-")
    .hold(result$model$save(model.dir, overwrite = TRUE))  # the saved path
    cf <- lapply(result$counterfactuals, .profile, cells = cells, features = features)
    list(
      fe = .embedding(result$fixed_effects, cells, "MEDLFE_"),
      re = .embedding(result$random_effects, cells, "MEDLRE_"),
      cf = cf,
      fe.recon = if (is.null(result$fe_reconstruction)) NULL else
        .profile(result$fe_reconstruction, cells, features),
      model.dir = normalizePath(model.dir),
      model.files = .pack_model(model.dir),
      params = result$model$params
    )
  })
}

# The Seurat assay to read: `assay`, or the default one, which must exist.
.seurat_assay <- function(object, assay) {
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  .check_string(assay, "assay")
  if (!assay %in% SeuratObject::Assays(object)) {
    stop("Assay '", assay, "' is not in the object. Assays: ",
         paste(SeuratObject::Assays(object), collapse = ", "), ".", call. = FALSE)
  }
  assay
}

# The FE and RE embeddings as the DimReducs `names` (keys MEDLFE_ / MEDLRE_).
.add_reductions <- function(object, names, fe, re, assay, misc = list()) {
  object[[names[1]]] <- SeuratObject::CreateDimReducObject(
    embeddings = fe, key = "MEDLFE_", assay = assay, misc = misc
  )
  object[[names[2]]] <- SeuratObject::CreateDimReducObject(
    embeddings = re, key = "MEDLRE_", assay = assay, misc = misc
  )
  object
}

# Each features x cells profile as the Assay of the same position in `names`.
.add_profile_assays <- function(object, names, profiles, assay) {
  like <- object[[assay]]
  for (i in seq_along(names)) {
    object[[names[i]]] <- .profile_assay(profiles[[i]], names[i], like)
  }
  object
}

.medl_names <- function(reduction.name, targets, fe.reconstruction) {
  list(reductions = paste0(reduction.name, c(".fe", ".re")),
       assays = c(.cf_name("MEDLCF.", targets), if (fe.reconstruction) "MEDLFE"))
}

.check_normalised <- function(object, assay, data, features) {
  counts <- tryCatch(.assay_matrix(object, assay, "counts"), error = function(e) NULL)
  .check_not_counts(data, counts, features, assay)
}

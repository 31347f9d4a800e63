#' MEDL as a Seurat 5 integration method
#'
#' For \code{Seurat::IntegrateLayers(object, method = MEDLIntegration)}: fits MEDL to the
#' log-normalised layers of a split v5 assay and returns the batch-invariant fixed-effects
#' (FE) embedding as the integrated reduction, the batch-specific random-effects (RE)
#' embedding next to it and, with \code{counterfactual}, every cell re-expressed as if it
#' came from each given batch. The fitted model travels inside the FE reduction, so
#' \code{\link{MEDLCounterfactual}(object, target, reduction = "integrated.medl")} and
#' \code{\link{MEDLEmbed}} work after \code{saveRDS}/\code{readRDS} in a new session.
#'
#' @param object The v5 assay (\code{IntegrateLayers} passes it).
#' @param assay The assay's name (passed by \code{IntegrateLayers}).
#' @param orig,scale.layer Passed by \code{IntegrateLayers}; MEDL reads the normalised
#'   data, not a reduction or scaled data.
#' @param layers The normalised layers to integrate (default: every \code{data} layer).
#' @param features Features to use (\code{IntegrateLayers}: the variable features).
#' @param new.reduction Name of the FE reduction; the RE reduction is
#'   \code{<new.reduction>.re}.
#' @param batch \code{NULL} (default): each cell's batch is its layer. Otherwise a metadata
#'   column name (resolved from the object \code{IntegrateLayers} was given) or one value
#'   per cell; the layers must then each hold a single batch.
#' @param labels Optional cell-type values, one per cell (adds the FE cell-type
#'   classifier, as in \code{\link{RunMEDL}}).
#' @param counterfactual Batches to project every cell to: adds an Assay5
#'   \code{MEDLCF.<batch>} per batch.
#' @param latent.dim,seed,device,verbose,model.dir As in \code{\link{RunMEDL}}.
#' @param ... Passed to the Python \code{medl.MEDL()} or its \code{fit()} by name.
#' @return A named list for \code{IntegrateLayers} to add to the object.
#' @examples
#' \dontrun{
#' obj[["RNA"]] <- split(obj[["RNA"]], f = obj$donor)
#' obj <- NormalizeData(obj)
#' obj <- FindVariableFeatures(obj)
#' obj <- ScaleData(obj)
#' obj <- RunPCA(obj)
#' obj <- IntegrateLayers(obj, method = MEDLIntegration)
#' obj <- RunUMAP(obj, reduction = "integrated.medl", dims = 1:10)
#' }
#' @export
MEDLIntegration <- function(object, assay = NULL, orig = NULL, layers = NULL,
                            scale.layer = NULL, features = NULL,
                            new.reduction = "integrated.medl", batch = NULL, labels = NULL,
                            counterfactual = NULL, latent.dim = NULL, seed = 42,
                            device = "auto", verbose = TRUE, model.dir = NULL, ...) {
  if (!inherits(object, "StdAssay")) {
    stop("MEDLIntegration is a method for Seurat::IntegrateLayers and needs a v5 assay ",
         "(Assay5); got ", paste(class(object), collapse = "/"), ". Use ",
         "IntegrateLayers(obj, method = MEDLIntegration), or RunMEDL(obj, batch = ...).",
         call. = FALSE)
  }
  assay <- assay %||% "RNA"
  .check_string(new.reduction, "new.reduction")
  .check_flag(verbose, "verbose")
  cells <- colnames(object)
  layers <- layers %||% .split_layers(object, "data")
  data <- .layer_matrix(object, "data", assay)
  batch.values <- .integration_batch(object, layers, batch, parent.frame(), assay)
  .check_batches(batch.values)
  label.values <- if (is.null(labels)) NULL else .cell_column(NULL, labels, "labels",
                                                               length(cells))
  features <- .check_features(
    features %||% SeuratObject::VariableFeatures(object), rownames(data)
  )
  counts <- .layer_matrix(object, "counts", assay)
  .check_not_counts(data, counts, features, assay)
  targets <- .check_targets(counterfactual, batch.values)

  out <- .run_medl_core(data[features, , drop = FALSE], batch.values, label.values, cells,
                        features, targets, FALSE, latent.dim, seed, device, verbose,
                        model.dir, ...)
  info <- list(
    model.dir = out$model.dir, model.files = out$model.files, assay = assay,
    features = features, batch = stats::setNames(batch.values, cells), labels = labels,
    reductions = paste0(new.reduction, c("", ".re")), counterfactual = targets,
    params = out$params
  )
  key <- gsub("[^A-Za-z0-9]", "", new.reduction)
  value <- list()
  value[[new.reduction]] <- SeuratObject::CreateDimReducObject(
    embeddings = .rekey(out$fe, paste0(key, "_")), key = paste0(key, "_"), assay = assay,
    misc = list(medl = info)
  )
  value[[paste0(new.reduction, ".re")]] <- SeuratObject::CreateDimReducObject(
    embeddings = .rekey(out$re, paste0(key, "re_")), key = paste0(key, "re_"),
    assay = assay
  )
  for (t in targets) {
    name <- .cf_name("MEDLCF.", t)
    value[[name]] <- .profile_assay(out$cf[[t]], name, object)
  }
  value
}

# Column names of an embedding under another reduction key.
.rekey <- function(x, key) {
  colnames(x) <- paste0(key, seq_len(ncol(x)))
  x
}

# Each cell's batch for MEDLIntegration: its layer, or `batch` (a metadata column of the
# Seurat object IntegrateLayers was called with, or one value per cell), checked against
# the layers.
.integration_batch <- function(a, layers, batch, caller, assay) {
  groups <- .layer_groups(a, layers)
  if (is.null(batch)) {
    if (is.null(groups)) {
      stop("Assay '", assay, "' has a single data layer and no 'batch' was given. Split ",
           "it by batch first (obj[[\"", assay, "\"]] <- split(obj[[\"", assay, "\"]], ",
           "f = obj$donor)) or pass batch = \"donor\".", call. = FALSE)
    }
    return(unname(groups))
  }
  cells <- colnames(a)
  if (is.character(batch) && length(batch) == 1L && length(cells) != 1L) {
    seurat <- get0("object", envir = caller, inherits = FALSE)
    if (!inherits(seurat, "Seurat")) {
      stop("batch = \"", batch, "\" names a metadata column, but MEDLIntegration was not ",
           "called by IntegrateLayers on a Seurat object; pass the values instead ",
           "(batch = obj$", batch, ").", call. = FALSE)
    }
    meta <- seurat[[]][cells, , drop = FALSE]
    values <- .cell_column(meta, batch, "batch", length(cells))
    what <- paste0("batch column '", batch, "'")
  } else {
    if (!is.null(names(batch)) && all(cells %in% names(batch))) batch <- batch[cells]
    values <- .cell_column(NULL, batch, "batch", length(cells))
    what <- "batch"
  }
  if (!is.null(groups)) {
    per.layer <- tapply(values, groups, function(v) length(unique(v)))
    mixed <- names(per.layer)[per.layer > 1L]
    if (length(mixed)) {
      stop("The ", what, " disagrees with the layers: layer(s) data.",
           paste(mixed, collapse = ", data."), " hold cells of several batches. Split the ",
           "assay by the batch (split(obj[[\"", assay, "\"]], f = ...)) or leave batch = ",
           "NULL to use the layers.", call. = FALSE)
    }
  }
  values
}

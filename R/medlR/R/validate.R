# Input checks run before any work: each stops with the problem and its fix.

.check_flag <- function(x, name) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    stop("'", name, "' must be TRUE or FALSE.", call. = FALSE)
  }
}

.check_string <- function(x, name, null.ok = FALSE) {
  if (null.ok && is.null(x)) return(invisible(TRUE))
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) {
    stop("'", name, "' must be a single non-empty string.", call. = FALSE)
  }
}

# A per-cell grouping: a meta.data/colData column name, or one value per cell.
.cell_column <- function(meta, column, what, n.cells) {
  if (is.character(column) && length(column) == 1L && n.cells != 1L) {
    if (!column %in% colnames(meta)) {
      stop("'", what, "' names column '", column, "', which is not in the cell metadata. ",
           "Available columns: ", paste(colnames(meta), collapse = ", "), ".", call. = FALSE)
    }
    values <- meta[[column]]
  } else {
    values <- column
    if (length(values) != n.cells) {
      stop("'", what, "' must be a metadata column name or one value per cell (",
           n.cells, " cells); got ", length(values), " values.", call. = FALSE)
    }
  }
  values <- as.vector(if (is.factor(values)) as.character(values) else values)
  missing <- which(is.na(values) | (is.character(values) & !nzchar(trimws(values))))
  if (length(missing)) {
    stop("'", what, "' has ", length(missing), " missing value(s) (NA or empty), e.g. at cell ",
         paste(utils::head(missing, 5), collapse = ", "),
         ". Subset the object to cells with a value, or fill them in.", call. = FALSE)
  }
  as.character(values)
}

.check_batches <- function(batch) {
  levels <- unique(batch)
  if (length(levels) < 2L) {
    stop("The batch has a single value ('", levels[1], "'). MEDL separates effects across ",
         "batches: at least two are needed.", call. = FALSE)
  }
  invisible(TRUE)
}

.check_targets <- function(targets, batch) {
  if (is.null(targets)) return(character(0))
  targets <- as.character(targets)
  unknown <- setdiff(targets, unique(batch))
  if (length(unknown)) {
    stop("counterfactual batch(es) ", paste(unknown, collapse = ", "), " are not batches ",
         "of the data. Batches: ", paste(sort(unique(batch)), collapse = ", "), ".",
         call. = FALSE)
  }
  unique(targets)
}

.check_features <- function(features, available) {
  if (!length(features)) {
    stop("No features to use: the assay has no variable features. Run ",
         "Seurat::FindVariableFeatures(object) first, or pass 'features'.", call. = FALSE)
  }
  missing <- setdiff(features, available)
  if (length(missing)) {
    stop(length(missing), " feature(s) are not in the assay: ",
         paste(utils::head(missing, 5), collapse = ", "),
         if (length(missing) > 5) ", ..." else "", ".", call. = FALSE)
  }
  unique(features)
}

.check_free_names <- function(wanted, existing, what, overwrite) {
  clash <- intersect(wanted, existing)
  if (length(clash) && !overwrite) {
    stop(what, " ", paste(clash, collapse = ", "), " already exist(s) in the object. ",
         "Choose another 'reduction.name' or pass overwrite = TRUE.", call. = FALSE)
  }
  invisible(TRUE)
}

# The normalised data must not equal the raw counts (NormalizeData not run).
.check_not_counts <- function(data, counts, features, assay) {
  if (is.null(counts) || !all(dim(counts) == dim(data)) || !nrow(counts)) {
    return(invisible(TRUE))
  }
  probe <- utils::head(features, 200)
  if (isTRUE(all.equal(as.matrix(data[probe, , drop = FALSE]),
                       as.matrix(counts[probe, colnames(data), drop = FALSE]),
                       check.attributes = FALSE))) {
    stop("The '", assay, "' assay's data equal its raw counts: the data are not ",
         "normalised. Run Seurat::NormalizeData(object) first.", call. = FALSE)
  }
  invisible(TRUE)
}

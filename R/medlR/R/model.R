# The fitted model travels inside the object: its saved files (medl.json, weights.pt) are
# kept as raw vectors next to the results, and restored to a temporary folder on demand.
# saveRDS/readRDS, another machine or a cleaned temporary folder then lose nothing.

.MODEL_FILES <- c("medl.json", "weights.pt")

# Read the files of a saved model into a named list of raw vectors.
.pack_model <- function(model.dir) {
  files <- file.path(model.dir, .MODEL_FILES)
  stats::setNames(lapply(files, function(f) readBin(f, "raw", n = file.size(f))), .MODEL_FILES)
}

# The folder holding the model of `info`: its model.dir when that still holds the model,
# else the packed files written once per session to a temporary folder named by their hash.
.model_dir <- function(info) {
  dir <- info$model.dir
  if (!is.null(dir) && all(file.exists(file.path(dir, .MODEL_FILES)))) return(dir)
  packed <- info$model.files
  if (is.null(packed)) {
    stop("The saved MEDL model at '", dir, "' is gone and the object holds no copy of ",
         "it (an older medlR made it). Rerun RunMEDL.", call. = FALSE)
  }
  config <- rawToChar(packed[["medl.json"]])
  key <- substr(sub('.*"weights_sha256": *"([0-9a-f]+)".*', "\\1", config), 1, 16)
  restored <- file.path(tempdir(), paste0("medl-model-", key))
  if (!all(file.exists(file.path(restored, .MODEL_FILES)))) {
    dir.create(restored, showWarnings = FALSE, recursive = TRUE)
    for (f in .MODEL_FILES) writeBin(packed[[f]], file.path(restored, f))
  }
  restored
}

.load_model <- function(info) {
  .medl()$MEDL$load(.model_dir(info))
}

#' The fitted MEDL model of an object
#'
#' Returns the Python \code{medl.MEDL} model that \code{\link{RunMEDL}} fitted, restored
#' from the copy the object carries when its \code{model.dir} is gone (for example after
#' \code{saveRDS} and \code{readRDS} in a new session or on another machine).
#'
#' @param object A Seurat object or SingleCellExperiment on which \code{RunMEDL} ran.
#' @return The Python model (through reticulate): \code{$fixed_effects(x)},
#'   \code{$counterfactual(x, batch, target)}, ... with \code{x} cells x features.
#' @export
MEDLModel <- function(object) {
  .load_model(.object_medl_info(object))
}

.object_medl_info <- function(object) {
  if (inherits(object, "Seurat")) return(.medl_info(object))
  if (inherits(object, "SingleCellExperiment")) {
    info <- S4Vectors::metadata(object)$medl
    if (is.null(info)) {
      stop("The object has no MEDL model: run RunMEDL(object, batch = ...) first.",
           call. = FALSE)
    }
    return(info)
  }
  stop("object must be a Seurat object or a SingleCellExperiment on which RunMEDL ran.",
       call. = FALSE)
}

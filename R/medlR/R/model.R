# The fitted model travels inside the object: its saved files are kept as raw vectors next
# to the results, and restored to a temporary folder on demand. saveRDS/readRDS, another
# machine or a cleaned temporary folder then lose nothing. The file names and the key that
# names a restored copy come from Python's medl.model.format, so the format is written once.

# Imported once per session and kept: under rpy2 (R embedded in Python) an R finalizer that
# releases a dropped Python reference runs without the GIL and aborts the interpreter.
.model_format <- function() {
  if (is.null(.medl_state$format)) {
    .medl()  # finds the Python side, or stops naming install_medl()
    .medl_state$format <- reticulate::import("medl.model.format", convert = TRUE)
  }
  .medl_state$format
}

.model_files <- function() unlist(.model_format()$FILES)

# Read the files of a saved model into a named list of raw vectors.
.pack_model <- function(model.dir) {
  names <- .model_files()
  files <- file.path(model.dir, names)
  stats::setNames(lapply(files, function(f) readBin(f, "raw", n = file.size(f))), names)
}

# The folder holding the model of `info`: its model.dir when that still holds the model,
# else the packed files written once per session to a temporary folder named by their hash.
.model_dir <- function(info) {
  dir <- info$model.dir
  names <- .model_files()
  if (!is.null(dir) && all(file.exists(file.path(dir, names)))) return(dir)
  packed <- info$model.files
  if (is.null(packed)) {
    stop("The saved MEDL model at '", dir, "' is gone and the object holds no copy of ",
         "it (an older medlR made it). Rerun RunMEDL.", call. = FALSE)
  }
  key <- .model_format()$weights_key(rawToChar(packed[[names[1]]]))
  restored <- file.path(tempdir(), paste0("medl-model-", key))
  if (!all(file.exists(file.path(restored, names)))) {
    dir.create(restored, showWarnings = FALSE, recursive = TRUE)
    for (f in names) writeBin(packed[[f]], file.path(restored, f))
  }
  restored
}

.load_model <- function(info) {
  .hold(.medl()$MEDL$load(.model_dir(info)))
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
    if (is.null(info)) .stop_no_model("RunMEDL(object, batch = ...)")
    return(info)
  }
  stop("object must be a Seurat object or a SingleCellExperiment on which RunMEDL ran.",
       call. = FALSE)
}

# The one "no model" error, naming what makes one.
.stop_no_model <- function(makers) {
  stop("The object has no MEDL model: run ", makers, " first.", call. = FALSE)
}

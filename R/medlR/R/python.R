# Finding and importing the Python side (the 'medl' package) through reticulate.

.medl_state <- new.env(parent = emptyenv())

#' Install the Python side of medlR
#'
#' Creates a Python virtual environment through reticulate and installs the 'medl'
#' package with the pins R needs (numpy < 2: reticulate 1.28 cannot load numpy 2).
#'
#' @param envname Name of the virtual environment (default \code{"r-medl"}).
#' @param source Path to a medl source checkout (the folder with \code{pyproject.toml});
#'   \code{NULL} installs the released package.
#' @param python Python interpreter to create the environment from.
#' @param torch pip requirement for torch (e.g. a CPU-only build).
#' @return The environment name, invisibly.
#' @export
install_medl <- function(envname = "r-medl", source = Sys.getenv("MEDL_SOURCE", ""),
                         python = NULL, torch = "torch") {
  # R puts its own library folders first in LD_LIBRARY_PATH; a system libpython found there
  # can shadow the interpreter's own (here: pip's ssl module then fails to load and pip
  # cannot reach the package index). pip needs nothing of R's, so it runs without them.
  ld <- Sys.getenv("LD_LIBRARY_PATH", unset = NA)
  Sys.unsetenv("LD_LIBRARY_PATH")
  on.exit(if (!is.na(ld)) Sys.setenv(LD_LIBRARY_PATH = ld), add = TRUE)
  if (!reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_create(envname, python = python)
  }
  target <- if (nzchar(source)) normalizePath(source, mustWork = TRUE) else "medl"
  reticulate::virtualenv_install(envname, c("numpy<2", torch), ignore_installed = FALSE)
  reticulate::virtualenv_install(envname, target, ignore_installed = FALSE)
  message("medl installed in the virtual environment '", envname, "'. ",
          "Restart R, then library(medlR) uses it.")
  invisible(envname)
}

#' Is the Python side of medlR reachable?
#'
#' @return \code{TRUE} when the 'medl' Python package can be imported.
#' @export
medl_available <- function() {
  isTRUE(tryCatch(!is.null(.medl()), error = function(e) FALSE))
}

# The imported 'medl' module, or a stop() that tells the user what to run.
.medl <- function() {
  if (!is.null(.medl_state$module)) {
    return(.medl_state$module)
  }
  envname <- getOption("medlR.envname", "r-medl")
  if (!nzchar(Sys.getenv("RETICULATE_PYTHON")) && !reticulate::py_available() &&
      reticulate::virtualenv_exists(envname)) {
    reticulate::use_virtualenv(envname, required = TRUE)
  }
  module <- tryCatch(
    reticulate::import("medl", convert = TRUE),
    error = function(e) {
      stop("medlR cannot import the Python package 'medl' (", conditionMessage(e), ").\n",
           "Run medlR::install_medl() once, or point RETICULATE_PYTHON at a Python ",
           "where medl is installed.", call. = FALSE)
    }
  )
  .medl_state$module <- module
  .warn_reference_blas()
  .set_torch_threads()
  module
}

# A Python object R keeps (a fit result, a model), registered with medl.api.hold_for_r so
# that R's garbage collector never frees it: under rpy2 that would abort Python (the
# function's docstring says why). Returns `x`.
.hold <- function(x) {
  .medl()$api$hold_for_r(x)
  x
}

# Runs f() and returns its value. In R embedded in Python (rpy2), f runs inside a Python
# call, so it holds the GIL that rpy2 released, and ends with gc(): reticulate 1.28 frees
# Python objects from R's finalizers without taking the GIL, and a finalizer run while rpy2
# holds R aborts Python. Elsewhere f() runs as is.
.with_gil <- function(f) {
  if (!isTRUE(reticulate::py_eval("'rpy2.rinterface' in __import__('sys').modules"))) {
    return(f())
  }
  value <- NULL
  run <- .hold(reticulate::r_to_py(function() {
    value <<- f()
    invisible(gc(verbose = FALSE))
    NULL
  }))
  reticulate::py_call(run)
  value
}

# torch's matrix products bind to the BLAS R has loaded; R's reference BLAS makes training
# inside R about 20 times slower than in Python.
.warn_reference_blas <- function() {
  blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")
  if (.reference_blas(blas)) {
    warning("R uses the reference BLAS (", blas, "); medl trains about 20x slower in R ",
            "than in Python. Install an optimised BLAS, e.g. on Debian/Ubuntu: ",
            "apt-get install libopenblas0-pthread.", call. = FALSE)
  }
}

.reference_blas <- function(blas = tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")) {
  grepl("/blas/libblas", blas, fixed = TRUE)
}

# With a threaded BLAS in R (OpenBLAS, MKL), torch's matrix products run on its threads while
# torch's other work runs on OpenMP threads that spin for the same cores: a default fit ran
# 2.3x slower in R than in Python (docs/benchmarks.md). So the BLAS alone uses the cores and
# torch's own work one thread; options(medlR.torch.threads = n) chooses otherwise.
.set_torch_threads <- function() {
  n <- getOption("medlR.torch.threads", if (.reference_blas()) NA else 1L)
  if (!is.na(n)) {
    reticulate::import("torch")$set_num_threads(as.integer(n))
  }
}

# install_medl() end to end: a fresh virtual environment from the checkout, then a new R
# process that uses it to run RunMEDL. Slow (a few minutes: pip takes torch from its cache or
# the local wheel store), so it runs where MEDLR_TEST_INSTALL=true, as `make test-r` sets.

test_that("install_medl() builds an environment a new R session can run RunMEDL from", {
  if (!identical(Sys.getenv("MEDLR_TEST_INSTALL"), "true")) {
    skip("set MEDLR_TEST_INSTALL=true (make test-r does) to run the installation test")
  }
  source <- Sys.getenv("MEDL_SOURCE")
  expect_true(file.exists(file.path(source, "pyproject.toml")))
  env <- file.path(tempfile("medl-env-"), "r-medl")
  expect_message(install_medl(envname = env, source = source,
                              torch = Sys.getenv("MEDL_TORCH", "torch")),
                 "installed")
  python <- file.path(env, "bin", "python")
  expect_true(file.exists(python))
  script <- tempfile(fileext = ".R")
  writeLines(c(
    sprintf("Sys.setenv(RETICULATE_PYTHON = '%s')", python),
    "suppressMessages(library(medlR))",
    "stopifnot(medl_available())",
    "obj <- SimulateMEDLData(n.cells = 150, n.genes = 40, n.batches = 2, seed = 1)",
    "obj <- RunMEDL(obj, batch = 'batch', max_epochs = 3, verbose = FALSE)",
    "stopifnot(ncol(SeuratObject::Embeddings(obj, 'medl.fe')) == 10)",
    "cat(reticulate::py_config()$python, '\\n')"
  ), script)
  env.vars <- c(RETICULATE_PYTHON = python)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE,
                                  stderr = TRUE, env = paste0(names(env.vars), "=", env.vars)))
  expect_null(attr(out, "status"), info = paste(out, collapse = "\n"))
  expect_true(any(grepl(normalizePath(python), out, fixed = TRUE) |
                  grepl(python, out, fixed = TRUE)), info = paste(out, collapse = "\n"))
})

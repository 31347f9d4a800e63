# Every bad input stops before any work, with a message that names the fix.

test_that("bad inputs give clear errors", {
  need_python()
  obj <- simulated_object()
  expect_error(run_fast(obj, batch = "donorz"), "not in the cell metadata")
  na <- obj
  na$donor[3] <- NA
  expect_error(run_fast(na, batch = "donor"), "missing value")
  one <- obj
  one$donor <- "A"
  expect_error(run_fast(one, batch = "donor"), "single value")
  expect_error(run_fast(obj, batch = "donor", labels = "celltype"), "not in the cell metadata")
  nal <- obj
  nal$type[5] <- NA
  expect_error(run_fast(nal, batch = "donor", labels = "type"), "missing value")
  expect_error(run_fast(obj, batch = "donor", features = c("gene1", "nope")),
               "not in the assay")
  expect_error(run_fast(obj, batch = "donor", assay = "ADT"), "not in the object")
  expect_error(run_fast(obj, batch = "donor", counterfactual = "C"),
               "not batches of the data")
  raw <- SeuratObject::CreateSeuratObject(
    SeuratObject::GetAssayData(obj, slot = "counts"), meta.data = obj[[]])
  raw <- Seurat::FindVariableFeatures(raw, verbose = FALSE)
  expect_error(run_fast(raw, batch = "donor"), "NormalizeData")
  novar <- obj
  SeuratObject::VariableFeatures(novar) <- character(0)
  expect_error(run_fast(novar, batch = "donor"), "FindVariableFeatures")
  done <- run_fast(obj, batch = "donor")
  expect_error(run_fast(done, batch = "donor"), "overwrite = TRUE")
  expect_s4_class(run_fast(done, batch = "donor", overwrite = TRUE), "Seurat")
  expect_error(run_fast(obj, batch = "donor", epochs = 3), "unknown argument")
})

test_that("a missing Python side names install_medl()", {
  script <- paste(
    "Sys.setenv(RETICULATE_PYTHON = Sys.which('true'))",
    "r <- tryCatch(medlR:::.medl(), error = function(e) conditionMessage(e))",
    "cat(r)", sep = "; ")
  out <- system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(script)),
                 stdout = TRUE, stderr = TRUE)
  expect_true(any(grepl("install_medl()", out, fixed = TRUE)))
})

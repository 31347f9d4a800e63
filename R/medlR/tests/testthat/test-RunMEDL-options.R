# Options and paths no other test exercises; each is checked for what it does.

test_that("RunMEDL's latent.dim, reduction.name, features, device and model.dir take effect", {
  need_python()
  obj <- simulated_object()
  feats <- SeuratObject::VariableFeatures(obj)[1:20]
  dir <- file.path(tempfile("medl-test-"), "model")
  out <- run_fast(obj, batch = "donor", latent.dim = 3, reduction.name = "mine",
                  features = feats, device = "cpu", model.dir = dir, seed = 3)
  expect_true(all(c("mine.fe", "mine.re") %in% SeuratObject::Reductions(out)))
  expect_false("medl.fe" %in% SeuratObject::Reductions(out))
  expect_equal(ncol(SeuratObject::Embeddings(out, "mine.fe")), 3L)
  info <- SeuratObject::Misc(out, "medl")
  expect_equal(info$features, feats)
  expect_equal(normalizePath(info$model.dir), normalizePath(dir))
  model <- reticulate::import("medl")$MEDL$load(dir)
  expect_equal(unlist(model$feature_names), feats)
  expect_equal(model$device$type, "cpu")
  x <- Matrix::t(SeuratObject::GetAssayData(obj, slot = "data")[feats, ])
  expect_equal(unname(SeuratObject::Embeddings(out, "mine.fe")),
               unname(model$fixed_effects(x)), tolerance = 1e-6)
})

test_that("RunMEDL reads a non-default assay", {
  need_python()
  obj <- simulated_object()
  data <- SeuratObject::GetAssayData(obj, slot = "data")
  set.seed(1)
  shuffled <- data[, sample(ncol(data))]  # other values under the same cell names
  colnames(shuffled) <- colnames(obj)
  obj[["ALT"]] <- SeuratObject::CreateAssayObject(data = shuffled)
  SeuratObject::VariableFeatures(obj[["ALT"]]) <- SeuratObject::VariableFeatures(obj)
  out <- run_fast(obj, batch = "donor", assay = "ALT", seed = 3)
  expect_equal(SeuratObject::Misc(out, "medl")$assay, "ALT")
  model <- MEDLModel(out)
  feats <- SeuratObject::Misc(out, "medl")$features
  from.alt <- model$fixed_effects(Matrix::t(SeuratObject::GetAssayData(obj[["ALT"]],
                                                                       slot = "data")[feats, ]))
  expect_equal(unname(SeuratObject::Embeddings(out, "medl.fe")), unname(from.alt),
               tolerance = 1e-6)
})

test_that("labels reach the model from a SingleCellExperiment and from a matrix", {
  need_python()
  need_package("SingleCellExperiment")
  sce <- run_fast(simulated_sce(), batch = "donor", labels = "type", seed = 1)
  expect_equal(unlist(MEDLModel(sce)$label_categories), c("t1", "t2", "t3"))
  obj <- simulated_object()
  m <- SeuratObject::GetAssayData(obj, slot = "data")[SeuratObject::VariableFeatures(obj), ]
  res <- run_fast(m, batch = obj$donor, labels = obj$type, seed = 1)
  model <- reticulate::import("medl")$MEDL$load(res$model.dir)
  expect_equal(unlist(model$label_categories), c("t1", "t2", "t3"))
  expect_true("fe.train.y_ce" %in% names(model$history))
})

test_that("an interrupted fit stops RunMEDL and leaves the object as it was", {
  need_python()
  obj <- simulated_object()
  # Ctrl-C during the first epoch, as the loop sees it
  reticulate::py_run_string(paste(
    "import medl.train.loop as _loop",
    "_kept = _loop.ThreadGovernor.update",
    "def _stop(self): raise KeyboardInterrupt",
    "_loop.ThreadGovernor.update = _stop", sep = "\n"))
  on.exit(reticulate::py_run_string("_loop.ThreadGovernor.update = _kept"))
  before <- obj
  expect_error(suppressWarnings(run_fast(obj, batch = "donor")),
               "interrupted after 0 epoch\\(s\\); the object is unchanged")
  expect_identical(obj, before)
})

test_that("MEDLCounterfactual's mode, assay and overwrite, MEDLEmbed from a saved path", {
  need_python()
  obj <- simulated_object()
  out <- run_fast(obj, batch = "donor", counterfactual = "B", seed = 2)
  anchored <- SeuratObject::GetAssayData(out, assay = "MEDLCF.B", slot = "data")
  expect_error(MEDLCounterfactual(out, target = "B"), "already")
  mixed <- MEDLCounterfactual(out, target = "B", mode = "mixed", overwrite = TRUE)
  as.mixed <- SeuratObject::GetAssayData(mixed, assay = "MEDLCF.B", slot = "data")
  model <- MEDLModel(out)
  feats <- SeuratObject::Misc(out, "medl")$features
  x <- Matrix::t(SeuratObject::GetAssayData(obj, slot = "data")[feats, ])
  expect_equal(unname(as.matrix(as.mixed)),
               unname(t(model$counterfactual(x, obj$donor, "B", mode = "mixed"))),
               tolerance = 1e-6)
  expect_gt(max(abs(as.matrix(as.mixed) - as.matrix(anchored))), 1e-4)
  expect_error(MEDLCounterfactual(out, target = "B", mode = "sideways", overwrite = TRUE),
               "mode must be one of")
  # correct = FALSE: the model's decode alone, without the target batch's neighbours
  raw <- MEDLCounterfactual(out, target = "B", correct = FALSE, overwrite = TRUE)
  as.raw <- as.matrix(SeuratObject::GetAssayData(raw, assay = "MEDLCF.B", slot = "data"))
  expect_equal(unname(as.raw),
               unname(t(model$counterfactual(x, obj$donor, "B", correct = FALSE))),
               tolerance = 1e-6)
  expect_gt(max(abs(as.raw - as.matrix(anchored))), 1e-3)
  expect_error(MEDLCounterfactual(out, target = "B", correct = NA, overwrite = TRUE),
               "correct must be NULL, TRUE or FALSE")
  # assay: the data the counterfactuals are computed from
  doubled <- out
  doubled[["TWICE"]] <- SeuratObject::CreateAssayObject(
    data = SeuratObject::GetAssayData(obj, slot = "data") * 2)
  twice <- MEDLCounterfactual(doubled, target = "A", assay = "TWICE")
  expect_equal(unname(as.matrix(SeuratObject::GetAssayData(twice, assay = "MEDLCF.A",
                                                           slot = "data"))),
               unname(t(model$counterfactual(x * 2, obj$donor, "A"))), tolerance = 1e-6)

  path <- SeuratObject::Misc(out, "medl")$model.dir
  new <- MEDLEmbed(obj, model = path, batch = "donor", reduction.name = "again")
  expect_equal(unname(SeuratObject::Embeddings(new, "again.fe")),
               unname(SeuratObject::Embeddings(out, "medl.fe")), tolerance = 1e-6)
  other <- obj
  other$donor[1] <- "Z"
  expect_error(MEDLEmbed(other, model = path, batch = "donor"), "never seen in training: Z")
})

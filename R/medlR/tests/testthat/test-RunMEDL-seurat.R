test_that("RunMEDL adds FE/RE reductions in cell order and keeps everything else", {
  need_python()
  obj <- simulated_object()
  before <- object_state(obj)
  out <- run_fast(obj, batch = "donor", counterfactual = c("A", "B"),
                  fe.reconstruction = TRUE, seed = 3)
  fe <- SeuratObject::Embeddings(out, "medl.fe")
  re <- SeuratObject::Embeddings(out, "medl.re")
  expect_equal(rownames(fe), colnames(obj))
  expect_equal(rownames(re), colnames(obj))
  expect_equal(colnames(fe), paste0("MEDLFE_", 1:10))
  expect_equal(SeuratObject::Key(out[["medl.re"]]), "MEDLRE_")
  expect_true(all(c("MEDLCF.A", "MEDLCF.B", "MEDLFE") %in% SeuratObject::Assays(out)))
  cf <- SeuratObject::GetAssayData(out, slot = "data", assay = "MEDLCF.B")
  expect_equal(dim(cf), c(40L, ncol(obj)))
  expect_equal(rownames(cf), SeuratObject::VariableFeatures(obj))
  expect_equal(colnames(cf), colnames(obj))
  after <- object_state(out)
  expect_identical(after$meta, before$meta)
  for (a in names(before$assays)) expect_identical(after$assays[[a]], before$assays[[a]])
  for (r in names(before$reductions)) {
    expect_identical(after$reductions[[r]], before$reductions[[r]])
  }
  info <- SeuratObject::Misc(out, "medl")
  expect_true(dir.exists(info$model.dir))
  expect_equal(info$batch, "donor")
  expect_true("RunMEDL.RNA" %in% names(out@commands))
})

test_that("values equal the Python API on the same data and seed", {
  need_python()
  obj <- simulated_object()
  out <- run_fast(obj, batch = "donor", counterfactual = "B", seed = 7)
  medl <- reticulate::import("medl")
  feats <- SeuratObject::VariableFeatures(obj)
  x <- Matrix::t(SeuratObject::GetAssayData(obj, slot = "data")[feats, ])
  batch <- obj$donor
  # an independent fit through the Python API with RunMEDL's settings (run_fast's FAST),
  # not RunMEDL's own saved model
  model <- medl$MEDL(hidden = list(32L, 8L), lr = 1e-3, seed = 7L)$fit(
    x, batch, max_epochs = 5L, progress = FALSE)
  expect_equal(unname(SeuratObject::Embeddings(out, "medl.fe")),
               unname(model$fixed_effects(x)), tolerance = 1e-6)
  expect_equal(unname(SeuratObject::Embeddings(out, "medl.re")),
               unname(model$random_effects(x, batch)), tolerance = 1e-6)
  cf <- SeuratObject::GetAssayData(out, slot = "data", assay = "MEDLCF.B")
  expect_equal(unname(as.matrix(cf)), unname(t(model$counterfactual(x, batch, "B"))),
               tolerance = 1e-6)
})

test_that("RunMEDL works on SeuratObject::pbmc_small with groups as the batch", {
  need_python()
  out <- run_fast(SeuratObject::pbmc_small, batch = "groups", labels = "RNA_snn_res.1")
  expect_equal(dim(SeuratObject::Embeddings(out, "medl.re")), c(80L, 10L))
  expect_true("fe.train.y_ce" %in%
                names(reticulate::import("medl")$MEDL$load(
                  SeuratObject::Misc(out, "medl")$model.dir)$history))
})

test_that("MEDLCounterfactual and MEDLEmbed reuse the saved model", {
  need_python()
  obj <- simulated_object()
  out <- run_fast(obj, batch = "donor", counterfactual = "A", seed = 2)
  more <- MEDLCounterfactual(out, target = "B")
  first <- run_fast(obj, batch = "donor", counterfactual = "B", seed = 2)
  expect_equal(SeuratObject::GetAssayData(more, slot = "data", assay = "MEDLCF.B"),
               SeuratObject::GetAssayData(first, slot = "data", assay = "MEDLCF.B"),
               tolerance = 1e-6)
  expect_error(MEDLCounterfactual(out, target = "A"), "already exist")
  embedded <- MEDLEmbed(obj[, 1:30], model = out, batch = "donor")
  expect_equal(SeuratObject::Embeddings(embedded, "medl.fe"),
               SeuratObject::Embeddings(out, "medl.fe")[1:30, ], tolerance = 1e-6)
  expect_error(MEDLCounterfactual(obj, target = "A"), "run RunMEDL")
})

test_that("MEDLCounterfactual with n.samples adds the spread of the draws beside the point", {
  need_python()
  obj <- run_fast(simulated_object(), batch = "donor", seed = 2)
  expect_error(MEDLCounterfactual(obj, target = "B", n.samples = 0), "n.samples must be")
  expect_false("MEDLCF.B" %in% SeuratObject::Assays(obj))
  out <- MEDLCounterfactual(obj, target = "B", n.samples = 5)
  expect_true(all(c("MEDLCF.B", "MEDLCF.B.sd") %in% SeuratObject::Assays(out)))
  sd <- as.matrix(SeuratObject::GetAssayData(out, slot = "data", assay = "MEDLCF.B.sd"))
  mean <- as.matrix(SeuratObject::GetAssayData(out, slot = "data", assay = "MEDLCF.B"))
  expect_equal(dim(sd), dim(mean))
  expect_equal(colnames(sd), colnames(obj))
  expect_true(all(sd >= 0) && max(sd) > 0)
  # the interval is centred on the counterfactual itself, as without n.samples
  point <- MEDLCounterfactual(obj, target = "B")
  expect_equal(mean, as.matrix(SeuratObject::GetAssayData(point, slot = "data",
                                                          assay = "MEDLCF.B")))
  # with level, the interval's bounds: +/- 1.645 SD at 90%, under the Gaussian's
  # +/- 0.674 SD at 50% (a Student-t, the same factor as Python's)
  expect_error(MEDLCounterfactual(obj, target = "B", level = 0.9), "level needs n.samples")
  expect_error(MEDLCounterfactual(obj, target = "B", n.samples = 5, level = 1),
               "level must be")
  expect_error(MEDLCounterfactual(obj, target = "B", n.samples = 5, level = "0.9"),
               "level must be")
  data.of <- function(o, a) as.matrix(SeuratObject::GetAssayData(o, slot = "data", assay = a))
  for (level in c(0.9, 0.5)) {
    both <- MEDLCounterfactual(obj, target = c("A", "B"), n.samples = 5, level = level)
    for (b in c("A", "B")) {
      p <- data.of(both, paste0("MEDLCF.", b))
      s <- data.of(both, paste0("MEDLCF.", b, ".sd"))
      lower <- data.of(both, paste0("MEDLCF.", b, ".lower"))
      upper <- data.of(both, paste0("MEDLCF.", b, ".upper"))
      expect_equal(dimnames(lower), dimnames(p))
      half <- if (level == 0.9) stats::qnorm(0.95) else {
        stats::qt(0.75, 5) * stats::qnorm(0.95) / stats::qt(0.95, 5)
      }
      expect_equal(upper - p, half * s, tolerance = 1e-5)
      expect_equal(p - lower, half * s, tolerance = 1e-5)
    }
  }
  expect_lt(half, stats::qnorm(0.75))
})

test_that("verbose = TRUE prints compact progress lines that reach the R console", {
  need_python()
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressMessages(library(medlR))",
    "obj <- SimulateMEDLData(n.cells = 150, n.genes = 40, n.batches = 2, seed = 1)",
    "obj <- RunMEDL(obj, batch = 'batch', max_epochs = 40, hidden = c(16, 4))"
  ), script)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE,
                                  stderr = TRUE))
  lines <- grep("^medl epoch [0-9]+/40: ", out, value = TRUE)
  expect_gte(length(lines), 2L)
  expect_true(any(grepl("fe.val.total", lines)))
  expect_false(any(grepl("\r", out, fixed = TRUE)))
})

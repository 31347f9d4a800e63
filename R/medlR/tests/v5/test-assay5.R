# The Seurat v5 lane (make test-r-v5): SeuratObject 5 objects with Assay5 layers, built with
# SeuratObject alone (Seurat 4.3's functions are not for v5 objects).

FAST <- list(max_epochs = 5, hidden = c(32, 8), lr = 1e-3, verbose = FALSE)

v5_object <- function(n.cells = 120, n.genes = 60, seed = 1) {
  set.seed(seed)
  batch <- rep(c("A", "B"), length.out = n.cells)
  rate <- matrix(stats::rgamma(n.genes, 2, 1), n.genes, n.cells)
  rate[seq(1, n.genes, 3), batch == "B"] <- rate[seq(1, n.genes, 3), batch == "B"] * 4
  counts <- matrix(stats::rpois(length(rate), rate), n.genes, n.cells,
                   dimnames = list(paste0("gene", seq_len(n.genes)),
                                   paste0("cell", seq_len(n.cells))))
  counts <- Matrix::Matrix(counts, sparse = TRUE)
  obj <- SeuratObject::CreateSeuratObject(
    counts, meta.data = data.frame(donor = batch, row.names = colnames(counts)))
  size <- Matrix::colSums(counts)
  obj[["RNA"]]$data <- Matrix::Matrix(log1p(t(t(as.matrix(counts)) / size) * 1e4),
                                      sparse = TRUE)
  SeuratObject::VariableFeatures(obj) <- rownames(counts)[1:40]
  obj
}

test_that("the lane runs SeuratObject 5 with Assay5 objects", {
  expect_true(packageVersion("SeuratObject") >= "5.0.0")
  expect_s4_class(v5_object()[["RNA"]], "Assay5")
})

test_that("RunMEDL, MEDLCounterfactual and MEDLEmbed on Assay5: Assay5 outputs, no warnings", {
  obj <- v5_object()
  expect_no_warning(
    out <- do.call(RunMEDL, c(list(obj, batch = "donor", counterfactual = "A",
                                   fe.reconstruction = TRUE, seed = 2), FAST))
  )
  for (a in c("MEDLCF.A", "MEDLFE")) {
    expect_s4_class(out[[a]], "Assay5")
    expect_equal(SeuratObject::Layers(out[[a]]), "data")
  }
  cf <- SeuratObject::LayerData(out, assay = "MEDLCF.A", layer = "data")
  expect_equal(dim(cf), c(40L, 120L))
  expect_equal(colnames(cf), colnames(obj))
  expect_equal(rownames(cf), SeuratObject::VariableFeatures(obj))
  expect_equal(dim(SeuratObject::Embeddings(out, "medl.fe")), c(120L, 10L))
  # the input assay is untouched
  expect_identical(SeuratObject::LayerData(out, assay = "RNA", layer = "data"),
                   SeuratObject::LayerData(obj, assay = "RNA", layer = "data"))

  expect_no_warning(more <- MEDLCounterfactual(out, target = "B"))
  expect_s4_class(more[["MEDLCF.B"]], "Assay5")
  model <- MEDLModel(out)
  x <- t(as.matrix(SeuratObject::LayerData(obj, assay = "RNA", layer = "data")[
    SeuratObject::VariableFeatures(obj), ]))
  expect_equal(unname(as.matrix(SeuratObject::LayerData(more, assay = "MEDLCF.B",
                                                         layer = "data"))),
               unname(t(model$counterfactual(x, obj$donor, "B"))), tolerance = 1e-6)

  expect_no_warning(embedded <- MEDLEmbed(obj[, 1:30], model = out, batch = "donor"))
  expect_equal(SeuratObject::Embeddings(embedded, "medl.fe"),
               SeuratObject::Embeddings(out, "medl.fe")[1:30, ], tolerance = 1e-6)
})

test_that("an Assay5 without a data layer gets a clear error before any work", {
  obj <- v5_object()
  obj[["RNA"]]$data <- NULL
  expect_error(do.call(RunMEDL, c(list(obj, batch = "donor"), FAST)), "no 'data' layer")
})

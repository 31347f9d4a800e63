# MEDLBatchEffects against the simulated truth: type-specific batch shifts (interaction 1
# over a shared effect of 0.5), whose true per-type log fold changes are known.

auroc <- function(score, positive) {
  r <- rank(score)
  n1 <- sum(positive)
  (sum(r[positive]) - n1 * (n1 + 1) / 2) / (n1 * sum(!positive))
}

test_that("MEDLBatchEffects finds the genes batch1 shifts, per cell type", {
  need_python()
  obj <- SimulateMEDLData(n.cells = 600, n.genes = 100, batch.effect = 0.5, interaction = 1,
                          seed = 0)
  obj <- RunMEDL(obj, batch = "batch", seed = 0, device = "cpu", verbose = FALSE)
  before <- obj
  eff <- MEDLBatchEffects(obj, ident.1 = "batch1", ident.2 = "batch0", group.by = "cell_type",
                          delta = 0.5)
  expect_identical(obj, before)
  expect_s3_class(eff, "data.frame")
  expect_equal(names(eff), c("lfc_mean", "lfc_sd", "prob_de", "lfsr", "fdr", "mean.1",
                             "mean.2", "n_cells", "n.1", "n.2", "gene", "group"))
  expect_equal(nrow(eff), 4 * 100)
  expect_false(anyDuplicated(rownames(eff)) > 0)
  for (g in unique(eff$group)) {
    expect_false(is.unsorted(-eff$prob_de[eff$group == g]))
  }
  expect_true(all(eff$lfc_sd > 0 & eff$prob_de >= 0 & eff$prob_de <= 1))

  # the truth, from the same simulation in Python
  sim <- reticulate::import("medl", convert = FALSE)$datasets$simulate(
    n_cells = 600L, n_genes = 100L, batch_effect = 0.5, interaction = 1, seed = 0L)
  layer <- function(name) reticulate::py_to_r(reticulate::py_get_item(sim$layers, name))
  diff <- layer("truth_batch1") - layer("truth_batch0")
  types <- unlist(reticulate::py_to_r(sim$obs[["cell_type"]]$astype("str")$tolist()))
  for (g in unique(eff$group)) {
    rows <- eff[eff$group == g, ]
    truth <- colMeans(diff[types == g, , drop = FALSE])[match(rows$gene, rownames(obj))]
    expect_equal(rows$n_cells[1], sum(types == g))
    # the observed cells of each batch, whose spread widens lfc_sd
    expect_equal(rows$n.1[1], sum(obj$cell_type == g & obj$batch == "batch1"))
    expect_equal(rows$n.2[1], sum(obj$cell_type == g & obj$batch == "batch0"))
    expect_gt(stats::cor(rows$lfc_mean, truth), 0.9)
    expect_gt(auroc(rows$prob_de, abs(truth) > 0.5), 0.85)
  }

  all.cells <- MEDLBatchEffects(obj, "batch1", "batch0", n.samples = 20)
  expect_equal(rownames(all.cells), all.cells$gene)
  expect_false("group" %in% names(all.cells))
  one <- MEDLBatchEffects(obj, "batch1", "batch0", group.by = "cell_type", groups = "type2",
                          n.samples = 20)
  expect_equal(unique(one$group), "type2")
  expect_equal(one$n_cells[1], sum(obj$cell_type == "type2"))
  plot <- MEDLBatchEffectPlot(eff)
  expect_s3_class(plot, "ggplot")
  # called on prob_de > 0.95 by default (fdr <= 0.05 held up to 18% false calls)
  expect_equal(plot$data$called, eff$prob_de > 0.95)
  expect_equal(MEDLBatchEffectPlot(eff, fdr = 0.05)$data$called, eff$fdr <= 0.05)
  expect_error(MEDLBatchEffectPlot(eff, prob = 2), "prob must be one number in \\[0, 1\\]")
  expect_error(MEDLBatchEffectPlot(eff, fdr = "a"), "fdr must be one number")

  expect_error(MEDLBatchEffects(obj, "batch9", "batch0"), "not a batch of the model")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch1"), "same batch")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch0", n.samples = 1), "n.samples")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch0", delta = -1), "delta")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch0", group.by = "nope"),
               "not in the cell metadata")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch0", group.by = "cell_type",
                                groups = "typeX"), "have no cells")
  expect_error(MEDLBatchEffects(obj, "batch1", "batch0", groups = "type2"), "needs group.by")
  expect_error(MEDLBatchEffectPlot(data.frame(x = 1)), "from MEDLBatchEffects")
})

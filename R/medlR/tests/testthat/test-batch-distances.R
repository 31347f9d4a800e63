# MEDLBatchDistances on simulated data where batch2's effect is 3x the others'.

test_that("MEDLBatchDistances finds the batch with the larger effect", {
  need_python()
  obj <- SimulateMEDLData(n.cells = 600, n.genes = 100, batch.effect = c(0.5, 0.5, 1.5),
                          seed = 0)
  obj <- RunMEDL(obj, batch = "batch", seed = 0, device = "cpu", verbose = FALSE)
  d <- MEDLBatchDistances(obj)
  expect_equal(dimnames(d), list(c("batch0", "batch1", "batch2"),
                                 c("batch0", "batch1", "batch2")))
  expect_equal(d, t(d))
  expect_true(all(diag(d) == 0))
  expect_gt(min(d["batch2", c("batch0", "batch1")]), 1.6 * d["batch0", "batch1"])

  per.type <- MEDLBatchDistances(obj, group.by = "cell_type")
  expect_equal(names(per.type), sort(unique(obj$cell_type)))
  for (m in per.type) {
    expect_gt(min(m["batch2", c("batch0", "batch1")]), 1.6 * m["batch0", "batch1"])
  }
  expect_s3_class(MEDLBatchDistancePlot(d), "ggplot")

  expect_error(MEDLBatchDistances(obj, group.by = "nope"), "not in the cell metadata")
  expect_error(MEDLBatchDistancePlot(per.type), "one square matrix")
  expect_error(MEDLBatchDistances(SimulateMEDLData(n.cells = 60, n.genes = 20)),
               "no MEDL model")
})

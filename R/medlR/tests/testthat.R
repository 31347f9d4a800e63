library(testthat)
library(medlR)

test_check("medlR")

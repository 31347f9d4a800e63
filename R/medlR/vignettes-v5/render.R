# Renders the Seurat 5 vignette (make test-r-v5, make demo; run from R/medlR) and fails on any warning it
# raises: chunks send warnings to the console (warning = NA) instead of into the page.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "build/v5-vignette"
knitr::opts_chunk$set(warning = NA)
withCallingHandlers(
  rmarkdown::render(file.path("vignettes-v5", "medlR-seurat5.Rmd"), output_dir = out,
                    intermediates_dir = tempdir(), quiet = TRUE),
  warning = function(w) stop("the Seurat 5 vignette warned: ", conditionMessage(w), call. = FALSE)
)
cat("Seurat 5 vignette:", file.path(out, "medlR-seurat5.html"), "\n")

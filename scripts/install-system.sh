#!/usr/bin/env bash
# Debian packages medl needs beyond Python: R with Seurat, reticulate and the packages the
# R package, its tests and its vignette use. No CRAN access is assumed: everything comes
# from Debian (bookworm: R 4.2, Seurat 4.3, reticulate 1.28).
set -euo pipefail
PACKAGES=(r-base-core r-base-dev r-cran-seurat r-cran-seuratobject r-cran-reticulate
          r-bioc-singlecellexperiment r-cran-testthat r-cran-knitr r-cran-rmarkdown
          r-bioc-biocstyle pandoc python3-venv
          # make docs: medlR's site
          r-cran-pkgdown
          # the Seurat 5.1 stack's dependencies for the v5 test lane (built from ../shared/r-src)
          r-cran-spam r-cran-dotcall64 r-cran-rcpphnsw r-cran-rspectra r-cran-rcpparmadillo
          r-cran-data.table r-cran-stringr r-cran-reshape2 r-cran-gridextra
          # torch's matrix products bind to the BLAS that R loaded first: with Debian's
          # reference BLAS, training inside R runs ~20x slower than in Python.
          libopenblas0-pthread)
if command -v Rscript >/dev/null && command -v pandoc >/dev/null \
   && dpkg -s libopenblas0-pthread r-cran-spam r-cran-dotcall64 r-cran-rcpphnsw \
        r-cran-rspectra >/dev/null 2>&1 \
   && Rscript -e 'for (p in c("Seurat","reticulate","SingleCellExperiment","testthat","knitr","rmarkdown","BiocStyle","pkgdown")) suppressPackageStartupMessages(library(p, character.only = TRUE))' >/dev/null 2>&1; then
  echo "install-system: R stack already present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-system: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

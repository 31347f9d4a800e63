# One entry point for set-up, tests and the demo. Each target installs what it needs on a
# fresh Debian machine with only Python 3.10+ (Debian packages for R, a .venv, medlR).
VENV     ?= .venv
PY       := $(abspath $(VENV))/bin/python
# Here the CPU build of torch 2.13.0 is on local disk; elsewhere pip fetches it from PyPI.
TORCH    ?= torch==2.13.0
STAMP    := $(VENV)/.medl-installed
RLIB     := $(abspath $(VENV))/R-library
SHARED   ?= $(abspath ../shared)
R_ENV     = R_LIBS=$(RLIB) RETICULATE_PYTHON=$(PY) MEDL_DATA_DIR=$(SHARED)/data
PKG_VER  := $(shell sed -n 's/^Version: //p' R/medlR/DESCRIPTION)
OUT      ?= demo_out

.PHONY: help setup setup-system setup-python setup-r lint docs test test-python test-r test-r-v5 check-r \
        time-to-result demo vignette reproduce bench compare batch-effects clean

help:
	@echo "make test   - install everything, lint, Python tests (incl. rpy2), testthat, R CMD check"
	@echo "make demo   - install everything, demo on simulated data + vignette into $(OUT)/"
	@echo "make bench  - seconds/epoch, cells/s, peak memory of FE, RE, full (BENCH_ARGS=...)"
	@echo "make reproduce - cross-validated results on simulated + shared data -> docs/results.md"
	@echo "make compare - MEDL vs Harmony, scVI, scANVI, Scanorama, kNN/shift -> docs/comparison.md"
	@echo "make batch-effects - counterfactual coverage, batch-effect test vs truth, Kang genes"
	@echo "make docs   - the docs site (Sphinx, API from docstrings) and medlR's (pkgdown) -> build/docs/"

setup: setup-system setup-python setup-r

setup-system:
	bash scripts/install-system.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,r,genomap,docs]"
	# genomap without its declared TensorFlow stack (pyproject.toml says why); pinned
	# because medl.genomap calls its layout functions directly
	$(PY) -m pip install -q --no-deps "genomap==1.3.6"
	touch $(STAMP)

setup-python: setup-system $(STAMP)

# medlR goes into a library inside the venv, so set-up needs no write access to R's own.
setup-r: setup-python
	mkdir -p $(RLIB)
	R_LIBS=$(RLIB) R CMD INSTALL --no-multiarch R/medlR >/dev/null

# ruff, and the layers contract in pyproject.toml: nothing imports from a layer above it
lint: setup-python
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench
	$(VENV)/bin/lint-imports

# The docs site, warnings as errors: Sphinx renders the API reference from the numpy
# docstrings (so the build keeps them true) and docs/*.md through MyST into build/docs/html;
# pkgdown renders medlR's reference and vignette into build/docs/medlR (its examples and
# the vignette run). pkgdown.internet = FALSE: it would ask CRAN whether medlR is there.
docs: setup-r
	rm -rf build/docs
	$(PY) -m sphinx -E -W --keep-going -q -b html docs build/docs/html
	cd R/medlR && $(R_ENV) Rscript -e 'options(warn = 2, pkgdown.internet = FALSE); pkgdown::build_site(".", override = list(destination = "$(abspath build/docs/medlR)"), preview = FALSE, install = FALSE, new_process = FALSE)' >/dev/null
	@echo "docs: build/docs/html/index.html and build/docs/medlR/index.html"

test-python: setup-r
	$(R_ENV) MEDL_REQUIRE_R=true MEDL_REQUIRE_GENOMAP=true $(PY) -m pytest -q tests

# MEDLR_TEST_INSTALL: the install_medl() test builds a fresh environment from this checkout;
# MEDLR_REQUIRE_SUGGESTS: a test whose suggested package (SingleCellExperiment, uwot) or
# Python module (genomap) is missing fails instead of skipping
test-r: setup-r
	cd R/medlR/tests && $(R_ENV) MEDLR_REQUIRE_PYTHON=true MEDLR_REQUIRE_SUGGESTS=true \
	  MEDLR_TEST_INSTALL=true \
	  MEDL_SOURCE=$(abspath .) MEDL_TORCH="$(TORCH)" Rscript -e \
	  'library(testthat); library(medlR); test_dir("testthat", stop_on_failure = TRUE)'

# Seurat v5 lane: Seurat 5.1.0 and its stack (Matrix 1.6-5, SeuratObject 5.0.2, ...) and
# harmony 1.2.1 from ../shared/r-src (no registry here ships them), in the order its README
# gives, into a SEPARATE library, first in R_LIBS only for these tests, so the Debian Seurat
# 4.3 stack stays as it is for every other target. Built once (about 5 min on 2 cores).
V5LIB    := $(abspath $(VENV))/R-v5-library
V5STAMP  := $(V5LIB)/.built-seurat-5.1.0
V5SRC    := Matrix_1.6-5 irlba_2.3.5.1 SeuratObject_5.0.2 fastDummies_1.7.3 scattermore_1.2 \
            sctransform_0.4.1 Seurat_5.1.0 RhpcBLASctl_0.23-42 harmony_1.2.1
$(V5STAMP): | setup-r
	mkdir -p $(V5LIB)
	for pkg in $(V5SRC); do \
	  R_LIBS=$(V5LIB) R CMD INSTALL -l $(V5LIB) $(SHARED)/r-src/$$pkg.tar.gz >/dev/null 2>&1 \
	    || { echo "building $$pkg into $(V5LIB) failed"; exit 1; }; \
	done
	touch $(V5STAMP)

test-r-v5: setup-r $(V5STAMP)
	cd R/medlR/tests && R_LIBS=$(V5LIB):$(RLIB) RETICULATE_PYTHON=$(PY) MEDL_DATA_DIR=$(SHARED)/data \
	  MEDLR_REQUIRE_PYTHON=true Rscript -e \
	  'library(testthat); library(medlR); stopifnot(packageVersion("SeuratObject") >= "5.0.0", packageVersion("Seurat") >= "5.1.0"); test_dir("v5", stop_on_failure = TRUE)'
	cd R/medlR && R_LIBS=$(V5LIB):$(RLIB) RETICULATE_PYTHON=$(PY) MEDL_DATA_DIR=$(SHARED)/data \
	  Rscript vignettes-v5/render.R $(abspath build/v5-vignette)

# R CMD build runs the vignette; R CMD check checks the package (code, docs, examples);
# any ERROR or WARNING fails. --no-tests: test-r runs the same testthat suite on the same
# sources, and running it a second time here cost about 6 of CI's 35 minutes.
check-r: setup-r
	rm -rf build/rcheck && mkdir -p build/rcheck
	cd build/rcheck && $(R_ENV) R CMD build ../../R/medlR >/dev/null
	cd build/rcheck && $(R_ENV) _R_CHECK_FORCE_SUGGESTS_=false MEDLR_REQUIRE_PYTHON=true \
	  MEDLR_REQUIRE_SUGGESTS=true \
	  R CMD check --no-manual --no-build-vignettes --no-tests medlR_$(PKG_VER).tar.gz
	@! grep -E "^\* .*\.\.\. *(ERROR|WARNING)" build/rcheck/medlR.Rcheck/00check.log

test: lint test-python test-r test-r-v5 check-r docs

# About 15 minutes on 2 CPU cores; REPRODUCE_ARGS=--quick for a 3-minute smoke run.
# Speed and memory (docs/benchmarks.md); not part of the test command.
bench: setup-python
	$(PY) bench/bench.py $(BENCH_ARGS)
	$(MAKE) time-to-result

# Time to a correct result (seconds, steps, peak memory and the accuracy reached): MEDL's
# defaults, variant="paper", a plain conditional VAE and scVI, side by side in one run, into
# docs/benchmarks.md. About 50 minutes on 2 CPU cores (the paper variant and scVI are
# skipped at 100,000 cells: hours there). TTR_ARGS="--sizes 2000 --models medl cvae": minutes.
time-to-result: setup-python
	$(PY) bench/time_to_result.py --data $(SHARED)/data --out docs/benchmarks.md \
	  --skip paper:100000 scvi:100000 $(TTR_ARGS)

# Counterfactual coverage and the batch-effect test against simulated truth (3 regimes x 3
# seeds), then Kang's batch-effect genes next to a Wilcoxon test: docs/counterfactuals.md.
# About 13 minutes on 2 CPU cores.
batch-effects: setup-python
	$(PY) bench/cf_coverage.py --plot docs/figures/cf_calibration.png
	$(PY) bench/batch_effects_sim.py
	$(PY) bench/batch_effects_kang.py --data $(SHARED)/data

reproduce: setup-python
	$(PY) bench/reproduce.py --data $(SHARED)/data --out docs $(REPRODUCE_ARGS)

# MEDL next to the peers on the same data, in one run (about an hour on 2 CPU cores; the
# peers' environment bench/.peers-venv is built on first use). COMPARE_ARGS=--quick: minutes.
compare: setup-python
	$(PY) bench/compare.py --data $(SHARED)/data --out docs $(COMPARE_ARGS)

demo: setup-r
	$(VENV)/bin/medl demo --out $(OUT)
	$(MAKE) vignette

vignette: setup-r
	mkdir -p $(OUT)
	$(R_ENV) Rscript -e 'rmarkdown::render("R/medlR/vignettes/medlR.Rmd", output_dir = "$(abspath $(OUT))", intermediates_dir = tempdir(), quiet = TRUE)'
	@echo "vignette: $(OUT)/medlR.html"
	# the Seurat 5 vignette, where the v5 library (make test-r-v5) has been built
	if [ -f $(V5STAMP) ]; then cd R/medlR && R_LIBS=$(V5LIB):$(RLIB) RETICULATE_PYTHON=$(PY) \
	  MEDL_DATA_DIR=$(SHARED)/data Rscript vignettes-v5/render.R $(abspath $(OUT)); fi

clean:
	rm -rf $(VENV) $(OUT) build .pytest_cache bench/.peers-venv

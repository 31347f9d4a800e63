# Moving data between R objects and the Python core. Seurat v4 and v5 differ in how an
# assay's matrices are read and in which Assay class new profiles go into; those two
# differences live in .assay_matrix() and .profile_assay() alone.

.is_v5 <- function() utils::packageVersion("SeuratObject") >= "5.0.0"

# An assay's "data" or "counts" matrix; NULL for counts an assay does not hold.
.assay_matrix <- function(object, assay, which = c("data", "counts")) {
  which <- match.arg(which)
  if (.is_v5()) return(.layer_matrix(object[[assay]], which, assay))
  SeuratObject::GetAssayData(object, slot = which, assay = assay)
}

# A v5 assay's layers named `which` or, once split (`split(obj[["RNA"]], f = obj$donor)`),
# `which.<group>`; character(0) when it has none.
.split_layers <- function(a, which) {
  all <- getExportedValue("SeuratObject", "Layers")(a)
  all[all == which | startsWith(all, paste0(which, "."))]
}

# The features x cells matrix of an Assay5's `which` layers, joined in the assay's cell
# order when the assay is split; NULL for counts it does not hold.
.layer_matrix <- function(a, which, assay = "RNA") {
  layers <- .split_layers(a, which)
  if (!length(layers)) {
    if (which == "counts") return(NULL)
    all <- getExportedValue("SeuratObject", "Layers")(a)
    stop("Assay '", assay, "' has no normalised layer: no 'data' layer, nor 'data.<group>' ",
         "layers of a split assay (its layers: ", paste(all, collapse = ", "), "). Run ",
         "Seurat::NormalizeData(object) first.", call. = FALSE)
  }
  get.layer <- getExportedValue("SeuratObject", "LayerData")
  parts <- lapply(layers, function(l) get.layer(a, layer = l))
  features <- Reduce(intersect, lapply(parts, rownames))
  joined <- do.call(cbind, lapply(parts, function(m) m[features, , drop = FALSE]))
  joined[, colnames(a), drop = FALSE]
}

# Each cell's layer group (the `<group>` of `data.<group>`), in the assay's cell order;
# NULL for an assay that is not split.
.layer_groups <- function(a, layers = .split_layers(a, "data")) {
  if (length(layers) < 2L) return(NULL)
  cells <- getExportedValue("SeuratObject", "Cells")
  group <- stats::setNames(character(ncol(a)), colnames(a))
  for (l in layers) group[cells(a, layer = l)] <- sub("^data\\.", "", l)
  group
}

# Set the default assay's log-normalised data (SetAssayData's `slot` is deprecated in v5).
.set_data <- function(object, data) {
  if (.is_v5()) {
    assay <- SeuratObject::DefaultAssay(object)
    a <- object[[assay]]
    a$data <- data
    object[[assay]] <- a
    return(object)
  }
  SeuratObject::SetAssayData(object, slot = "data", new.data = data)
}

# Seurat/Bioconductor matrices are features x cells; the Python core takes cells x
# features. A dgCMatrix stays sparse across the bridge (scipy CSC on the Python side).
.to_python_matrix <- function(m) {
  if (inherits(m, "dgCMatrix") || inherits(m, "dgTMatrix") || inherits(m, "dgRMatrix")) {
    return(Matrix::t(methods::as(m, "CsparseMatrix")))
  }
  if (is.data.frame(m)) m <- as.matrix(m)
  if (!is.matrix(m) || !is.numeric(m)) {
    stop("The expression matrix must be numeric (a matrix or dgCMatrix), got ",
         paste(class(m), collapse = "/"), ".", call. = FALSE)
  }
  t(m)
}

# A cells x k embedding from Python, named for the object's cells.
.embedding <- function(x, cells, key) {
  x <- as.matrix(x)
  dimnames(x) <- list(cells, paste0(key, seq_len(ncol(x))))
  x
}

# A cells x features profile from Python, returned features x cells as R expects.
.profile <- function(x, cells, features) {
  x <- t(as.matrix(x))
  dimnames(x) <- list(features, cells)
  x
}

# Assay names for counterfactual targets; none for no targets (paste0 would recycle the
# prefix into a bogus "MEDLCF.").
.cf_name <- function(prefix, target) {
  if (!length(target)) return(character(0))
  paste0(prefix, make.names(target))
}

# An Assay holding profiles (features x cells) with a valid key derived from its name:
# an Assay5 (a "data" layer) when `like` (the input assay) is one, else a v3/v4 Assay.
.profile_assay <- function(profiles, name, like = NULL) {
  assay <- if (inherits(like, "Assay5")) {
    create <- getExportedValue("SeuratObject", "CreateAssay5Object")
    a <- create(data = Matrix::Matrix(profiles, sparse = TRUE))
    # no nCount_/nFeature_ columns for profiles (SeuratObject would look for a counts layer
    # and warn, also inside IntegrateLayers where medlR cannot muffle it)
    a@misc[["calcN"]] <- FALSE
    a
  } else {
    SeuratObject::CreateAssayObject(data = profiles)
  }
  SeuratObject::Key(assay) <- paste0(tolower(gsub("[^A-Za-z0-9]", "", name)), "_")
  assay
}

# Misc<- warns on every overwrite; the medl entry is replaced on purpose.
.set_medl_info <- function(object, info) {
  object@misc[["medl"]] <- info
  object
}

# A scipy sparse matrix (reticulate object, convert = FALSE) as a dgCMatrix. Built from its
# raw arrays: reticulate 1.28 mis-reads the shape of current scipy matrices.
.py_sparse_to_dgc <- function(m, rownames = NULL, colnames = NULL) {
  py <- reticulate::py_to_r
  m <- m$tocsc()
  shape <- as.integer(unlist(py(m$shape)))
  Matrix::sparseMatrix(i = as.integer(py(m$indices)), p = as.integer(py(m$indptr)),
                       x = as.numeric(py(m$data)), dims = shape, index1 = FALSE,
                       dimnames = list(rownames, colnames))
}

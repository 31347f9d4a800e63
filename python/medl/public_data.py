"""Loaders for the public datasets of the MEDL paper, with a download cache.

Each loader downloads the original files once into a cache directory (``cache`` argument,
else ``$MEDL_CACHE_DIR``, else ``~/.cache/medl``), parses them into an AnnData of raw
values as the authors distributed them, and caches that as .h5ad. Without a network, a
loader names the file it needs and where to put it, so a copy fetched elsewhere works.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

AML_URL = "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSE116256&format=file"
ASD_URL = "https://cells.ucsc.edu/autism/"
HEART_API = "https://api.figshare.com/v2/articles/20499630"


def cache_dir(cache: str | Path | None = None) -> Path:
    """The download cache: ``cache``, else ``$MEDL_CACHE_DIR``, else ``~/.cache/medl``."""
    root = Path(cache or os.environ.get("MEDL_CACHE_DIR") or Path.home() / ".cache" / "medl")
    root.mkdir(parents=True, exist_ok=True)
    return root


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` to ``dest`` unless it is there; a failed download leaves nothing."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        raise ConnectionError(
            f"could not download {url} ({err}). Connect to the internet and retry, or fetch "
            f"the file elsewhere and save it as {dest}; it is then used without a network."
        ) from err
    part.rename(dest)
    return dest


def _cached(path: Path) -> ad.AnnData | None:
    return ad.read_h5ad(path) if path.exists() else None


def _write_cache(adata: ad.AnnData, path: Path) -> ad.AnnData:
    part = path.with_name(path.name + ".part")
    adata.write_h5ad(part)
    part.rename(path)
    return adata


# --- AML: van Galen et al. 2019, GEO GSE116256 -------------------------------------------

_GEO_FILE = re.compile(r"(?:GSM\d+_)?(?P<sample>.+)\.(?P<kind>dem|anno)\.txt\.gz$")


def aml_van_galen(cache: str | Path | None = None, url: str = AML_URL) -> ad.AnnData:
    """Bone-marrow scRNA-seq of AML patients and healthy donors (van Galen et al., Cell 2019).

    Downloads GEO GSE116256's supplementary archive (per-sample ``.dem.txt.gz`` UMI tables,
    genes x cells, and ``.anno.txt.gz`` cell annotations) and joins the samples.

    Returns
    -------
    AnnData
        Raw UMI counts (CSR); ``obs`` has the authors' annotation columns (``CellType``,
        ``PredictionRefined``, ...) plus ``sample`` (e.g. ``AML328-D29``), ``donor``
        (``AML328``), ``timepoint`` (``D29``; empty for healthy donors) and ``group``
        (``AML``, ``healthy`` or ``cell line``).
    """
    root = cache_dir(cache) / "GSE116256"
    cached = _cached(root / "aml_van_galen.h5ad")
    if cached is not None:
        return cached
    archive = download(url, root / "GSE116256_RAW.tar")
    tables: dict[str, dict[str, bytes]] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            match = _GEO_FILE.match(Path(member.name).name)
            if match and member.isfile():
                data = tar.extractfile(member).read()
                tables.setdefault(match["sample"], {})[match["kind"]] = data
    samples = sorted(s for s, kinds in tables.items() if "dem" in kinds)
    if not samples:
        raise ValueError(f"{archive} holds no *.dem.txt.gz tables: is it GSE116256_RAW.tar?")
    parts = [_geo_sample(name, tables[name]) for name in samples]
    adata = ad.concat(parts, join="outer", fill_value=0, index_unique=None)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return _write_cache(adata, root / "aml_van_galen.h5ad")


def _geo_sample(sample: str, files: dict[str, bytes]) -> ad.AnnData:
    dem = pd.read_csv(io.BytesIO(gzip.decompress(files["dem"])), sep="\t", index_col=0)
    cells = [f"{sample}_{c}" for c in dem.columns]
    obs = pd.DataFrame(index=dem.columns)
    if "anno" in files:
        anno = pd.read_csv(io.BytesIO(gzip.decompress(files["anno"])), sep="\t", index_col=0)
        obs = anno.reindex(dem.columns)
    donor, _, timepoint = sample.partition("-")
    obs = obs.assign(sample=sample, donor=donor, timepoint=timepoint, group=_aml_group(donor))
    obs.index = pd.Index(cells, dtype=str)
    X = sp.csr_matrix(dem.to_numpy(dtype=np.float32).T)
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=dem.index.astype(str)))


def _aml_group(donor: str) -> str:
    if donor.startswith("AML"):
        return "AML"
    if donor.startswith("BM"):
        return "healthy"
    return "cell line"  # MUTZ3, OCI-AML3


# --- ASD: Velmeshev et al. 2019, UCSC Cell Browser "autism" ------------------------------


def asd_velmeshev(cache: str | Path | None = None, url: str = ASD_URL) -> ad.AnnData:
    """Cortex snRNA-seq of autism and control donors (Velmeshev et al., Science 2019).

    Downloads ``exprMatrix.tsv.gz`` (genes x cells) and ``meta.tsv`` from the UCSC Cell
    Browser. The matrix is read one gene at a time into a sparse matrix, so the dense table
    is never held in memory.

    Returns
    -------
    AnnData
        Values as distributed; ``obs`` is ``meta.tsv`` (``individual`` = donor, ``cluster`` =
        cell type, ``diagnosis``, ``region``, ...); ``var`` has ``gene_id`` when the browser
        names genes ``ID|symbol``.
    """
    root = cache_dir(cache) / "velmeshev_autism"
    cached = _cached(root / "asd_velmeshev.h5ad")
    if cached is not None:
        return cached
    base = url if url.endswith("/") else url + "/"
    matrix = download(base + "exprMatrix.tsv.gz", root / "exprMatrix.tsv.gz")
    meta = pd.read_csv(download(base + "meta.tsv", root / "meta.tsv"), sep="\t", index_col=0)
    X, genes, cells = _read_gene_rows(matrix)
    missing = pd.Index(cells).difference(meta.index)
    if len(missing):
        raise ValueError(
            f"{len(missing)} cells of the matrix are not in meta.tsv, e.g. {missing[0]}."
        )
    ids = [g.split("|", 1) for g in genes]
    var = pd.DataFrame(index=ad.utils.make_index_unique(pd.Index([p[-1] for p in ids], dtype=str)))
    if any(len(p) == 2 for p in ids):
        var["gene_id"] = [p[0] for p in ids]
    adata = ad.AnnData(X=X, obs=meta.loc[cells], var=var)
    return _write_cache(adata, root / "asd_velmeshev.h5ad")


def _read_gene_rows(path: Path) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """Genes x cells TSV (first row: header of cell names) -> cells x genes CSR."""
    genes, columns, values = [], [], []
    with gzip.open(path, "rt") as handle:
        cells = handle.readline().rstrip("\n").split("\t")[1:]
        for line in handle:
            name, _, rest = line.rstrip("\n").partition("\t")
            row = np.array(rest.split("\t"), dtype=np.float32)
            if row.size != len(cells):
                raise ValueError(f"gene {name} has {row.size} values for {len(cells)} cells.")
            nz = np.flatnonzero(row)
            genes.append(name)
            columns.append(nz)
            values.append(row[nz])
    indptr = np.concatenate([[0], np.cumsum([c.size for c in columns])])
    by_gene = sp.csr_matrix(
        (np.concatenate(values), np.concatenate(columns), indptr), shape=(len(genes), len(cells))
    )
    return by_gene.T.tocsr(), genes, cells


# --- Healthy Heart: the MEDL authors' figshare deposit -----------------------------------


def healthy_heart(
    cache: str | Path | None = None, api_url: str = HEART_API, filename: str | None = None
) -> ad.AnnData:
    """Healthy human heart scRNA-seq, 147 batches (figshare 10.6084/m9.figshare.20499630).

    Lists the deposit's files through the figshare API and downloads its .h5ad file
    (``filename`` picks one when there are several).
    """
    root = cache_dir(cache) / "figshare_20499630"
    listing = download(api_url, root / "article.json")
    files = json.loads(listing.read_text()).get("files", [])
    h5ads = [f for f in files if f.get("name", "").endswith(".h5ad")]
    if filename is not None:
        h5ads = [f for f in h5ads if f["name"] == filename]
    if len(h5ads) != 1:
        names = ", ".join(f.get("name", "?") for f in files) or "none"
        wanted = f".h5ad file named {filename}" if filename else ".h5ad file"
        raise ValueError(
            f"expected one {wanted} in the figshare deposit, found {len(h5ads)}. "
            f"Files: {names}. Pass filename= to choose one."
        )
    return ad.read_h5ad(download(h5ads[0]["download_url"], root / h5ads[0]["name"]))

"""Dataset loaders, on small files in the public formats; no test touches the network."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest

from medl import datasets


def _gz_table(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(sep="\t").encode())


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def geo_archive(tmp_path):
    """A GSE116256_RAW.tar with one AML and one healthy sample, sharing some genes."""
    rng = np.random.default_rng(0)
    samples = {"GSM1_AML328-D29": ["G1", "G2", "G3"], "GSM2_BM1": ["G2", "G3", "G4"]}
    truth = {}
    path = tmp_path / "GSE116256_RAW.tar"
    with tarfile.open(path, "w") as tar:
        for name, genes in samples.items():
            cells = [f"c{i}" for i in range(4)]
            dem = pd.DataFrame(
                rng.poisson(2, (3, 4)), index=pd.Index(genes, name="Gene"), columns=cells
            )
            anno = pd.DataFrame(
                {"CellType": ["HSC", "Mono", "T", "B"]}, index=pd.Index(cells, name="Cell")
            )
            _add(tar, f"{name}.dem.txt.gz", _gz_table(dem))
            _add(tar, f"{name}.anno.txt.gz", _gz_table(anno))
            truth[name.split("_", 1)[1]] = dem
    return path, truth


def test_aml_loader_joins_samples_and_caches(geo_archive, tmp_path):
    path, truth = geo_archive
    adata = datasets.aml_van_galen(cache=tmp_path / "cache", url=path.as_uri())
    assert adata.shape == (8, 4)
    assert sorted(adata.var_names) == ["G1", "G2", "G3", "G4"]
    aml = adata[adata.obs["sample"] == "AML328-D29"]
    assert aml.obs_names[0] == "AML328-D29_c0"
    np.testing.assert_array_equal(
        aml[:, ["G1", "G2", "G3"]].X.toarray(), truth["AML328-D29"].to_numpy().T
    )
    assert (aml[:, "G4"].X.toarray() == 0).all()  # genes a sample lacks are zero
    assert aml.obs["donor"].unique().tolist() == ["AML328"]
    assert aml.obs["timepoint"].unique().tolist() == ["D29"]
    assert adata.obs.loc["BM1_c1", "group"] == "healthy"
    assert adata.obs.loc["BM1_c1", "CellType"] == "Mono"
    path.unlink()  # the second call reads the cache, not the source
    again = datasets.aml_van_galen(cache=tmp_path / "cache", url=path.as_uri())
    assert again.shape == adata.shape and list(again.obs_names) == list(adata.obs_names)


def test_asd_loader_streams_the_gene_matrix(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cells = ["AAAC_1", "AAAG_1", "AAAT_2"]
    expr = pd.DataFrame(
        [[0, 1.5, 0], [2, 0, 0], [0, 0, 3]],
        columns=cells,
        index=pd.Index(["ENSG1|SNAP25", "ENSG2|GFAP", "ENSG3|SNAP25"], name="gene"),
    )
    (src / "exprMatrix.tsv.gz").write_bytes(_gz_table(expr))
    meta = pd.DataFrame(
        {
            "cluster": ["L2/3", "AST-PP", "L4"],
            "individual": ["1823", "1823", "5144"],
            "diagnosis": ["ASD", "ASD", "Control"],
        },
        index=pd.Index(cells[::-1], name="cell"),
    )
    meta.to_csv(src / "meta.tsv", sep="\t")
    adata = datasets.asd_velmeshev(cache=tmp_path / "cache", url=src.as_uri())
    assert list(adata.obs_names) == cells  # matrix order, metadata aligned to it
    assert adata.obs.loc["AAAC_1", "diagnosis"] == "Control"
    np.testing.assert_array_equal(adata.X.toarray(), expr.to_numpy().T)
    assert list(adata.var_names) == ["SNAP25", "GFAP", "SNAP25-1"]
    assert list(adata.var["gene_id"]) == ["ENSG1", "ENSG2", "ENSG3"]


def test_heart_loader_reads_the_figshare_listing(tmp_path, small_data):
    src = tmp_path / "src"
    src.mkdir()
    small_data.write_h5ad(src / "heart.h5ad")
    listing = {
        "files": [
            {"name": "README.txt", "download_url": "x"},
            {"name": "heart.h5ad", "download_url": (src / "heart.h5ad").as_uri()},
        ]
    }
    (src / "article.json").write_text(json.dumps(listing))
    adata = datasets.healthy_heart(
        cache=tmp_path / "cache", api_url=(src / "article.json").as_uri()
    )
    assert adata.shape == small_data.shape
    with pytest.raises(ValueError, match="found 0.*README.txt, heart.h5ad"):
        datasets.healthy_heart(cache=tmp_path / "cache", filename="other.h5ad")


def test_offline_download_names_the_file_to_fetch(tmp_path, monkeypatch):
    # the refused port must be reached directly: a proxy from the environment would answer
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    with pytest.raises(ConnectionError, match="could not download.*save it as .*GSE116256_RAW.tar"):
        datasets.aml_van_galen(cache=tmp_path, url="http://127.0.0.1:9/GSE116256_RAW.tar")
    assert not list((tmp_path / "GSE116256").iterdir())  # no partial file left behind
    with pytest.raises(ValueError, match="no \\*.dem.txt.gz"):
        empty = tmp_path / "empty.tar"
        tarfile.open(empty, "w").close()
        datasets.aml_van_galen(cache=tmp_path / "c2", url=empty.as_uri())


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDL_CACHE_DIR", str(tmp_path / "env"))
    assert datasets.cache_dir() == tmp_path / "env"
    assert datasets.cache_dir(tmp_path / "arg") == tmp_path / "arg"

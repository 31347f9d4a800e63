"""Every bad input raises a clear error before any work, and caller data stay untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

import medl
from conftest import FIT, SMALL, dense


def fit(X, batch, **kw):
    return medl.MEDL(**SMALL).fit(X, batch, **{**FIT, **kw})


@pytest.fixture()
def arrays(small_data):
    return dense(small_data.X).copy(), np.asarray(small_data.obs["batch"].astype(str))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda X: X.__setitem__((0, 0), np.nan), "NaN or infinite"),
        (lambda X: X.__setitem__((3, 1), np.inf), "NaN or infinite"),
        (lambda X: X.__setitem__((2, 2), -1.0), "negative values"),
    ],
)
def test_bad_values_in_X(arrays, mutate, message):
    X, batch = arrays
    mutate(X)
    before = X.copy()
    with pytest.raises(ValueError, match=message):
        fit(X, batch)
    np.testing.assert_array_equal(X, before)  # caller's array untouched


def test_sparse_nan_detected(arrays):
    X, batch = arrays
    Xs = sp.csr_matrix(X)
    Xs.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(Xs, batch)


def test_length_mismatch(arrays):
    X, batch = arrays
    with pytest.raises(ValueError, match="has 399 labels but X has 400 cells"):
        fit(X, batch[:-1])


def test_single_batch(arrays):
    X, _ = arrays
    with pytest.raises(ValueError, match="at least 2 are needed"):
        fit(X, ["a"] * len(X))


@pytest.mark.parametrize("missing", [None, np.nan, ""])
def test_missing_batch_label(arrays, missing):
    X, batch = arrays
    batch = batch.astype(object)
    batch[5] = missing
    with pytest.raises(ValueError, match="missing label.*index 5"):
        fit(X, batch)


def test_missing_cell_type_label(arrays):
    X, batch = arrays
    labels = np.array(["t1", "t2"] * 200, dtype=object)
    labels[7] = None
    with pytest.raises(ValueError, match="labels has 1 missing"):
        fit(X, batch, labels=labels)


@pytest.mark.parametrize("shape", [(0, 10), (10, 0)])
def test_empty_X(shape):
    with pytest.raises(ValueError, match="empty"):
        fit(np.zeros(shape), ["a", "b"] * (shape[0] // 2))


def test_non_numeric_X(arrays):
    _, batch = arrays
    with pytest.raises(TypeError, match="numeric"):
        fit(np.full((400, 5), "x"), batch)


def test_unknown_batch_at_inference(small_model, small_data):
    X = small_data.X
    batch = np.array(small_data.obs["batch"].astype(str))
    batch[:3] = "donorZ"
    with pytest.raises(ValueError, match=r"never seen in training: donorZ\. Known: batch0"):
        small_model.random_effects(X, batch)
    with pytest.raises(ValueError, match="donorZ"):
        small_model.counterfactual(X, small_data.obs["batch"], target="donorZ")


def test_wrong_gene_count(small_model, small_data):
    with pytest.raises(ValueError, match="has 59 genes but the model was fitted on 60"):
        small_model.fixed_effects(dense(small_data.X)[:, :59])


def test_not_fitted():
    with pytest.raises(medl.NotFittedError, match="not fitted"):
        medl.MEDL().fixed_effects(np.ones((3, 3)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="preset"):
        medl.MEDL(preset="nope")
    with pytest.raises(ValueError, match="Unknown loss weight"):
        medl.MEDL(loss_weights={"fe_adversary": 1})
    with pytest.raises(ValueError, match="latent_dim"):
        medl.MEDL(latent_dim=0)
    with pytest.raises(ValueError, match="device"):
        medl.MEDL(device="tpu")


def test_model_file_other_version(small_model, tmp_path):
    path = small_model.save(tmp_path / "m")
    config = json.loads((path / "medl.json").read_text())
    config["format_version"] = 99
    (path / "medl.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="format version 99"):
        medl.MEDL.load(path)


def test_model_file_damaged(small_model, tmp_path):
    path = small_model.save(tmp_path / "m")
    raw = bytearray((path / "weights.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (path / "weights.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged"):
        medl.MEDL.load(path)
    (path / "medl.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        medl.MEDL.load(path)
    with pytest.raises(ValueError, match="not a saved medl model"):
        medl.MEDL.load(tmp_path / "nothing")


def test_metrics_bad_input():
    emb = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="at least 2 distinct"):
        medl.metrics.silhouette(emb, ["a"] * 10)
    with pytest.raises(ValueError, match="labels"):
        medl.metrics.silhouette(emb, ["a", "b"] * 4)
    emb[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        medl.metrics.silhouette(emb, ["a", "b"] * 5)

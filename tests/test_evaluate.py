"""Scores against scikit-learn, mixing scores on known layouts, the CV runner and MEC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

import medl
from medl import evaluate, metrics


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    separated = np.r_[rng.normal(0, 1, (200, 2)), rng.normal(30, 1, (200, 2))]
    two = np.repeat(["a", "b"], 200)
    mixed = rng.normal(0, 1, (600, 2))
    three = rng.permutation(np.repeat(["a", "b", "c"], 200))
    return separated, two, mixed, three


def test_clustering_scores_match_sklearn(blobs):
    emb, lab, *_ = blobs
    got = metrics.clustering_scores(emb, lab)
    assert got["asw"] == pytest.approx(silhouette_score(emb, lab))
    assert got["ch"] == pytest.approx(calinski_harabasz_score(emb, lab))
    assert got["inv_db"] == pytest.approx(1 / davies_bouldin_score(emb, lab))


def test_sampling_is_seeded_and_capped(blobs):
    emb, lab, *_ = blobs
    a = metrics.silhouette(emb, lab, max_cells=50, seed=1)
    assert a == metrics.silhouette(emb, lab, max_cells=50, seed=1)
    assert a != metrics.silhouette(emb, lab, max_cells=50, seed=2)


def test_mixing_scores_on_known_layouts(blobs):
    separated, two, mixed, three = blobs
    assert metrics.batch_entropy(separated, two) == 0.0
    assert metrics.lisi(separated, two) == pytest.approx(1.0)
    assert metrics.batch_entropy(mixed, three) > 0.95
    assert metrics.lisi(mixed, three) == pytest.approx(3.0, abs=0.3)


@pytest.mark.parametrize(
    "fn", [metrics.silhouette, metrics.calinski_harabasz, metrics.batch_entropy, metrics.lisi]
)
def test_scores_reject_bad_input(fn, blobs):
    emb, lab, *_ = blobs
    with pytest.raises(ValueError, match="at least 2 distinct"):
        fn(emb, np.repeat("a", len(emb)))
    with pytest.raises(ValueError, match="one label per"):
        fn(emb, lab[:-1])
    bad = emb.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, lab)


def test_cv_splits_are_disjoint_stratified_and_rotate():
    data = medl.datasets.simulate(n_cells=600, n_genes=20, seed=0)
    batch, types = data.obs["batch"], data.obs["cell_type"]
    splits = evaluate.cv_splits(batch, types, n_folds=5)
    tests = np.concatenate([s.test for s in splits])
    assert np.array_equal(np.sort(tests), np.arange(600))  # each cell tested exactly once
    share = batch.value_counts(normalize=True).sort_index()
    for s in splits:
        parts = [s.train, s.val, s.test]
        assert sum(map(len, parts)) == 600
        assert len(np.unique(np.concatenate(parts))) == 600
        assert len(s.train) == pytest.approx(360, abs=5)
        fold_share = batch.iloc[s.test].value_counts(normalize=True).sort_index()
        assert np.abs(fold_share - share).max() < 0.03
    with pytest.raises(ValueError, match="n_folds"):
        evaluate.cv_splits(batch, n_folds=2)


def test_cross_validate_tables_and_mec():
    data = medl.datasets.simulate(n_cells=500, n_genes=60, batch_effect=1.5, seed=0)
    batch, types = data.obs["batch"], data.obs["cell_type"]
    scores, mec = evaluate.cross_validate(
        data.X,
        batch,
        types,
        models=("PCA", "FE", "RE"),
        targets={"batch": batch},
        n_folds=3,
        model_kwargs={"hidden": (32, 8), "lr": 1e-3, "device": "cpu"},
        fit_kwargs={"max_epochs": 30},
    )
    assert len(scores) == 3 * 3 * 2 * len(evaluate.SCORES)
    assert set(mec["features"]) == {"FE+RE", "FE", "PCA", "chance"}
    summary = evaluate.summarize(scores, ["model", "by", "score"])
    asw = summary[summary.score == "asw"].set_index(["model", "by"])["mean"]
    assert asw["RE", "batch"] > asw["FE", "batch"]  # the RE space holds the batch
    table = evaluate.to_markdown(summary[summary.score == "asw"], "model", "by")
    assert table.splitlines()[0] == "| model | batch | cell_type |"
    assert "±" in table
    acc = evaluate.summarize(mec, ["features", "metric"]).set_index(["features", "metric"])
    # batch is a target the RE latent knows: FE+RE must beat FE alone and chance
    assert acc.loc[("FE+RE", "accuracy"), "mean"] > acc.loc[("FE", "accuracy"), "mean"]
    assert acc.loc[("FE+RE", "accuracy"), "mean"] > acc.loc[("chance", "accuracy"), "mean"] + 0.2


def test_cross_validate_rejects_bad_requests():
    data = medl.datasets.simulate(n_cells=100, n_genes=10, seed=0)
    with pytest.raises(ValueError, match="Unknown models"):
        evaluate.cross_validate(data.X, data.obs["batch"], models=("UMAP",))
    with pytest.raises(ValueError, match="need cell-type labels"):
        evaluate.cross_validate(data.X, data.obs["batch"], models=("AEC",))
    with pytest.raises(ValueError, match="MEC targets need"):
        evaluate.cross_validate(
            data.X, data.obs["batch"], models=("FE",), targets={"b": data.obs["batch"]}
        )


def test_cross_validate_gives_medl_its_own_settings(monkeypatch):
    """``medl_kwargs`` reach the MEDL fits only: the AE baseline takes no ``variant``."""
    seen = []

    class Spy(medl.MEDL):
        def __init__(self, **kwargs):
            seen.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(evaluate, "MEDL", Spy)
    data = medl.datasets.simulate(n_cells=300, n_genes=20, seed=0)
    scores, _ = evaluate.cross_validate(
        data.X, data.obs["batch"], models=("AE", "FE"), n_folds=3,
        model_kwargs={"hidden": (16, 4), "device": "cpu"}, fit_kwargs={"max_epochs": 2},
        medl_kwargs={"variant": "paper"},
    )  # fmt: skip
    assert len(seen) == 3 and all(kw["variant"] == "paper" for kw in seen)
    assert set(scores["model"]) == {"AE", "FE"}
    with pytest.raises(ValueError, match="medl_kwargs must be a dict"):
        evaluate.cross_validate(
            data.X, data.obs["batch"], models=("FE",), medl_kwargs=["variant", "paper"]
        )

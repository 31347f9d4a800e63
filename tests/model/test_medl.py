"""Shapes, dtypes, determinism, save/load identity, sparse input, history, baselines."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import medl
from conftest import FIT, SMALL, dense
from medl.model.medl import DECODE_SHARE


def test_output_shapes_and_dtypes(small_model, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    n, g = X.shape
    outputs = {
        "fe": (small_model.fixed_effects(X), (n, 2)),
        "re": (small_model.random_effects(X, batch), (n, 2)),
        "fe_recon": (small_model.reconstruct_fixed(X), (n, g)),
        "cf": (small_model.counterfactual(X, batch, "batch1"), (n, g)),
    }
    for name, (value, shape) in outputs.items():
        assert value.shape == shape, name
        assert value.dtype == np.float32, name
        assert np.all(np.isfinite(value)), name


def test_reconstructions_on_input_scale(small_model, small_data):
    recon = small_model.reconstruct_fixed(small_data.X)
    X = dense(small_data.X)
    # inverse scaling: same range as the log-normalised input, not [0, 1], never negative
    assert recon.max() > 1.5
    assert recon.min() >= 0
    cf = small_model.counterfactual(small_data.X, small_data.obs["batch"], "batch0")
    assert cf.min() >= 0
    assert abs(recon.mean() - X.mean()) < 0.5 * X.std()


def test_counterfactual_to_own_batch_is_the_own_batch_decoding(
    small_model, small_paper_model, small_data
):
    # recomputed from the modules: the default decodes the FE code (not moved: the anchors
    # carry a code only across batches) with the cell's own random effects; the paper's
    # RE subnetwork encodes and decodes with them (the model alone: correct=False)
    X, batch = small_data.X, small_data.obs["batch"]
    for model in (small_model, small_paper_model):
        with torch.no_grad():
            x = model.scaler.transform(torch.as_tensor(dense(X), dtype=torch.float32))
            own = torch.as_tensor(model._codes(batch, X.shape[0]))
            if model.params["variant"] == "paper":
                re = model.modules["re"]
                out = re.decode(re.encode(x, own), own)
            else:
                fe = model.modules["fe"]
                out = fe.decode(fe.encode(x), own)
            want = model.scaler.inverse(out).numpy()
        got = model.counterfactual(X, batch, target=batch, correct=False)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got, model.reconstruct_random(X, batch, correct=False))


def test_per_cell_targets(small_model, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    targets = np.where(np.arange(X.shape[0]) % 2 == 0, "batch0", "batch2")
    mixed = small_model.counterfactual(X, batch, targets)
    to0 = small_model.counterfactual(X, batch, "batch0")
    to2 = small_model.counterfactual(X, batch, "batch2")
    np.testing.assert_allclose(mixed[::2], to0[::2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mixed[1::2], to2[1::2], rtol=1e-5, atol=1e-5)


def test_counterfactual_modes_differ(small_paper_model, small_model, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    full = small_paper_model.counterfactual(X, batch, "batch0", mode="full")
    dec = small_paper_model.counterfactual(X, batch, "batch0", mode="decoder")
    assert not np.allclose(full, dec)
    with pytest.raises(ValueError, match="mode"):
        small_paper_model.counterfactual(X, batch, "batch0", mode="both")
    # the variational variant decodes its batch-free code, by default carried along the
    # anchor pairs ("anchored"), or as it is ("mixed"); the paper's modes are refused
    anchored = small_model.counterfactual(X, batch, "batch0")
    np.testing.assert_array_equal(
        anchored, small_model.counterfactual(X, batch, "batch0", "anchored")
    )
    mixed = small_model.counterfactual(X, batch, "batch0", "mixed")
    assert not np.allclose(anchored, mixed)
    with pytest.raises(ValueError, match="'variational' variant"):
        small_model.counterfactual(X, batch, "batch0", mode="full")
    # a cell kept in its own batch is not moved
    np.testing.assert_array_equal(
        small_model.reconstruct_random(X, batch, correct=False),
        small_model.counterfactual(X, batch, batch, "mixed", correct=False),
    )


def test_correction_carries_what_the_target_batch_shows_and_the_decoder_misses(
    small_model, small_data
):
    """Gene 0 raised by 1 in batch1's cells after fitting: the decoder does not know it,
    the correction (batch1's cells' residuals, near in the code) carries it to every cell
    sent to batch1 (measured +0.97), and nothing to batch2."""
    X, batch = dense(small_data.X).copy(), small_data.obs["batch"]
    lifted = X.copy()
    lifted[(batch == "batch1").to_numpy(), 0] += 1.0
    others = (batch != "batch1").to_numpy()

    def correction(data, target):
        fixed = small_model.counterfactual(data, batch, target)
        return (fixed - small_model.counterfactual(data, batch, target, correct=False))[others]

    for target, lift in (("batch1", (0.8, 1.05)), ("batch2", (-0.05, 0.05))):
        gain = correction(lifted, target) - correction(X, target)
        assert lift[0] < gain[:, 0].mean() < lift[1], (target, gain[:, 0].mean())
        assert np.abs(gain[:, 1:].mean(0)).max() < 0.1
    # its own batch's output is corrected alike, so shifts subtract like for like
    np.testing.assert_array_equal(
        small_model.reconstruct_random(X, batch), small_model.counterfactual(X, batch, batch)
    )
    # with draws: the same centre, and a variance of the draws' share (at least 0.2 of it:
    # (1 - w)² + 0.25 w² for the correction's weight w) plus the correction's own error
    mean, sd = small_model.counterfactual(lifted, batch, "batch1", n_samples=20)
    _, sd_raw = small_model.counterfactual(lifted, batch, "batch1", n_samples=20, correct=False)
    np.testing.assert_allclose(mean, small_model.counterfactual(lifted, batch, "batch1"), atol=1e-5)
    assert DECODE_SHARE == 0.25
    own_error = sd**2 - 0.2 * sd_raw**2
    assert own_error.min() > -1e-5 and np.median(own_error[others]) > 1e-4
    assert np.all(mean >= small_model.scaler.minimum)


def test_correction_needs_cells_of_the_target_batch(small_model, small_paper_model, small_data):
    X, batch = dense(small_data.X), small_data.obs["batch"]
    keep = np.flatnonzero((batch != "batch2").to_numpy())
    keep = np.concatenate([keep, np.flatnonzero((batch == "batch2").to_numpy())[:3]])
    sub_X, sub_batch = X[keep], batch.iloc[keep]
    with pytest.warns(UserWarning, match="Not corrected towards \\['batch2'\\].*fewer than 5"):
        few = small_model.counterfactual(sub_X, sub_batch, "batch2")
    np.testing.assert_array_equal(
        few, small_model.counterfactual(sub_X, sub_batch, "batch2", correct=False)
    )
    with pytest.raises(TypeError, match="correct must be True or False"):
        small_model.counterfactual(X, batch, "batch2", correct="yes")
    with pytest.raises(ValueError, match="correct=True needs variant='variational'"):
        small_paper_model.counterfactual(X, batch, "batch2", correct=True)
    # the paper variant's default is its model's decode, uncorrected
    np.testing.assert_array_equal(
        small_paper_model.counterfactual(X, batch, "batch2"),
        small_paper_model.counterfactual(X, batch, "batch2", correct=False),
    )


def test_models_without_anchors_fall_back_to_plain_decoding(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    plain = medl.MEDL(**SMALL, loss_weights={"fe_anchor": 0, "fe_cross": 0})
    plain.fit(X, batch, **FIT)
    assert plain.transport is None
    np.testing.assert_array_equal(
        plain.counterfactual(X, batch, "batch0"), plain.counterfactual(X, batch, "batch0", "mixed")
    )
    with pytest.raises(ValueError, match="needs the anchor pairs.*mode='mixed'"):
        plain.counterfactual(X, batch, "batch0", mode="anchored")


def test_variational_fe_needs_no_batch_and_reconstructs_between_batches(small_model, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    fe = small_model.fixed_effects(X)  # no batch labels asked
    assert fe.shape == (X.shape[0], 2)
    free = small_model.reconstruct_fixed(X)
    per_batch = [
        small_model.counterfactual(X, batch, b, correct=False) for b in batch.cat.categories
    ]
    # the batch-free profile sits inside the range the batches span, for most entries
    inside = (free >= np.min(per_batch, 0) - 1e-4) & (free <= np.max(per_batch, 0) + 1e-4)
    assert inside.mean() > 0.9
    with pytest.raises(ValueError, match="no adversary"):
        small_model.adversary_accuracy(X, batch)


def test_seed_makes_fit_repeatable(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    a = medl.MEDL(**SMALL).fit(X, batch, **FIT)
    b = medl.MEDL(**SMALL).fit(X, batch, **FIT)
    np.testing.assert_array_equal(a.fixed_effects(X), b.fixed_effects(X))
    np.testing.assert_array_equal(a.random_effects(X, batch), b.random_effects(X, batch))
    c = medl.MEDL(**{**SMALL, "seed": 1}).fit(X, batch, **FIT)
    assert not np.allclose(a.fixed_effects(X), c.fixed_effects(X))


def test_sparse_and_dense_input_agree(small_model, small_data):
    X = small_data.X
    np.testing.assert_allclose(
        small_model.fixed_effects(sp.csr_matrix(X)),
        small_model.fixed_effects(dense(X).astype(np.float64)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_sparse_storage_trains_like_dense(small_data):
    """Minibatches densified from on-device CSR are the same numbers as dense slices."""
    X, batch = sp.csr_matrix(small_data.X), small_data.obs["batch"]
    a = medl.MEDL(**SMALL).fit(X, batch, storage="dense", **FIT)
    b = medl.MEDL(**SMALL).fit(X, batch, storage="sparse", **FIT)
    assert (a.fit_info["storage"], b.fit_info["storage"]) == ("dense", "sparse")
    np.testing.assert_allclose(a.fixed_effects(X), b.fixed_effects(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        a.counterfactual(X, batch, "batch1"), b.counterfactual(X, batch, "batch1"), atol=1e-5
    )
    rows = medl.train.device.SparseRows(X, b.scaler, torch.device("cpu"))
    idx = torch.tensor([5, 0, 5, 399])  # repeats and the last row
    expected = b.scaler.transform(torch.from_numpy(X[idx.numpy()].toarray()))
    torch.testing.assert_close(rows.rows(idx), expected)
    with pytest.raises(ValueError, match="storage must be"):
        medl.MEDL(**SMALL).fit(X, batch, storage="disk", **FIT)


def test_save_load_identity(small_model, small_data, tmp_path):
    X, batch = small_data.X, small_data.obs["batch"]
    path = small_model.save(tmp_path / "model")
    loaded = medl.MEDL.load(path, device="cpu")
    for method, args in [
        ("fixed_effects", (X,)),
        ("random_effects", (X, batch)),
        ("reconstruct_fixed", (X,)),
        ("counterfactual", (X, batch, "batch2")),
    ]:
        np.testing.assert_array_equal(
            getattr(small_model, method)(*args), getattr(loaded, method)(*args), err_msg=method
        )
    assert loaded.transport is not None  # the anchored counterfactual above needed it
    assert loaded.batch_categories == ["batch0", "batch1", "batch2"]
    assert list(loaded.history.columns) == list(small_model.history.columns)
    assert isinstance(medl.load(path), medl.MEDL)
    with pytest.raises(ValueError, match="already holds"):
        small_model.save(path)
    with pytest.raises(ValueError, match="not a AE"):
        medl.AE.load(path)


def test_batch_effects_need_the_variational_variant(small_paper_model, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    with pytest.raises(ValueError, match="variational variant"):
        small_paper_model.batch_effects(X, batch, "batch1", "batch0")


def test_history_has_every_term(small_model, small_paper_model):
    cols = set(small_model.history.columns)
    for net, terms in {
        "fe": ["recon", "nll", "latent_kl", "kl", "autoencoder", "total"],
        "re": ["recon", "batch_ce", "batch_acc", "kl", "total"],
    }.items():
        for split in ("train", "val"):
            for term in terms:
                assert f"{net}.{split}.{term}" in cols
    cols = set(small_paper_model.history.columns)
    for net, terms in {
        "fe": [
            "recon",
            "adv_ce",
            "adv_acc",
            "adversary_ce",
            "autoencoder",
            "total",
        ],
        "re": ["recon", "batch_ce", "batch_acc", "kl", "total"],
    }.items():
        for split in ("train", "val"):
            for term in terms:
                if split == "val" and term == "adversary_ce":
                    continue
                assert f"{net}.{split}.{term}" in cols
    assert len(small_model.history) == small_model.fit_info["epochs"]


def test_early_stopping_restores_best_weights(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    val = np.zeros(X.shape[0], dtype=bool)
    val[np.random.default_rng(0).choice(X.shape[0], 80, replace=False)] = True
    # lr 1e-2: fast enough that RE passes its best within 60 epochs and stops
    model = medl.MEDL(**{**SMALL, "lr": 1e-2}).fit(
        X, batch, validation=val, max_epochs=60, patience=3, batch_size=128, progress=False
    )
    hist = model.history["re.val.total"].dropna()
    best = model.fit_info["best_epoch"]["re"]
    assert hist.idxmin() == best
    assert best < hist.index[-1]  # it trained past its best, so restoring is visible
    # re-score the weights the model holds now on the same validation cells
    re = model.modules["re"].eval()
    with torch.no_grad():
        x = model.scaler.transform(torch.as_tensor(dense(X[val]), dtype=torch.float32))
        codes = torch.as_tensor(model._codes(batch[val], int(val.sum())))
        total = float(re.loss(x, codes)["total"])
    assert total == pytest.approx(hist[best], rel=1e-4)
    assert total != pytest.approx(hist.iloc[-1], rel=1e-4)


def test_fec_uses_labels(small_data):
    X, batch, ct = small_data.X, small_data.obs["batch"], small_data.obs["cell_type"]
    model = medl.MEDL(**SMALL).fit(X, batch, labels=ct, **FIT)
    assert "fe.train.y_ce" in model.history
    assert model.label_categories == ["type0", "type1", "type2", "type3"]
    # the latent classifier learnt the labels: well above the 0.25 of guessing among 4 types
    # (measured 0.59 after these 15 epochs); without labels there is none
    fe = model.modules["fe"].eval()
    with torch.no_grad():
        x = model.scaler.transform(torch.as_tensor(dense(X), dtype=torch.float32))
        guess = fe.classifier(fe.encode(x)).argmax(1).numpy()
    truth = np.array([model.label_categories.index(c) for c in ct.astype(str)])
    assert (guess == truth).mean() > 0.45
    assert medl.MEDL(**SMALL).fit(X, batch, **FIT).modules["fe"].classifier is None


def test_validation_mask_and_zero(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[:50] = True
    m = medl.MEDL(**SMALL).fit(X, batch, validation=mask, **{**FIT, "max_epochs": 3})
    assert m.fit_info["n_validation"] == 50
    m0 = medl.MEDL(**SMALL).fit(X, batch, validation=0.0, **{**FIT, "max_epochs": 3})
    assert m0.fit_info["n_validation"] == 0 and m0.fit_info["epochs"] == 3


def test_baselines_share_the_api(small_data, tmp_path):
    X, ct = small_data.X, small_data.obs["cell_type"]
    ae = medl.AE(**SMALL).fit(X, **FIT)
    assert ae.transform(X).shape == (X.shape[0], 2)
    assert ae.reconstruct(X).shape == X.shape
    aec = medl.AEC(**SMALL).fit(X, ct, **FIT)
    assert "ae.train.y_acc" in aec.history
    loaded = medl.load(aec.save(tmp_path / "aec"))
    np.testing.assert_array_equal(aec.transform(X), loaded.transform(X))
    pca = medl.PCA(2).fit(X)
    assert pca.transform(X).shape == (X.shape[0], 2)
    with pytest.raises(ValueError, match="labels is required"):
        medl.AEC(**SMALL).fit(X, None, **FIT)


def test_gene_scaling_option(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    fit = {**FIT, "max_epochs": 3, "validation": 0.0}  # every cell trains: the scaler sees all
    m = medl.MEDL(**{**SMALL, "scaling": "gene"}).fit(X, batch, **fit)
    x = dense(X)
    lo, hi = x.min(0), x.max(0)
    np.testing.assert_array_equal(m.scaler.minimum, lo)
    np.testing.assert_allclose(m.scaler.range, np.where(hi > lo, hi - lo, 1.0), rtol=1e-6)
    scaled = m.scaler.transform(torch.as_tensor(x)).numpy()
    assert scaled.min(0).max() == 0 and np.allclose(scaled.max(0)[hi > lo], 1, atol=1e-6)
    whole = medl.MEDL(**SMALL).fit(X, batch, **fit)  # the default: one minimum and range
    assert whole.scaler.minimum.shape == (1,) and whole.scaler.range[0] == x.max() - x.min()
    with pytest.raises(ValueError, match="scaling"):
        medl.MEDL(scaling="log").fit(X, batch, **FIT)


def test_float32_csr_input_is_shared_and_left_unchanged(small_data):
    X = sp.csr_matrix(small_data.X, dtype=np.float32)
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    mat = medl.validate.check_matrix(X)
    assert np.shares_memory(mat.data, X.data)  # no second copy of a large matrix
    medl.MEDL(**SMALL).fit(X, small_data.obs["batch"], storage="sparse", **FIT)
    for a, b in zip((X.data, X.indices, X.indptr), before):
        np.testing.assert_array_equal(a, b)
    dup = sp.csr_matrix((np.array([1.0, 2.0], np.float32), np.array([0, 0]), np.array([0, 2])),
                        shape=(1, 3))  # fmt: skip
    np.testing.assert_array_equal(medl.validate.check_matrix(dup).toarray(), [[3, 0, 0]])
    assert dup.data.tolist() == [1.0, 2.0]


def test_paper_variant_is_the_specification():
    """variant="paper": every setting the spec fixes (medl_spec.md sections 2-4)."""
    from medl.nn import FixedEffectsNet, RandomEffectsNet

    m = medl.MEDL(variant="paper", device="cpu")
    assert m.params["latent_dim"] == 2 and m.params["lr"] == 1e-4
    assert m.params["adversarial_loss"] == "negative_ce" and m.params["fe_monitor"] == "total"
    assert (m.weights.fe_recon, m.weights.fe_adv, m.weights.re_recon, m.weights.re_z) == (
        1000.0, 1.0, 110.0, 0.1)  # fmt: skip
    data = medl.datasets.simulate(n_cells=200, n_genes=30, seed=0)
    m.fit(data.X, data.obs["batch"], max_epochs=2, progress=False)
    assert m.fit_info["batch_size"] == 512 and m.fit_info["max_epochs"] == 2
    assert m.fit_info["min_steps"] == 0
    assert m.params["hidden"] == m.params["re_hidden"] == [512, 132]
    assert isinstance(m.modules["fe"], FixedEffectsNet)
    assert isinstance(m.modules["re"], RandomEffectsNet)
    auto = medl.MEDL(variant="paper", device="cpu").fit(
        data.X, data.obs["batch"], patience=1, progress=False
    )
    assert auto.fit_info["max_epochs"] == 500
    with pytest.raises(ValueError, match="variant must be one of"):
        medl.MEDL(variant="cvae")


def test_auto_training_settings_scale_with_the_data():
    from medl.train.schedule import auto_batch_size, auto_max_epochs

    assert auto_batch_size(400) == 64 and auto_batch_size(1600) == 128
    assert auto_batch_size(1_000_000) == 512
    assert auto_max_epochs(400, 64) == 500 and auto_max_epochs(1_000_000, 512) == 8
    # never fewer epochs than the minimum number of steps needs
    assert auto_max_epochs(1_000_000, 512, min_steps=100_000) == 52
    # the variational default: about 8 minibatches per epoch and a budget of steps, so the
    # number of steps (and the time of a fit on CPU) does not grow with the cells
    assert auto_batch_size(1600, per_epoch=8) == 256 and auto_batch_size(400, per_epoch=8) == 64
    assert auto_max_epochs(1600, 256, steps=700) == 100
    assert auto_max_epochs(100_000, 512, steps=700) == 4
    assert auto_max_epochs(400, 64, steps=7000) == 500


def test_default_schedule_is_a_step_budget():
    """The default's epochs follow from 700 steps; an explicit max_epochs still wins."""
    data = medl.datasets.simulate(n_cells=600, n_genes=40, seed=0)
    m = medl.MEDL(device="cpu", seed=0).fit(data.X, data.obs["batch"], validation=0,
                                            progress=False)  # fmt: skip
    info = m.fit_info
    assert info["batch_size"] == 64  # 600 cells / 8 per epoch, a power of two
    assert info["max_epochs"] == 70 and info["epochs"] == 70
    assert info["steps"] == 70 * 10  # 10 minibatches of 64 in 600 cells
    assert m.params["hidden"] == [256, 64] and m.params["re_hidden"] == [64, 16]
    m2 = medl.MEDL(device="cpu", seed=0, hidden=(32, 8)).fit(
        data.X, data.obs["batch"], max_epochs=3, validation=0, progress=False
    )
    assert m2.fit_info["max_epochs"] == 3 and m2.fit_info["steps"] == 30
    assert m2.modules["fe"].enc_linears[0].out_features == 32


def test_counterfactual_samples_give_the_point_and_a_seeded_spread(
    small_model, small_paper_model, small_data
):
    X, batch = small_data.X, small_data.obs["batch"]
    for mode in small_model.design.modes_of(small_model):
        mean, sd = small_model.counterfactual(X, batch, "batch1", mode, 30, sample_seed=4)
        # the interval is centred on the point counterfactual, not on the draws' mean
        np.testing.assert_array_equal(mean, small_model.counterfactual(X, batch, "batch1", mode))
        assert mean.shape == sd.shape and (sd >= 0).all() and sd.max() > 0
        _, again = small_model.counterfactual(X, batch, "batch1", mode, 30, sample_seed=4)
        np.testing.assert_array_equal(sd, again)
        _, other = small_model.counterfactual(X, batch, "batch1", mode, 30, sample_seed=5)
        assert not np.array_equal(sd, other)
    with pytest.raises(ValueError, match="n_samples"):
        small_model.counterfactual(X, batch, "batch1", n_samples=0)
    with pytest.raises(ValueError, match="variational variant"):
        small_paper_model.counterfactual(X, batch, "batch1", n_samples=5)

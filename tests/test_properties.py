"""What the method promises, measured on simulated data with known batch effects."""

from __future__ import annotations

import numpy as np
import pytest

import medl
from conftest import dense
from medl.datasets import true_counterfactual
from medl.metrics import silhouette


def _cf_errors(model, data, mode):
    X, batch = data.X, data.obs["batch"]
    own_batch = np.asarray(batch.astype(str))
    own = model.reconstruct_random(X, batch)
    observed = dense(X)
    truth_own = true_counterfactual(data, own_batch)
    errors, shift_corr = [], []
    for target in batch.cat.categories:
        other = own_batch != target
        truth = true_counterfactual(data, target)
        cf = model.counterfactual(X, batch, target, mode=mode)
        errors.append(
            [
                np.mean((cf - truth)[other] ** 2),
                np.mean((own - truth)[other] ** 2),
                np.mean((observed - truth)[other] ** 2),
            ]
        )
        predicted_shift = (cf - own)[other].mean(0)
        true_shift = (truth - truth_own)[other].mean(0)
        shift_corr.append(np.corrcoef(predicted_shift, true_shift)[0, 1])
    return np.mean(errors, axis=0), float(np.mean(shift_corr))


def test_counterfactual_moves_cells_toward_target_batch(cf_model, cf_data):
    (cf, own, unchanged), corr = _cf_errors(cf_model, cf_data, "full")
    assert cf < unchanged  # better than leaving the cell as it is
    assert cf < own  # better than denoising the cell in its own batch
    assert corr > 0.7  # the predicted per-gene shift follows the true one


def test_full_mode_beats_decoder_mode(cf_model, cf_data):
    full, _ = _cf_errors(cf_model, cf_data, "full")
    decoder, _ = _cf_errors(cf_model, cf_data, "decoder")
    assert full[0] < decoder[0]


@pytest.fixture(scope="module")
def mixing():
    """AE and MEDL with the same settings on data with a clear batch effect (AE ASW > 0.05)."""
    data = medl.datasets.simulate(n_cells=1500, n_genes=300, batch_effect=1.0, seed=0)
    X, batch = data.X, data.obs["batch"]
    settings = {"latent_dim": 2, "lr": 1e-3, "seed": 0, "device": "cpu"}
    fit = {"max_epochs": 100, "patience": 20, "batch_size": 256, "progress": False}
    ae = medl.AE(**settings).fit(X, **fit)
    model = medl.MEDL(**settings).fit(X, batch, **fit)
    return data, ae.transform(X), model.fixed_effects(X), model.random_effects(X, batch)


def test_fixed_effects_latent_is_less_batch_structured_than_ae(mixing):
    data, ae, fe, re = mixing
    batch, cell_type = data.obs["batch"], data.obs["cell_type"]
    assert silhouette(ae, batch) > 0.05  # the batch effect is visible without the adversary
    assert silhouette(fe, batch) < silhouette(ae, batch) - 0.03
    assert silhouette(fe, cell_type) > silhouette(fe, batch) + 0.3  # biology kept
    assert silhouette(re, batch) > silhouette(fe, batch) + 0.1


def test_random_effects_latent_classifier_learns_batch():
    data = medl.datasets.simulate(n_cells=1500, n_genes=300, batch_effect=2.0, seed=0)
    X, batch = data.X, data.obs["batch"]
    model = medl.MEDL(latent_dim=2, lr=1e-3, seed=0, device="cpu").fit(
        X, batch, max_epochs=100, patience=20, batch_size=256, progress=False
    )
    accuracy = np.mean(model.predict_batch(X, batch).argmax(1) == batch.cat.codes.to_numpy())
    assert accuracy > 0.9  # chance is 1/3
    # the RE latent carries batch: far more batch structure than cell-type structure
    re = model.random_effects(X, batch)
    assert silhouette(re, batch) > silhouette(re, data.obs["cell_type"]) + 0.1

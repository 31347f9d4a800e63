"""Reduced precision (bf16 autocast, TF32) against float32, and learning-rate scaling."""

from __future__ import annotations

import numpy as np
import pytest

import medl
from conftest import FIT, REDUCED_PRECISION_TOL, SMALL


def _outputs(model, X, batch, target):
    return {
        "FE latent": model.fixed_effects(X),
        "RE latent": model.random_effects(X, batch),
        "FE reconstruction": model.reconstruct_fixed(X),
        "counterfactual": model.counterfactual(X, batch, target),
    }


def test_bf16_outputs_of_a_trained_model_stay_within_tolerance(small_model, small_data, tmp_path):
    X, batch = small_data.X, small_data.obs["batch"]
    path = small_model.save(tmp_path / "m")
    bf16 = medl.MEDL.load(path, device="cpu", precision="bf16")
    assert bf16.params["precision"] == "bf16"
    exact = _outputs(small_model, X, batch, "batch1")
    low = _outputs(bf16, X, batch, "batch1")
    for name, ref in exact.items():
        err = np.abs(low[name] - ref).max() / np.ptp(ref)
        assert err <= REDUCED_PRECISION_TOL, f"{name}: {err:.4f} of the range"
        assert err > 0, f"{name}: bf16 changed nothing, so autocast was not applied"


def test_bf16_trains_in_float32(small_data):
    # bf16 training converged to a 35-60% higher validation loss, so only outputs use it:
    # a bf16 model's training history is the float32 one, its outputs are not
    X, batch = small_data.X, small_data.obs["batch"]
    fit = {**FIT, "max_epochs": 3}
    fp32 = medl.MEDL(**SMALL).fit(X, batch, **fit)
    bf16 = medl.MEDL(**SMALL, precision="bf16").fit(X, batch, **fit)
    assert bf16.fit_info["precision"] == "fp32"
    assert fp32.history.equals(bf16.history)
    assert not np.array_equal(fp32.fixed_effects(X), bf16.fixed_effects(X))


def test_precision_is_checked_before_work():
    with pytest.raises(ValueError, match="precision must be one of"):
        medl.MEDL(precision="fp16")
    with pytest.raises(ValueError, match="'tf32' uses NVIDIA tensor cores and needs a CUDA"):
        medl.MEDL(device="cpu", precision="tf32")


def test_scale_lr_is_an_explicit_option(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    fit = {**FIT, "max_epochs": 2, "batch_size": 256}
    kept = medl.MEDL(**SMALL).fit(X, batch, **fit)
    scaled = medl.MEDL(**SMALL).fit(X, batch, **fit, scale_lr=True)
    assert kept.fit_info["lr"] == SMALL["lr"]
    assert scaled.fit_info["lr"] == SMALL["lr"] * 256 / 512
    assert not np.allclose(kept.fixed_effects(X), scaled.fixed_effects(X))
    with pytest.raises(ValueError, match="scale_lr must be True or False"):
        medl.MEDL(**SMALL).fit(X, batch, **fit, scale_lr="yes")

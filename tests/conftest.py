"""Shared fixtures: small simulated data and one fitted model reused across tests."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import medl

torch.set_num_threads(2)
# Exact repeatability (seeds, resumed checkpoints) holds at a fixed thread count; the adaptive
# pool (medl.train.threads) has its own tests in test_threads.py, which turn it back on.
os.environ["MEDL_ADAPTIVE_THREADS"] = "0"

SMALL = {"hidden": (64, 16), "latent_dim": 2, "lr": 1e-3, "device": "cpu", "seed": 0}
FIT = {"max_epochs": 15, "patience": 5, "batch_size": 128, "progress": False}
# Stated tolerance of reduced-precision (bf16, TF32) outputs, as a fraction of the float32
# output's range (measured: docs/benchmarks.md). bf16 keeps 8 mantissa bits, 0.4% per rounding.
REDUCED_PRECISION_TOL = 0.03


@pytest.fixture(scope="session")
def small_data():
    return medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)


@pytest.fixture(scope="session")
def small_model(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    return medl.MEDL(**SMALL).fit(X, batch, **FIT)


@pytest.fixture(scope="session")
def small_paper_model(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    return medl.MEDL(**SMALL, variant="paper").fit(X, batch, **FIT)


@pytest.fixture(scope="session")
def cf_data():
    """Strong batch effect, used for the counterfactual and batch-signal properties."""
    return medl.datasets.simulate(n_cells=1500, n_genes=300, n_batches=3, batch_effect=1.0, seed=0)


@pytest.fixture(scope="session")
def mixed_data():
    """Batch effects with a cell-type-specific part (interaction), as real ones have."""
    return medl.datasets.simulate(
        n_cells=1500, n_genes=300, n_batches=3, batch_effect=1.0, interaction=0.5, seed=0
    )


@pytest.fixture(scope="session")
def cf_model(mixed_data):
    """The default (variational) model with every default training setting."""
    return medl.MEDL(seed=0, device="cpu").fit(
        mixed_data.X, mixed_data.obs["batch"], progress=False
    )


@pytest.fixture(scope="session")
def cf_paper_model(cf_data):
    """The paper's model with the paper-era advice for counterfactuals (no latent classifier)."""
    model = medl.MEDL(variant="paper", lr=1e-3, seed=0, device="cpu", loss_weights={"re_z": 0.0})
    return model.fit(
        cf_data.X, cf_data.obs["batch"], max_epochs=150, patience=20, batch_size=256, progress=False
    )


def dense(X):
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)

"""CUDA path: runs on machines with a GPU (CI has none, so it is skipped there)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import medl
from conftest import FIT, REDUCED_PRECISION_TOL, SMALL

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_auto_device_picks_cuda_and_matches_cpu_closely(small_data, tmp_path):
    X, batch = small_data.X, small_data.obs["batch"]
    gpu = medl.MEDL(**{**SMALL, "device": "auto"}).fit(X, batch, **FIT)
    assert gpu.device.type == "cuda"
    assert next(gpu.modules["fe"].parameters()).is_cuda
    cpu = medl.MEDL.load(gpu.save(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(gpu.fixed_effects(X), cpu.fixed_effects(X), atol=1e-4)
    np.testing.assert_allclose(
        gpu.counterfactual(X, batch, "batch1"), cpu.counterfactual(X, batch, "batch1"), atol=1e-3
    )


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_on_cuda_stays_close_to_fp32(
    small_model, small_data, tmp_path, precision
):
    X = small_data.X
    path = small_model.save(tmp_path / "m")
    fast = medl.MEDL.load(path, device="cuda", precision=precision)
    ref = small_model.fixed_effects(X)
    err = np.abs(fast.fixed_effects(X) - ref).max() / np.ptp(ref)
    assert err <= REDUCED_PRECISION_TOL, f"{precision}: {err:.4f} of the range"
    # against fp32 on the same GPU: an ignored setting would give exactly its output
    exact = medl.MEDL.load(path, device="cuda", precision="fp32").fixed_effects(X)
    assert np.abs(fast.fixed_effects(X) - exact).max() > 0, f"{precision} changed nothing"

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


def test_batch_effects_on_cuda_agree_with_cpu(small_data, tmp_path):
    """The same model's batch-effect table on the GPU and on the CPU: the observed cells'
    correction is computed on the device, and only the draws' random streams differ."""
    X, batch, types = small_data.X, small_data.obs["batch"], small_data.obs["cell_type"]
    gpu = medl.MEDL(**{**SMALL, "device": "cuda"}).fit(X, batch, **FIT)
    cpu = medl.MEDL.load(gpu.save(tmp_path / "m"), device="cpu")
    on_gpu, on_cpu = (
        m.batch_effects(X, batch, "batch1", "batch0", groups=types, n_samples=200)
        for m in (gpu, cpu)
    )
    for column in ("group", "gene", "n_target", "n_reference", "n_cells"):
        assert (on_gpu[column] == on_cpu[column]).all(), column
    gap = np.abs(on_gpu["lfc_mean"] - on_cpu["lfc_mean"]) / on_cpu["lfc_sd"]
    assert gap.max() < 0.5, gap.max()
    np.testing.assert_allclose(on_gpu["lfc_sd"], on_cpu["lfc_sd"], rtol=0.2)


def test_counterfactual_sd_on_cuda_agrees_with_cpu(small_model, small_data, tmp_path):
    """The sampled counterfactual's SD: the correction's own error (its neighbours' mean's
    sampling variance and the squared bias its left-out neighbours show) is computed on
    the device and is deterministic; only the draws' quarter differs by random stream."""
    X, batch = small_data.X, small_data.obs["batch"]
    gpu = medl.MEDL.load(small_model.save(tmp_path / "m"), device="cuda")
    (mean_gpu, sd_gpu), (mean_cpu, sd_cpu) = (
        m.counterfactual(X, batch, "batch1", n_samples=200) for m in (gpu, small_model)
    )
    np.testing.assert_allclose(mean_gpu, mean_cpu, atol=1e-3)
    # 200 draws' SD is itself within about 5% (measured on an H200: median gap 0.03)
    gap = np.abs(sd_gpu - sd_cpu) / np.maximum(sd_cpu, 1e-3)
    assert np.median(gap) < 0.05 and np.quantile(gap, 0.99) < 0.2, np.quantile(gap, [0.5, 0.99])

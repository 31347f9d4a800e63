"""Data-parallel training (torchrun, gloo on CPU, 2 processes) against one process."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

import medl
import medl.distributed
from medl.metrics import silhouette
from medl.train.comm import SINGLE

WORKER = Path(__file__).parent / "helpers" / "distributed_worker.py"
sys.path.insert(0, str(WORKER.parent))
from distributed_worker import step_grads  # noqa: E402


@contextmanager
def one_thread():
    """Torch on one thread, as in the workers, and the session's count back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def torchrun(mode: str, out: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(WORKER), mode, str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(np.load(out))


def test_sharded_step_gives_the_single_process_gradients(tmp_path):
    """Each subnetwork's gradient, summed over 2 shards with global batch-norm statistics,
    equals the gradient of one process on the whole minibatch (adversary and AE alike)."""
    ddp = torchrun("grads", tmp_path / "grads.npz")
    with one_thread():  # as in each worker
        single = step_grads(SINGLE)
    assert set(ddp) == set(single) and any(k.startswith("fe.adversary") for k in ddp)
    # float32 summation noise scales with the network's gradients; biases in front of a
    # batch norm have a true gradient of zero and hold only that noise
    scale = max(np.abs(g).max() for g in single.values())
    for name, grad in single.items():
        np.testing.assert_allclose(ddp[name], grad, rtol=1e-4, atol=1e-6 * scale, err_msg=name)


def test_two_process_fit_tracks_one_process(tmp_path):
    """End to end. RE stays within float noise of one process (measured: 0.02-0.16% apart
    after 4 epochs, depending on summation order). FE's adversarial training is
    chaotic at the level of float summation order (1 vs 2 CPU threads alone move its loss
    by ~0.3% here, a mathematically equivalent batch-norm formula by 1%, two processes by
    3-5%), so it is held to 10%; the step-level test above is the exact check. Two epochs,
    so that both restore the same best epoch: after the first the FE validation loss is
    flat to within that chaos, and after 4 epochs one process restored epoch 1 and the
    other epoch 2 on a fresh machine, and their embeddings were 36% of the range apart."""
    ddp = torchrun("fit", tmp_path / "fit.npz")
    data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
    with one_thread():
        single = medl.MEDL(hidden=(64, 16), variant="paper", lr=1e-3, device="cpu", seed=0)
        single.fit(data.X, data.obs["batch"], max_epochs=2, patience=5, batch_size=128,
                   progress=False)  # fmt: skip
    val = single.history.filter(like=".val.total").to_numpy()
    assert list(ddp["best"]) == [single.fit_info["best_epoch"][k] for k in ("fe", "re")]
    np.testing.assert_allclose(ddp["val"][:, 1], val[:, 1], rtol=5e-3)  # RE
    np.testing.assert_allclose(ddp["val"][:, 0], val[:, 0], rtol=0.10)  # FE
    re = single.random_effects(data.X, data.obs["batch"])
    np.testing.assert_allclose(ddp["re"], re, atol=0.02 * np.abs(re).max())
    # FE: its loss is chaotic (above), its embedding much less so (measured: 1.2% of its
    # range apart, pairwise distances correlated 0.9999, batch ASW 0.027 both)
    fe = single.fixed_effects(data.X)
    assert ddp["fe"].shape == fe.shape
    np.testing.assert_allclose(ddp["fe"], fe, atol=0.05 * np.abs(fe).max())
    assert np.corrcoef(pdist(ddp["fe"]), pdist(fe))[0, 1] > 0.99
    batch_asw = [silhouette(e, data.obs["batch"]) for e in (ddp["fe"], fe)]
    assert abs(batch_asw[0] - batch_asw[1]) < 0.02


def test_global_batchnorm_outside_a_process_group_errors():
    with pytest.raises(RuntimeError, match="torchrun"):
        medl.train.comm.ProcessGroup()

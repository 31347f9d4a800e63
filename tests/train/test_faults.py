"""Training faults: a diverging fit, a fit that never improves, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import torch

import medl
from conftest import SMALL


def test_a_diverging_fit_warns_and_keeps_finite_weights(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    with pytest.warns(UserWarning, match="diverged at epoch .* lower learning rate") as record:
        model = medl.MEDL(**{**SMALL, "lr": 50.0}).fit(X, batch, max_epochs=20, progress=False)
    assert {"fe", "re"} & {str(w.message).split()[2] for w in record}
    diverged = model.fit_info["diverged"]
    assert any(epoch is not None for epoch in diverged.values())
    for name, epoch in diverged.items():
        if epoch is not None:
            assert model.history.loc[epoch, f"{name}.diverged"] == 1.0
    for out in (model.fixed_effects(X), model.counterfactual(X, batch, "batch1")):
        assert np.isfinite(out).all()
    # a reasonable fit raises none of this
    fine = medl.MEDL(**SMALL).fit(X, batch, max_epochs=5, progress=False)
    assert fine.fit_info["diverged"] == {"fe": None, "re": None}


WORKER = textwrap.dedent(
    """
    import signal, sys, numpy as np, torch, medl
    # a shell that starts jobs in the background makes them ignore SIGINT, and so would this
    signal.signal(signal.SIGINT, signal.default_int_handler)
    torch.set_num_threads(1)
    data = medl.datasets.simulate(n_cells=2000, n_genes=200, seed=0)
    model = medl.MEDL(seed=0, device="cpu").fit(
        data.X, data.obs["batch"], max_epochs=100000, patience=100000, progress="log")
    assert model.fit_info["interrupted"], model.fit_info
    assert np.isfinite(model.fixed_effects(data.X)).all()
    print("returned after", model.fit_info["epochs"], "epochs", flush=True)
    """
)


def test_ctrl_c_returns_the_best_model_so_far():
    """A real SIGINT in a child process: fit returns, warns, and the model is usable."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in proc.stdout:  # wait until training is under way
            if line.startswith("medl epoch") and "/" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "returned after" in out
    assert "training was interrupted" in err


CHECKPOINTED = textwrap.dedent(
    """
    import sys, torch, medl
    torch.set_num_threads(2)
    data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
    model = medl.MEDL(hidden=(64, 16), latent_dim=2, device="cpu", seed=0)
    model.fit(data.X, data.obs["batch"], max_epochs=40, patience=100, batch_size=64,
              progress="log", checkpoint=sys.argv[1])
    """
)
RESUME_FIT = {"max_epochs": 40, "patience": 100, "batch_size": 64, "progress": False}


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path):
    path = tmp_path / "fit.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHECKPOINTED, str(path)], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in proc.stdout:  # "medl epoch N/40: ...", printed every other epoch
            if line.startswith("medl epoch ") and int(line.split()[2].split("/")[0]) >= 7:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL and path.exists()
    assert 0 < len(torch.load(path, weights_only=True)["rows"]) < 40  # it did stop midway
    data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
    X, batch = data.X, data.obs["batch"]
    settings = {"hidden": (64, 16), "latent_dim": 2, "device": "cpu", "seed": 0}
    resumed = medl.MEDL(**settings).fit(X, batch, checkpoint=path, resume=True, **RESUME_FIT)
    whole = medl.MEDL(**settings).fit(X, batch, **RESUME_FIT)
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    np.testing.assert_array_equal(resumed.fixed_effects(X), whole.fixed_effects(X))
    np.testing.assert_array_equal(
        resumed.counterfactual(X, batch, "batch0"), whole.counterfactual(X, batch, "batch0")
    )


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    path = tmp_path / "fit.ckpt"
    fit = {"max_epochs": 2, "progress": False}
    medl.MEDL(**SMALL).fit(X, batch, checkpoint=path, **fit)
    with pytest.raises(ValueError, match="other data or settings .*shape"):
        medl.MEDL(**SMALL).fit(X[:300], batch[:300], checkpoint=path, resume=True, **fit)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    model = medl.MEDL(**SMALL)
    with pytest.raises(ValueError, match="damaged or truncated"):
        model.fit(X, batch, checkpoint=path, resume=True, **fit)
    assert not model.is_fitted  # nothing half-loaded
    with pytest.raises(ValueError, match="No checkpoint"):
        model.fit(X, batch, checkpoint=tmp_path / "none.ckpt", resume=True, **fit)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        model.fit(X, batch, resume=True, **fit)


def test_checkpoint_minutes_writes_by_time(tmp_path, small_data, monkeypatch):
    from medl.train import checkpoint

    clock = iter(range(0, 10_000, 61))  # every call: a minute later
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: float(next(clock)))
    saver = checkpoint.Checkpoint(tmp_path / "c.ckpt", every_epochs=100, every_minutes=1.0)
    assert saver.due(0)  # by time, long before epoch 100
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        medl.MEDL(**SMALL).fit(small_data.X, small_data.obs["batch"],
                               checkpoint=tmp_path / "x.ckpt", checkpoint_minutes=-1)  # fmt: skip

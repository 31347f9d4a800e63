"""Training faults: a diverging fit, a fit that never improves, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

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
    import sys, numpy as np, torch, medl
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
